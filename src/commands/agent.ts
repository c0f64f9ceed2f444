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
import { PerPodCapture } from '../capture/per-pod/capture.js';
import { LoopbackCaptures } from '../capture/per-pod/loopback.js';
import { MeshLinker } from '../capture/per-pod/mesh-link.js';
import { DEFAULT_LEASE_GRACE_MS, lapseMessage, watchLease } from '../k8s/lease-file.js';

export default class Agent extends SharkCommand {
  static override hidden = true;
  static override description = `Node agent (run by \`shark tap\` inside its DaemonSet pod through exec).

Captures on this node with libpcap, dissects, redacts secrets, and writes
NDJSON entries (each tagged with the node's name) or pcap (--pcap) to stdout;
its drop/loss counters go to stderr every few seconds. Reads control lines on
stdin: {"filter":"host 10.0.0.5"} replaces the filter; {"pods":[{"name":…,
"namespace":…,"ips":[…]}]} switches to per-pod capture (the pods' host-side
interfaces, each connection once, entries tagged with the pod); {"stop":true}
flushes and exits (as does stdin's end). --idle is the container's main process: it
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
    'service-mesh': Flags.boolean({
      description: "also capture each tapped pod's loopback (sidecar ↔ app plaintext) inside its network namespace: needs hostPID, SYS_ADMIN, SYS_PTRACE",
    }),
    tls: Flags.boolean({ description: 'capture the plaintext of TLS calls on this node with eBPF instead of packets (needs hostPID, CAP_BPF, CAP_PERFMON: docs/tls-capture.md)' }),
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
    if (flags.tls) {
      // eBPF plaintext capture: the same entries, tagged, filtered and redacted the same way.
      const { runTlsTap, tlsSummary } = await import('../tls-capture/tap.js');
      const { defaultLibraries } = await import('../tls-capture/loader.js');
      const result = await runTlsTap({
        libs: defaultLibraries(),
        scan: true,
        signal: this.stop.signal,
        sink,
        keep,
        transforms: [(e) => void (e.node = { name: node }), redact],
        engine: { maxBody: parseSize(flags['max-body'], '--max-body'), noBodies: flags['no-bodies'], reorderWindowMs: 0, protocols },
        onReady: (files) => {
          say(`--tls: hooked ${files.join(', ') || 'no OpenSSL yet'}`);
          // Control lines as for packet capture: stop, or stdin's end, finishes the run.
          readAgentControl(process.stdin, {
            setFilter: (bpf) => say(`--tls: packet filter ${bpf} does not apply to TLS capture`),
            onStop: () => this.stop.abort(),
            onEnd: () => this.stop.abort(),
            warn: say,
          });
        },
        onNote: (line) => say(`--tls: ${line}`),
      });
      say(tlsSummary(result));
      return ExitCode.OK;
    }
    let capture: LiveCapture | undefined;
    // Created by the first {"pods": …} control line: from then on the kernel
    // filter follows the pods' interfaces and each connection is kept once.
    let perPod: PerPodCapture | undefined;
    let entries = 0;
    // --service-mesh: each inner loopback call linked to the outer mTLS
    // connection on the pod's interface that carried it: one entry, not two.
    const mesh = flags['service-mesh'] && !flags.pcap
      ? new MeshLinker({
          emit: (line) => {
            entries++;
            void sink.write(line);
          },
        })
      : undefined;
    const meshTimer = mesh ? setInterval(() => mesh.tick(), 100).unref() : undefined;
    // --service-mesh: one `shark agent -i lo` per tapped pod, inside its network namespace.
    const loopback = flags['service-mesh'] && !flags.pcap
      ? new LoopbackCaptures({
          command: [process.execPath, process.argv[1]],
          args: [
            'agent', '--node', node, '--max-body', flags['max-body'], '--stats-interval', flags['stats-interval'],
            ...(flags['no-bodies'] ? ['--no-bodies'] : []),
            ...(flags['no-redact'] ? ['--no-redact'] : []),
            ...(flags.redact ? ['--redact', flags.redact] : []),
            ...(flags.kfl ? ['--kfl', flags.kfl] : []),
            ...(flags.protocols ? ['--protocols', flags.protocols] : []),
          ],
          onLine: (line) => mesh!.onInner(line),
          say,
        })
      : undefined;
    if (flags['service-mesh'] && flags.pcap) say('--service-mesh: loopback capture gives entries only, not with --pcap');
    const report = (final: boolean) => {
      if (!capture) return;
      const s = capture.stats();
      process.stderr.write(
        formatAgentStats({
          packets: s.received,
          kernelDropped: s.kernelDropped ?? null,
          ifDropped: s.ifDropped,
          lost: s.lost,
          entries,
          ...(perPod ? { duplicates: perPod.stats().duplicates } : {}),
          final,
        }),
      );
    };
    const statsTimer = setInterval(() => report(false), statsEveryMs);
    try {
      const result = await runLocalTap({
        interfaces: flags.interface,
        filter: flags.filter || MATCH_NOTHING,
        signal: this.stop.signal,
        engine: { maxBody: parseSize(flags['max-body'], '--max-body'), noBodies: flags['no-bodies'], reorderWindowMs: 0, protocols },
        keepPacket: (p) => {
          if (!perPod) return true;
          const kept = perPod.keep(p);
          if (kept) mesh?.onPacket(p);
          return kept;
        },
        onReady: (c) => {
          capture = c;
          readAgentControl(process.stdin, {
            setFilter: (bpf) => {
              if (perPod) return; // the pods' interfaces decide now
              c.setFilter(bpf);
              say(`filter ${bpf}`);
            },
            setPods: (pods) => {
              // Per-pod capture needs `any`'s cooked header (direction) and ifindex filter.
              if (flags.interface.join() !== 'any') {
                say(`pods message ignored: per-pod capture works on -i any, not ${flags.interface.join(', ')}`);
                return;
              }
              // SHARK_PERPOD_KERNEL_INTERFACES: the listed-interfaces limit of the kernel filter (tests, tuning).
              const max = process.env.SHARK_PERPOD_KERNEL_INTERFACES;
              perPod ??= new PerPodCapture({
                setFilter: (bpf) => c.setFilter(bpf),
                say,
                ...(max !== undefined && max !== '' ? { maxKernelInterfaces: Number(max) } : {}),
              });
              void perPod.setPods(pods);
              mesh?.setPods(pods);
              void loopback?.setPods(pods);
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
                  perPod?.attribute(e);
                },
                redact,
              ],
              // An outer mTLS connection's `tls` entry waits for the inner calls it carried.
              take: (e) => {
                if (!e.tapped || !mesh?.takeOuter(e)) return false;
                entries--; // counted again if it is passed on
                return true;
              },
            },
      });
      say(`${result.packets} packets, ${result.entries} entries, ${result.filtered ?? 0} filtered out, ${result.stats.lost} lost`);
      if (perPod) {
        const p = perPod.stats();
        say(
          `per-pod: ${p.pods} pods, ${p.interfaces} interfaces, ${p.kept} packets kept, ${p.duplicates} duplicates dropped, ` +
            `${p.untapped} of untapped pods, ${p.evicted} connections forgotten (table full)`,
        );
      }
      // The pods' loopback agents flush their last entries before the final counters.
      await loopback?.close();
      if (mesh) {
        mesh.flush();
        const m = mesh.counters;
        say(
          `service-mesh: ${m.linked} calls linked to their mTLS connection (${m.byOrder} of them by order in a tie), ${m.ambiguous} ambiguous, ${m.unlinked} unlinked; ` +
            `${m.outerFolded} outer connections folded into their calls, ${m.outerKept} kept; forgotten (bounds): ` +
            `${m.connectionsEvicted} connections, ${m.segmentsEvicted} packets, ${m.pendingEvicted} waiting calls`,
        );
      }
      await sink.flush();
    } finally {
      perPod?.close();
      if (meshTimer) clearInterval(meshTimer);
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
