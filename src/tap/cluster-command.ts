// `shark tap` on a cluster (a pod regex, -l, -n or -A): the flags, checked
// before anything is deployed (cluster-flags.ts), turned into runClusterTap's options
// (src/k8s/cluster-tap.ts does the run). The Kubernetes client costs ~1 s
// to load, so it is imported only here, when a cluster run starts.
import { ExitCode } from '../cli/errors.js';
import { LineSink } from '../output/stdout-sink.js';
import { outputFromFlags } from '../cli/output-flag.js';
import { redactorFromFlags } from '../redact/flags.js';
import type { CommandIo } from '../cli/command-io.js';
import type { TapFlags } from './flags.js';
import type { ClusterFlagValues } from './cluster-flags.js';

export async function tapCluster(podRegex: string | undefined, flags: TapFlags, io: CommandIo, checked: ClusterFlagValues): Promise<number> {
  const { pushdown, agentTimeoutMs, leaseSeconds, outageMs, requestTimeoutMs, pingIntervalMs, pongTimeoutMs, maxPendingBytes } = checked;
  if (pushdown.note) process.stderr.write(`tap: ${pushdown.note}\n`);
  const { formatter } = outputFromFlags(flags, process.stdout, { entriesOnly: !flags.pcap, what: '--pcap' });
  const sink = new LineSink(process.stdout, { onClosed: () => io.outputClosed(), format: formatter });
  const { runClusterTap } = await import('../k8s/cluster-tap.js');
  const redact = flags.pcap ? undefined : redactorFromFlags(flags, 'tap');
  await runClusterTap({
    podRegex,
    labelSelector: flags.selector,
    namespaces: flags.namespace,
    allNamespaces: flags['all-namespaces'],
    context: flags.context,
    kubeconfig: flags.kubeconfig,
    durationMs: checked.durationMs,
    signal: io.signal,
    sink,
    agentNamespace: flags['agent-namespace'],
    image: flags['agent-image'],
    agentInterfaces: flags['agent-interface'],
    maxBody: flags['max-body'],
    noBodies: flags['no-bodies'],
    redactOnAgent: !flags['no-redact'],
    packets: flags.pcap ? { out: process.stdout, onClosed: () => io.outputClosed() } : undefined,
    // The agents redact before entries leave their node (redactOnAgent); the CLI redacts again (names from --redact, idempotent).
    transforms: redact ? [redact] : [],
    keep: pushdown.keep,
    teach: redact,
    agentTimeoutMs,
    tolerate: flags['agent-tolerate'] as 'all' | 'control-plane' | 'none',
    priorityClassName: flags['agent-priority-class'],
    cpuLimit: flags['agent-cpu'],
    memoryLimit: flags['agent-memory'],
    leaseSeconds,
    leaseGraceSeconds: checked.leaseGraceSeconds,
    serviceMesh: flags['service-mesh'],
    tls: flags.tls,
    // Each agent dissects on this many threads ("auto" is judged on the node, within the DaemonSet's CPU limit).
    agentExtraArgs: [
      ...pushdown.agentArgs,
      ...(flags.workers ? ['--workers', flags.workers] : []),
      ...(checked.sampleRate !== undefined ? ['--sample-rate', String(checked.sampleRate)] : []),
    ],
    outageMs,
    requestTimeoutMs,
    pingIntervalMs,
    pongTimeoutMs: pongTimeoutMs ?? 60_000,
    maxHeldPerStream: flags['stream-max-held'],
    maxPendingBytes,
  });
  for (const line of pushdown.report?.() ?? []) process.stderr.write(`tap: -f: ${line}\n`);
  await sink.finish();
  return ExitCode.OK;
}
