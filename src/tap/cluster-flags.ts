// A cluster tap's flags, checked before anything else: before --dry-run
// prints its YAML, before a kubeconfig is read or an object created. A bad
// value is one line and exit 2, the same with --dry-run as without (a
// manifest made from a bad flag would fail later, on every node).
import { ExitCode, UserError } from '../cli/errors.js';
import { parseDuration, parseSize } from '../cli/units.js';
import { workersFromFlag } from '../cli/workers-flag.js';
import { sampleRateFromFlag } from '../cli/sample-flag.js';
import type { Pushdown } from '../k8s/pushdown.js';
import { parseQuantity } from '../k8s/quantity.js';
import { AGENT_REQUESTS } from '../k8s/agent-manifests.js';
import type { TapFlags } from './flags.js';

export interface ClusterFlagValues {
  pushdown: Pushdown;
  durationMs?: number;
  agentTimeoutMs: number;
  leaseSeconds: number;
  leaseGraceSeconds?: number;
  outageMs: number;
  requestTimeoutMs: number;
  pingIntervalMs: number;
  pongTimeoutMs?: number;
  maxPendingBytes: number;
  sampleRate?: number;
}

export async function checkClusterFlags(podRegex: string | undefined, flags: TapFlags): Promise<ClusterFlagValues> {
  if (flags.write) throw new UserError('-w is not supported for cluster tap yet; use --pcap > FILE', ExitCode.USAGE);
  if (flags.proto) throw new UserError('--proto is for local taps; for a cluster, tap with --pcap and run dissect --proto on the capture', ExitCode.USAGE);
  if (flags['tls-keylog']) throw new UserError('--tls-keylog is for local taps; for a cluster, tap with --pcap and run dissect --tls-keylog on the capture', ExitCode.USAGE);
  if (flags['decode-as']) throw new UserError('--decode-as is for local taps; for a cluster, tap with --pcap and run dissect -d on the capture', ExitCode.USAGE);
  if (flags['memory-budget']) throw new UserError('--memory-budget is for local taps; cluster agents dissect with the default budget', ExitCode.USAGE);
  if (flags.snaplen) throw new UserError('--snaplen is for local taps; cluster agents capture whole packets', ExitCode.USAGE);
  checkAgentNamespace(flags['agent-namespace']);
  // A malformed -n (a typo's capital or underscore) can name no namespace: exit 2, as kubectl's client-side check, not a lookup that says it does not exist.
  for (const ns of flags.namespace ?? []) if (ns !== '' && !isDnsLabel(ns)) throw new UserError(`-n: '${ns}' ${NOT_A_NAMESPACE}`, ExitCode.USAGE);
  const priorityClass = flags['agent-priority-class'];
  if (priorityClass !== undefined && !isDnsSubdomain(priorityClass)) {
    throw new UserError(`--agent-priority-class: '${priorityClass}' is not a PriorityClass name (lower-case letters, digits, '-' and '.', at most 253)`, ExitCode.USAGE);
  }
  const image = flags['agent-image'];
  if (image !== undefined && !isImageReference(image)) {
    throw new UserError(`--agent-image: '${image}' is not an image reference (e.g. registry.example/shark:0.1.0; repository names are lower case)`, ExitCode.USAGE);
  }
  checkAgentLimit('--agent-cpu', flags['agent-cpu'], AGENT_REQUESTS.cpu, 'a CPU amount: 1, 2, 500m');
  checkAgentLimit('--agent-memory', flags['agent-memory'], AGENT_REQUESTS.memory, 'a memory amount: 512Mi, 1Gi, 2G');
  // The pod regex (or TYPE/NAME) and -l are usage errors too, never a failed run.
  const { compilePodTarget } = await import('../k8s/targets.js');
  const { parseLabelSelector } = await import('../k8s/label-selector.js');
  try {
    compilePodTarget(podRegex);
    if (flags.selector !== undefined) parseLabelSelector(flags.selector);
  } catch (e) {
    throw new UserError((e as Error).message, ExitCode.USAGE);
  }
  // A bad filter is a usage error, not a failed run.
  const { pushdownArgs } = await import('../k8s/pushdown.js');
  const pushdown = pushdownArgs({ filter: flags.filter, protocols: flags.protocols, packets: flags.pcap });
  // A bad --workers or --max-body is a usage error here, not a failure on every agent.
  if (flags.workers) await workersFromFlag(flags.workers);
  parseSize(flags['max-body'], '--max-body');
  const agentTimeoutMs = parseDuration(flags['agent-timeout'], '--agent-timeout');
  if (agentTimeoutMs <= 0) throw new UserError(`--agent-timeout: '${flags['agent-timeout']}' must be more than 0`, ExitCode.USAGE);
  const [pingIntervalMs, pongTimeoutMs] = flags['exec-ping'].split(',').map((d) => parseDuration(d, '--exec-ping'));
  return {
    pushdown,
    durationMs: flags.duration !== undefined ? parseDuration(flags.duration, '--duration') : undefined,
    agentTimeoutMs,
    leaseSeconds: Math.max(1, Math.round(parseDuration(flags['agent-lease'], '--agent-lease') / 1000)),
    leaseGraceSeconds:
      flags['agent-lease-grace'] !== undefined ? Math.max(0, Math.round(parseDuration(flags['agent-lease-grace'], '--agent-lease-grace') / 1000)) : undefined,
    outageMs: parseDuration(flags['api-outage'], '--api-outage'),
    requestTimeoutMs: parseDuration(flags['request-timeout'], '--request-timeout'),
    pingIntervalMs,
    pongTimeoutMs,
    maxPendingBytes: parseSize(flags['stream-max-pending'], '--stream-max-pending'),
    sampleRate: sampleRateFromFlag(flags['sample-rate']),
  };
}

/**
 * An agent container limit is a Kubernetes quantity at least the agents' request: the API
 * server refuses a limit below the request, but only when the DaemonSet's pods are made,
 * after the run deployed (every agent pod FailedCreate until --agent-timeout).
 */
export function checkAgentLimit(flag: string, value: string, request: string, kind: string): void {
  const amount = parseQuantity(value);
  if (amount === undefined) throw new UserError(`${flag}: '${value}' is not a Kubernetes quantity (${kind})`, ExitCode.USAGE);
  if (amount < parseQuantity(request)!) {
    throw new UserError(`${flag}: '${value}' is below what each agent requests (${request}); the limit must be at least that`, ExitCode.USAGE);
  }
}

const NOT_A_NAMESPACE = "is not a namespace name (a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)";

/** The agents' namespace is a Namespace name: a DNS-1123 label (the API server refuses anything else, after the run began). */
export function checkAgentNamespace(name: string): void {
  if (!isDnsLabel(name)) {
    throw new UserError(
      `--agent-namespace: '${name}' ${NOT_A_NAMESPACE}`,
      ExitCode.USAGE,
    );
  }
}

const LABEL = '[a-z0-9](?:[-a-z0-9]*[a-z0-9])?';

export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && new RegExp(`^${LABEL}$`).test(s);
}

function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && new RegExp(`^${LABEL}(?:\\.${LABEL})*$`).test(s);
}

// distribution/reference's grammar (what the kubelet parses an image with): [domain[:port]/]path[:tag][@digest].
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::${TAG})?(?:@${DIGEST})?$`);

export function isImageReference(s: string): boolean {
  // Names are at most 255 characters; a digest adds at most a few hundred.
  if (s.length > 1024) return false;
  const m = REFERENCE.exec(s);
  return Boolean(m && m[1].length <= 255);
}
