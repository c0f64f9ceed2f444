// `-s/--snaplen N` for tap -i and record -i, read as tcpdump reads it: `-s 0`
// means whole packets (the default), the habit of anyone who has used
// tcpdump; it used to be refused as "less than 64".
import { Flags } from '@oclif/core';
import { ExitCode, UserError } from './errors.js';

/** Below this the link and IP headers may not fit; such a capture sees nothing. */
const MIN_SNAPLEN = 64;

export function snaplenFlag(description: string) {
  return Flags.integer({ char: 's', description: `${description}; 0, as in tcpdump -s 0, or unset: whole packets`, min: 0 });
}

/** The flag as a capture option: undefined (whole packets) for 0 or unset. */
export function snaplenFrom(n: number | undefined): number | undefined {
  if (n === undefined || n === 0) return undefined;
  if (n < MIN_SNAPLEN) throw new UserError(`--snaplen ${n}: at least ${MIN_SNAPLEN} bytes (or 0 for whole packets)`, ExitCode.USAGE);
  return n;
}
