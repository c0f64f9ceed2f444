// What each node's agent is doing, read from what the control plane says
// about it — the DaemonSet's status and its FailedCreate events, each agent
// pod's phase, conditions and container statuses (waiting.reason such as
// ImagePullBackOff or CrashLoopBackOff, lastState.terminated.exitCode), and
// the pods' own events — so that a run that cannot start says why, per
// node, with what to do, instead of waiting forever.

import { doubledMemory, parseQuantity } from './quantity.js';
import { AGENT_LIMITS } from './agent-manifests.js';

type Obj = Record<string, any>;

export type AgentPhase = 'pending' | 'scheduled' | 'pulling' | 'starting' | 'ready' | 'failed';

export interface NodeAgentState {
  /** Node name, or "" for pods the DaemonSet could not create (their node is not known without node access). */
  node: string;
  phase: AgentPhase;
  /** Short machine-ish reason: ImagePullBackOff, FailedCreate, Unschedulable, CrashLoopBackOff … */
  reason?: string;
  message?: string;
  /** What the user can do about it. */
  hint?: string;
  pod?: string;
}

export interface AgentStatusInput {
  /** The run's DaemonSet as last seen (undefined before it is created). */
  daemonSet?: Obj;
  /** The run's agent pods. */
  pods: Obj[];
  /** Events in the agent namespace. */
  events: Obj[];
  /** Nodes that should run an agent (with -A; undefined when nodes cannot be read). */
  nodes?: Obj[];
  namespace: string;
  /**
   * The namespace's pod-security.kubernetes.io/enforce label when the run
   * could not make it privileged ('' for none: the cluster's default level);
   * undefined when not known.
   */
  podSecurityLabel?: string;
  image: string;
  /**
   * The run taps already: a failed agent no longer ends it, and a raised
   * memory limit reaches the running DaemonSet (its hint says how).
   */
  tapping?: boolean;
}

/** Container waiting reasons that do not fix themselves. */
const IMAGE_FAILURES = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable']);
const CRASH_FAILURES = new Set(['CrashLoopBackOff', 'RunContainerError', 'CreateContainerError', 'CreateContainerConfigError', 'StartError']);

/** A failure's kind: the image, the container, or the reason itself (retries flip reasons within one kind). */
export function failureKind(reason: string | undefined): string {
  if (reason && IMAGE_FAILURES.has(reason)) return 'image';
  if (reason && CRASH_FAILURES.has(reason)) return 'container';
  return reason ?? 'unknown';
}

/** One state per expected node (or per agent pod when nodes are not known). */
export function agentStates(input: AgentStatusInput): NodeAgentState[] {
  const podByNode = new Map<string, Obj>();
  for (const p of input.pods) {
    if (p.metadata?.deletionTimestamp) continue;
    podByNode.set(podNode(p), p);
  }
  const createFailure = latestEvent(input.events, input.daemonSet, ['FailedCreate']);
  const states: NodeAgentState[] = [];
  if (input.nodes) {
    for (const n of input.nodes) {
      const pod = podByNode.get(n.metadata.name);
      states.push(pod ? podState(pod, input) : noPodState(n.metadata.name, createFailure, input));
    }
    return states;
  }
  for (const [node, pod] of podByNode) states.push({ ...podState(pod, input), node });
  // Without node access the DaemonSet's counts say how many pods are missing.
  const desired = input.daemonSet?.status?.desiredNumberScheduled ?? 0;
  for (let i = podByNode.size; i < desired; i++) states.push(noPodState('', createFailure, input));
  return states;
}

function noPodState(node: string, createFailure: Obj | undefined, input: AgentStatusInput): NodeAgentState {
  if (!createFailure) return { node, phase: 'pending', reason: 'NotCreated', message: 'no agent pod yet' };
  return {
    node,
    phase: 'failed',
    reason: 'FailedCreate',
    message: createFailure.message,
    hint: /PodSecurity/.test(createFailure.message ?? '')
      ? podSecurityHint(input, createFailure.message)
      : /quota/i.test(createFailure.message ?? '')
        ? `a ResourceQuota in namespace ${input.namespace} refuses the agent: use --agent-namespace with room for it`
        : /no PriorityClass with name/.test(createFailure.message ?? '')
          ? `--agent-priority-class names a PriorityClass the cluster does not have (kubectl get priorityclasses lists them): pass one of those, or leave the flag out`
          : `see kubectl -n ${input.namespace} describe daemonset`,
  };
}

/** Which label (or default) refuses the agent, and the two ways out. */
function podSecurityHint(input: AgentStatusInput, message: string): string {
  const level = /violates PodSecurity "(\w+):/.exec(message)?.[1] ?? 'baseline';
  const ns = input.namespace;
  const why =
    input.podSecurityLabel === undefined
      ? `Pod Security ${level} refuses the agent (hostNetwork, NET_RAW)`
      : input.podSecurityLabel === ''
        ? `namespace ${ns} has no pod-security.kubernetes.io/enforce label, so the cluster's default level (${level}) applies and refuses the agent (hostNetwork, NET_RAW)`
        : `namespace ${ns} is labelled pod-security.kubernetes.io/enforce=${input.podSecurityLabel}, which refuses the agent (hostNetwork, NET_RAW)`;
  return `${why}: kubectl label namespace ${ns} pod-security.kubernetes.io/enforce=privileged --overwrite (an admin may have to), or --agent-namespace a namespace that allows privileged pods`;
}

function podState(pod: Obj, input: AgentStatusInput): NodeAgentState {
  const base = { node: podNode(pod), pod: pod.metadata?.name as string };
  const status = pod.status ?? {};
  const conditions: Obj[] = status.conditions ?? [];
  const scheduled = conditions.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False') {
    return {
      ...base,
      phase: 'failed',
      reason: scheduled.reason ?? 'Unschedulable',
      message: scheduled.message,
      hint: 'the node has no room or a taint the agent does not tolerate: free CPU/memory on it, or drop --agent-tolerate to tolerate every taint',
    };
  }
  const cs: Obj | undefined = (status.containerStatuses ?? [])[0];
  const waiting = cs?.state?.waiting;
  const terminated = cs?.state?.terminated ?? cs?.lastState?.terminated;
  const podEvent = latestEvent(input.events, pod, ['Failed', 'BackOff', 'FailedMount', 'FailedScheduling']);
  if (waiting && IMAGE_FAILURES.has(waiting.reason)) {
    return {
      ...base,
      phase: 'failed',
      reason: waiting.reason,
      message: waiting.message ?? podEvent?.message,
      hint: `the node cannot pull ${input.image}: no public image exists; build it from the repo's Dockerfile, push it where the nodes can pull, and pass --agent-image`,
    };
  }
  if (waiting && CRASH_FAILURES.has(waiting.reason)) {
    const code = terminated?.exitCode;
    return {
      ...base,
      phase: 'failed',
      reason: waiting.reason,
      message: [waiting.message, code !== undefined ? `last exit code ${code}${terminated?.reason ? ` (${terminated.reason})` : ''}` : '']
        .filter(Boolean)
        .join('; '),
      // The kernel killed it at the container's memory limit: its logs end mid-sentence and say nothing of why.
      hint:
        terminated?.reason === 'OOMKilled'
          ? `the agent ran out of its memory limit (${memoryLimit(pod) ?? 'the DaemonSet\'s'}) and was killed: ${
              input.tapping && input.daemonSet?.metadata?.name ? lessMemory(memoryLimit(pod), input.namespace, input.daemonSet.metadata.name) : lessMemoryNextRun(memoryLimit(pod))
            }`
          : `the agent container does not stay up: kubectl -n ${input.namespace} logs ${base.pod} --previous`,
    };
  }
  if (status.phase === 'Failed') {
    return { ...base, phase: 'failed', reason: status.reason ?? 'Failed', message: status.message, hint: `kubectl -n ${input.namespace} describe pod ${base.pod}` };
  }
  if (status.phase === 'Running' && conditions.some((c) => c.type === 'Ready' && c.status === 'True')) {
    return { ...base, phase: 'ready' };
  }
  if (status.phase === 'Running') return { ...base, phase: 'starting', reason: 'NotReady' };
  const pulling = latestEvent(input.events, pod, ['Pulling']);
  if (pulling || waiting?.reason === 'ContainerCreating') {
    return { ...base, phase: 'pulling', reason: waiting?.reason ?? 'Pulling', message: pulling?.message };
  }
  if (base.node) return { ...base, phase: 'scheduled', reason: waiting?.reason };
  return { ...base, phase: 'pending' };
}

const FEWER = 'tap fewer pods, pass --no-bodies or a smaller --max-body';

/**
 * What to do about an agent killed at its memory limit before the run taps:
 * the run fails and its DaemonSet goes, so the next run's --agent-memory is
 * what raises it (twice the limit).
 */
export function lessMemoryNextRun(limit: string | undefined): string {
  return `${FEWER}, or run again with --agent-memory ${doubled(limit)}`;
}

/**
 * What to do about an agent killed at its memory limit while the run taps:
 * the running DaemonSet's limit can be raised in place (its pods are
 * replaced node by node and tapped again), so the hint names the command,
 * with twice the limit.
 */
export function lessMemory(limit: string | undefined, namespace: string, daemonSet: string): string {
  const more = doubled(limit);
  return `${FEWER}, or raise the limit: kubectl -n ${namespace} set resources ds/${daemonSet} -c agent --limits=memory=${more} (later runs: --agent-memory ${more})`;
}

/**
 * Twice a memory quantity, in Gi or Mi ("512Mi" → "1Gi", "1500M" → "2862Mi"), whatever
 * unit --agent-memory gave it in; twice the default limit when it is not one.
 */
function doubled(limit: string | undefined): string {
  return doubledMemory(parseQuantity(limit ?? '') ?? parseQuantity(AGENT_LIMITS.memory)!);
}

/** The agent container's memory limit as the pod spec says it ("512Mi"). */
export function memoryLimit(pod: Obj): string | undefined {
  return pod.spec?.containers?.[0]?.resources?.limits?.memory;
}

/** The pod's node: spec.nodeName, else the DaemonSet controller's node affinity (set before scheduling). */
export function podNode(pod: Obj): string {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms: Obj[] = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const t of terms) for (const f of t.matchFields ?? []) if (f.key === 'metadata.name' && f.values?.length) return f.values[0];
  return '';
}

function latestEvent(events: Obj[], obj: Obj | undefined, reasons: string[]): Obj | undefined {
  if (!obj?.metadata?.uid) return undefined;
  let best: Obj | undefined;
  for (const e of events) {
    if (e.involvedObject?.uid !== obj.metadata.uid || !reasons.includes(e.reason)) continue;
    if (!best || eventTime(e) >= eventTime(best)) best = e;
  }
  return best;
}

function eventTime(e: Obj): string {
  return e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? '';
}

/** One line for a node's state: "node0: failed: ImagePullBackOff: Back-off pulling image …". */
export function describeState(s: NodeAgentState): string {
  const where = s.node || 'an agent pod';
  const what =
    s.phase === 'ready' ? 'agent pod ready'
    : s.phase === 'failed' ? `failed: ${s.reason ?? 'unknown'}`
    : s.phase === 'pulling' ? 'pulling the agent image'
    : s.phase === 'starting' ? 'agent starting'
    : s.phase === 'scheduled' ? `scheduled${s.reason ? ` (${s.reason})` : ''}`
    : 'waiting for the agent pod';
  return `${where}: ${what}${s.message ? `: ${oneLine(s.message)}` : ''}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Why a node can never run the agent, or undefined when it can. Such nodes are listed once, not waited on. */
export function unsupportedReason(node: Obj, archs: string[]): string | undefined {
  const labels: Record<string, string> = node.metadata?.labels ?? {};
  const os = labels['kubernetes.io/os'] ?? node.status?.nodeInfo?.operatingSystem;
  if (os && os !== 'linux') return `${os} node (the agent is Linux-only)`;
  if (labels.type === 'virtual-kubelet' || (node.spec?.taints ?? []).some((t: Obj) => t.key === 'virtual-kubelet.io/provider')) {
    return 'virtual node (virtual-kubelet): no host to capture on';
  }
  if (labels['eks.amazonaws.com/compute-type'] === 'fargate') return 'Fargate node: DaemonSets do not run there';
  const arch = labels['kubernetes.io/arch'] ?? node.status?.nodeInfo?.architecture;
  if (arch && !archs.includes(arch)) return `${arch} node: the agent image is built for ${archs.join(', ')}`;
  return undefined;
}

/**
 * The tolerations the DaemonSet controller adds to every pod it makes, whatever
 * its template says (Kubernetes docs, "DaemonSet": taints and tolerations;
 * network-unavailable only for hostNetwork pods, as the agents are): a
 * cordoned node (`kubectl drain`) or one under disk pressure keeps its agent.
 */
const DAEMONSET_TOLERATIONS: Obj[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' },
];

/** The node's NoSchedule/NoExecute taints that neither the agents' tolerations nor the DaemonSet controller's own tolerate. */
export function untoleratedTaints(node: Obj, tolerations: Obj[]): string[] {
  return (node.spec?.taints ?? [])
    .filter((t: Obj) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
    .filter((t: Obj) => ![...tolerations, ...DAEMONSET_TOLERATIONS].some((tol) => tolerates(tol, t)))
    .map((t: Obj) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`);
}

function tolerates(tol: Obj, taint: Obj): boolean {
  if (tol.effect && tol.effect !== taint.effect) return false;
  if (tol.operator === 'Exists') return !tol.key || tol.key === taint.key;
  return tol.key === taint.key && (tol.value ?? '') === (taint.value ?? '');
}

/** The taints the node lifecycle controller puts on a node whose kubelet is not Ready or stopped reporting. */
const NOT_READY_TAINTS = ['node.kubernetes.io/unreachable', 'node.kubernetes.io/not-ready'];

/**
 * Why a node cannot start an agent now: its Ready condition is False or
 * Unknown (the kubelet stopped posting status), or it carries the
 * not-ready/unreachable taint. The agents tolerate every taint, so the
 * DaemonSet still places a pod there, which stays Pending until the node is
 * back: such a node is told once and not waited on. Undefined for a Ready node.
 */
export function notReadyReason(node: Obj): { short: string; text: string } | undefined {
  const ready: Obj | undefined = (node.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready');
  const taint: Obj | undefined = (node.spec?.taints ?? []).find((t: Obj) => NOT_READY_TAINTS.includes(t.key));
  if ((!ready || ready.status === 'True') && !taint) return undefined;
  const short = ready?.status === 'Unknown' || taint?.key === NOT_READY_TAINTS[0] ? 'unreachable' : 'NotReady';
  const condition =
    ready && ready.status !== 'True'
      ? `Ready=${ready.status}${ready.reason ? ` ${ready.reason}` : ''}${ready.message ? `: ${oneLine(ready.message)}` : ''}`
      : `taint ${taint!.key}`;
  return { short, text: `node ${short === 'unreachable' ? 'unreachable' : 'NotReady'} (${condition})` };
}
