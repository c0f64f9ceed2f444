// The read loop behind stats and map: live pipes deliver as they go, and a
// stop gives a pipe's writer a grace period, then abandons a silent read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { consumeEntries } from '../../src/stats/consume.js';
import { mixedEntries } from './entries.js';

const lines = (n: number, from = 0) =>
  mixedEntries()
    .slice(from, from + n)
    .map((e) => JSON.stringify(e) + '\n')
    .join('');

test('entries on a live pipe arrive before the pipe ends (no waiting for a full batch)', { timeout: 10_000 }, async () => {
  const stdin = new PassThrough();
  const stop = new AbortController();
  let seen = 0;
  let firstSeen: () => void;
  const first = new Promise<void>((r) => (firstSeen = r));
  const run = consumeEntries(['-'], (b) => {
    seen += b.length;
    if (seen >= 3) firstSeen();
  }, { stop: stop.signal, stdin });
  stdin.write(lines(3));
  await first; // would hang (test timeout) if the reader waited for 512 lines or the end
  assert.equal(seen, 3);
  stdin.end(lines(2, 3));
  const r = await run;
  assert.equal(seen, 5);
  assert.equal(r.stopped, false);
});

test('stop on a pipe: what the writer sends within the grace period counts, then a silent pipe is abandoned', { timeout: 10_000 }, async () => {
  const stdin = new PassThrough();
  const stop = new AbortController();
  let seen = 0;
  const run = consumeEntries(['-'], (b) => void (seen += b.length), { stop: stop.signal, stdin, graceMs: 300 });
  stdin.write(lines(4));
  await new Promise((r) => setTimeout(r, 50));
  stop.abort();
  stdin.write(lines(2, 4)); // the upstream's last flush, after the Ctrl-C
  const r = await run; // the pipe never closes: returns after the grace period
  assert.equal(r.stopped, true);
  assert.equal(seen, 6);
});

test('stop while reading a file ends at once', async () => {
  const stop = new AbortController();
  stop.abort();
  let seen = 0;
  const fixture = new URL('./fixtures/mixed.ndjson', import.meta.url).pathname;
  const r = await consumeEntries([fixture], (b) => void (seen += b.length), { stop: stop.signal, graceMs: 10_000 });
  assert.equal(r.stopped, true);
  assert.equal(seen, 0);
});

test('batches already handled are garbage: memory does not grow with the input', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  const { Readable } = await import('node:stream');
  const line = lines(1);
  // One chunk per batch (object-mode stream of Buffers), 60 of them.
  const stdin = Readable.from(
    (function* () {
      for (let i = 0; i < 60; i++) yield Buffer.from(line);
    })(),
  );
  let first: WeakRef<object> | undefined;
  let n = 0;
  let collected: boolean | undefined;
  await consumeEntries(
    ['-'],
    async (batch) => {
      n++;
      if (n === 1) first = new WeakRef(batch);
      if (n === 50) {
        await new Promise((r) => setTimeout(r, 0)); // WeakRef targets live until the end of their job
        gc();
        collected = first!.deref() === undefined;
      }
    },
    { stop: new AbortController().signal, stdin },
  );
  assert.equal(n, 60);
  // Racing each read against one long-lived "aborted" promise kept every batch alive (found by bench/map.ts).
  assert.equal(collected, true, 'the first batch is not kept alive by the read loop');
});
