import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { LineSink } from '../../src/output/stdout-sink.js';

test('lines come out whole and in order: unicode, lines longer than the batch, empty lines', async () => {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c) => chunks.push(c));
  const sink = new LineSink(out, { batchChars: 16 });
  const lines = ['héllo ✓ 😀', 'x'.repeat(1000), '', 'a', '{"k":"\\u2028"}'];
  for (const l of lines) await sink.write(l);
  await sink.flush();
  assert.equal(Buffer.concat(chunks).toString('utf8'), lines.join('\n') + '\n');
});

test('writeWithId (an id\'s frame and sequence, then UTF-8 bytes) gives the bytes write() gives for the joined line, past the batch size too', async () => {
  const parts: [number, number, string][] = [
    // First, into a batch buffer too small for it: the room asked for must hold the longest id and the newline.
    [2 ** 53 - 1, 2 ** 53 - 1, '}'],
    [1, 1, ',"s":"héllo → 😀"}'],
    [22, 2, ',"b":"' + 'x'.repeat(1000) + '"}'],
    [9, 10, ''],
    [0, 0, '}'],
    // The largest frame and sequence an id can carry (integers below 2^53).
    [2 ** 53 - 1, 1234567890123, '}'],
  ];
  const run = async (withId: boolean): Promise<string> => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c) => chunks.push(c));
    const sink = new LineSink(out, { batchChars: 16 });
    for (const [frame, seq, rest] of parts) await (withId ? sink.writeWithId(frame, seq, Buffer.from(rest)) : sink.write(`{"id":"${frame}-${seq}"` + rest));
    await sink.flush();
    return Buffer.concat(chunks).toString('utf8');
  };
  const joined = await run(false);
  assert.equal(joined, parts.map(([f, q, r]) => `{"id":"${f}-${q}"${r}`).join('\n') + '\n');
  assert.match(joined, /"id":"9007199254740991-1234567890123"/);
  assert.equal(await run(true), joined);
});

test('writeRange (UTF-8 bytes inside a larger buffer) gives the bytes write() gives, past the batch size, and renders for -o formats', async () => {
  const lines = ['{"s":"héllo → 😀"}', '{"b":"' + 'ü'.repeat(700) + '"}', '', '{"a":1}'];
  const run = async (asBytes: boolean, format?: { line(l: string): string }): Promise<string> => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c) => chunks.push(c));
    const sink = new LineSink(out, { batchChars: 16, format });
    for (const l of lines) await (asBytes ? sink.writeRange(Buffer.from(`[[${l}]]`, 'utf8'), 2, 2 + Buffer.byteLength(l)) : sink.write(l));
    await sink.flush();
    return Buffer.concat(chunks).toString('utf8');
  };
  assert.equal(await run(true), lines.join('\n') + '\n');
  const upper = { line: (l: string) => l.toUpperCase() };
  assert.equal(await run(true, upper), await run(false, upper));
  assert.match(await run(true, upper), /HÉLLO → 😀/);
});

test('a slow reader: the writer waits (backpressure) and nothing is lost or reordered', async () => {
  const got: string[] = [];
  const slow = new Writable({
    highWaterMark: 64,
    write(chunk, _enc, done) {
      got.push(chunk.toString());
      setTimeout(done, 1);
    },
  });
  const sink = new LineSink(slow, { batchChars: 32 });
  let waited = 0;
  for (let i = 0; i < 200; i++) {
    const wait = sink.write(`line ${i}`);
    if (wait) {
      waited++;
      await wait;
    }
  }
  await sink.flush();
  await new Promise<void>((r) => slow.end(r));
  assert.ok(waited > 0);
  assert.deepEqual(got.join('').trim().split('\n'), Array.from({ length: 200 }, (_, i) => `line ${i}`));
});

test('EPIPE closes the sink quietly and tells the producer once', async () => {
  const out = new PassThrough();
  let told = 0;
  const sink = new LineSink(out, { onClosed: () => told++ });
  out.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  assert.equal(sink.closed, true);
  assert.equal(sink.write('after'), undefined);
  await sink.flush();
  assert.equal(told, 1);
});
