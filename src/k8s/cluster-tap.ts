// `shark tap [POD_REGEX] [-n NS]… [-A]`: tap pods across a cluster through
// node agents, like `kubeshark tap`. The pieces, each in its own module:
//   watch-cache    list+watch of pods/services/slices (in the -n namespaces,
//                  or everywhere with -A, plus nodes), and of the agents'
//                  DaemonSet, pods and events
//   agent-manifests + cluster-objects + run-objects   the run's root (a
//                  lease the CLI renews), account and DaemonSet, created here
//                  and deleted on every way out; `--clean` removes runs whose
//                  lease lapsed
//   agent-progress per-node agent state while starting; exit 4 with reasons
//                  when agents are not running by the deadline
//   agent-session  one `shark agent` exec per Ready agent pod, restarted when
//                  it dies (a new exec); its BPF filter follows the node's
//                  tapped pods; websocket heartbeats find dead streams
//   stream-flow    a slow stdout reader pauses the agents' streams (bounded)
// An API server that stops answering (a control-plane upgrade) pauses the
// tap: per-node "paused" lines, the streams come back when it answers again;
// only past `outageMs` (default 5 min) does the run end with exit 4.
// Every request has a connect, TLS-handshake and request timeout
// (api-timeouts.ts), and Ctrl-C ends any start-up step at once: a silent API
// server can neither hang the run nor hold it after Ctrl-C.
//   merge + enrich  agents' entries in time order, named, to stdout.

import { hostname, userInfo } from 'node:os';
import type { Writable } from 'node:stream';
import ora, { type Ora } from 'ora';
import type { Entry } from '../model/entry.js';
import { ExitCode, UserError } from '../cli/errors.js';
import type { LineSink } from '../output/stdout-sink.js';
import {
  AGENT_NAME_LABEL,
  DEFAULT_IMAGE,
  KEEPER_NAME,
  DEFAULT_LEASE_SECONDS,
  DEFAULT_NAMESPACE,
  PSA_ENFORCE,
  RUN_LABEL,
  agentManifests,
  newRunId,
  ownedBy,
  runRootName,
  type Manifest,
  type TolerationPolicy,
} from './agent-manifests.js';
import { AGENT_ARCHS, AgentProgress } from './agent-progress.js';
import { LateAgents } from './late-agents.js';
import { agentStates, describeState, lessMemory, memoryLimit, notReadyReason, podNode, unsupportedReason, untoleratedTaints } from './agent-status.js';
import { AgentSession } from './agent-session.js';
import { AgentStatsBoard } from './agent-stats.js';
import { ClusterObjects } from './cluster-objects.js';
import { currentGetters, enricherFor } from './enrich.js';
import { apiErrorText, apiUnreachable, loadKubeConfig, type KubeConfigFlags } from './kubeconfig.js';
import { applyApiTimeouts } from './api-timeouts.js';
import { TimeOrderMerger } from '../merge/time-order.js';
import { CrossNodeDeduper } from './dedupe.js';
import { ClusterPcapWriter } from '../merge/agent-packets.js';
import { isPodReady } from './objects.js';
import { parseLabelSelector, type LabelMatcher } from './label-selector.js';
import { compilePodTarget, diffTargets, nodeFilter, nodePods, selectTargets, type TargetPod } from './targets.js';
import { ClusterWatch, WatchStartError, type Kind } from './watch-cache.js';
import { NamespaceGone, createOne, leaveNamespace, leftBehindLine, prepareNamespace, removeCreated, withTimeout } from './run-objects.js';
import { StreamFlow, flowSummary } from './stream-flow.js';
import { DEFAULT_LEASE_GRACE_MS, LEASE_DIR } from './lease-file.js';
import type { LinearRegex } from '../filter/linear-regex.js';
import type { WorkloadRef } from './workload-ref.js';
import { entryJson } from '../ndjson/stringify.js';
import { teachesRedaction } from '../redact/teaching.js';

type Obj = Record<string, any>;

export interface ClusterTapOptions extends KubeConfigFlags {
  podRegex?: string;
  /** kubectl's -l: only pods with these labels (label-selector.ts). */
  labelSelector?: string;
  namespaces?: string[];
  allNamespaces?: boolean;
  durationMs?: number;
  signal: AbortSignal;
  sink: LineSink;
  stderr?: Writable;
  /** Namespace for the agents (default shark-system). */
  agentNamespace?: string;
  image?: string;
  /** Interfaces the agents capture on (default any). */
  agentInterfaces?: string[];
  maxBody?: string;
  noBodies?: boolean;
  /** Agents redact secrets before entries leave the node (default true; false for --no-redact). */
  redactOnAgent?: boolean;
  /** How often the agents report their counters, and the CLI may print them (default 2 s / 5 s). */
  agentStatsIntervalMs?: number;
  statsPrintIntervalMs?: number;
  /** How long entries wait to be put in time order across agents. */
  mergeWindowMs?: number;
  /** Applied to every entry after enrichment (redaction). */
  transforms?: ((e: Entry) => Entry | void)[];
  /** Write packets (one pcapng for all agents) here instead of entries to `sink`. */
  packets?: { out: Writable; onClosed: () => void };
  /** How long agents may take to run on every node before the run fails (default 60 s). */
  agentTimeoutMs?: number;
  tolerate?: TolerationPolicy;
  /** Agents also capture each tapped pod's loopback (hostPID, SYS_ADMIN, SYS_PTRACE on the DaemonSet). */
  serviceMesh?: boolean;
  /** `tap --tls`: the agents capture TLS plaintext with eBPF (`shark agent --tls`) instead of packets. */
  tls?: boolean;
  /** A PriorityClass the agent pods refer to (not created). */
  priorityClassName?: string;
  /** The agent container's limits (--agent-cpu, --agent-memory). */
  cpuLimit?: string;
  memoryLimit?: string;
  /** The run's lease: renewed every third of it; `--clean` removes runs whose lease lapsed. */
  leaseSeconds?: number;
  /** The agents' and keeper's allowance for the kubelet's delay in refreshing the mounted lease (default 120 s). */
  leaseGraceSeconds?: number;
  /** Extra `shark agent` arguments (pushed-down filter, protocols). */
  agentExtraArgs?: string[];
  /** Entries refused here (after enrichment) are not written: a filter that reads names. */
  keep?: (e: Entry) => boolean;
  /** Shown the entries `keep` refuses that may teach redaction (redact/teaching.ts): the redactor, which then writes nothing. */
  teach?: (e: Entry) => void;
  /** How long the API server may be unreachable before the run ends with exit 4 (default 5 min). */
  outageMs?: number;
  /** kubectl's --request-timeout: each typed API request (not watches, not agent streams); 0 = none (default 30 s). */
  requestTimeoutMs?: number;
  /** Exec websocket heartbeats (default 5 s pings, 60 s without a pong ends the stream). */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** Backpressure bounds (stream-flow.ts): entries held per agent stream, bytes waiting for stdout. */
  maxHeldPerStream?: number;
  maxPendingBytes?: number;
}

/** How long an unreachable API server pauses the tap before it ends (a control-plane upgrade takes minutes). */
export const DEFAULT_OUTAGE_MS = 5 * 60_000;
/** Pod/node events within this much are handled in one pass. */
const RECONCILE_DEBOUNCE_MS = 100;
/** The API server's answer to an exec upgrade the authorizer refused (the ws client keeps only the status line). */
const EXEC_FORBIDDEN = /\bUnexpected server response: 403\b/;
/** A node seen with tapped pods and no agent pod, nothing on it refusing one: how long the DaemonSet controller has to make it before that is said. */
const UNCOVERED_GRACE_MS = 10_000;
/** How long a ready agent pod's `shark agent` may take to say it captures before --agent-timeout counts it as failed. */
const CAPTURE_START_MS = 15_000;
/** An agent OOM-killed again within this much is not told the limit again (a crash loop restarts it every few seconds to 5 min). */
const OOM_REPEAT_MS = 5 * 60_000;
/** After Ctrl-C in a start-up step, how long a create already sent may still answer (so what it made is removed too). */
const LATE_ANSWER_MS = 3000;

export interface ClusterTapResult {
  entries: number;
  agents: number;
  removed: number;
}

interface SessionSlot {
  session: AgentSession;
  node: string;
  /** The BPF filter last sent, or (per-pod capture) the pods message. */
  filter: string;
}

export async function runClusterTap(opts: ClusterTapOptions): Promise<ClusterTapResult> {
  const err = opts.stderr ?? process.stderr;
  // A spinner only for a person watching (stderr is a TTY), never in pipes or logs.
  let spinner: Ora | undefined;
  if ((err as NodeJS.WriteStream).isTTY) spinner = ora({ stream: err, text: 'starting node agents' }).start();
  const say = (line: string) => {
    spinner?.clear();
    err.write(`${line}\n`);
    spinner?.render();
  };
  let regex: LinearRegex | undefined;
  let workload: WorkloadRef | undefined;
  let labels: LabelMatcher | undefined;
  try {
    ({ regex, workload } = compilePodTarget(opts.podRegex));
    if (opts.labelSelector !== undefined) labels = parseLabelSelector(opts.labelSelector);
  } catch (e) {
    throw new UserError((e as Error).message, ExitCode.USAGE);
  }
  const cfg = loadKubeConfig(opts);
  applyApiTimeouts(cfg.kc, { requestMs: opts.requestTimeoutMs });
  const namespaces = opts.allNamespaces ? undefined : opts.namespaces?.length ? opts.namespaces : [cfg.namespace];
  const agentNamespace = opts.agentNamespace ?? DEFAULT_NAMESPACE;
  const runId = newRunId();
  const objects = new ClusterObjects(cfg.kc);

  const stop = new AbortController();
  const abort = () => stop.abort();
  // Ctrl-C may have come already (while the Kubernetes client loaded): then nothing is started.
  if (opts.signal.aborted) abort();
  else opts.signal.addEventListener('abort', abort, { once: true });
  const durationTimer = opts.durationMs !== undefined ? setTimeout(abort, opts.durationMs) : undefined;
  let fatal: UserError | undefined;
  /** The start failed (an error thrown out of the run): no summary then, the error is the last line. */
  let failed = false;
  /** Start-up steps Ctrl-C did not wait for: what they still create is removed too. */
  const late: Promise<unknown>[] = [];
  function step<T>(p: Promise<T>, onLate?: (v: T) => void): Promise<T> {
    return unlessStopped(p, stop.signal).catch((e: unknown) => {
      if (e instanceof Stopped && onLate) late.push(p.then(onLate, () => {}));
      throw e;
    });
  }

  let targets = new Map<string, TargetPod>();
  const slots = new Map<string, SessionSlot>();
  const startedSessions = new Set<string>();
  const restartAt = new Map<string, number>();
  const restarts = new Map<string, number>();
  const lateAgents = new LateAgents({ timeoutMs: opts.agentTimeoutMs ?? 60_000, overdue: (pod, node) => lateOverdue(pod, node) });
  let stopping = false;
  let entries = 0;
  // Agents' drop/loss counters: per node on change (every node, periodically, on a terminal), totals at the end.
  const board = new AgentStatsBoard();
  const isTTY = Boolean((err as NodeJS.WriteStream).isTTY);
  const statsTimer = setInterval(() => {
    for (const line of board.lines(isTTY)) say(line);
  }, opts.statsPrintIntervalMs ?? 5000);
  statsTimer.unref();
  const agentSelector = { [AGENT_NAME_LABEL]: 'shark-agent', [RUN_LABEL]: runId };

  // With -n only those namespaces (and the agents') are read: a namespace-scoped user can tap.
  const kinds: Kind[] = ['pods', 'services', 'endpointslices', 'daemonsets', 'events', ...(namespaces ? [] : (['nodes'] as Kind[]))];
  const scopes = {
    ...(namespaces ? { pods: [...namespaces, agentNamespace], services: namespaces, endpointslices: namespaces } : {}),
    daemonsets: [agentNamespace],
    events: [agentNamespace],
  };
  // An outage pauses the tap: say so once, and per node as its stream drops and comes back.
  const outageMs = opts.outageMs ?? DEFAULT_OUTAGE_MS;
  let changeTimer: NodeJS.Timeout | undefined;
  let pendingReconcile = false;
  let apiDownSince = 0;
  const pausedNodes = new Set<string>();
  const watch = new ClusterWatch(cfg.kc, {
    context: cfg.context,
    kinds,
    scopes,
    giveUpMs: outageMs,
    onReachability: (reachable, e) => {
      if (!reachable) {
        apiDownSince = Date.now();
        // Refused credentials (an expired token) are no outage: the open agent streams go on; the watches and the lease wait.
        if (isUnauthorized(e)) {
          say(
            `tap: the API server refuses this CLI's credentials (${apiErrorText(e)}); the agents' open streams go on, but pods that come and go are not seen and the run's lease is not renewed; retrying for up to ${Math.round(outageMs / 1000)}s`,
          );
        } else if (isForbidden(e)) {
          // RBAC changed under the run (a RoleBinding removed): the server answers, so it is no outage either.
          say(
            `tap: the API server no longer lets this CLI read what the tap watches (${apiErrorText(e)}): its access changed mid-run; the agents' open streams go on, but pods that come and go are not seen; retrying for up to ${Math.round(outageMs / 1000)}s`,
          );
        } else say(`tap: API server unreachable (${apiErrorText(e)}); tap paused, retrying for up to ${Math.round(outageMs / 1000)}s`);
      } else {
        say(`tap: API server answers again after ${Math.round((Date.now() - apiDownSince) / 1000)}s; resuming`);
        apiDownSince = 0;
        reconcile();
      }
    },
    onEvent: (kind) => {
      // Once stopping, the run's own deletions are no news (nothing may follow the verdict).
      if (stopping || kind === 'services' || kind === 'endpointslices') return;
      // Debounced: a rollout or a relist is hundreds of pod events; one pass over the pods handles them all.
      pendingReconcile ||= kind === 'pods' || kind === 'nodes';
      changeTimer ??= setTimeout(() => {
        changeTimer = undefined;
        if (pendingReconcile) reconcile();
        pendingReconcile = false;
        progress?.update();
        checkStarted();
      }, RECONCILE_DEBOUNCE_MS);
    },
    onFatal: (e) => {
      const s = Math.round(outageMs / 1000);
      fatal ??= apiUnreachable(cfg.server, e, isUnauthorized(e) ? `credentials refused for ${s}s` : isForbidden(e) ? `access refused for ${s}s` : `API server lost (unreachable for ${s}s)`);
      abort();
    },
  });
  const getters = currentGetters(() => watch.snapshot());
  const enrich = enricherFor(getters);
  const deduper = new CrossNodeDeduper(undefined, undefined, (ip, port) => getters().serviceByAddr(ip, port));
  // Which session each held entry came from, so the stream it came from is credited when it leaves.
  const origin = new WeakMap<Entry, string>();
  const flow = new StreamFlow({
    pendingBytes: () => (opts.packets ? opts.packets.out.writableLength : opts.sink.pendingBytes),
    maxHeldPerStream: opts.maxHeldPerStream,
    maxPendingBytes: opts.maxPendingBytes,
  });
  const merger = new TimeOrderMerger((e: Entry) => {
    const from = origin.get(e);
    if (from !== undefined) flow.released(from);
    enrich(e);
    if (opts.keep && !opts.keep(e)) {
      // A refused login may say what a kept answer's secret is.
      if (opts.teach && teachesRedaction(e)) opts.teach(e);
      return;
    }
    for (const t of opts.transforms ?? []) e = t(e) ?? e;
    entries++;
    void opts.sink.write(entryJson(e));
    flow.check();
  }, opts.mergeWindowMs ?? 500);
  // stdout drains on its own: look again at each flush whether paused streams may resume.
  // One flush at a time: while stdout is behind, each flush waits for 'drain', and overlapping
  // ones would pile up listeners. A write failure is kept by the sink and thrown by the last flush.
  let flushing = false;
  const flushTimer = setInterval(() => {
    if (!flushing) {
      flushing = true;
      opts.sink
        .flush()
        .catch(() => {})
        .finally(() => (flushing = false));
    }
    flow.check();
  }, 200);
  const pcap = opts.packets
    ? new ClusterPcapWriter(opts.packets.out, opts.packets.onClosed, (m) => say(`tap: ${m}`), opts.mergeWindowMs ?? 500)
    : undefined;

  // On `any` (the default) agents capture per pod: told the node's tapped
  // pods, they filter on those pods' interfaces and keep each connection once
  // (src/capture/per-pod/). On interfaces named with --agent-interface they
  // keep the `host …` filter.
  // TLS agents (--tls) are always told the pods: they keep only those pods' processes' calls.
  const perPod = Boolean(opts.tls) || (opts.agentInterfaces ?? ['any']).join() === 'any';
  const podsOf = (node: string) => JSON.stringify(nodePods(targets, node));
  const agentArgs = (node: string, filter: string): string[] => [
    '--node',
    node,
    ...(perPod ? [] : ['-f', filter]),
    ...(opts.agentInterfaces ?? ['any']).flatMap((i) => ['-i', i]),
    ...(opts.maxBody ? ['--max-body', opts.maxBody] : []),
    ...(opts.noBodies ? ['--no-bodies'] : []),
    ...(opts.redactOnAgent === false ? ['--no-redact'] : []),
    ...(opts.agentStatsIntervalMs !== undefined ? ['--stats-interval', `${opts.agentStatsIntervalMs}ms`] : []),
    ...(pcap ? ['--pcap'] : []),
    ...(opts.serviceMesh ? ['--service-mesh'] : []),
    ...(opts.tls ? ['--tls', '--pods-only'] : []),
    // The capture stops by itself if this CLI vanishes without a word (kill -9): the mounted lease lapses.
    '--lease-dir',
    LEASE_DIR,
    ...(opts.leaseGraceSeconds !== undefined ? ['--lease-grace', `${opts.leaseGraceSeconds}s`] : []),
    ...(opts.agentExtraArgs ?? []),
  ];

  function startSession(pod: Obj): void {
    const name: string = pod.metadata.name;
    const node: string = pod.spec?.nodeName ?? '';
    const filter = perPod ? podsOf(node) : nodeFilter(targets, node);
    const packets = pcap?.openStream(node);
    const session = new AgentSession({
      kc: cfg.kc,
      namespace: agentNamespace,
      pod: name,
      node,
      args: agentArgs(node, filter),
      onData: packets ? (chunk) => packets.push(chunk) : undefined,
      onLine: (line) => {
        if (!line) return;
        try {
          const entry = JSON.parse(line) as Entry;
          if (!deduper.isDuplicate(entry)) {
            origin.set(entry, name);
            flow.held(name);
            merger.push(entry);
          }
        } catch {
          say(`tap: agent on ${node}: skipped a line that is not JSON`);
        }
      },
      onStderr: (line) => {
        if (process.env.DEBUG) say(line);
      },
      onStats: (s) => board.record(node, s),
      pingIntervalMs: opts.pingIntervalMs,
      pongTimeoutMs: opts.pongTimeoutMs,
      onOpen: () => {
        if (pausedNodes.delete(node)) say(`tap: ${node}: resumed (new agent stream)`);
      },
      // Only an agent seen capturing resets the back-off: an exec that opens and dies at once
      // (an image without shark) would otherwise be retried every 250 ms forever.
      onRunning: () => {
        restarts.delete(name);
        endSaid.delete(node);
        if (lateAgents.capturing(name) && !stopping) say(`tap: ${node}: agent capturing now; its tapped pods are captured`);
        checkRunning();
      },
      onEnd: (why, asked) => {
        packets?.end();
        flow.remove(name);
        board.sessionEnded(node, session.running);
        if (asked || stopping) return;
        // RBAC refusing the exec is no outage: retrying would tap nothing, silently, until Ctrl-C.
        if (!session.opened && EXEC_FORBIDDEN.test(why)) {
          fatal ??= new UserError(
            `${cfg.server}: cannot exec into agent pod ${agentNamespace}/${name} on node ${node} (HTTP 403 Forbidden): this user may not create pods/exec in namespace ${agentNamespace}, so no entry can leave the agents; ask for create and get on pods/exec there (kubectl auth can-i create pods/exec -n ${agentNamespace})`,
            ExitCode.CAPTURE,
          );
          abort();
          return;
        }
        const n = (restarts.get(name) ?? 0) + 1;
        restarts.set(name, n);
        const delay = Math.min(250 * 2 ** (n - 1), 5000);
        // The API server is away (or the stream could not even open): the node is paused, said once.
        if (apiDownSince || !session.opened) {
          if (!pausedNodes.has(node)) say(`tap: ${node}: paused (${why}); reconnecting`);
          pausedNodes.add(node);
        } else if (session.running) say(`tap: agent on node ${node} ended (${why}${killedHint(name, why)}); reconnecting when it is ready`);
        else {
          // Said once per reason: it is retried with a growing back-off, and --agent-timeout ends the run if it never captures.
          const full = session.lastStderr ? `${why}: ${session.lastStderr}` : why;
          if (endSaid.get(node) !== full) say(`tap: agent on node ${node} (pod ${agentNamespace}/${name}) ended before capturing (${full}); retrying`);
          endSaid.set(node, full);
        }
        restartAt.set(name, Date.now() + delay);
        // Timers may fire a millisecond "early" by Date.now(): clear the gate here.
        setTimeout(() => {
          restartAt.delete(name);
          reconcile();
        }, delay).unref();
      },
    });
    slots.set(name, { session, node, filter });
    if (perPod) session.setPods(nodePods(targets, node));
    startedSessions.add(name);
    if (runningSaid) lateAgents.started(name, node);
    flow.add(name, session);
    void session.start();
  }

  /** A late agent (lateAgents) still not capturing at its deadline: said with the tapped pods it leaves out; retried, the run goes on. */
  function lateOverdue(pod: string, node: string): void {
    const slot = slots.get(pod);
    if (stopping || !slot || slot.session.running) return;
    // An API server away pauses the streams: the outage is said; look again once it is over.
    if (apiDownSince) return lateAgents.started(pod, node);
    lateAgents.markOverdue(pod, node);
    const why = endSaid.get(node);
    const pods = tappedOn(node);
    const shown = pods.slice(0, 3).join(', ') + (pods.length > 3 ? `, … (${pods.length} in all)` : '');
    say(
      `tap: ${node}: agent pod ${agentNamespace}/${pod} is ready, but \`shark agent\` in it is not capturing after ${Math.round((opts.agentTimeoutMs ?? 60_000) / 1000)}s (${why ? `it ended: ${why}` : 'no word from it yet'}); ${
        pods.length ? `not captured: ${shown}` : 'no tapped pod there yet'
      }; retrying, the other nodes are tapped → kubectl exec -n ${agentNamespace} ${pod} -- shark agent --help; is --agent-image a shark image for this node?`,
    );
  }

  /** The tapped pods on `node`, as "ns/name". */
  function tappedOn(node: string): string[] {
    return [...targets.values()].filter((t) => t.node === node).map((t) => t.key);
  }

  /** Agent pods told OOM-killed, and when: the exec's end and the kubelet's restart of the container are one kill, said once. */
  const oomSaid = new Map<string, number>();
  /**
   * An agent exec ended by SIGKILL (exit 137) mid-run is, on a node, nearly
   * always the kernel's OOM killer at the container's memory limit (the
   * agent's capture is the container's largest process); its logs end
   * mid-sentence and say nothing. So its end names the limit and how to raise
   * it while the run taps. The pod's OOMKilled, when the kubelet reported it
   * already, makes it certain.
   */
  function killedHint(pod: string, why: string): string {
    const obj = agentPods().find((p) => p.metadata.name === pod);
    const oom = obj?.status?.containerStatuses?.[0]?.lastState?.terminated?.reason === 'OOMKilled';
    // A pod being deleted (a rollout, a drain) has its processes killed too: no memory to blame then.
    if (obj?.metadata?.deletionTimestamp || (!oom && !/\bexit code: 137\b/.test(why))) return '';
    if (Date.now() - (oomSaid.get(pod) ?? 0) < OOM_REPEAT_MS) return ': OOMKilled, said above';
    oomSaid.set(pod, Date.now());
    const limit = (obj && memoryLimit(obj)) ?? daemonSet.spec.template.spec.containers[0].resources?.limits?.memory;
    // Without the kubelet's OOMKilled (cgroup v1, or before 1.28 only the exec'd capture is killed) it may also be a kill by hand.
    if (!oom) return `: killed by SIGKILL; if by the kernel at its memory limit (${limit}): ${lessMemory(limit, agentNamespace, daemonSet.metadata.name)}`;
    return `: OOMKilled: the agent ran out of its memory limit (${limit}) and was killed → ${lessMemory(limit, agentNamespace, daemonSet.metadata.name)}`;
  }
  /** Container restarts seen per agent pod. */
  const restartsSeen = new Map<string, number>();
  /**
   * The kubelet restarted an agent container that the kernel killed at its
   * memory limit (cgroup v2 kills the whole container): said with the limit,
   * unless the exec's end said it already.
   */
  function checkOomRestarts(agents: Obj[]): void {
    // Only the run's current agent pods are remembered (rollouts and node churn replace them all run long).
    const present = new Set(agents.map((p) => p.metadata.name as string));
    for (const name of restartsSeen.keys()) if (!present.has(name)) restartsSeen.delete(name);
    for (const name of oomSaid.keys()) if (!present.has(name)) oomSaid.delete(name);
    for (const p of agents) {
      const name: string = p.metadata.name;
      const cs = p.status?.containerStatuses?.[0];
      const count: number = cs?.restartCount ?? 0;
      const before = restartsSeen.get(name);
      restartsSeen.set(name, count);
      if (!runningSaid || stopping || before === undefined || count <= before || cs?.lastState?.terminated?.reason !== 'OOMKilled') continue;
      if (Date.now() - (oomSaid.get(name) ?? 0) < OOM_REPEAT_MS) continue;
      oomSaid.set(name, Date.now());
      const limit = memoryLimit(p);
      say(
        `tap: ${podNode(p)}: agent container OOMKilled: it ran out of its memory limit (${limit}) and was killed; restarted by the kubelet (restart ${count}) → ${lessMemory(limit, agentNamespace, daemonSet.metadata.name)}`,
      );
    }
  }

  /** Nodes whose agent ended before capturing, with the reason last said. */
  const endSaid = new Map<string, string>();
  /** "agents running on N node(s)" was said: every ready agent pod's `shark agent` captures. */
  let runningSaid = false;
  /** Agent pods ready, but their `shark agent` not capturing yet (by node). */
  function notCapturing(): [string, SessionSlot][] {
    return [...slots].filter(([, s]) => !s.session.running);
  }
  function checkRunning(): void {
    if (runningSaid || !started || stopping || slots.size === 0 || notCapturing().length > 0) return;
    runningSaid = true;
    progress?.startTapping();
    if (deadline) clearTimeout(deadline);
    const skipped = progress?.skippedSummary();
    say(`tap: agents running on ${new Set([...slots.values()].map((s) => s.node)).size} node(s)${skipped ? `; ${skipped}` : ''}`);
  }

  function reconcile(): void {
    if (stopping) return;
    const next = selectTargets(watch.objects('pods'), { regex, workload, labels, namespaces });
    const { added, removed } = diffTargets(targets, next);
    targets = next;
    for (const t of removed) say(`-${t.namespace}/${t.name}`);
    for (const t of added) say(`+${t.namespace}/${t.name}`);
    const agents = agentPods();
    const alive = new Set<string>();
    for (const pod of agents) {
      const name: string = pod.metadata.name;
      if (!isPodReady(pod) || pod.metadata.deletionTimestamp) continue;
      alive.add(name);
      const slot = slots.get(name);
      if (slot && !slot.session.isEnded) continue;
      if ((restartAt.get(name) ?? 0) > Date.now()) continue;
      startSession(pod);
    }
    if (spinner && alive.size > 0 && alive.size >= watch.objects('nodes').length) {
      spinner.stop();
      spinner = undefined;
    }
    checkUncovered(agents);
    checkOomRestarts(agents);
    checkKeeper();
    for (const [name, slot] of slots) {
      if (!alive.has(name)) {
        slots.delete(name);
        lateAgents.gone(name);
        void slot.session.stop(200);
        continue;
      }
      const filter = perPod ? podsOf(slot.node) : nodeFilter(targets, slot.node);
      if (filter !== slot.filter) {
        slot.filter = filter;
        if (perPod) slot.session.setPods(nodePods(targets, slot.node));
        else slot.session.setFilter(filter);
      }
    }
  }

  /** The keeper's failure last said ('' once it runs). */
  let keeperSaid = '';
  /**
   * The keeper pod that cannot run (its image, no node with room) ends
   * nothing: a killed CLI's run would then stay until --clean. Said once per
   * reason, after the start (the agents' verdict covers a shared image failure).
   */
  function checkKeeper(): void {
    if (!started || stopping || !keeperJob) return;
    const pod = watch
      .objects('pods')
      .find((p) => p.metadata?.namespace === agentNamespace && p.metadata?.labels?.[AGENT_NAME_LABEL] === KEEPER_NAME && p.metadata?.labels?.[RUN_LABEL] === runId && !p.metadata?.deletionTimestamp);
    if (!pod) return;
    const [state] = agentStates({ pods: [pod], events: watch.objects('events'), namespace: agentNamespace, image: opts.image ?? DEFAULT_IMAGE });
    const why = state?.phase === 'failed' ? describeState({ ...state, node: '' }).replace(/^an agent pod: /, '') : '';
    if (why === keeperSaid) return;
    keeperSaid = why;
    if (why) say(`tap: the run's keeper (pod ${pod.metadata.name}) is not running (${why}): if this CLI is killed, its objects stay until \`shark tap --clean\`; the tap goes on`);
  }

  /** Tapped pods said to be on a node without an agent, by node. */
  const uncoveredSaid = new Map<string, Set<string>>();
  /** When each node was first seen with tapped pods and no agent pod. */
  const uncoveredSince = new Map<string, number>();
  /** Nodes whose reason is being read, or whose grace runs: looked at again when that ends. */
  const uncoveredPending = new Set<string>();
  /** This run's agent pods, whatever their state. */
  function agentPods(): Obj[] {
    return watch.objects('pods').filter((p) => p.metadata?.namespace === agentNamespace && Object.entries(agentSelector).every(([k, v]) => p.metadata?.labels?.[k] === v));
  }
  /** Tapped pods on `node` not said yet, when the run has no agent pod there. */
  function uncoveredOn(node: string, covered: Set<string>): string[] {
    if (covered.has(node)) return [];
    return [...targets.values()].filter((t) => t.node === node && !uncoveredSaid.get(node)?.has(t.key)).map((t) => t.key);
  }
  /**
   * Tapped pods on a node where the run has no agent pod at all are not
   * captured: said once per node (and again for pods that appear there later),
   * with why when the node can be read. With -n nothing else would say it: the
   * DaemonSet leaves a node it may not run on (an untolerated taint) out of its
   * counts without a word. Without such a reason (the node is not known yet,
   * or nothing on it refuses the agent), the DaemonSet controller may simply
   * not have made the new node's agent pod yet: said only if there is still
   * none after UNCOVERED_GRACE_MS.
   */
  function checkUncovered(agents: Obj[]): void {
    if (!started || stopping) return;
    const covered = new Set(agents.map(podNode));
    for (const node of [...uncoveredSaid.keys()]) if (covered.has(node)) uncoveredSaid.delete(node);
    for (const node of [...uncoveredSince.keys()]) if (covered.has(node)) uncoveredSince.delete(node);
    const nodes = new Set([...targets.values()].map((t) => t.node).filter((n) => n && !covered.has(n) && !uncoveredPending.has(n)));
    for (const node of nodes) {
      if (uncoveredOn(node, covered).length === 0) continue;
      const since = uncoveredSince.get(node) ?? Date.now();
      uncoveredSince.set(node, since);
      uncoveredPending.add(node);
      void uncoveredReason(node).then(({ why, certain }) => {
        if (stopping) return;
        const wait = certain ? 0 : since + UNCOVERED_GRACE_MS - Date.now();
        if (wait > 0) {
          setTimeout(() => {
            uncoveredPending.delete(node);
            checkUncovered(agentPods());
          }, wait).unref();
          return;
        }
        uncoveredPending.delete(node);
        // Looked at again now: the agent pod may have come meanwhile, and pods gone or come.
        const keys = uncoveredOn(node, new Set(agentPods().map(podNode)));
        if (keys.length === 0) return;
        const said = uncoveredSaid.get(node) ?? new Set<string>();
        for (const k of keys) said.add(k);
        uncoveredSaid.set(node, said);
        const shown = keys.slice(0, 3).join(', ') + (keys.length > 3 ? `, … (${keys.length} in all)` : '');
        say(`tap: ${keys.length === 1 ? `${shown} is` : `${keys.length} tapped pods (${shown}) are`} on node ${node}, which has no agent: not captured (${why})`);
      });
    }
  }
  /** Why a node has no agent; `certain` when something on the node refuses it (not a DaemonSet controller that is merely late). */
  async function uncoveredReason(name: string): Promise<{ why: string; certain: boolean }> {
    let node: Obj | undefined;
    try {
      node = namespaces ? await withTimeout(objects.readNode(name), 5000) : watch.objects('nodes').find((n) => n.metadata?.name === name);
      if (!node) return { why: 'the node is gone', certain: false };
    } catch {
      return { why: `the DaemonSet placed no agent there; kubectl describe node ${name} says why (taints, labels)`, certain: false };
    }
    const taints = untoleratedTaints(node, daemonSet.spec.template.spec.tolerations ?? []);
    const why =
      unsupportedReason(node, AGENT_ARCHS) ??
      (taints.length ? `taint ${taints.join(', ')} is not tolerated: --agent-tolerate all tolerates every taint` : undefined) ??
      notReadyReason(node)?.text;
    return why ? { why, certain: true } : { why: `the DaemonSet placed no agent there; kubectl describe node ${name} says why`, certain: false };
  }

  const manifestOptions = {
    runId,
    namespace: agentNamespace,
    image: opts.image,
    tolerate: opts.tolerate,
    serviceMesh: opts.serviceMesh,
    tls: opts.tls,
    priorityClassName: opts.priorityClassName,
    cpuLimit: opts.cpuLimit,
    memoryLimit: opts.memoryLimit,
    leaseSeconds: opts.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
    leaseGraceSeconds: opts.leaseGraceSeconds,
    // The keeper must not end a run this CLI still holds: an API-server outage stops renewals too,
    // and the CLI waits out up to `outageMs` of one. So the keeper allows that on top of the grace.
    keeperGraceSeconds: (opts.leaseGraceSeconds ?? DEFAULT_LEASE_GRACE_MS / 1000) + Math.ceil((opts.outageMs ?? DEFAULT_OUTAGE_MS) / 1000),
    holder: `${safeUser()}@${hostname()} pid ${process.pid}`,
  };
  const manifests = agentManifests(manifestOptions);
  const daemonSet = manifests.owned.find((o) => o.kind === 'DaemonSet')!;
  let progress: AgentProgress | undefined;
  let started = false;
  let startedAt = 0;
  let deadline: NodeJS.Timeout | undefined;
  function checkStarted(): void {
    if (started || stopping || !progress?.allReady()) return;
    started = true;
    startedAt = Date.now();
    spinner?.stop();
    spinner = undefined;
    // The pods are ready; the run is tapping once each one's `shark agent` says it captures (checkRunning).
    reconcile();
    checkRunning();
  }
  /** At --agent-timeout: nodes whose agent is not running are read (without -A) and a NotReady one not waited on; the rest is the verdict. */
  async function verdict(timeoutMs: number): Promise<void> {
    if (runningSaid || stopping || !progress) return;
    if (started) return captureVerdict(timeoutMs);
    if (namespaces) await progress.lookUpNodes((name) => withTimeout(objects.readNode(name), 5000));
    if (started || stopping) return;
    progress.update();
    checkStarted();
    if (started) return captureVerdict(timeoutMs);
    const lines = progress.failures();
    for (const l of lines) say(`tap: ${l}`);
    const st = watch.objects('daemonsets').find((d) => d.metadata?.name === daemonSet.metadata.name)?.status ?? {};
    const counts = `DaemonSet ${daemonSet.metadata.name}: ${st.desiredNumberScheduled ?? '?'} desired, ${st.numberReady ?? 0} ready, ${st.numberUnavailable ?? 0} unavailable`;
    fatal ??= new UserError(
      `agents not running on ${lines.length} of ${Math.max(progress.expected, lines.length)} node(s) after ${Math.round(timeoutMs / 1000)}s (${counts}; reasons above)`,
      ExitCode.CAPTURE,
    );
    abort();
  }

  /**
   * At --agent-timeout, every agent pod is ready but some `shark agent` never
   * started capturing (the exec fails: an --agent-image without shark, a
   * capture the node refuses): one line per such node with its last reason,
   * then exit 4, as for pods that never ran. An API server away pauses the
   * streams, not the agents: that is the outage's business, not this verdict's.
   */
  function captureVerdict(timeoutMs: number): void {
    if (runningSaid || stopping || apiDownSince) return;
    // Pods ready just before the deadline get a while to exec and open their capture.
    const grace = startedAt + CAPTURE_START_MS - Date.now();
    if (grace > 0) {
      deadline = setTimeout(() => captureVerdict(timeoutMs), grace);
      return;
    }
    const waiting = notCapturing();
    if (waiting.length === 0) return;
    for (const [pod, s] of waiting) {
      const why = endSaid.get(s.node);
      say(
        `tap: ${s.node}: agent pod ${agentNamespace}/${pod} is ready, but \`shark agent\` in it is not capturing (${why ? `it ended: ${why}` : 'no word from it yet'}) → kubectl exec -n ${agentNamespace} ${pod} -- shark agent --help; is --agent-image a shark image?`,
      );
    }
    const nodes = new Set([...slots.values()].map((s) => s.node)).size;
    fatal ??= new UserError(`agents not capturing on ${waiting.length} of ${nodes} node(s) after ${Math.round(timeoutMs / 1000)}s (reasons above)`, ExitCode.CAPTURE);
    abort();
  }

  const created: Manifest[] = [];
  let createdNamespace = false;
  /** The namespace was looked at (and maybe relabelled): its Pod Security label may need putting back at the end. */
  let preparedNamespace = false;
  let blockingLabel: string | undefined;
  /** The run's root is its keeper Job (it removes the run once the lease lapses). */
  let keeperJob: string | undefined;
  let renewTimer: NodeJS.Timeout | undefined;
  let result: ClusterTapResult = { entries: 0, agents: 0, removed: 0 };
  try {
    // A namespace that does not exist (a typo) is one line before anything is deployed, not an endless wait.
    if (namespaces) await step(checkNamespaces(objects, namespaces, cfg.server, !opts.namespaces?.length));
    // `deploy/NAME` with a typo would wait for pods forever: the workload must exist (kubectl's NotFound), when it may be read.
    if (workload) await step(checkWorkload(objects, workload, namespaces, cfg.server));
    try {
      await step(watch.start());
    } catch (e) {
      if (e instanceof Stopped) throw e;
      throw listFailure(cfg.server, e, namespaces, agentNamespace);
    }
    reconcile();
    if (targets.size === 0) say(`tap: no pods match yet${regex ? ` /${regex.source}/` : ''}${workload ? ` ${workload.text}` : ''}${opts.labelSelector ? ` -l ${opts.labelSelector}` : ''}; waiting for some`);
    const prepare = async () => {
      // Ctrl-C (or --duration) during it: a relabelling that still lands is put back at the end, as a finished one is.
      const nsState = await step(prepareNamespace(objects, agentNamespace, cfg.server, say, stop.signal, opts.agentTimeoutMs ?? 60_000, runId), (s) => {
        createdNamespace ||= s.created;
        preparedNamespace = true;
      });
      createdNamespace ||= nsState.created;
      blockingLabel = nsState.blockingLabel;
      preparedNamespace = true;
      return nsState;
    };
    // Agents a user may deploy but not exec into would tap nothing: said before anything is deployed.
    if ((await step(objects.mayExec(agentNamespace))) === false) {
      throw new UserError(
        `${cfg.server}: this user may not exec into pods in namespace ${agentNamespace} (kubectl auth can-i create pods/exec -n ${agentNamespace}: no), and entries leave the agents only through exec; ask for create and get on pods/exec there, or pass --agent-namespace a namespace where you have them`,
        ExitCode.CAPTURE,
      );
    }
    await prepare();
    if (stop.signal.aborted) return result; // Ctrl-C while waiting for the namespace: nothing was created
    // The keeper Job first (the root: everything else is owned by it), then the lease and the rest.
    // A user who may not create Jobs still taps, rooted on the lease as before, and is told what that costs.
    let run = manifests;
    const create = async (obj: Manifest, body = obj): Promise<Record<string, any>> => {
      const made = await step(createOne(objects, body, cfg.server, say, stop.signal), () => created.push(obj));
      created.push(obj);
      return made;
    };
    const createRun = async () => {
      let createdRoot: Manifest;
      try {
        createdRoot = await create(run.root);
      } catch (e) {
        if (e instanceof Stopped || e instanceof NamespaceGone || run.root.kind !== 'Job' || !/HTTP 403/.test((e as Error).message)) throw e;
        say(`tap: cannot create the run's keeper Job (${(e as Error).message.replace(/^.*?: cannot create Job \S+: /, '')}); if this CLI is killed, its objects stay until \`shark tap --clean\` (grant create/delete/list on jobs in ${agentNamespace} to have them expire by themselves)`);
        run = agentManifests({ ...manifestOptions, keeper: false });
        createdRoot = await create(run.root);
      }
      if (run.root.kind === 'Job') keeperJob = run.root.metadata.name;
      for (const obj of run.owned) await create(obj, ownedBy(obj, createdRoot));
    };
    // Another run that created the namespace may remove it as this one starts (it had not seen this
    // run's root yet): what was made in it went with it, so the namespace is made again and the run too.
    for (let attempt = 1; ; attempt++) {
      try {
        await createRun();
        break;
      } catch (e) {
        if (!(e instanceof NamespaceGone) || attempt === 3) {
          if (e instanceof NamespaceGone) throw new UserError(`${cfg.server}: namespace ${agentNamespace} was removed ${attempt} times while this run started; pass --agent-namespace`, ExitCode.CAPTURE);
          throw e;
        }
        created.length = 0; // gone with the namespace
        const again = await prepare();
        if (stop.signal.aborted) return result;
        say(`tap: namespace ${agentNamespace} was removed (another run's cleanup) as this run started; ${again.created ? 'created it again' : 'it is back'}`);
      }
    }
    const leaseMs = (opts.leaseSeconds ?? DEFAULT_LEASE_SECONDS) * 1000;
    let renewFailed = false;
    renewTimer = setInterval(() => {
      objects.renew(agentNamespace, runId).then(
        () => (renewFailed = false),
        (e) => {
          // The lease is gone: the run was deleted under this CLI (its keeper Job ended or was deleted by hand).
          if ((e as { code?: number }).code === 404 && !stopping) {
            fatal ??= new UserError(
              `the run's objects were deleted while it ran (lease ConfigMap ${agentNamespace}/${runRootName(runId)} is gone: its keeper Job ended or was deleted); start the tap again`,
              ExitCode.CAPTURE,
            );
            abort();
            return;
          }
          if (!renewFailed) say(`tap: could not renew the run's lease (${apiErrorText(e)}); retrying`);
          renewFailed = true;
        },
      );
    }, leaseMs / 3);
    say(`tap: deployed agents (run ${runId}) in namespace ${agentNamespace}; Ctrl-C to stop`);
    progress = new AgentProgress({
      say,
      tolerations: daemonSet.spec.template.spec.tolerations,
      tappedOn,
      view: () => ({
        daemonSet: watch.objects('daemonsets').find((d) => d.metadata?.name === daemonSet.metadata.name),
        pods: watch
          .objects('pods')
          .filter((p) => p.metadata?.namespace === agentNamespace && Object.entries(agentSelector).every(([k, v]) => p.metadata?.labels?.[k] === v)),
        events: watch.objects('events'),
        nodes: namespaces ? undefined : watch.objects('nodes'),
        namespace: agentNamespace,
        podSecurityLabel: blockingLabel,
        image: opts.image ?? DEFAULT_IMAGE,
      }),
    });
    const timeoutMs = opts.agentTimeoutMs ?? 60_000;
    deadline = setTimeout(() => void verdict(timeoutMs), timeoutMs);
    progress.update();
    reconcile();
    checkStarted();
    if (!stop.signal.aborted) await new Promise<void>((r) => stop.signal.addEventListener('abort', () => r(), { once: true }));
  } catch (e) {
    // Ctrl-C (or a fatal error, thrown below) ended a start-up step: the run ends as it would have after it.
    if (!(e instanceof Stopped)) {
      failed = true;
      throw e;
    }
  } finally {
    stopping = true;
    // A second Ctrl-C exits at once (runtime.ts), mid-cleanup too: say what may be left and what removes it.
    const leaseSeconds = opts.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    const keeperSeconds = leaseSeconds + manifestOptions.keeperGraceSeconds + 5;
    const cutShort = () => {
      if (created.length === 0 && !createdNamespace) return;
      err.write(
        `tap: stopped before its cleanup finished: run ${runId}'s objects may be left in namespace ${agentNamespace}; ${
          keeperJob ? `its keeper Job ${agentNamespace}/${keeperJob} removes them once the run's lease lapses (within about ${Math.ceil(keeperSeconds / 60)} min), or` : 'run'
        } \`shark tap --clean${agentNamespace === DEFAULT_NAMESPACE ? '' : ` --agent-namespace ${agentNamespace}`}\` once the lease (${leaseSeconds}s) has lapsed\n`,
      );
    };
    process.on('exit', cutShort);
    spinner?.stop();
    spinner = undefined;
    if (durationTimer) clearTimeout(durationTimer);
    if (deadline) clearTimeout(deadline);
    lateAgents.stop();
    if (renewTimer) clearInterval(renewTimer);
    if (changeTimer) clearTimeout(changeTimer);
    opts.signal.removeEventListener('abort', abort);
    await Promise.all([...slots.values()].map((s) => s.session.stop(fatal ? 200 : 3000)));
    merger.flush();
    await pcap?.finish();
    clearInterval(flushTimer);
    clearInterval(statsTimer);
    await opts.sink.flush();
    // Creates sent before Ctrl-C: what they made is removed with the rest (they answer within their request timeout).
    if (late.length > 0) await withTimeout(Promise.all(late), LATE_ANSWER_MS).catch(() => {});
    const removed = await removeCreated(objects, created, fatal && !started ? 5000 : fatal ? 1500 : 15000);
    if ((createdNamespace || preparedNamespace) && removed.failed.length === 0) {
      // The last run to leave removes the namespace a run created (another run may have started in it
      // meanwhile: it stays then), or puts back the Pod Security label a run replaced on an existing one.
      try {
        const left = await withTimeout(leaveNamespace(objects, agentNamespace, createdNamespace), 4000);
        if (left.removed) removed.done++;
        if (left.line) say(left.line);
      } catch (e) {
        removed.failed.push({ what: createdNamespace ? `Namespace/${agentNamespace}` : `the ${PSA_ENFORCE}=privileged label put on namespace ${agentNamespace}`, why: apiErrorText(e) });
      }
    }
    watch.stop();
    process.off('exit', cutShort);
    if (removed.failed.length > 0) say(leftBehindLine(removed.failed, { namespace: agentNamespace, keeperJob, leaseSeconds, keeperSeconds }));
    // A failed run ends with its error as the last line (the caller prints it): no summary before it.
    const ok = !fatal && !failed;
    if (ok && startedSessions.size > 0) for (const line of board.summary()) say(line);
    const flowLine = flowSummary(flow.counters);
    if (flowLine) say(flowLine);
    const skipped = progress?.skippedSummary();
    const overdue = lateAgents.nodes();
    const notCapturing = overdue.length ? `; no agent capturing on ${overdue.length} node(s): ${overdue.slice(0, 5).join(', ')}${overdue.length > 5 ? ', …' : ''}` : '';
    const failedLate = progress?.failedSummary();
    const tail = `removed ${removed.done} object(s)${skipped ? `; ${skipped}` : ''}${failedLate ? `; ${failedLate}` : ''}${notCapturing}`;
    if (ok && pcap) say(`tap: ${pcap.packets} packets from ${startedSessions.size} agent(s); ${tail}`);
    else if (ok) say(`tap: ${entries} entries from ${startedSessions.size} agent(s); ${tail}`);
    result = { entries, agents: startedSessions.size, removed: removed.done };
  }
  if (fatal) throw fatal;
  return result;
}

/** HTTP 401 from the API server: the credentials expired or were revoked. */
function isUnauthorized(e: unknown): boolean {
  return (e as { code?: number })?.code === 401 || /\bHTTP 401\b/.test(apiErrorText(e));
}

/** HTTP 403 from the API server: the user's RBAC no longer allows a read the tap needs. */
function isForbidden(e: unknown): boolean {
  return (e as { code?: number })?.code === 403 || /\bHTTP 403\b/.test(apiErrorText(e));
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** Ctrl-C came while a start-up step waited (stop.signal aborted). */
class Stopped extends Error {
  constructor() {
    super('stopped');
  }
}

/** `p`, or a Stopped rejection as soon as `signal` aborts (p runs on; its outcome is then ignored, errors included). */
function unlessStopped<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(new Stopped());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Stopped());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Each namespace to tap exists (-n nosuchns, a typo, would otherwise wait
 * forever for pods). A user who may not read namespaces (403) is not checked:
 * the lists then say what they can.
 */
async function checkNamespaces(objects: ClusterObjects, names: string[], server: string, fromContext: boolean): Promise<void> {
  const missing: string[] = [];
  await Promise.all(
    [...new Set(names)].map(async (name) => {
      try {
        if (!(await objects.readNamespace(name))) missing.push(name);
      } catch (e) {
        if ((e as { code?: number }).code !== 403) throw apiUnreachable(server, e, `cannot read namespace ${name}`);
      }
    }),
  );
  if (missing.length === 0) return;
  missing.sort();
  const what = fromContext
    ? `the context's namespace ${missing[0]} does not exist (pass -n NS or -A)`
    : `${missing.length > 1 ? `namespaces ${missing.join(', ')} do` : `namespace ${missing[0]} does`} not exist (kubectl get namespaces lists them)`;
  throw new UserError(`${server}: ${what}`, ExitCode.CAPTURE);
}

/** kubectl's resource name for a kind, as NotFound messages and hints spell it. */
const RESOURCE_OF: Record<WorkloadRef['kind'], { resource: string; short: string }> = {
  Deployment: { resource: 'deployments.apps', short: 'deploy' },
  StatefulSet: { resource: 'statefulsets.apps', short: 'sts' },
  DaemonSet: { resource: 'daemonsets.apps', short: 'ds' },
  ReplicaSet: { resource: 'replicasets.apps', short: 'rs' },
  Job: { resource: 'jobs.batch', short: 'jobs' },
  Pod: { resource: 'pods', short: 'pods' },
};

/**
 * The workload of `deploy/NAME` exists in one of the namespaces tapped, or
 * with -A in some namespace (a typo would otherwise wait for pods forever).
 * A user who may not read that kind (403) is not checked: its pods are still
 * matched by their owners.
 */
async function checkWorkload(objects: ClusterObjects, ref: WorkloadRef, names: string[] | undefined, server: string): Promise<void> {
  const { resource, short } = RESOURCE_OF[ref.kind];
  if (!names) {
    let found: boolean;
    try {
      found = await objects.workloadAnywhere(ref.kind, ref.name);
    } catch (e) {
      if ((e as { code?: number }).code === 403) return;
      throw apiUnreachable(server, e, `cannot look for ${ref.text} in every namespace`);
    }
    if (!found) throw new UserError(`${server}: ${resource} "${ref.name}" not found in any namespace (kubectl get ${short} -A lists them)`, ExitCode.CAPTURE);
    return;
  }
  let unknown = false;
  const found = await Promise.all(
    [...new Set(names)].map(async (ns) => {
      try {
        return (await objects.readWorkload(ref.kind, ref.name, ns)) !== undefined;
      } catch (e) {
        if ((e as { code?: number }).code === 403) {
          unknown = true;
          return false;
        }
        throw apiUnreachable(server, e, `cannot read ${ref.text} in namespace ${ns}`);
      }
    }),
  );
  if (unknown || found.some(Boolean)) return;
  const where = names.length > 1 ? `namespaces ${[...new Set(names)].sort().join(', ')}` : `namespace ${names[0]}`;
  throw new UserError(`${server}: ${resource} "${ref.name}" not found in ${where} (kubectl get ${short} -n ${names[0]} lists them; -A looks in every namespace)`, ExitCode.CAPTURE);
}

/** A failed initial list as one line: what could not be read, why, and (for 403) what to do instead. */
function listFailure(server: string, e: unknown, namespaces: string[] | undefined, agentNamespace: string): UserError {
  if (!(e instanceof WatchStartError)) return apiUnreachable(server, e, 'cannot list cluster objects');
  const forbidden = (e.error as { code?: number })?.code === 403;
  // The agents' DaemonSet, pods and events are watched in their namespace whatever is tapped: a refusal there is about it.
  const agents = e.namespace === agentNamespace && (e.kind !== 'pods' || !namespaces?.includes(agentNamespace));
  const hint = !forbidden
    ? ''
    : agents
      ? `; the run watches its agents there: ask for get/list/watch on pods, events and daemonsets in namespace ${agentNamespace} (or pass --agent-namespace NS where you have them)`
      : !namespaces
        ? '; -A needs cluster-wide list/watch of pods, services, endpointslices and nodes: tap named namespaces with -n NS instead'
        : '; ask for get/list/watch on pods, services and endpointslices there';
  return new UserError(`${server}: cannot list ${e.scope}: ${apiErrorText(e.error)}${hint}`, ExitCode.CAPTURE);
}
