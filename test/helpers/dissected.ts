// CLI runs that several tests of one file make alike (`shark dissect FILE` of a capture they
// all compare against, one command's output checked by two tests), run once per test process:
// the CLI run (the built code, a user's flags) is the slow part of each. The promise is kept,
// so callers share it; each caller still asserts on the result.
import assert from 'node:assert/strict';
import { runCli, type CliResult } from './cli.js';

const runs = new Map<string, Promise<CliResult>>();

/** `shark ARGS` (no stdin, no extra environment), run the first time these ARGS are asked for. */
export function runCliOnce(args: string[]): Promise<CliResult> {
  const key = JSON.stringify(args);
  let run = runs.get(key);
  if (!run) {
    run = runCli(args, { timeoutMs: 60_000 });
    runs.set(key, run);
  }
  return run;
}

/** The stdout of a successful `shark dissect PATH` (asserted to exit 0). */
export async function dissectedOnce(path: string): Promise<string> {
  const r = await runCliOnce(['dissect', path]);
  assert.equal(r.code, 0, `dissect ${path}: ${r.stderr}`);
  return r.stdout;
}
