// `-o/--output` and `--color` for every command that writes entries.
// The default follows `hubble observe` and `gh`: a readable line per call on
// a terminal, NDJSON everywhere else — so scripts and pipes see no change.

import { Flags } from '@oclif/core';
import { UserError } from './errors.js';
import { OUTPUT_FORMATS, formatterFor, type LineFormatter, type OutputFormat } from '../output/formats/entry-format.js';
import { styles, useColour, type ColourMode } from '../output/formats/colour.js';

export const outputFlags = {
  output: Flags.string({
    char: 'o',
    description: 'entry format: ndjson, compact (one line per call), wide, detail (request and response in full), json (one array). Default: compact on a terminal, ndjson otherwise',
    options: [...OUTPUT_FORMATS],
  }),
  color: Flags.string({
    description: 'colour the human formats: auto (on a terminal, unless NO_COLOR is set; FORCE_COLOR=1 or 0 forces it), always, never',
    options: ['auto', 'always', 'never'],
    default: 'auto',
  }),
};

export interface OutputChoice {
  format: OutputFormat;
  formatter: LineFormatter | undefined;
}

/**
 * The format for entries written to `out`. `entriesOnly` is false where the
 * command writes something else (packets, a pcap): then only NDJSON makes sense.
 */
export function outputFromFlags(
  flags: { output?: string; color?: string },
  out: NodeJS.WriteStream | { isTTY?: boolean; columns?: number } = process.stdout,
  opts: { entriesOnly?: boolean; what?: string } = {},
): OutputChoice {
  const terminal = out.isTTY === true;
  if (opts.entriesOnly === false) {
    if (flags.output && flags.output !== 'ndjson') throw new UserError(`-o ${flags.output}: only entries have formats; ${opts.what ?? 'this output'} is written as it is`, 2);
    return { format: 'ndjson', formatter: undefined };
  }
  const format = (flags.output ?? (terminal ? 'compact' : 'ndjson')) as OutputFormat;
  const colour = useColour((flags.color ?? 'auto') as ColourMode, terminal);
  const envColumns = Number(process.env.COLUMNS);
  // COLUMNS wins, as for `ls`; a pipe is cut only when COLUMNS asks for it.
  const columns = envColumns > 0 ? envColumns : terminal ? (out.columns ?? 80) : 0;
  return { format, formatter: formatterFor(format, { styles: styles(colour), columns }) };
}
