// shark's start under oclif (bin/run.js). oclif finds the command and runs it,
// and each command reports its own failures (SharkCommand, CommandRuntime).
// What fails before any command runs is said here the same way, instead of
// oclif's own handler (" ›   Error: …", or a stack trace for help written
// to a full disk): an unknown command is one line and exit 2; `--help` or
// `--version` into a full disk one line and exit 6, into a closed pipe
// nothing and exit 0.

import { run } from '@oclif/core';
import { ExitCode, UserError } from './errors.js';
import { CommandRuntime } from './runtime.js';

export async function main(argv: string[], dir: string): Promise<never> {
  const runtime = new CommandRuntime(() => 'shark');
  runtime.watchStdout();
  let code: number = ExitCode.OK;
  try {
    // No oclif flush(): on a stdout that failed it waits for a 'drain' that never comes; exit() drains.
    await run(argv, dir);
  } catch (err) {
    code = runtime.report(unknownCommand(err) ?? err);
  }
  return runtime.exit(code);
}

/** oclif's "command X not found" as shark says a usage error. */
function unknownCommand(err: unknown): UserError | undefined {
  const m = /^command (\S+) not found$/.exec((err as Error | undefined)?.message ?? '');
  return m ? new UserError(`${m[1]}: no such command (see shark --help)`, ExitCode.USAGE) : undefined;
}
