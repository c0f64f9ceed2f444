// `shark merge FILE…` without oclif. merge is a pipeline step run over and
// over on files that take mergecap a fraction of a second, and loading oclif
// (~150 modules) would be most of shark's time there. So bin/run.js sends a
// plain invocation — inputs plus -w/--write and -F/--format with a valid
// value, each at most once — straight to runMerge under the same
// CommandRuntime the oclif commands use. Anything else (--help, a typo, a
// repeated or unknown flag, no inputs) is left to oclif, whose messages and
// help stay the only ones.

import { MERGE_FORMATS, runMerge, type MergeFormat } from '../merge/run.js';
import { CommandRuntime } from './runtime.js';

export interface PlainMergeArgs {
  paths: string[];
  write?: string;
  format?: MergeFormat;
}

/** The arguments after `merge`, when they are plain enough to run without oclif; undefined otherwise. */
export function parsePlainMergeArgs(argv: string[]): PlainMergeArgs | undefined {
  const paths: string[] = [];
  let write: string | undefined;
  let format: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === '-' || !token.startsWith('-')) {
      paths.push(token);
      continue;
    }
    let name: string;
    let value: string | undefined;
    const eq = token.indexOf('=');
    if (token.startsWith('--') && eq > 0) {
      name = token.slice(0, eq);
      value = token.slice(eq + 1);
    } else {
      name = token;
      value = argv[++i];
      if (value === undefined || (value.startsWith('-') && value !== '-')) return undefined;
    }
    if ((name === '-w' || name === '--write') && write === undefined) write = value;
    else if ((name === '-F' || name === '--format') && format === undefined) format = value;
    else return undefined;
  }
  if (paths.length === 0 || write === '') return undefined;
  if (format !== undefined && !(MERGE_FORMATS as readonly string[]).includes(format)) return undefined;
  return { paths, write, format: format as MergeFormat | undefined };
}

/** Run `merge` without oclif when the arguments allow (then the process exits); returns false to hand them to oclif. */
export async function fastMerge(argv: string[]): Promise<boolean> {
  const args = parsePlainMergeArgs(argv);
  if (!args) return false;
  const runtime = new CommandRuntime(() => 'merge');
  await runtime.run(() =>
    runMerge(args.paths, { write: args.write, format: args.format, signal: runtime.stop.signal, onClosed: () => runtime.outputClosed() }),
  );
  return true;
}
