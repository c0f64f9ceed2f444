import { Args, Flags } from '@oclif/core';
import { SharkCommand } from '../cli/base-command.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { outputFlags } from '../cli/output-flag.js';
import { formatInterfaceList, listInterfaces } from '../capture/live.js';
import { captureBufferFlags } from '../cli/capture-buffer-flags.js';
import { snaplenFlag } from '../cli/snaplen-flag.js';
import { tlsKeylogFlag } from '../cli/tls-keylog-flag.js';
import { redactFlags } from '../redact/flags.js';
import { decodeAsFlag } from '../cli/decode-as-flag.js';
import { memoryBudgetFlag } from '../cli/memory-budget-flag.js';
import { liveWorkersFlag } from '../cli/workers-flag.js';
import { sampleRateFlag } from '../cli/sample-flag.js';
import { tapCluster } from '../tap/cluster-command.js';
import { checkAgentNamespace, checkClusterFlags } from '../tap/cluster-flags.js';
import { tapLocal } from '../tap/local-command.js';
import { tapTls } from '../tap/tls-command.js';
import { clusterOnlyFlagGiven } from '../tap/flags.js';
import { prose } from '../cli/prose.js';

export default class Tap extends SharkCommand {
  static override description = prose(`Capture live traffic: on local interfaces (-i), or across a Kubernetes cluster.

Local: captures with libpcap on one or more interfaces and writes entries
(NDJSON, dissected live), or packets with --pcap (pcap; pcapng when several
interfaces) or -w FILE. Ctrl-C stops, flushes pending calls and prints a
summary on stderr. Needs CAP_NET_RAW (root or setcap).

Cluster: with a pod regex (or deploy/NAME …), -n or -A, taps pods through node agents (a
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
docs/tls-capture.md.`);

  static override examples = [
    '<%= config.bin %> tap --list-interfaces',
    '<%= config.bin %> tap -i eth0 -f "tcp port 80" --duration 10s',
    '<%= config.bin %> tap -i eth0 --pcap -c 100 > first100.pcap',
    '<%= config.bin %> tap -i eth0 -i lo -w both.pcapng --duration 1m',
    '<%= config.bin %> tap -i eth0 --ring 256MB --spool 4GB --spool-dir /var/tmp > calls.ndjson',
    '<%= config.bin %> tap -i eth0 | <%= config.bin %> filter \'http and response.status >= 500\'',
    '<%= config.bin %> tap \'reviews|ratings\' -n bookinfo --duration 1m > calls.ndjson',
    '<%= config.bin %> tap deploy/reviews -n bookinfo --duration 5m > calls.ndjson',
    '<%= config.bin %> tap -A | <%= config.bin %> filter dns | <%= config.bin %> stats',
    "<%= config.bin %> tap -n bookinfo -l 'app in (reviews,ratings)' --duration 5m > calls.ndjson",
    '<%= config.bin %> tap -A -f \'http and response.status >= 500\' --protocols http',
    '<%= config.bin %> tap -A --agent-image registry.example/shark:0.1.0 --dry-run > shark-agents.yaml',
    '<%= config.bin %> tap --clean',
    '<%= config.bin %> tap --tls --duration 30s | <%= config.bin %> filter http',
    '<%= config.bin %> tap --tls --tls-lib /usr/bin/node -c 10',
  ];

  static override args = {
    podRegex: Args.string({
      description: "tap cluster pods whose name matches this regex, or a workload's pods named as kubectl does (deploy/NAME, sts/NAME, ds/NAME, rs/NAME, job/NAME, pod/NAME)",
      required: false,
    }),
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
    'create-namespace': Flags.boolean({
      description:
        'cluster, with --dry-run: also print the Namespace of --agent-namespace, as shark\'s (`kubectl delete -f` then deletes it); shark-system is always printed, live runs create a missing namespace and remove only one they created',
    }),
    'agent-priority-class': Flags.string({
      description: 'cluster: PriorityClass of the agent pods (must exist; e.g. system-node-critical where allowed outside kube-system)',
    }),
    'agent-memory': Flags.string({
      description: "cluster: memory limit of each agent (a Kubernetes quantity, at least the 192Mi it requests); an agent over it is OOM-killed, so a busy node's may need 1Gi",
      default: '512Mi',
    }),
    'agent-cpu': Flags.string({
      description: 'cluster: CPU limit of each agent (a Kubernetes quantity, at least the 100m it requests); --workers auto, the agents\' default, sizes their dissection threads by it',
      default: '1',
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
    'request-timeout': Flags.string({
      description: "cluster: give up on a single API request after this long, as kubectl's (0 = never); connecting has 30s, the TLS handshake 10s",
      default: '30s',
    }),
    // Tuning for tests: exec heartbeats (kubectl: 5s pings, 60s without a pong) and backpressure bounds.
    'exec-ping': Flags.string({ description: 'cluster: websocket ping interval,timeout of agent streams', default: '5s,60s', hidden: true }),
    'stream-max-held': Flags.integer({ description: 'cluster: entries one agent stream may have held in the CLI before it is paused', default: 2000, min: 1, hidden: true }),
    'stream-max-pending': Flags.string({ description: 'cluster: bytes waiting for stdout before every agent stream is paused', default: '8MB', hidden: true }),
  };

  protected async execute(): Promise<number> {
    const { args, flags, raw } = await this.parse(Tap);
    const local = (flags.interface?.length ?? 0) > 0;
    const cluster = args.podRegex !== undefined || (flags.namespace?.length ?? 0) > 0 || flags['all-namespaces'] || flags.selector !== undefined;
    // What selects pods means nothing to -D or --clean: taken silently, `tap zzz --clean` would look like it cleaned zzz's runs only.
    const selection = args.podRegex !== undefined ? `pod regex ('${args.podRegex}')` : 'pod selection (-n, -A, -l)';
    if (flags['list-interfaces']) {
      if (cluster) throw new UserError(`-D lists this machine's interfaces: it takes no ${selection}`, ExitCode.USAGE);
      const list = formatInterfaceList(listInterfaces());
      if (list) process.stdout.write(list + '\n');
      return ExitCode.OK;
    }
    if (local && cluster) throw new UserError('-i (local capture) cannot be combined with a pod regex, -n, -A or -l', ExitCode.USAGE);
    if (flags.clean) {
      if (cluster) throw new UserError(`--clean removes whole runs whose CLI is gone, in --agent-namespace: it takes no ${selection}`, ExitCode.USAGE);
      // --dry-run promises that nothing is sent; --clean deletes.
      if (flags['dry-run']) throw new UserError('--clean deletes the objects of lapsed runs: it cannot be a --dry-run', ExitCode.USAGE);
      checkAgentNamespace(flags['agent-namespace']);
      // The Kubernetes client costs ~1 s to load: only cluster runs pay it.
      const { cleanCluster } = await import('../k8s/run-objects.js');
      const { parseDuration } = await import('../cli/units.js');
      const requestTimeoutMs = parseDuration(flags['request-timeout'], '--request-timeout');
      await cleanCluster({ context: flags.context, kubeconfig: flags.kubeconfig, agentNamespace: flags['agent-namespace'], requestTimeoutMs });
      return ExitCode.OK;
    }
    if (flags['dry-run'] && local) throw new UserError('--dry-run is for cluster taps (a pod regex, -n or -A)', ExitCode.USAGE);
    if (flags.tls) {
      if (local) throw new UserError('--tls captures through eBPF, not on an interface: drop -i', ExitCode.USAGE);
      if (flags['sample-rate']) throw new UserError('--sample-rate samples captured packets; --tls calls are not sampled', ExitCode.USAGE);
      if (cluster) {
        // With a pod regex, -n or -A the node agents run `shark agent --tls` (hostPID, CAP_BPF, CAP_PERFMON: docs/kubernetes.md).
        if (flags.pcap || flags.write) throw new UserError('--tls writes entries: there are no packets to write (--pcap, -w)', ExitCode.USAGE);
        if (flags['service-mesh']) throw new UserError('--tls already sees loopback calls (it hooks the processes): drop --service-mesh', ExitCode.USAGE);
      }
    }
    // `--tls` without a pod regex, -n or -A captures this machine's TLS calls.
    const localTls = flags.tls && !cluster && !flags['dry-run'];
    const ignored = local || localTls ? clusterOnlyFlagGiven(raw, Tap.flags) : undefined;
    if (ignored) throw new UserError(`${ignored} is for cluster taps (a pod regex, -n, -A or -l); ${local ? '-i captures on this machine' : '--tls alone hooks this machine\'s processes'}`, ExitCode.USAGE);
    // Every cluster flag is checked before anything else, --dry-run included (exit 2, one line).
    const checked = !local && !localTls ? await checkClusterFlags(args.podRegex, flags) : undefined;
    if (flags['dry-run']) {
      const { dryRunCreatesNamespace, dryRunYaml } = await import('../k8s/dry-run.js');
      const { DEFAULT_IMAGE, newRunId } = await import('../k8s/agent-manifests.js');
      const namespace = flags['agent-namespace'];
      const createNamespace = dryRunCreatesNamespace(namespace, flags['create-namespace']);
      if (!flags['agent-image']) {
        process.stderr.write(`tap: warning: no --agent-image: the manifests name ${DEFAULT_IMAGE}, which is not published; build the image (npm run image), push it where the nodes can pull and pass --agent-image\n`);
      }
      if (!createNamespace) {
        process.stderr.write(
          `tap: no Namespace object for ${namespace} (shark did not create it, so applying or deleting this file leaves it alone; --create-namespace adds one); it must exist and let privileged pods run: kubectl label namespace ${namespace} pod-security.kubernetes.io/enforce=privileged\n`,
        );
      }
      process.stdout.write(
        dryRunYaml({
          runId: newRunId(),
          namespace,
          image: flags['agent-image'],
          tolerate: flags['agent-tolerate'] as 'all' | 'control-plane' | 'none',
          serviceMesh: flags['service-mesh'],
          tls: flags.tls,
          priorityClassName: flags['agent-priority-class'],
          cpuLimit: flags['agent-cpu'],
          memoryLimit: flags['agent-memory'],
          createNamespace,
        }),
      );
      return ExitCode.OK;
    }
    const io = { signal: this.stop.signal, outputClosed: () => this.outputClosed() };
    if (localTls) return tapTls(flags, io);
    if (checked) return tapCluster(args.podRegex, flags, io, checked);
    return tapLocal(flags, io);
  }
}
