// WebSocket caught mid-connection (the capture started after the Upgrade):
// found by the client's masked frames, read as the whole capture reads it,
// every entry saying its handshake was not captured. tshark has no such
// heuristic (it shows TCP): the whole capture's own entries are the oracle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedCapture } from '../helpers/paths.js';
import { dissectPacketList, readPcap } from '../helpers/pcap-edit.js';
import { mulberry32 } from '../helpers/random.js';
import { probeWebSocket } from '../../src/dissect/protocols/websocket.js';
import type { Entry } from '../../src/model/entry.js';

/** Entries of frames `range` (editcap's) of a shared capture. */
function framesOf(capture: string, range: string): Entry[] {
  const dir = mkdtempSync(join(tmpdir(), 'shark-ws-mid-'));
  try {
    const path = join(dir, 'mid.pcap');
    execFileSync('editcap', ['-F', 'pcap', '-r', sharedCapture(capture), path, range], { stdio: 'ignore' });
    return dissectPacketList(readPcap(path)).entries;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const [capture, range, skipped] of [
  ['zeek-websocket-two-binary-fragments.pcap', '8-18', 1],
  ['suricata-websocket-basic.pcap', '6-21', 2],
] as const) {
  test(`${capture} from frame ${range.split('-')[0]} (Upgrade not captured): the messages of the whole capture, each saying handshake not captured`, () => {
    const whole = dissectPacketList(readPcap(sharedCapture(capture))).entries.filter((e) => e.protocol === 'ws');
    const mid = framesOf(capture, range);
    assert.ok(mid.every((e) => e.protocol === 'ws'), mid.map((e) => e.protocol).join());
    // The messages whose frames were cut off with the Upgrade are not there (the 101's segment carried the first server frame).
    assert.deepEqual(
      mid.map((e) => `${e.src.port}>${e.dst.port} ${e.summary}`),
      whole.slice(skipped - 1).map((e) => `${e.src.port}>${e.dst.port} ${e.summary}`),
    );
    for (const e of mid) assert.ok(e.warnings?.includes('handshake not captured'), `${e.summary} ${String(e.warnings)}`);
  });
}

/** A client frame: masked with `mask`, FIN set unless `more`. */
function clientFrame(opcode: number, payload: Buffer, mask = Buffer.from([0x12, 0x34, 0x56, 0x78]), more = false): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(more ? 0 : 0x80) | opcode, 0x80 | len]) : Buffer.from([(more ? 0 : 0x80) | opcode, 0x80 | 126, len >> 8, len & 255]);
  return Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i & 3]))]);
}

test('WebSocket probe: whole masked client frames are WebSocket; unmasked, cut, non-minimal, RSV-flagged or non-UTF-8 text frames are not', () => {
  const text = clientFrame(1, Buffer.from('{"op":"subscribe","ch":"ticker"}'));
  assert.equal(probeWebSocket(text), 'request');
  assert.equal(probeWebSocket(Buffer.concat([text, clientFrame(9, Buffer.from('hi')), clientFrame(2, Buffer.alloc(300, 7))])), 'request');
  assert.equal(probeWebSocket(text.subarray(0, text.length - 3)), 'need-more', 'a frame that goes on in the next segment');
  assert.equal(probeWebSocket(Buffer.concat([text, Buffer.from([0x81])])), 'need-more');
  const unmasked = Buffer.from(text);
  unmasked[1] &= 0x7f;
  assert.equal(probeWebSocket(unmasked), false, 'a server frame says nothing of which side is the client');
  assert.equal(probeWebSocket(clientFrame(1, Buffer.from([0xc3, 0x28, 0x41]))), false, 'not UTF-8');
  const rsv = Buffer.from(text);
  rsv[0] |= 0x40;
  assert.equal(probeWebSocket(rsv), false);
  const nonMinimal = Buffer.concat([Buffer.from([0x82, 0x80 | 126, 0, 5]), Buffer.alloc(4), Buffer.alloc(5)]);
  assert.equal(probeWebSocket(nonMinimal), false);
  assert.equal(probeWebSocket(clientFrame(0, Buffer.from('tail'))), false, 'a continuation does not start what was captured');
  assert.equal(probeWebSocket(clientFrame(8, Buffer.alloc(2), undefined, true)), false, 'a control frame is never fragmented');
  assert.equal(probeWebSocket(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), false);
});

test('WebSocket probe: random segments are almost never taken for masked frames', () => {
  const rnd = mulberry32(6455);
  let taken = 0;
  for (let i = 0; i < 20_000; i++) {
    const b = Buffer.alloc(8 + Math.floor(rnd() * 600));
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
    if (probeWebSocket(b) === 'request') taken++;
  }
  assert.ok(taken <= 2, `${taken} of 20,000 random segments taken for WebSocket`);
});
