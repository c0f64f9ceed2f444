// One live dissection worker (see live-workers.ts): the ordinary engine in
// live mode on the flows routed to it. Time moves on with the wall clock when
// no packet comes, as in dissectPackets' live loop.

import { parentPort, workerData } from 'node:worker_threads';
import type { Entry } from '../model/entry.js';
import { packetTimeMs, type Packet } from '../model/packet.js';
import { DissectionEngine } from '../dissect/engine.js';
import { loadProtoDir } from '../dissect/protocols/proto-schema.js';
import { tlsKeysFromFlag } from '../cli/tls-keylog-file.js';
import type { LiveWorkerInput, LiveWorkerOutput, LiveWorkerSpec } from './live-worker-wire.js';

/** Quiet this long and the engine is told the time (timeouts, reorder release). */
const IDLE_TICK_MS = 500;

const spec = workerData as LiveWorkerSpec;
const port = parentPort as NonNullable<typeof parentPort>;
let out: Entry[] = [];
const engine = new DissectionEngine(
  {
    ...spec.engine,
    protoSchema: spec.proto ? loadProtoDir(spec.proto) : undefined,
    // A live capture's key log grows as clients connect: followed (as on the main thread, tap.ts).
    tlsKeys: tlsKeysFromFlag(spec.tlsKeylog, () => {}, true),
  },
  (e) => out.push(e),
);

let lastPacketAt = Date.now();
/** The engine's clock: the latest packet's capture time, or the wall clock when idle. */
let now = 0;
/**
 * The watermark walks every flow: computed at most every LOW_EVERY_MS, not per
 * batch. An older value stays a true lower bound (whatever the engine emits
 * later was held or pending then), so reusing it only holds entries a little longer.
 */
const LOW_EVERY_MS = 50;
let low = -Infinity;
let lowAt = 0;
const send = (packets: number) => {
  const wall = Date.now();
  if (wall - lowAt >= LOW_EVERY_MS) {
    low = engine.unemittedLow(now);
    lowAt = wall;
  }
  const msg: LiveWorkerOutput = { kind: 'entries', entries: out, packets, low };
  out = [];
  port.postMessage(msg);
};
// Idle, time still moves on, and the watermark with it (so the merge never waits on a quiet worker).
const ticker = setInterval(() => {
  if (Date.now() - lastPacketAt < IDLE_TICK_MS) return;
  now = Math.max(now, Date.now());
  engine.advance(now);
  send(0);
}, IDLE_TICK_MS / 2);

/** Structured clone turns Buffers into Uint8Arrays: wrap them again without copying. */
const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

port.on('message', (m: LiveWorkerInput) => {
  if (m.kind === 'finish') {
    clearInterval(ticker);
    engine.finish();
    send(0);
    port.postMessage({ kind: 'summary', counters: engine.summary() } satisfies LiveWorkerOutput);
    port.close();
    return;
  }
  for (const w of m.packets) {
    if ('packet' in w) {
      const p = { ...w.packet, data: buf(w.packet.data) } as Packet;
      now = Math.max(now, packetTimeMs(p));
      engine.push(p);
    } else {
      now = Math.max(now, w.now);
      engine.pushIp({ ...w.ip, payload: buf(w.ip.payload) }, w.now, w.frame);
    }
  }
  lastPacketAt = Date.now();
  send(m.packets.length);
});
