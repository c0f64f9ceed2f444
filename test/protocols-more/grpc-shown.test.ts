// A gRPC body kept past --max-body for a reader (OTLP's and Loki's counts) is shown exactly as the
// same body cut at --max-body was, and read whole: checked over random message sequences, sizes,
// holes (bytes a gap took) and cut points against splitting the cut body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitGrpcMessages, type BodyHoles } from '../../src/dissect/protocols/grpc.js';
import { mulberry32 } from '../helpers/random.js';

/** `payload` as a length-prefixed, uncompressed gRPC message. */
function frame(payload: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

test('what is shown past --max-body is what the cut body showed; the reader sees every whole message', () => {
  const random = mulberry32(2026);
  const pick = (n: number) => Math.floor(random() * n);
  for (let round = 0; round < 2000; round++) {
    const payloads: Buffer[] = [];
    const count = 1 + pick(6);
    for (let i = 0; i < count; i++) {
      const size = pick(4) === 0 ? pick(6000) : pick(300);
      const text = Buffer.alloc(size, 0x61 + (i % 26));
      // A protobuf string field (shown as fields) or raw bytes (shown as a body).
      payloads.push(pick(2) === 0 ? Buffer.concat([Buffer.from([0x0a, ...varint(size)]), text]) : text);
    }
    const whole = Buffer.concat(payloads.map(frame));
    const shown = 1 + pick(Math.max(1, whole.length + 10));
    const holes: BodyHoles | undefined = pick(4) === 0 ? { holes: [{ at: pick(whole.length), lost: pick(3) === 0 ? undefined : pick(50) }], frameStarts: [] } : undefined;
    const cutHoles = holes && { holes: holes.holes.filter((h) => h.at < shown), frameStarts: [] };
    const cut = whole.subarray(0, shown);
    const before = splitGrpcMessages(cut, undefined, whole.length > shown, undefined, cutHoles);
    const seen: number[] = [];
    const reader = { inspect: (p: Buffer) => void seen.push(p.length), missed: false };
    const after = splitGrpcMessages(whole, undefined, false, undefined, holes, reader, shown);
    assert.deepEqual(after, before, `round ${round}: shown ${shown} of ${whole.length}`);
    if (!holes) {
      assert.deepEqual(seen, payloads.map((p) => p.length), `round ${round}: every message read whole`);
      assert.equal(reader.missed, false);
    }
  }
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
