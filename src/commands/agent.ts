import { Flags } from '@oclif/core';
import { hostname } from 'node:os';
import { SharkCommand } from '../cli/base-command.js';
import { ExitCode } from '../cli/errors.js';
import { parseSize } from '../cli/units.js';
import { LineSink } from '../output/stdout-sink.js';
import { runLocalTap } from '../pipeline/local-tap.js';
import { MATCH_NOTHING, readAgentControl } from '../k8s/agent-control.js';
import { compileFilter } from '../filter/index.js';

export default class Agent extends SharkCommand {
  static override hidden = true;
  static override description = `Node agent (run by \`shark tap\` inside its DaemonSet pod through exec).

Captures on this node with libpcap, dissects, and writes NDJSON entries (each
tagged with the node's name) or pcap (--pcap) to stdout. Reads control lines
such as {"filter":"host 10.0.0.5"} on stdin; stops when stdin ends.`;

  static override examples = [
    '<%= config.bin %> agent --node node-a -i any -f "host 10.244.1.7"',
    '<%= config.bin %> agent --idle',
  ];

  static override flags = {
    node: Flags.string({ description: 'node name put in every entry (default $NODE_NAME, else the host name)' }),
    interface: Flags.string({ char: 'i', description: 'capture interface (repeatable)', multiple: true, default: ['any'] }),
    filter: Flags.string({ char: 'f', description: 'initial BPF filter (empty: capture nothing until told)', default: '' }),
    pcap: Flags.boolean({ description: 'write packets (pcap) instead of entries' }),
    'max-body': Flags.string({ description: 'keep at most this many body bytes per message', default: '16KB' }),
    'no-bodies': Flags.boolean({ description: 'drop request and response bodies' }),
    kfl: Flags.string({ description: 'keep only entries matching this KFL expression (pushed down by `shark tap -f`)' }),
    protocols: Flags.string({ description: 'keep only these protocols (comma-separated)' }),
    idle: Flags.boolean({ description: 'do nothing until stopped (the DaemonSet container’s main process)' }),
  };

  protected async execute(): Promise<number> {
    const { flags } = await this.parse(Agent);
    if (flags.idle) {
      await new Promise<void>((resolve) => this.stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      return ExitCode.OK;
    }
    const node = flags.node || process.env.NODE_NAME || hostname();
    const keep = flags.kfl ? compileFilter(flags.kfl).predicate : undefined;
    const protocols = flags.protocols ? flags.protocols.split(',').filter(Boolean) : [];
    // One line per entry, flushed at once: the CLI merges agents with a short window.
    const sink = new LineSink(process.stdout, { batchChars: 1, onClosed: () => this.outputClosed() });
    const result = await runLocalTap({
      interfaces: flags.interface,
      filter: flags.filter || MATCH_NOTHING,
      signal: this.stop.signal,
      engine: { maxBody: parseSize(flags['max-body'], '--max-body'), noBodies: flags['no-bodies'], reorderWindowMs: 0, protocols },
      onReady: (capture) => {
        readAgentControl(process.stdin, {
          setFilter: (bpf) => {
            capture.setFilter(bpf);
            process.stderr.write(`agent ${node}: filter ${bpf}\n`);
          },
          onEnd: () => this.stop.abort(),
          warn: (m) => process.stderr.write(`agent ${node}: ${m}\n`),
        });
        process.stderr.write(`agent ${node}: capturing on ${flags.interface.join(', ')}\n`);
      },
      output: flags.pcap
        ? { kind: 'packets', stream: process.stdout, onClosed: () => this.outputClosed() }
        : {
            kind: 'entries',
            sink,
            keep,
            transforms: [
              (e) => {
                e.node = { name: node };
              },
            ],
          },
    });
    process.stderr.write(
      `agent ${node}: ${result.packets} packets, ${result.entries} entries, ${result.filtered ?? 0} filtered out, ${result.stats.lost} lost\n`,
    );
    return ExitCode.OK;
  }
}
