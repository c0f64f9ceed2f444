// One `shark dissect` run in the test process, through the built code's runDissect (what the
// command calls): its stdout bytes, its loss counters, its warnings. With a WorkerPool started
// once per test file, comparing --workers 1 with 2 or 3 costs no CLI start per capture.
// Needs `npm run build` (workers run the built JavaScript).
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { repoRoot } from './paths.js';

const dist = (p: string): string => join(repoRoot, 'dist', p);

export interface DissectBytes {
  out: string;
  error?: string;
  /** Packets, entries and the loss counters, as one line. */
  counters: string;
  /** What the command would say on stderr (warnings, then its notes), one string per line. */
  said: string[];
}

/** A pool of `n` dissecting workers (the built code's), to hand to dissectBytes; close it when done. */
export async function workerPool(n: number): Promise<{ close(): Promise<void> }> {
  const { WorkerPool } = await import(dist('dissect/parallel/pool.js'));
  return new WorkerPool(n);
}

export async function dissectBytes(path: string, keys: string | undefined, workers: number, pool?: unknown): Promise<DissectBytes> {
  const { runDissect, describeLosses } = await import(dist('input/dissect-run.js'));
  const { dissectionNotes } = await import(dist('input/dissect-summary.js'));
  const { LineSink } = await import(dist('output/stdout-sink.js'));
  const { loadKeyLogFile } = await import(dist('dissect/tls/keylog.js'));
  const { createRedactor } = await import(dist('redact/entry.js'));
  const chunks: Buffer[] = [];
  const sink = new LineSink(new Writable({ write: (c, _e, cb) => (chunks.push(Buffer.from(c)), cb()) }));
  const engine = { requestTimeoutMs: 30_000, reorderWindowMs: 31_000 };
  const redact = createRedactor([]);
  const said: string[] = [];
  let error: string | undefined;
  let counters = '';
  try {
    const r = await runDissect({
      inputs: [path],
      engine: { ...engine, tlsKeys: keys ? loadKeyLogFile(keys, () => {}) : undefined },
      workers,
      pool,
      parallel: { engine, tlsKeylog: keys, redact: {} },
      transforms: workers > 1 ? [] : [redact],
      sink,
      signal: new AbortController().signal,
      onWarning: (m: string) => said.push(m),
    });
    counters = `${r.packets} ${r.entries} ${describeLosses(r.counters) ?? ''}`;
    said.push(...dissectionNotes(undefined, r, keys !== undefined));
  } catch (e) {
    error = (e as Error).message;
    await sink.flush().catch(() => {});
  }
  return { out: Buffer.concat(chunks).toString('utf8'), error, counters, said };
}
