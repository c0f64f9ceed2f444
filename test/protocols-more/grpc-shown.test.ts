// A gRPC body kept past --max-body for a reader (OTLP's and Loki's counts) is shown exactly as the
// same body cut at --max-body was, and read whole: checked over random message sequences, sizes,
// holes (bytes a gap took) and cut points against splitting the cut body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitGrpcMessages, type BodyHoles } from '../../src/dissect/protocols/grpc.js';
import { mulberry32 } from '../helpers/random.js';
import { grpcFrame } from '../helpers/http2-wire.js';

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
    const whole = Buffer.concat(payloads.map(grpcFrame));
    const shown = 1 + pick(Math.max(1, whole.length + 10));
    // DATA frames started at message starts (where reading resumes after a hole) and elsewhere.
    const starts: number[] = [];
    for (let at = 0, i = 0; i < payloads.length; at += payloads[i].length + 5, i++) if (pick(2) === 0) starts.push(at);
    if (pick(2) === 0) starts.push(pick(whole.length));
    starts.sort((a, b) => a - b);
    const holes: BodyHoles | undefined = pick(4) === 0 ? { holes: [{ at: pick(whole.length), lost: pick(3) === 0 ? undefined : pick(50) }], frameStarts: starts } : undefined;
    // The cut body knew only what it kept: holes and frame starts before the cut.
    const cutHoles = holes && { holes: holes.holes.filter((h) => h.at < shown), frameStarts: starts.filter((at) => at < shown) };
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
    // A body kept no further than what is shown (every call no reader reads) is split as it always was.
    const kept = whole.subarray(0, Math.min(whole.length, shown));
    assert.deepEqual(splitGrpcMessages(kept, undefined, whole.length > shown, undefined, cutHoles, undefined, shown), before, `round ${round}: kept to ${shown}`);
    assert.deepEqual(splitGrpcMessages(whole, undefined, false, undefined, holes, undefined, whole.length + pick(100)), splitGrpcMessages(whole, undefined, false, undefined, holes), `round ${round}: all shown`);
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
