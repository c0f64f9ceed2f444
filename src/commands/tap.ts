import { Args, Flags } from '@oclif/core';
import { SharkCommand } from '../cli/base-command.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { parseDuration, parseSize } from '../cli/units.js';
import { LineSink } from '../output/stdout-sink.js';
import { outputFlags, outputFromFlags } from '../cli/output-flag.js';
import { formatInterfaceList, listInterfaces } from '../capture/live.js';
import { behindLine, runLocalTap, tapSummary } from '../tap/local.js';
import { describeDecryption } from '../dissect/tls/keylog.js';
import { captureBufferFlags, captureBufferOptions } from '../cli/capture-buffer-flags.js';
import { snaplenFlag, snaplenFrom } from '../cli/snaplen-flag.js';
import { parseLabelSelector } from '../k8s/label-selector.js';
import type { LiveStats } from '../capture/live.js';
import { tlsKeylogFlag, tlsKeysFromFlag } from '../cli/tls-keylog-flag.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { loadProtoDir } from '../dissect/protocols/proto-schema.js';
import { decodeAsFlag, decodeAsRules } from '../cli/decode-as-flag.js';
import { memoryBudgetFlag, memoryBudgetOption } from '../cli/memory-budget-flag.js';
import { liveWorkersFlag, workersFromFlag } from '../cli/workers-flag.js';
import { sampleRateFlag, sampleRateFromFlag } from '../cli/sample-flag.js';
import { connectionSampler } from '../capture/sample.js';
import { defaultLibraries } from '../tls-capture/loader.js';

function linkTypeName(linkType: number): string {
  const names: Record<number, string> = { 0: 'null', 1: 'ethernet', 101: 'raw', 113: 'linux-sll', 276: 'linux-sll2' };
  return names[linkType] ?? `linktype ${linkType}`;
}

export default class Tap extends SharkCommand {
  static override description = `Capture live traffic: on local interfaces (-i), or across a Kubernetes cluster.

Local: captures with libpcap on one or more interfaces and writes entries
(NDJSON, dissected live), or packets with --pcap (pcap; pcapng when several
interfaces) or -w FILE. Ctrl-C stops, flushes pending calls and prints a
summary on stderr. Needs CAP_NET_RAW (root or setcap).

Cluster: with a pod regex, -n or -A, taps pods through node agents (a
DaemonSet the run creates and removes). While agents start, each node's
state is shown; agents not running by --agent-timeout end the run (exit 4)
with the reason per node. -f/--filter is then a KFL expression run on the
agents, so only matching entries leave the nodes. --dry-run prints the
objects as YAML instead. See docs/kubernetes.md.

TLS (--tls): the plaintext of TLS calls on this machine, taken from OpenSSL
(libssl, or binaries with it linked in and symbols kept) by eBPF uprobes, so
HTTP/1, HTTP/2, gRPC … inside TLS come out as their own entries with
tls: true and the process. Needs root (or CAP_BPF + CAP_PERFMON), a kernel
with BTF and the loader built by scripts/install.sh; without them it says why
and exits 4. With a pod regex, -n or -A the node agents do it (their DaemonSet
then gets hostPID and the eBPF capabilities: --dry-run --tls shows them). See
docs/tls-capture.md.`;

  static override examples = [
    '<%= config.bin %> tap --list-interfaces',
    '<%= config.bin %> tap -i eth0 -f "tcp port 80" --duration 10s',
    '<%= config.bin %> tap -i eth0 --pcap -c 100 > first100.pcap',
    '<%= config.bin %> tap -i eth0 -i lo -w both.pcapng --duration 1m',
    '<%= config.bin %> tap -i eth0 --ring 256MB --spool 4GB --spool-dir /var/tmp > calls.ndjson',
    '<%= config.bin %> tap -i eth0 | <%= config.bin %> filter \'http and response.status >= 500\'',
    '<%= config.bin %> tap \'reviews|ratings\' -n bookinfo --duration 1m > calls.ndjson',
    '<%= config.bin %> tap -A | <%= config.bin %> filter dns | <%= config.bin %> stats',
    '<%= config.bin %> tap -A -f \'http and response.status >= 500\' --protocols http',
    '<%= config.bin %> tap -A --agent-image registry.example/shark:0.1.0 --dry-run > shark-agents.yaml',
    '<%= config.bin %> tap --clean',
    '<%= config.bin %> tap --tls --duration 30s | <%= config.bin %> filter http',
    '<%= config.bin %> tap --tls --tls-lib /usr/bin/node -c 10',
  ];

  static override args = {
    podRegex: Args.string({ description: 'tap cluster pods whose name matches this regex', required: false }),
  };

  static override flags = {
    interface: Flags.string({ char: 'i', description: 'capture on this local interface (repeat for several)', multiple: true }),
    'list-interfaces': Flags.boolean({ char: 'D', description: 'list the interfaces that can be captured on, like tcpdump -D' }),
    ...outputFlags,
    filter: Flags.string({
      char: 'f',
      description: 'local: BPF capture filter (pcap-filter syntax), e.g. "tcp port 80"; cluster: KFL expression run on the agents',
    }),
    snaplen: snaplenFlag('local: bytes kept per packet (at most 65535)'),
    'buffer-size': Flags.string({
      char: 'B',
      description: 'kernel capture ring (libpcap in immediate mode keeps one 64 KiB slot per packet: more ring, fewer drops under load)',
      default: '128MB',
    }),
    ...captureBufferFlags,
    duration: Flags.string({ description: 'stop after this long (e.g. 10s, 5m)' }),
    count: Flags.integer({ char: 'c', description: 'stop after this many entries (packets with --pcap/-w)', min: 1 }),
    pcap: Flags.boolean({ description: 'write packets (pcap, or pcapng for several interfaces) to stdout instead of entries' }),
    write: Flags.string({ char: 'w', description: 'write packets to this file (pcap, or pcapng for several interfaces)' }),
    'max-body': Flags.string({ description: 'keep at most this many body bytes per message', default: '16KB' }),
    'memory-budget': memoryBudgetFlag,
    workers: liveWorkersFlag,
    'sample-rate': sampleRateFlag,
    'no-bodies': Flags.boolean({ description: 'drop request and response bodies' }),
    ...redactFlags,
    proto: Flags.string({ description: 'local: decode gRPC messages with the .proto files in this directory (or file)' }),
    'tls-keylog': tlsKeylogFlag('local: '),
    'decode-as': decodeAsFlag('local: '),
    tls: Flags.boolean({ description: 'capture the plaintext of local TLS calls with eBPF (OpenSSL uprobes) instead of packets' }),
    'tls-lib': Flags.string({ description: 'with --tls: also hook this library or binary from the start (e.g. /usr/bin/node, OpenSSL linked in)', multiple: true }),
    'tls-ring-size': Flags.string({ description: 'with --tls: kernel ring buffer for plaintext events (a power of two); events that do not fit are counted as lost', default: '8MB' }),
    'tls-scan': Flags.boolean({ description: 'with --tls: hook OpenSSL found in running processes too (rescanned every second)', default: true, allowNo: true, hidden: true }),
    // Cluster mode (see src/k8s/cluster-tap.ts).
    namespace: Flags.string({ char: 'n', description: 'cluster: namespace of the pods to tap (repeatable)', multiple: true }),
    'all-namespaces': Flags.boolean({ char: 'A', description: 'cluster: tap pods in every namespace' }),
    selector: Flags.string({
      char: 'l',
      description: "cluster: tap only pods with these labels, as kubectl's -l (e.g. app=reviews,tier!=cache or 'env in (prod,qa)')",
    }),
    context: Flags.string({ description: 'cluster: kubeconfig context' }),
    kubeconfig: Flags.string({ description: 'cluster: path to the kubeconfig file' }),
    clean: Flags.boolean({ description: 'cluster: remove the objects of runs whose CLI is gone (lease lapsed) and exit; live runs are kept' }),
    'dry-run': Flags.boolean({ description: 'cluster: print the objects the run would create as YAML and exit (nothing is sent to the cluster)' }),
    protocols: Flags.string({ description: 'cluster: agents keep only these protocols (comma-separated), e.g. http,dns' }),
    'agent-timeout': Flags.string({ description: 'cluster: fail (exit 4) when agents are not running on every node by then', default: '60s' }),
    'agent-tolerate': Flags.string({
      description: 'cluster: node taints the agents tolerate: every NoSchedule/NoExecute taint, the control plane\'s only, or none',
      options: ['all', 'control-plane', 'none'],
      default: 'all',
    }),
    'agent-lease': Flags.string({ description: 'cluster: lease of a run (renewed every third); --clean removes runs older than it', default: '30s', hidden: true }),
    'agent-lease-grace': Flags.string({
      description: "cluster: how late the kubelet may show a renewal in a mounted ConfigMap (the agents' and keeper's allowance; default 120s)",
      hidden: true,
    }),
    'agent-namespace': Flags.string({ description: 'cluster: namespace for the node agents', default: 'shark-system' }),
    'agent-priority-class': Flags.string({
      description: 'cluster: PriorityClass of the agent pods (must exist; e.g. system-node-critical where allowed outside kube-system)',
    }),
    'agent-image': Flags.string({
      description: 'cluster: image of the node agent (build it with `npm run image` and push it; see README)',
      env: 'SHARK_AGENT_IMAGE',
    }),
    'agent-interface': Flags.string({ description: 'cluster: interface the agents capture on', multiple: true, hidden: true }),
    'service-mesh': Flags.boolean({
      description:
        "cluster: also capture each tapped pod's loopback (sidecar ↔ app plaintext); the agents then get hostPID, SYS_ADMIN and SYS_PTRACE (docs/kubernetes.md)",
    }),
    'api-outage': Flags.string({
      description: 'cluster: how long an unreachable API server pauses the tap (agent streams reconnect) before the run ends with exit 4',
      default: '5m',
    }),
    // Tuning for tests: exec heartbeats (kubectl: 5s pings, 60s without a pong) and backpressure bounds.
    'exec-ping': Flags.string({ description: 'cluster: websocket ping interval,timeout of agent streams', default: '5s,60s', hidden: true }),
    'stream-max-held': Flags.integer({ description: 'cluster: entries one agent stream may have held in the CLI before it is paused', default: 2000, min: 1, hidden: true }),
    'stream-max-pending': Flags.string({ description: 'cluster: bytes waiting for stdout before every agent stream is paused', default: '8MB', hidden: true }),
  };

  protected async execute(): Promise<number> {
    const { args, flags } = await this.parse(Tap);
    if (flags['list-interfaces']) {
      const list = formatInterfaceList(listInterfaces());
      if (list) process.stdout.write(list + '\n');
      return ExitCode.OK;
    }
    const local = (flags.interface?.length ?? 0) > 0;
    const cluster = args.podRegex !== undefined || (flags.namespace?.length ?? 0) > 0 || flags['all-namespaces'] || flags.selector !== undefined;
    if (local && cluster) throw new UserError('-i (local capture) cannot be combined with a pod regex, -n, -A or -l', ExitCode.USAGE);
    if (flags.clean) {
      // The Kubernetes client costs ~1 s to load: only cluster runs pay it.
      const { cleanCluster } = await import('../k8s/run-objects.js');
      await cleanCluster({ context: flags.context, kubeconfig: flags.kubeconfig, agentNamespace: flags['agent-namespace'] });
      return ExitCode.OK;
    }
    if (flags['dry-run']) {
      if (local) throw new UserError('--dry-run is for cluster taps (a pod regex, -n or -A)', ExitCode.USAGE);
      const { dryRunYaml } = await import('../k8s/dry-run.js');
      const { newRunId } = await import('../k8s/agent-manifests.js');
      process.stdout.write(
        dryRunYaml({
          runId: newRunId(),
          namespace: flags['agent-namespace'],
          image: flags['agent-image'],
          tolerate: flags['agent-tolerate'] as 'all' | 'control-plane' | 'none',
          serviceMesh: flags['service-mesh'],
          tls: flags.tls,
          priorityClassName: flags['agent-priority-class'],
        }),
      );
      return ExitCode.OK;
    }
    if (flags.tls) {
      if (local) throw new UserError('--tls captures through eBPF, not on an interface: drop -i', ExitCode.USAGE);
      if (flags['sample-rate']) throw new UserError('--sample-rate samples captured packets; --tls calls are not sampled', ExitCode.USAGE);
      // With a pod regex, -n or -A the node agents run `shark agent --tls` (hostPID, CAP_BPF, CAP_PERFMON: docs/kubernetes.md).
      if (!cluster) return this.tapTls(flags);
      if (flags.pcap || flags.write) throw new UserError('--tls writes entries: there are no packets to write (--pcap, -w)', ExitCode.USAGE);
      if (flags['service-mesh']) throw new UserError('--tls already sees loopback calls (it hooks the processes): drop --service-mesh', ExitCode.USAGE);
    }
    if (!local) return this.tapCluster(args.podRegex, flags);
    return this.tapLocal(flags);
  }

  private async tapCluster(
    podRegex: string | undefined,
    flags: {
      namespace?: string[];
      'all-namespaces': boolean;
      selector?: string;
      snaplen?: number;
      context?: string;
      kubeconfig?: string;
      duration?: string;
      pcap: boolean;
      write?: string;
      'agent-namespace': string;
      'agent-priority-class'?: string;
      'agent-image'?: string;
      'agent-interface'?: string[];
      'agent-timeout': string;
      'agent-tolerate': string;
      'agent-lease': string;
      'agent-lease-grace'?: string;
      'service-mesh': boolean;
      tls: boolean;
      'api-outage': string;
      'exec-ping': string;
      'stream-max-held': number;
      'stream-max-pending': string;
      filter?: string;
      protocols?: string;
      'max-body': string;
      'no-bodies': boolean;
      'no-redact': boolean;
      redact?: string;
      proto?: string;
      'tls-keylog'?: string;
      'decode-as'?: string[];
      'memory-budget'?: string;
      workers?: string;
      'sample-rate'?: string;
      output?: string;
      color?: string;
    },
  ): Promise<number> {
    if (flags.write) throw new UserError('-w is not supported for cluster tap yet; use --pcap > FILE', ExitCode.USAGE);
    if (flags.proto) throw new UserError('--proto is for local taps; for a cluster, tap with --pcap and run dissect --proto on the capture', ExitCode.USAGE);
    if (flags['tls-keylog']) throw new UserError('--tls-keylog is for local taps; for a cluster, tap with --pcap and run dissect --tls-keylog on the capture', ExitCode.USAGE);
    if (flags['decode-as']) throw new UserError('--decode-as is for local taps; for a cluster, tap with --pcap and run dissect -d on the capture', ExitCode.USAGE);
    if (flags['memory-budget']) throw new UserError('--memory-budget is for local taps; cluster agents dissect with the default budget', ExitCode.USAGE);
    if (flags.snaplen) throw new UserError('--snaplen is for local taps; cluster agents capture whole packets', ExitCode.USAGE);
    // Checked before anything is deployed, as the pod regex is.
    if (flags.selector !== undefined) {
      try {
        parseLabelSelector(flags.selector);
      } catch (e) {
        throw new UserError((e as Error).message, ExitCode.USAGE);
      }
    }
    // Checked before anything is deployed: a bad filter is a usage error, not a failed run.
    const { pushdownArgs } = await import('../k8s/pushdown.js');
    const pushdown = pushdownArgs({ filter: flags.filter, protocols: flags.protocols, packets: flags.pcap });
    if (pushdown.note) process.stderr.write(`tap: ${pushdown.note}\n`);
    // A bad --workers is a usage error here, not a failure on every agent.
    if (flags.workers) await workersFromFlag(flags.workers);
    const agentTimeoutMs = parseDuration(flags['agent-timeout'], '--agent-timeout');
    const leaseSeconds = Math.max(1, Math.round(parseDuration(flags['agent-lease'], '--agent-lease') / 1000));
    const outageMs = parseDuration(flags['api-outage'], '--api-outage');
    const [pingIntervalMs, pongTimeoutMs] = flags['exec-ping'].split(',').map((d) => parseDuration(d, '--exec-ping'));
    const maxPendingBytes = parseSize(flags['stream-max-pending'], '--stream-max-pending');
    const { formatter } = outputFromFlags(flags, process.stdout, { entriesOnly: !flags.pcap, what: '--pcap' });
    const sink = new LineSink(process.stdout, { onClosed: () => this.outputClosed(), format: formatter });
    const { runClusterTap } = await import('../k8s/cluster-tap.js');
    await runClusterTap({
      podRegex,
      labelSelector: flags.selector,
      namespaces: flags.namespace,
      allNamespaces: flags['all-namespaces'],
      context: flags.context,
      kubeconfig: flags.kubeconfig,
      durationMs: flags.duration !== undefined ? parseDuration(flags.duration, '--duration') : undefined,
      signal: this.stop.signal,
      sink,
      agentNamespace: flags['agent-namespace'],
      image: flags['agent-image'],
      agentInterfaces: flags['agent-interface'],
      maxBody: flags['max-body'],
      noBodies: flags['no-bodies'],
      redactOnAgent: !flags['no-redact'],
      packets: flags.pcap ? { out: process.stdout, onClosed: () => this.outputClosed() } : undefined,
      // The agents redact before entries leave their node (redactOnAgent); the CLI redacts again (names from --redact, idempotent).
      transforms: flags.pcap ? [] : [redactorFromFlags(flags, 'tap')],
      keep: pushdown.keep,
      agentTimeoutMs,
      tolerate: flags['agent-tolerate'] as 'all' | 'control-plane' | 'none',
      priorityClassName: flags['agent-priority-class'],
      leaseSeconds,
      leaseGraceSeconds: flags['agent-lease-grace'] !== undefined ? Math.max(0, Math.round(parseDuration(flags['agent-lease-grace'], '--agent-lease-grace') / 1000)) : undefined,
      serviceMesh: flags['service-mesh'],
      tls: flags.tls,
      // Each agent dissects on this many threads ("auto" is judged on the node, within the DaemonSet's CPU limit).
      agentExtraArgs: [
        ...pushdown.agentArgs,
        ...(flags.workers ? ['--workers', flags.workers] : []),
        ...(flags['sample-rate'] ? ['--sample-rate', String(sampleRateFromFlag(flags['sample-rate']))] : []),
      ],
      outageMs,
      pingIntervalMs,
      pongTimeoutMs: pongTimeoutMs ?? 60_000,
      maxHeldPerStream: flags['stream-max-held'],
      maxPendingBytes,
    });
    await sink.finish();
    return ExitCode.OK;
  }

  private async tapTls(flags: {
    duration?: string;
    count?: number;
    pcap: boolean;
    write?: string;
    'max-body': string;
    'no-bodies': boolean;
    'no-redact': boolean;
    redact?: string;
    proto?: string;
    'decode-as'?: string[];
    'memory-budget'?: string;
    'tls-lib'?: string[];
    'tls-ring-size': string;
    'tls-scan': boolean;
    output?: string;
    color?: string;
  }): Promise<number> {
    if (flags.pcap || flags.write) throw new UserError('--tls writes entries: there are no packets to write (--pcap, -w)', ExitCode.USAGE);
    const ringSize = parseSize(flags['tls-ring-size'], '--tls-ring-size');
    if (ringSize < 4096 || (ringSize & (ringSize - 1)) !== 0) throw new UserError('--tls-ring-size must be a power of two of at least 4KB (e.g. 8MB)', ExitCode.USAGE);
    const { runTlsTap, tlsSummary } = await import('../tls-capture/tap.js');
    const { ProcessIdentities } = await import('../tls-capture/process-identity.js');
    const { formatter } = outputFromFlags(flags, process.stdout);
    const sink = new LineSink(process.stdout, { onClosed: () => this.outputClosed(), format: formatter });
    const result = await runTlsTap({
      libs: [...defaultLibraries(), ...(flags['tls-lib'] ?? [])],
      scan: flags['tls-scan'],
      ringSize,
      // On a node, each process's container (and pod uid) from its cgroup, as the cluster agents give it.
      identities: new ProcessIdentities(),
      durationMs: flags.duration !== undefined ? parseDuration(flags.duration, '--duration') : undefined,
      count: flags.count,
      signal: this.stop.signal,
      sink,
      transforms: [redactorFromFlags(flags, 'tap')],
      engine: {
        maxBody: parseSize(flags['max-body'], '--max-body'),
        noBodies: flags['no-bodies'],
        protoSchema: flags.proto ? loadProtoDir(flags.proto) : undefined,
        decodeAs: decodeAsRules(flags['decode-as']),
        ...memoryBudgetOption(flags['memory-budget']),
      },
      onReady: (files) => process.stderr.write(`tap: --tls: hooked ${files.length > 0 ? files.join(', ') : 'no OpenSSL yet (watching new processes)'}\n`),
      onNote: (line) => process.stderr.write(`tap: --tls: ${line}\n`),
    });
    await sink.finish();
    process.stderr.write(`tap: ${tlsSummary(result)}\n`);
    return ExitCode.OK;
  }

  private async tapLocal(flags: {
    interface?: string[];
    filter?: string;
    snaplen?: number;
    'buffer-size': string;
    ring?: string;
    spool?: string;
    'spool-dir'?: string;
    duration?: string;
    count?: number;
    pcap: boolean;
    write?: string;
    'max-body': string;
    'no-bodies': boolean;
    'no-redact': boolean;
    redact?: string;
    proto?: string;
    'tls-keylog'?: string;
    'decode-as'?: string[];
    'memory-budget'?: string;
    workers?: string;
    'sample-rate'?: string;
    output?: string;
    color?: string;
  }): Promise<number> {
    if (flags.pcap && flags.write) throw new UserError('--pcap and -w cannot be used together', ExitCode.USAGE);
    if (flags.pcap && process.stdout.isTTY) {
      throw new UserError('--pcap writes binary packets: redirect stdout (> file.pcap, | shark dissect) or use -w FILE', ExitCode.USAGE);
    }
    const durationMs = flags.duration !== undefined ? parseDuration(flags.duration, '--duration') : undefined;
    const decodeAs = decodeAsRules(flags['decode-as']);
    const packetsOut = flags.pcap || flags.write !== undefined;
    const { formatter } = outputFromFlags(flags, process.stdout, { entriesOnly: !packetsOut, what: flags.pcap ? '--pcap' : '-w' });
    const sink = new LineSink(process.stdout, { onClosed: () => this.outputClosed(), format: formatter });
    let lastProgress: LiveStats | undefined;
    const rate = sampleRateFromFlag(flags['sample-rate']);
    const sampler = rate !== undefined ? connectionSampler(rate) : undefined;
    const result = await runLocalTap({
      keepPacket: sampler ? (p) => sampler.keep(p) : undefined,
      interfaces: flags.interface ?? [],
      filter: flags.filter,
      snaplen: snaplenFrom(flags.snaplen),
      bufferSize: parseSize(flags['buffer-size'], '--buffer-size'),
      buffers: captureBufferOptions(flags),
      durationMs,
      count: flags.count,
      signal: this.stop.signal,
      // Every few seconds while dissection is behind: what waits, what was shed.
      onProgress: (s) => {
        const line = behindLine(s, lastProgress);
        lastProgress = s;
        if (line) process.stderr.write(`tap: behind: ${line}\n`);
      },
      onReady: (capture) => {
        const names = capture.interfaces.map((i) => `${i.name} (${linkTypeName(i.linkType)})`).join(', ');
        process.stderr.write(`tap: listening on ${names}, snaplen ${capture.interfaces[0].snaplen}\n`);
      },
      engine: {
        maxBody: parseSize(flags['max-body'], '--max-body'),
        noBodies: flags['no-bodies'],
        protoSchema: flags.proto ? loadProtoDir(flags.proto) : undefined,
        // Live: clients append to the key log as they connect, so it is followed, not read once.
        tlsKeys: tlsKeysFromFlag(flags['tls-keylog'], (m) => process.stderr.write(`tap: ${m}\n`), true),
        decodeAs,
        ...memoryBudgetOption(flags['memory-budget']),
      },
      parallel: { workers: await workersFromFlag(flags.workers), proto: flags.proto, tlsKeylog: flags['tls-keylog'] },
      output: flags.write
        ? { kind: 'file', path: flags.write }
        : flags.pcap
          ? { kind: 'packets', stream: process.stdout, onClosed: () => this.outputClosed() }
          : { kind: 'entries', sink, transforms: [redactorFromFlags(flags, 'tap')] },
    });
    if (!packetsOut) await sink.finish();
    process.stderr.write(`tap: ${tapSummary(result, !packetsOut)}\n`);
    // As dissect says it: how decryption with the key log went.
    if (flags['tls-keylog'] && !packetsOut && result.counters) process.stderr.write(`tap: ${describeDecryption(result.counters)}\n`);
    if (sampler) process.stderr.write(`tap: --sample-rate ${rate}: ${sampler.skipped} packets of connections outside the sample skipped\n`);
    return ExitCode.OK;
  }
}
