import { Flags } from '@oclif/core';
import { hostname } from 'node:os';
import { SharkCommand } from '../cli/base-command.js';
import { ExitCode } from '../cli/errors.js';
import { parseDuration, parseSize } from '../cli/units.js';
import { LineSink } from '../output/stdout-sink.js';
import { runLocalTap } from '../tap/local.js';
import type { LiveCapture } from '../capture/live.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { MATCH_NOTHING, formatAgentStats, readAgentControl } from '../k8s/agent-control.js';
import { compileFilter } from '../filter/index.js';
import { DEFAULT_LEASE_GRACE_MS, lapseMessage, watchLease } from '../k8s/lease-file.js';

export default class Agent extends SharkCommand {
  static override hidden = true;
  static override description = `Node agent (run by \`shark tap\` inside its DaemonSet pod through exec).

Captures on this node with libpcap, dissects, redacts secrets, and writes
NDJSON entries (each tagged with the node's name) or pcap (--pcap) to stdout;
its drop/loss counters go to stderr every few seconds. Reads control lines on
stdin: {"filter":"host 10.0.0.5"} replaces the filter, {"stop":true} flushes
and exits (as does stdin's end). --idle is the container's main process: it
does nothing until SIGTERM or SIGINT, then exits 0.`;

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
    // Secrets are taken out here, before entries leave the node (the CLI's --no-redact turns this off).
    ...redactFlags,
    'stats-interval': Flags.string({ description: 'how often to report drop/loss counters on stderr', default: '2s' }),
    kfl: Flags.string({ description: 'keep only entries matching this KFL expression (pushed down by `shark tap -f`)' }),
    protocols: Flags.string({ description: 'keep only these protocols (comma-separated)' }),
    idle: Flags.boolean({ description: 'do nothing until SIGTERM/SIGINT (the DaemonSet container’s main process)' }),
    'lease-dir': Flags.string({ description: 'the run\'s root ConfigMap mounted here: stop capturing once its lease lapsed (the CLI is gone)' }),
    'lease-grace': Flags.string({ description: 'how late the kubelet may refresh the mounted lease', default: `${DEFAULT_LEASE_GRACE_MS / 1000}s` }),
  };

  protected async execute(): Promise<number> {
    const { flags } = await this.parse(Agent);
    const node = flags.node || process.env.NODE_NAME || hostname();
    const say = (m: string) => process.stderr.write(`agent ${node}: ${m}\n`);
    // Without an API token, the agent learns that its run's CLI is gone from the mounted root ConfigMap.
    const leaseGraceMs = parseDuration(flags['lease-grace'], '--lease-grace');
    const stopLease = flags['lease-dir']
      ? watchLease(flags['lease-dir'], leaseGraceMs, (s) => {
          say(lapseMessage(s));
          // The capture stops; the idle main process stays (exiting would only restart it: restartPolicy Always).
          if (!flags.idle) this.stop.abort();
        })
      : undefined;
    if (flags.idle) return this.idle();
    const statsEveryMs = Math.max(100, parseDuration(flags['stats-interval'], '--stats-interval'));
    // Secrets are redacted here, on the node, so they never cross the API server.
    const redact = redactorFromFlags(flags, `agent ${node}`);
    // Pushed down by `shark tap -f KFL` / `--protocols`: only matching entries cross the API server.
    const keep = flags.kfl ? compileFilter(flags.kfl).predicate : undefined;
    const protocols = flags.protocols ? flags.protocols.split(',').filter(Boolean) : [];
    // One line per entry, flushed at once: the CLI merges agents with a short window.
    const sink = new LineSink(process.stdout, { batchChars: 1, onClosed: () => this.outputClosed() });
    let capture: LiveCapture | undefined;
    let entries = 0;
    const report = (final: boolean) => {
      if (!capture) return;
      const s = capture.stats();
      process.stderr.write(
        formatAgentStats({ packets: s.received, kernelDropped: s.kernelDropped ?? null, ifDropped: s.ifDropped, lost: s.lost, entries, final }),
      );
    };
    const statsTimer = setInterval(() => report(false), statsEveryMs);
    try {
      const result = await runLocalTap({
        interfaces: flags.interface,
        filter: flags.filter || MATCH_NOTHING,
        signal: this.stop.signal,
        engine: { maxBody: parseSize(flags['max-body'], '--max-body'), noBodies: flags['no-bodies'], reorderWindowMs: 0, protocols },
        onReady: (c) => {
          capture = c;
          readAgentControl(process.stdin, {
            setFilter: (bpf) => {
              c.setFilter(bpf);
              say(`filter ${bpf}`);
            },
            onStop: () => this.stop.abort(),
            onEnd: () => this.stop.abort(),
            warn: say,
          });
          say(`capturing on ${flags.interface.join(', ')}`);
        },
        output: flags.pcap
          ? { kind: 'packets', stream: process.stdout, onClosed: () => this.outputClosed() }
          : {
              kind: 'entries',
              sink,
              keep,
              transforms: [
                (e) => {
                  entries++;
                  e.node = { name: node };
                },
                redact,
              ],
            },
      });
      say(`${result.packets} packets, ${result.entries} entries, ${result.filtered ?? 0} filtered out, ${result.stats.lost} lost`);
    } finally {
      stopLease?.();
      clearInterval(statsTimer);
      // The last counters go out after the last entry (stdout was flushed by runLocalTap).
      report(true);
    }
    return ExitCode.OK;
  }

  /**
   * The container's main process. Node exits as soon as nothing but a promise
   * is pending, so a timer holds the event loop open until SIGTERM (the
   * kubelet stopping the pod) or SIGINT; both exit 0.
   */
  private async idle(): Promise<number> {
    const keepAlive = setInterval(() => {}, 1 << 30);
    await new Promise<void>((resolve) => this.stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    clearInterval(keepAlive);
    return ExitCode.OK;
  }
}
