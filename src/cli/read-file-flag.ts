// `-r FILE`, as tshark and tcpdump read a capture: the same as naming the file
// as an argument, so a habit of years is not a usage error. It comes before
// the files named as arguments.
import { Flags } from '@oclif/core';

export const readFileFlag = {
  'read-file': Flags.string({ char: 'r', description: 'read this capture or entry file, as tshark -r and tcpdump -r do (the same as naming it)' }),
};

/** The inputs a command was given: -r's file, then the arguments. */
export function inputsFrom(flags: { 'read-file'?: string }, args: unknown[]): string[] {
  const named = args as string[];
  return flags['read-file'] === undefined ? named : [flags['read-file'], ...named];
}
