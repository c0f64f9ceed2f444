// `shark tap` on a cluster (a pod regex, -l, -n or -A): the flags checked
// before anything is deployed, then turned into runClusterTap's options
// (src/k8s/cluster-tap.ts does the run). The Kubernetes client costs ~1 s
// to load, so it is imported only here, when a cluster run starts.
import { ExitCode, UserError } from '../cli/errors.js';
import { parseDuration, parseSize } from '../cli/units.js';
import { LineSink } from '../output/stdout-sink.js';
import { outputFromFlags } from '../cli/output-flag.js';
import { redactorFromFlags } from '../redact/flags.js';
import { workersFromFlag } from '../cli/workers-flag.js';
import { sampleRateFromFlag } from '../cli/sample-flag.js';
import type { CommandIo } from '../cli/command-io.js';
import type { TapFlags } from './flags.js';

export async function tapCluster(podRegex: string | undefined, flags: TapFlags, io: CommandIo): Promise<number> {
  if (flags.write) throw new UserError('-w is not supported for cluster tap yet; use --pcap > FILE', ExitCode.USAGE);
  if (flags.proto) throw new UserError('--proto is for local taps; for a cluster, tap with --pcap and run dissect --proto on the capture', ExitCode.USAGE);
  if (flags['tls-keylog']) throw new UserError('--tls-keylog is for local taps; for a cluster, tap with --pcap and run dissect --tls-keylog on the capture', ExitCode.USAGE);
  if (flags['decode-as']) throw new UserError('--decode-as is for local taps; for a cluster, tap with --pcap and run dissect -d on the capture', ExitCode.USAGE);
  if (flags['memory-budget']) throw new UserError('--memory-budget is for local taps; cluster agents dissect with the default budget', ExitCode.USAGE);
  if (flags.snaplen) throw new UserError('--snaplen is for local taps; cluster agents capture whole packets', ExitCode.USAGE);
  // Checked before anything is deployed: a bad filter is a usage error, not a failed run.
  const { pushdownArgs } = await import('../k8s/pushdown.js');
  const pushdown = pushdownArgs({ filter: flags.filter, protocols: flags.protocols, packets: flags.pcap });
  if (pushdown.note) process.stderr.write(`tap: ${pushdown.note}\n`);
  // A bad --workers is a usage error here, not a failure on every agent.
  if (flags.workers) await workersFromFlag(flags.workers);
  const agentTimeoutMs = parseDuration(flags['agent-timeout'], '--agent-timeout');
  const leaseSeconds = Math.max(1, Math.round(parseDuration(flags['agent-lease'], '--agent-lease') / 1000));
  const outageMs = parseDuration(flags['api-outage'], '--api-outage');
  const requestTimeoutMs = parseDuration(flags['request-timeout'], '--request-timeout');
  const [pingIntervalMs, pongTimeoutMs] = flags['exec-ping'].split(',').map((d) => parseDuration(d, '--exec-ping'));
  const maxPendingBytes = parseSize(flags['stream-max-pending'], '--stream-max-pending');
  const { formatter } = outputFromFlags(flags, process.stdout, { entriesOnly: !flags.pcap, what: '--pcap' });
  const sink = new LineSink(process.stdout, { onClosed: () => io.outputClosed(), format: formatter });
  const { runClusterTap } = await import('../k8s/cluster-tap.js');
  await runClusterTap({
    podRegex,
    labelSelector: flags.selector,
    namespaces: flags.namespace,
    allNamespaces: flags['all-namespaces'],
    context: flags.context,
    kubeconfig: flags.kubeconfig,
    durationMs: flags.duration !== undefined ? parseDuration(flags.duration, '--duration') : undefined,
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
    requestTimeoutMs,
    pingIntervalMs,
    pongTimeoutMs: pongTimeoutMs ?? 60_000,
    maxHeldPerStream: flags['stream-max-held'],
    maxPendingBytes,
  });
  await sink.finish();
  return ExitCode.OK;
}
