// The two flags every command that writes entries, or strings made from
// entries, shares: `--no-redact` and `--redact names-or-paths`. One definition,
// so every writer redacts the same way and says so the same way.

import { Flags } from '@oclif/core';
export { redactList, redactorFromFlags, type RedactFlagValues } from './from-flags.js';

export const redactFlags = {
  redact: Flags.string({ description: 'also redact these names or field paths (comma-separated), e.g. x-tenant,request.headers.x-org' }),
  'no-redact': Flags.boolean({ description: 'do not redact secrets (tokens, passwords, cookies…) in the output' }),
};
