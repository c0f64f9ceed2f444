// The `-d/--decode-as` flag, one definition for every command that reads
// captures (dissect, tap, stats, map, filter): tshark's syntax, repeatable.

import { Flags } from '@oclif/core';
import { parseDecodeAsList, type DecodeAsRule } from '../dissect/decode-as.js';

/** `scope` prefixes the description (tap: "local: "). */
export function decodeAsFlag(scope = '') {
  return Flags.string({
    char: 'd',
    description: `${scope}dissect traffic on this port as PROTOCOL, tshark's syntax (repeatable), e.g. tcp.port==8053,dns`,
    helpValue: 'tcp.port==PORT,PROTOCOL',
    multiple: true,
    // `-d tcp.port==8053,dns capture.pcap`: the file after it is an argument, not a second rule.
    multipleNonGreedy: true,
  });
}

/** The rules of the flag's values (a bad one is a usage error quoting it). */
export function decodeAsRules(values: string[] | undefined): DecodeAsRule[] {
  return parseDecodeAsList(values);
}
