// The main thread's young generation: kept at its first size by the heap
// flags (floods), grown once to an 8 MB new space (`space_size`: two 4 MB
// semi-spaces, heap-flags.ts says why that is the figure) for a long run, and left
// alone in worker threads (sized when they are made). Each case runs in a
// fresh process: V8's heap is per process and the growth happens once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { cliBin, repoRoot } from '../helpers/paths.js';
import { udpPacket, writeRawPcap } from '../helpers/pcap-wire.js';

const heapFlags = join(repoRoot, 'dist', 'cli', 'heap-flags.js');
const MB = 1024 * 1024;

/** Runs `body` (an ES module's text, with `newSpace()` and `churn()` defined) in a fresh node; its last stdout line, parsed. */
function inFreshNode(body: string): Record<string, number> {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { applyHeapFlags, growYoungGeneration } from ${JSON.stringify(heapFlags)};
    const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    // Allocation where much survives each scavenge: what makes V8 grow a semi-space when it may.
    const churn = () => { let keep = []; for (let i = 0; i < 400000; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 40000) keep = []; } };
    applyHeapFlags();
    ${body}
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, number>;
}

test('without growing, the heap flags keep the young generation small however much survives', () => {
  const r = inFreshNode(`churn(); console.log(JSON.stringify({ after: newSpace() }));`);
  assert.ok(r.after <= 2 * MB, `new space ${r.after}`);
});

test('growYoungGeneration gives an 8 MB new space (4 MB semi-spaces), and it stays so (not V8’s 2 × 16 MB) under the same load', () => {
  const r = inFreshNode(`
    const before = newSpace();
    const t0 = performance.now();
    growYoungGeneration();
    const grown = newSpace();
    const ms = performance.now() - t0;
    growYoungGeneration(); // once only
    churn();
    console.log(JSON.stringify({ before, grown, ms, after: newSpace() }));
  `);
  assert.ok(r.before <= 2 * MB, `before ${r.before}`);
  assert.equal(r.grown, 8 * MB);
  assert.equal(r.after, 8 * MB);
  assert.ok(r.ms < 1000, `took ${r.ms} ms`);
});

test('in a worker thread growYoungGeneration leaves the young generation as the worker was made', () => {
  const r = inFreshNode(`
    import { Worker } from 'node:worker_threads';
    const code = \`
      import { getHeapSpaceStatistics } from 'node:v8';
      import { parentPort } from 'node:worker_threads';
      import { growYoungGeneration } from \${JSON.stringify(${JSON.stringify(pathToFileURL(heapFlags).href)})};
      const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      const before = newSpace();
      growYoungGeneration();
      parentPort.postMessage({ before, after: newSpace() });
    \`;
    const w = new Worker(new URL('data:text/javascript,' + encodeURIComponent(code)));
    w.once('message', (m) => { console.log(JSON.stringify(m)); w.terminate(); });
  `);
  assert.equal(r.after, r.before);
});

/** A pcap of `n` small UDP datagrams, 1 ms apart: packets enough, nothing else. */
function udpCapture(path: string, n: number): void {
  const packets = Array.from({ length: n }, (_, i) => udpPacket(1_800_000_000_000 + i, i + 1, 1, 40000, 40001, Buffer.alloc(16)));
  writeRawPcap(path, packets);
}

test('a long one-thread run grows it and a short one does not (the few ms are spent only where they pay)', () => {
  const probe = join(repoRoot, 'test', 'fixtures', 'new-space-at-exit.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'shark-heap-'));
  try {
    const run = (capture: string): number => {
      const r = spawnSync(process.execPath, ['--import', probe, cliBin, 'dissect', '--workers', '1', capture], { encoding: 'utf8', maxBuffer: 512 * MB, timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      const m = /new_space (\d+)/.exec(r.stderr);
      assert.ok(m, r.stderr);
      return Number(m[1]);
    };
    const short = join(dir, 'short.pcap');
    const long = join(dir, 'long.pcap');
    udpCapture(short, 2_000);
    udpCapture(long, 30_000);
    assert.ok(run(short) <= 2 * MB);
    assert.equal(run(long), 8 * MB);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
