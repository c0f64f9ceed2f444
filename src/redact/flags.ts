// The two flags every command that writes entries, or strings made from
// entries, shares: `--no-redact` and `--redact names-or-paths`. One definition,
// so every writer redacts the same way and says so the same way.

import { Flags } from '@oclif/core';
import { createRedactor, type Redactor } from './entry.js';

export const redactFlags = {
  redact: Flags.string({ description: 'also redact these names or field paths (comma-separated), e.g. x-tenant,request.headers.x-org' }),
  'no-redact': Flags.boolean({ description: 'do not redact secrets (tokens, passwords, cookies…) in the output' }),
};

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
  return createRedactor(redactList(flags), { enabled: !flags['no-redact'] });
}
