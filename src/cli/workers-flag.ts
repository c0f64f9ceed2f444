// `--workers auto|N`, shared by every command that dissects captures: how
// many threads dissect (src/dissect/parallel/). `auto` is the cores this
// process may use (cgroup CPU quota honoured) less one for the reader.

import { Flags } from '@oclif/core';
import { ExitCode, UserError } from './errors.js';
import type { EngineOptions } from '../dissect/engine.js';
import type { WorkerSpec } from '../dissect/parallel/wire.js';

/** The default when the flag is not given (docs/performance.md says why). */
export const DEFAULT_WORKERS = '1';

export const workersFlag = Flags.string({
  description: `dissect on this many worker threads ("auto": cores - 1, cgroup limits honoured); output is identical to one thread (default ${DEFAULT_WORKERS})`,
  helpValue: 'auto|N',
});

/** `tap`/`agent`: live packets dissected on worker threads (src/tap/live-workers.ts); entries leave in time order, not a file's exact order. */
export const liveWorkersFlag = Flags.string({
  description: `dissect live packets on this many worker threads ("auto": cores - 1, cgroup limits honoured; cluster: on each agent) (default ${DEFAULT_WORKERS})`,
  helpValue: 'auto|N',
});

/**
 * What each worker builds its engine from, for a command that consumes
 * entries (filter, stats, map): the same decode-as rules and key log as its
 * one-thread engine, and no redaction there (the command redacts what it
 * prints, as it does with one thread).
 */
export function consumerWorkerSpec(flags: { 'tls-keylog'?: string; proto?: string }, engine: Partial<EngineOptions>): Omit<WorkerSpec, 'index'> {
  return { engine, tlsKeylog: flags['tls-keylog'], proto: flags.proto, redact: { 'no-redact': true } };
}

/** The flag's value as a thread count (1: dissect on the main thread, as always). */
export async function workersFromFlag(text: string | undefined): Promise<number> {
  const value = (text ?? DEFAULT_WORKERS).trim().toLowerCase();
  if (value === 'auto') {
    const { autoWorkers } = await import('../dissect/parallel/cores.js');
    return autoWorkers();
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new UserError(`--workers: '${text}' is not auto or a number from 1 to 256`, ExitCode.USAGE);
  return n;
}
