// A stop (Ctrl-C, SIGTERM) is seen in the middle of a batch of packets, not only between batches:
// one 50 KB batch of made-up TLS 1.2 resumptions, each tried against 2,048 logged master secrets,
// held the thread (and a SIGTERM) for seconds. The driver gives the event loop a turn every 100 ms
// of work, so a stop asked for on the next turn ends the run before the batch is through.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dissectPackets } from '../../src/dissect/dissect-packets.js';
import { TlsKeyLog } from '../../src/dissect/tls/keylog.js';
import type { Entry } from '../../src/model/entry.js';
import { Wire } from '../helpers/engine-wire.js';

const SESSIONS = 60;

function record(type: number, body: Buffer): Buffer {
  const h = Buffer.from([type, 3, 3, 0, 0]);
  h.writeUInt16BE(body.length, 3);
  return Buffer.concat([h, body]);
}

function handshake(type: number, body: Buffer): Buffer {
  const h = Buffer.from([type, 0, 0, 0]);
  h.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([h, body]);
}

/** A TLS 1.2 session resumed by its id (ClientHello, ServerHello echoing it, ChangeCipherSpec, a Finished no key opens). */
function resumption(wire: Wire, at: number, port: number): void {
  const sid = randomBytes(32);
  const suite = Buffer.from([0xc0, 0x2f]);
  const hello = Buffer.concat([Buffer.from([3, 3]), randomBytes(32), Buffer.from([32]), sid, Buffer.from([0, 2]), suite, Buffer.from([1, 0])]);
  const serverHello = Buffer.concat([Buffer.from([3, 3]), randomBytes(32), Buffer.from([32]), sid, suite, Buffer.from([0])]);
  wire.send(at, 1, port, 443, record(22, handshake(1, hello)));
  wire.send(at + 1, 2, 443, port, Buffer.concat([record(22, handshake(2, serverHello)), record(20, Buffer.from([1])), record(22, randomBytes(40))]));
  wire.send(at + 2, 1, port, 443, Buffer.concat([record(20, Buffer.from([1])), record(22, randomBytes(40))]));
}

test('a stop asked for while one batch of costly packets is dissected ends the run before the batch is through', async () => {
  const keys = new TlsKeyLog();
  let text = '';
  for (let i = 0; i < 2048; i++) text += `CLIENT_RANDOM ${randomBytes(32).toString('hex')} ${randomBytes(48).toString('hex')}\n`;
  keys.addText(text);
  const wire = new Wire();
  for (let i = 0; i < SESSIONS; i++) resumption(wire, 1_000 + i * 10, 30_000 + i);
  const stop = new AbortController();
  // Asked for on the first turn of the event loop: before the fix that was after the whole batch.
  setImmediate(() => stop.abort());
  const entries: Entry[] = [];
  let engineCounters: Record<string, number> = {};
  for await (const batch of dissectPackets(
    (async function* () {
      yield wire.packets;
    })(),
    { tlsKeys: keys, signal: stop.signal, engineRef: (e) => (engineCounters = e.counters) },
  )) entries.push(...batch);
  const tried = engineCounters['tls.no-key'] ?? 0;
  assert.ok(tried > 0, 'some sessions were tried');
  assert.ok(tried < SESSIONS, `stopped before all ${SESSIONS} sessions were tried (${tried})`);
  assert.ok(entries.length < SESSIONS, `${entries.length} entries`);
});
