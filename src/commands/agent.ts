import { Flags } from '@oclif/core';
import { hostname } from 'node:os';
import { SharkCommand } from '../cli/base-command.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { parseDuration, parseSize } from '../cli/units.js';
import { liveWorkersFlag, workersFromFlag } from '../cli/workers-flag.js';
import { sampleRateFlag, sampleRateFromFlag } from '../cli/sample-flag.js';
import { connectionSampler } from '../capture/sample.js';
import { LineSink } from '../output/stdout-sink.js';
import { runLocalTap } from '../tap/local.js';
import type { LiveCapture } from '../capture/live.js';
import type { Packet } from '../model/packet.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { MATCH_NOTHING, formatAgentStats, readAgentControl } from '../k8s/agent-control.js';
import { compileFilter } from '../filter/index.js';
import { PerPodCapture } from '../capture/per-pod/capture.js';
import { captureBufferFlags, captureBufferOptions } from '../cli/capture-buffer-flags.js';
import { describeShed } from '../capture/live-stats.js';
import { LoopbackCaptures } from '../capture/per-pod/loopback.js';
import { MeshLinker } from '../capture/per-pod/mesh-link.js';
import { DEFAULT_LEASE_GRACE_MS, lapseMessage, readLease, watchLease } from '../k8s/lease-file.js';
import type { TlsTapResult } from '../tls-capture/tap.js';

/** A --tls agent's counters in the agents' stats line: TLS events as packets, events the ring lost as queue losses. */
function tlsAgentStats(r: TlsTapResult, final: boolean): string {
  return formatAgentStats({
    packets: r.events,
    kernelDropped: null,
    ifDropped: 0,
    lost: r.kernel?.lostEvents ?? 0,
    entries: r.entries,
    untapped: r.otherPods,
    final,
  });
}

export default class Agent extends SharkCommand {
  static override hidden = true;
  static override description = `Node agent (run by \`shark tap\` inside its DaemonSet pod through exec).

Captures on this node with libpcap, dissects, redacts secrets, and writes
NDJSON entries (each tagged with the node's name) or pcap (--pcap) to stdout;
its drop/loss counters go to stderr every few seconds. Reads control lines on
stdin: {"filter":"host 10.0.0.5"} replaces the filter; {"pods":[{"name":…,
"namespace":…,"ips":[…]}]} switches to per-pod capture (the pods' host-side
interfaces, each connection once, entries tagged with the pod); {"stop":true}
flushes and exits (as does stdin's end). With --tls --pods-only, the
{"pods"} list (each pod's uid and container ids) selects the processes whose
TLS calls are kept; each entry's process carries its container and pod uid.
--idle is the container's main process: it does nothing until SIGTERM or
SIGINT, then exits 0. --until-lapse is the run's keeper (a Job's pod): it
exits 0 once the lease in --lease-dir lapsed, which ends the Job and so
deletes the run; SIGTERM or SIGINT before that exits 1, so the Job restarts
it instead of finishing.`;

  static override examples = [
    '<%= config.bin %> agent --node node-a -i any -f "host 10.244.1.7"',
    '<%= config.bin %> agent --idle',
    '<%= config.bin %> agent --until-lapse --lease-dir /etc/shark/run',
  ];

  static override flags = {
    node: Flags.string({ description: 'node name put in every entry (default $NODE_NAME, else the host name)' }),
    interface: Flags.string({ char: 'i', description: 'capture interface (repeatable)', multiple: true, default: ['any'] }),
    filter: Flags.string({ char: 'f', description: 'initial BPF filter (empty: capture nothing until told)', default: '' }),
    pcap: Flags.boolean({ description: 'write packets (pcap) instead of entries' }),
    'max-body': Flags.string({ description: 'keep at most this many body bytes per message', default: '16KB' }),
    workers: liveWorkersFlag,
    'sample-rate': sampleRateFlag,
    'no-bodies': Flags.boolean({ description: 'drop request and response bodies' }),
    // Secrets are taken out here, before entries leave the node (the CLI's --no-redact turns this off).
    ...redactFlags,
    'stats-interval': Flags.string({ description: 'how often to report drop/loss counters on stderr', default: '2s' }),
    ...captureBufferFlags,
    kfl: Flags.string({ description: 'keep only entries matching this KFL expression (pushed down by `shark tap -f`)' }),
    protocols: Flags.string({ description: 'keep only these protocols (comma-separated)' }),
    idle: Flags.boolean({ description: 'do nothing until SIGTERM/SIGINT (the DaemonSet container’s main process)' }),
    'service-mesh': Flags.boolean({
      description: "also capture each tapped pod's loopback (sidecar ↔ app plaintext) inside its network namespace: needs hostPID, SYS_ADMIN, SYS_PTRACE",
    }),
    tls: Flags.boolean({ description: 'capture the plaintext of TLS calls on this node with eBPF instead of packets (needs hostPID, CAP_BPF, CAP_PERFMON: docs/tls-capture.md)' }),
    'pods-only': Flags.boolean({
      description: '--tls: keep only the calls of processes inside the pods named by {"pods": …} control lines (by pod uid or container id; none until the first)',
    }),
    'lease-dir': Flags.string({ description: 'the run\'s root ConfigMap mounted here: stop capturing once its lease lapsed (the CLI is gone)' }),
    'until-lapse': Flags.boolean({
      description: "the run's keeper: wait until the lease in --lease-dir lapsed, then exit 0 (a signal before that exits 1)",
      exclusive: ['idle'],
    }),
    'lease-grace': Flags.string({ description: 'how late the kubelet may refresh the mounted lease', default: `${DEFAULT_LEASE_GRACE_MS / 1000}s` }),
  };

  protected async execute(): Promise<number> {
    const { flags } = await this.parse(Agent);
    const node = flags.node || process.env.NODE_NAME || hostname();
    const say = (m: string) => process.stderr.write(`agent ${node}: ${m}\n`);
    // Without an API token, the agent learns that its run's CLI is gone from the mounted root ConfigMap.
    const leaseGraceMs = parseDuration(flags['lease-grace'], '--lease-grace');
    if (flags['until-lapse']) {
      if (!flags['lease-dir']) throw new UserError('--until-lapse needs --lease-dir (where the run\'s lease ConfigMap is mounted)', ExitCode.USAGE);
      return this.untilLapse(flags['lease-dir'], leaseGraceMs, say);
    }
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
      const { ProcessIdentities, cgroup2Under } = await import('../tls-capture/process-identity.js');
      const { PodSelection } = await import('../tls-capture/pod-selection.js');
      // SHARK_CGROUP_ROOT: where the host's cgroup v2 tree is mounted in the agent's container (a hostPath).
      const cgroupRoot = process.env.SHARK_CGROUP_ROOT;
      const identities = new ProcessIdentities(cgroupRoot ? { cgroupRoot: cgroup2Under(cgroupRoot) } : {});
      const selection = flags['pods-only'] ? new PodSelection() : undefined;
      let tlsNow: (() => TlsTapResult) | undefined;
      const tlsStats = setInterval(() => {
        if (tlsNow) process.stderr.write(tlsAgentStats(tlsNow(), false));
      }, statsEveryMs);
      const result = await runTlsTap({
        identities,
        selection,
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
            setPods: (pods) => {
              if (!selection) return;
              selection.set(pods);
              say(`--tls: ${selection.size} pod(s) tapped`);
            },
            onStop: () => this.stop.abort(),
            onEnd: () => this.stop.abort(),
            warn: say,
          });
        },
        onNote: (line) => say(`--tls: ${line}`),
        // The CLI's per-node counters: TLS events stand for packets, ring losses for queue losses.
        live: (now) => (tlsNow = now),
      }).finally(() => clearInterval(tlsStats));
      say(tlsSummary(result));
      process.stderr.write(tlsAgentStats(result, true));
      return ExitCode.OK;
    }
    let capture: LiveCapture | undefined;
    // Created by the first {"pods": …} control line: from then on the kernel
    // filter follows the pods' interfaces and each connection is kept once.
    let perPod: PerPodCapture | undefined;
    let entries = 0;
    const podOfPacket = new WeakMap<Packet, string>();
    const rate = sampleRateFromFlag(flags['sample-rate']);
    const sampler = rate !== undefined ? connectionSampler(rate) : undefined;
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
          ...(s.shedFlows !== undefined ? { shedFlows: s.shedFlows, shedPackets: s.shedPackets ?? 0, lagMs: Math.round(s.lagMs ?? 0) } : {}),
          final,
        }),
      );
    };
    const statsTimer = setInterval(() => report(false), statsEveryMs);
    try {
      const result = await runLocalTap({
        interfaces: flags.interface,
        filter: flags.filter || MATCH_NOTHING,
        // Immediate mode: per-pod filters (ifindex) change at run time, and libpcap would
        // re-filter a whole 10 ms block in userland after each change, where ifindex never matches.
        buffers: { ...captureBufferOptions(flags), immediate: true },
        signal: this.stop.signal,
        engine: { maxBody: parseSize(flags['max-body'], '--max-body'), noBodies: flags['no-bodies'], reorderWindowMs: 0, protocols },
        parallel: { workers: await workersFromFlag(flags.workers) },
        keepPacket: (p) => {
          if (sampler && !sampler.keep(p)) return false;
          if (!perPod) return true;
          const kept = perPod.keep(p);
          if (kept) mesh?.onPacket(p);
          // --pcap: each kept packet goes out on its pod's own pcapng interface ("namespace/pod").
          const pod = kept && flags.pcap ? perPod.lastPodLabel() : undefined;
          if (pod) podOfPacket.set(p, pod);
          return kept;
        },
        packetInterface: flags.pcap ? (p) => podOfPacket.get(p) : undefined,
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
      const shed = describeShed(result.stats);
      say(`${result.packets} packets, ${result.entries} entries, ${result.filtered ?? 0} filtered out, ${result.stats.lost} lost${shed ? `, ${shed}` : ''}`);
      if (sampler) say(`--sample-rate ${rate}: ${sampler.skipped} packets of connections outside the sample skipped`);
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
   * The keeper Job's process: exit 0 only when the lease lapsed, since exit 0
   * finishes the Job and its TTL then deletes the whole run. Anything else —
   * SIGTERM from a node drain or an eviction, SIGINT — is a failure (exit 1):
   * the Job restarts or replaces the pod and the run lives on. No lease to
   * read (lease 0, a volume not there) is never a lapse: it waits.
   */
  private async untilLapse(dir: string, graceMs: number, say: (m: string) => void): Promise<number> {
    const keepAlive = setInterval(() => {}, 1 << 30);
    let stopLease: (() => void) | undefined;
    // Said once, for `kubectl logs`: a keeper that cannot read its lease waits (never a lapse), and the run stays.
    const first = readLease(dir, Date.now(), graceMs, Date.now());
    say(first.kind === 'none' ? `keeper: no lease to follow yet (${first.why}); waiting` : `keeper: following the run's lease in ${dir} (${Math.round(first.leaseMs / 1000)}s + ${Math.round(graceMs / 1000)}s grace)`);
    try {
      const lapsed = await new Promise<boolean>((resolve) => {
        this.stop.signal.addEventListener('abort', () => resolve(false), { once: true });
        stopLease = watchLease(dir, graceMs, (s) => {
          say(`${lapseMessage(s).replace(/; not capturing.*$/, '')}; ending the run (its objects are deleted with this Job)`);
          resolve(true);
        });
      });
      if (!lapsed) say('keeper stopped before the lease lapsed: exit 1, so the Job restarts it and the run lives on');
      return lapsed ? ExitCode.OK : ExitCode.CHECK_FAILED;
    } finally {
      stopLease?.();
      clearInterval(keepAlive);
    }
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
