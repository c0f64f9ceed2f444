// Lossy wires through the whole engine: a shared capture with one frame cut
// out (a lost segment), so reassembly reports a gap to the parser. Pairing of
// everything after the loss must stay right, and the loss must show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dissectFile } from '../helpers/dissect.js';
import { sharedCapture } from '../helpers/paths.js';
import type { Entry } from '../../src/model/entry.js';

/** A classic pcap without the given frames (1-based, as tshark numbers them). */
function withoutFrames(file: string, drop: number[]): string {
  const src = readFileSync(sharedCapture(file));
  const le = src.readUInt32LE(0) === 0xa1b2c3d4 || src.readUInt32LE(0) === 0xa1b23c4d;
  const parts: Buffer[] = [src.subarray(0, 24)];
  let off = 24;
  for (let frame = 1; off + 16 <= src.length; frame++) {
    const incl = le ? src.readUInt32LE(off + 8) : src.readUInt32BE(off + 8);
    if (!drop.includes(frame)) parts.push(src.subarray(off, off + 16 + incl));
    off += 16 + incl;
  }
  const dir = mkdtempSync(join(tmpdir(), 's4a-lossy-'));
  const out = join(dir, file);
  writeFileSync(out, Buffer.concat(parts));
  return out;
}

async function dissectWithout(file: string, drop: number[]): Promise<Entry[]> {
  const path = withoutFrames(file, drop);
  try {
    const { entries, error } = await dissectFile(path);
    assert.equal(error, undefined);
    return entries;
  } finally {
    rmSync(join(path, '..'), { recursive: true, force: true });
  }
}

test('MQTT: a lost PUBACK leaves its PUBLISH unanswered; the other nine still pair by packet id', async () => {
  // Frame 5 is the PUBACK of packet id 5 (the capture's ten PUBLISHes share frame 1).
  const entries = await dissectWithout('deepflow-mqtt-multi-publish-one-segment.pcap', [5]);
  const pubs = entries.filter((e) => e.request?.type === 'PUBLISH');
  assert.equal(pubs.length, 10);
  for (const e of pubs) {
    if (e.request!.packetId === 5) {
      assert.equal(e.response, null);
      assert.equal(e.error, true);
      assert.ok(e.warnings!.includes('unanswered'));
    } else {
      assert.equal(e.response!.packetId, e.request!.packetId);
      // Frames after the cut one are numbered one lower in the cut capture.
      assert.equal(e.frames!.response, e.request!.packetId < 5 ? e.request!.packetId : e.request!.packetId - 1);
    }
  }
});

test('WebSocket: a lost client frame is a gap; the server\'s messages after it are all read', async () => {
  // Frame 8 is the client's "echo,test message" text frame.
  const entries = await dissectWithout('suricata-websocket-basic.pcap', [8]);
  const ws = entries.filter((e) => e.protocol === 'ws');
  const server = ws.filter((e) => e.request!.from === 'server').map((e) => e.request!.body);
  assert.equal(server.length, 14);
  assert.ok(server.includes('echo,test message'));
  const client = ws.filter((e) => e.request!.from === 'client').map((e) => e.request!.body);
  // The client frame after the loss starts its own packet: read again.
  assert.deepEqual(client, ['version,', 'timer,']);
});

test('NATS: a lost server line leaves the PING after it paired with its own PONG', async () => {
  // Frame 8 is the server's +OK to CONNECT (verbose): CONNECT stays unanswered, the rest pair.
  const entries = await dissectWithout('deepflow-nats-headers.pcap', [8]);
  const connect = entries.find((e) => e.request!.op === 'CONNECT')!;
  assert.ok(connect.response === null || connect.response.op === '+OK');
  const pings = entries.filter((e) => e.request!.op === 'PING');
  assert.ok(pings.length >= 2);
  for (const p of pings) assert.equal(p.response!.op, 'PONG');
});
