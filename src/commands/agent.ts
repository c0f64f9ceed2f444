import { Flags } from '@oclif/core';
import { hostname } from 'node:os';
import { SharkCommand } from '../cli/base-command.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { parseDuration, parseSize } from '../cli/units.js';
import { liveWorkersFlag } from '../cli/workers-flag.js';
import { sampleRateFlag } from '../cli/sample-flag.js';
import { LineSink } from '../output/stdout-sink.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { compileFilter } from '../filter/index.js';
import { evalCounts, evalReport } from '../filter/eval-report.js';
import { captureBufferFlags } from '../cli/capture-buffer-flags.js';
import { DEFAULT_LEASE_GRACE_MS, lapseMessage, readLease, watchLease } from '../k8s/lease-file.js';
import { runCaptureAgent } from '../k8s/agent-capture-run.js';
import { runTlsAgent } from '../k8s/agent-tls-run.js';
import type { AgentRun } from '../k8s/agent-run.js';
import { prose } from '../cli/prose.js';

export default class Agent extends SharkCommand {
  static override hidden = true;
  static override description = prose(`Node agent (run by \`shark tap\` inside its DaemonSet pod through exec).

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
it instead of finishing.`);

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
    const kfl = flags.kfl ? compileFilter(flags.kfl) : undefined;
    const keep = kfl?.predicate;
    const protocols = flags.protocols ? flags.protocols.split(',').filter(Boolean) : [];
    const sink = new LineSink(process.stdout, { batchChars: 1, onClosed: () => this.outputClosed() });
    const run: AgentRun = {
      node,
      say,
      stop: this.stop,
      outputClosed: () => this.outputClosed(),
      sink,
      keep,
      protocols,
      redact,
      statsEveryMs,
      maxBody: parseSize(flags['max-body'], '--max-body'),
      noBodies: flags['no-bodies'],
    };
    try {
      if (flags.tls) return await runTlsAgent(run, flags['pods-only']);
      return await runCaptureAgent(run, flags, () => stopLease?.());
    } finally {
      // Entries --kfl left out without a verdict (an evaluation error, the macros' step limit) are told, as `filter` tells them.
      if (kfl) for (const line of evalReport(evalCounts(kfl))) say(`--kfl: ${line}`);
    }
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
