// shark's start under oclif (bin/run.js). oclif finds the command and runs it,
// and each command reports its own failures (SharkCommand, CommandRuntime).
// What fails before any command runs is said here the same way, instead of
// oclif's own handler (" ›   Error: …", or a stack trace for help written
// to a full disk): an unknown command is one line and exit 2; `--help` or
// `--version` into a full disk one line and exit 6, into a closed pipe
// nothing and exit 0.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '@oclif/core';
import { ExitCode, UserError } from './errors.js';
import { fromSources, packageRoot } from './package-root.js';
import { CommandRuntime } from './runtime.js';

export async function main(argv: string[], dir: string): Promise<never> {
  const runtime = new CommandRuntime(() => 'shark');
  runtime.watchStdout();
  runtime.watchStderr();
  let code: number = ExitCode.OK;
  try {
    // No oclif flush(): on a stdout that failed it waits for a 'drain' that never comes; exit() drains.
    await run(argv, dir);
  } catch (err) {
    code = runtime.report(unknownCommand(err) ?? err);
  }
  return runtime.exit(code);
}

/**
 * oclif's "command X not found" as shark says a usage error. oclif joins the
 * words it was given with ':' to look for a topic's command: `shark record
 * out.pcap` asks for "record:out.pcap". shark has no topics, so the first
 * word is the command: a real one was given an argument it does not take.
 */
function unknownCommand(err: unknown): UserError | undefined {
  const m = /^command (\S+) not found$/.exec((err as Error | undefined)?.message ?? '');
  if (!m) return undefined;
  const [name, ...rest] = m[1].split(':');
  if (rest.length && isCommand(name)) {
    return new UserError(`${name}: unexpected argument "${rest.join(' ')}": it takes none (see shark ${name} --help)`, ExitCode.USAGE);
  }
  return new UserError(`${name}: no such command (see shark --help)`, ExitCode.USAGE);
}

function isCommand(name: string): boolean {
  if (!/^[a-z][a-z-]*$/.test(name)) return false;
  const root = packageRoot();
  return existsSync(join(root, 'dist', 'commands', `${name}.js`)) || (fromSources() && existsSync(join(root, 'src', 'commands', `${name}.ts`)));
}
