import { Args, Flags } from '@oclif/core';
import { SharkCommand } from '../cli/base-command.js';
import { MERGE_FORMATS, runMerge, type MergeFormat } from '../merge/run.js';
import { outputFlags } from '../cli/output-flag.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { prose } from '../cli/prose.js';

export default class Merge extends SharkCommand {
  static override description = prose(`Merge captures or entry streams from several nodes into one, in timestamp order.

Packet captures (pcap, pcapng, any mix) merge like mergecap: the earliest
packet first, equal timestamps in the order the inputs were given. The output
is pcapng by default (as mergecap's), with the inputs' interfaces written once
when every input has the same ones, else one interface per input interface;
--format pcap works only when all inputs share one link type.

NDJSON entry streams merge by their "timestamp" field into NDJSON (on a
terminal: one readable line per call; see -o), secrets redacted as every
writer of entries does (--no-redact to keep them). With several inputs each
id is prefixed with its input's number (2:4-1), so ids stay unique.

Captures and NDJSON cannot be mixed. Output goes to stdout unless -w is given
(binary output is not written to a terminal). A damaged input is merged up to
the damage, then one line on stderr says where, and the exit code is 3.`);

  static override examples = [
    '<%= config.bin %> merge -w both.pcapng examples/node-a.pcap examples/node-b.pcap',
    '<%= config.bin %> merge --format pcap examples/node-a.pcap examples/node-b.pcap | tshark -r - | head',
    '<%= config.bin %> dissect examples/node-a.pcap > a.ndjson; <%= config.bin %> dissect examples/node-b.pcap | <%= config.bin %> merge a.ndjson - | head -3',
  ];

  static override strict = false;
  static override args = {
    file: Args.string({ description: 'inputs: pcap, pcapng or NDJSON files; "-" for stdin', required: false }),
  };

  static override flags = {
    write: Flags.string({ char: 'w', description: 'write to this file instead of stdout ("-" for stdout)' }),
    format: Flags.string({
      char: 'F',
      description: 'output format: pcapng (default for captures), pcap, or ndjson (for NDJSON inputs)',
      options: [...MERGE_FORMATS],
    }),
    ...outputFlags,
    ...redactFlags,
  };

  protected async execute(): Promise<number> {
    const { argv, flags } = await this.parse(Merge);
    return runMerge(argv as string[], {
      write: flags.write,
      format: flags.format as MergeFormat | undefined,
      signal: this.stop.signal,
      onClosed: () => this.outputClosed(),
      output: flags.output,
      color: flags.color,
      redact: redactorFromFlags(flags, 'merge'),
    });
  }
}
