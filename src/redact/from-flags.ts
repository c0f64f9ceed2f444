// What `--redact` and `--no-redact` (flags.ts) ask for, as a redactor. Apart
// from the flags' definitions so that a worker thread, which reads the values
// from its spec, does not load the command-line library (~60 ms per thread).

import { createRedactor, type Redactor } from './entry.js';

export interface RedactFlagValues {
  redact?: string;
  'no-redact'?: boolean;
}

/** `--redact a,b.c` as a list. */
export function redactList(flags: RedactFlagValues): string[] {
  return flags.redact ? flags.redact.split(',').map((s) => s.trim()).filter(Boolean) : [];
}

/**
 * The redactor the flags ask for; with `--no-redact`, says on stderr that
 * secrets will show (`who`: the command's name).
 */
export function redactorFromFlags(flags: RedactFlagValues, who: string, stderr: NodeJS.WritableStream = process.stderr): Redactor {
  if (flags['no-redact']) stderr.write(`${who}: redaction is off: secrets in the traffic appear in the output\n`);
  return createRedactor(redactList(flags), { enabled: !flags['no-redact'], onLimit: (m) => stderr.write(`${who}: ${m}\n`) });
}
