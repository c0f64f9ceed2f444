// `--workers auto|N`, shared by every command that dissects captures: how
// many threads dissect (src/dissect/parallel/). `auto` is the cores this
// process may use (cgroup CPU quota honoured) less one for the reader, and
// never fewer than 2 on a machine with 2 cores (src/dissect/parallel/cores.ts).
//
// Without the flag, a file command picks `auto` when its capture files are
// large enough for workers to pay back their start (AUTO_MIN_BYTES), and one
// thread otherwise (a pipe's size is unknown: one thread).

import { Flags } from '@oclif/core';
import { statSync } from 'node:fs';
import { ExitCode, UserError } from './errors.js';
import type { EngineOptions } from '../dissect/engine.js';
import type { WorkerSpec } from '../dissect/parallel/wire.js';
import { keyLogTextForWorkers } from './tls-keylog-file.js';

/**
 * The default for live capture (tap, agent, record): `auto`. A node agent's
 * pod has a CPU limit (1 CPU by default, src/k8s/agent-manifests.ts), which
 * `auto` honours: there it is one thread.
 */
export const DEFAULT_WORKERS = 'auto';

/**
 * Without --workers, capture files of at least this many bytes in all are
 * dissected with `auto` workers. Starting a worker costs about 0.2 s on this
 * project's 2-core machine (an isolate, the dissectors' modules, their JIT
 * warm-up), and two workers first beat one thread at about 40 MB of capture
 * (docs/performance.md, round 14); below that one thread is faster and smaller.
 */
export const AUTO_MIN_BYTES = 64 * 1024 * 1024;

export const workersFlag = Flags.string({
  description: `dissect captures on this many worker threads, and read NDJSON files on them where a command can (stats tables, filter) ("auto": cores - 1 and at least 2 where there are 2 cores, cgroup limits honoured); output is identical to one thread (default: auto for input files of ${AUTO_MIN_BYTES / 1024 / 1024} MB or more in all, else 1)`,
  helpValue: 'auto|N',
});

/** `tap`/`agent`: live packets dissected on worker threads (src/tap/live-workers.ts); entries leave in time order, not a file's exact order. */
export const liveWorkersFlag = Flags.string({
  description: `dissect live packets on this many worker threads ("auto": cores - 1 and at least 2 where there are 2 cores, cgroup limits honoured; cluster: on each agent) (default ${DEFAULT_WORKERS})`,
  helpValue: 'auto|N',
});

/**
 * What each worker builds its engine from, for a command that consumes
 * entries (filter, stats, map): the same decode-as rules and key log as its
 * one-thread engine, and no redaction there (the command redacts what it
 * prints, as it does with one thread).
 */
export function consumerWorkerSpec(flags: { 'tls-keylog'?: string; proto?: string }, engine: Partial<EngineOptions>): Omit<WorkerSpec, 'index'> {
  return { engine, tlsKeylog: flags['tls-keylog'], tlsKeylogText: keyLogTextForWorkers(flags['tls-keylog']), proto: flags.proto, redact: { 'no-redact': true } };
}

/**
 * The flag's value as a thread count (1: dissect on the main thread, as
 * always). Given the command's inputs, no flag means `auto` for files of
 * AUTO_MIN_BYTES or more in all; without inputs (live capture), `auto`.
 */
export async function workersFromFlag(text: string | undefined, inputs?: readonly string[]): Promise<number> {
  if (text === undefined && inputs !== undefined) return inputBytes(inputs) >= AUTO_MIN_BYTES ? workersFromFlag('auto') : 1;
  const value = (text ?? DEFAULT_WORKERS).trim().toLowerCase();
  if (value === 'auto') {
    const { autoWorkers } = await import('../dissect/parallel/cores.js');
    return autoWorkers();
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new UserError(`--workers: '${text}' is not auto or a number from 1 to 256`, ExitCode.USAGE);
  return n;
}

/** The inputs' bytes in all, or 0 when one is stdin, not a regular file, or missing (its error comes later, from the reader). */
function inputBytes(inputs: readonly string[]): number {
  let total = 0;
  for (const path of inputs) {
    if (path === '-') return 0;
    try {
      const st = statSync(path);
      if (!st.isFile()) return 0;
      total += st.size;
    } catch {
      return 0;
    }
  }
  return total;
}
