// `shark tap [POD_REGEX] [-n NS]… [-A]`: tap pods across a cluster through
// node agents, like `kubeshark tap`. The pieces, each in its own module:
//   watch-cache    list+watch of pods/services/slices/nodes (targets, names)
//   agent-manifests + cluster-objects   the DaemonSet and its RBAC, created
//                  here and deleted on every way out (labelled by run id)
//   agent-session  one `shark agent` exec per Ready agent pod, restarted when
//                  it dies; its BPF filter follows the node's tapped pods
//   merge + enrich  agents' entries in time order, named, to stdout.

import type { Writable } from 'node:stream';
import ora, { type Ora } from 'ora';
import type { Entry } from '../model/entry.js';
import { ExitCode, UserError } from '../cli/errors.js';
import type { LineSink } from '../output/stdout-sink.js';
import { AGENT_NAME_LABEL, DEFAULT_NAMESPACE, RUN_LABEL, agentManifests, newRunId, type Manifest } from './agent-manifests.js';
import { AgentSession } from './agent-session.js';
import { AgentStatsBoard } from './agent-stats.js';
import { ClusterObjects } from './cluster-objects.js';
import { createEnricher } from './enrich.js';
import { apiErrorText, apiUnreachable, loadKubeConfig, type KubeConfigFlags } from './kubeconfig.js';
import { TimeOrderMerger } from './merge.js';
import { CrossNodeDeduper } from './dedupe.js';
import { ClusterPcapWriter } from './packet-merge.js';
import { isPodReady } from './objects.js';
import { compilePodRegex, diffTargets, nodeFilter, selectTargets, type TargetPod } from './targets.js';
import { ClusterWatch } from './watch-cache.js';
import type { LinearRegex } from '../filter/linear-regex.js';

type Obj = Record<string, any>;

export interface ClusterTapOptions extends KubeConfigFlags {
  podRegex?: string;
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
}

export interface ClusterTapResult {
  entries: number;
  agents: number;
  removed: number;
}

interface SessionSlot {
  session: AgentSession;
  node: string;
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
  const cfg = loadKubeConfig(opts);
  let regex: LinearRegex | undefined;
  try {
    regex = compilePodRegex(opts.podRegex);
  } catch (e) {
    throw new UserError((e as Error).message, ExitCode.USAGE);
  }
  const namespaces = opts.allNamespaces ? undefined : opts.namespaces?.length ? opts.namespaces : [cfg.namespace];
  const agentNamespace = opts.agentNamespace ?? DEFAULT_NAMESPACE;
  const runId = newRunId();
  const objects = new ClusterObjects(cfg.kc);

  const stop = new AbortController();
  const abort = () => stop.abort();
  opts.signal.addEventListener('abort', abort, { once: true });
  const durationTimer = opts.durationMs !== undefined ? setTimeout(abort, opts.durationMs) : undefined;
  let fatal: UserError | undefined;

  let targets = new Map<string, TargetPod>();
  const slots = new Map<string, SessionSlot>();
  const started = new Set<string>();
  const restartAt = new Map<string, number>();
  const restarts = new Map<string, number>();
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

  const watch = new ClusterWatch(cfg.kc, {
    context: cfg.context,
    onEvent: (kind) => {
      if (kind === 'pods' || kind === 'nodes') reconcile();
    },
    onFatal: (e) => {
      fatal ??= apiUnreachable(cfg.server, e, 'API server lost');
      abort();
    },
  });
  const enrich = createEnricher(() => watch.snapshot());
  const deduper = new CrossNodeDeduper();
  const merger = new TimeOrderMerger((e: Entry) => {
    enrich(e);
    for (const t of opts.transforms ?? []) e = t(e) ?? e;
    entries++;
    void opts.sink.write(JSON.stringify(e));
  }, opts.mergeWindowMs ?? 500);
  const flushTimer = setInterval(() => void opts.sink.flush(), 200);
  const pcap = opts.packets
    ? new ClusterPcapWriter(opts.packets.out, opts.packets.onClosed, (m) => say(`tap: ${m}`), opts.mergeWindowMs ?? 500)
    : undefined;

  const agentArgs = (node: string, filter: string): string[] => [
    '--node',
    node,
    '-f',
    filter,
    ...(opts.agentInterfaces ?? ['any']).flatMap((i) => ['-i', i]),
    ...(opts.maxBody ? ['--max-body', opts.maxBody] : []),
    ...(opts.noBodies ? ['--no-bodies'] : []),
    ...(opts.redactOnAgent === false ? ['--no-redact'] : []),
    ...(opts.agentStatsIntervalMs !== undefined ? ['--stats-interval', `${opts.agentStatsIntervalMs}ms`] : []),
    ...(pcap ? ['--pcap'] : []),
  ];

  function startSession(pod: Obj): void {
    const name: string = pod.metadata.name;
    const node: string = pod.spec?.nodeName ?? '';
    const filter = nodeFilter(targets, node);
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
          if (!deduper.isDuplicate(entry)) merger.push(entry);
        } catch {
          say(`tap: agent on ${node}: skipped a line that is not JSON`);
        }
      },
      onStderr: (line) => {
        if (process.env.DEBUG) say(line);
      },
      onStats: (s) => board.record(node, s),
      onEnd: (why, asked) => {
        packets?.end();
        board.sessionEnded(node);
        if (asked || stopping) return;
        const n = (restarts.get(name) ?? 0) + 1;
        restarts.set(name, n);
        const delay = Math.min(250 * 2 ** (n - 1), 5000);
        say(`tap: agent on node ${node} ended (${why}); restarting`);
        restartAt.set(name, Date.now() + delay);
        // Timers may fire a millisecond "early" by Date.now(): clear the gate here.
        setTimeout(() => {
          restartAt.delete(name);
          reconcile();
        }, delay).unref();
      },
    });
    slots.set(name, { session, node, filter });
    started.add(name);
    void session.start();
  }

  function reconcile(): void {
    if (stopping) return;
    const next = selectTargets(watch.objects('pods'), { regex, namespaces });
    const { added, removed } = diffTargets(targets, next);
    targets = next;
    for (const t of removed) say(`-${t.namespace}/${t.name}`);
    for (const t of added) say(`+${t.namespace}/${t.name}`);
    const agents = watch
      .objects('pods')
      .filter(
        (p) =>
          p.metadata?.namespace === agentNamespace &&
          Object.entries(agentSelector).every(([k, v]) => p.metadata?.labels?.[k] === v),
      );
    const alive = new Set<string>();
    for (const pod of agents) {
      const name: string = pod.metadata.name;
      if (!isPodReady(pod) || pod.metadata.deletionTimestamp) continue;
      alive.add(name);
      const slot = slots.get(name);
      if (slot && !slot.session.isEnded) continue;
      if ((restartAt.get(name) ?? 0) > Date.now()) continue;
      if (!slot) say(`tap: agent ready on node ${pod.spec?.nodeName ?? '?'}`);
      startSession(pod);
    }
    if (spinner && alive.size > 0 && alive.size >= watch.objects('nodes').length) {
      spinner.stop();
      spinner = undefined;
    }
    for (const [name, slot] of slots) {
      if (!alive.has(name)) {
        slots.delete(name);
        void slot.session.stop(200);
        continue;
      }
      const filter = nodeFilter(targets, slot.node);
      if (filter !== slot.filter) {
        slot.filter = filter;
        slot.session.setFilter(filter);
      }
    }
  }

  const created: Manifest[] = [];
  let result: ClusterTapResult = { entries: 0, agents: 0, removed: 0 };
  try {
    try {
      await watch.start();
    } catch (e) {
      throw apiUnreachable(cfg.server, e, 'cannot list cluster objects');
    }
    reconcile();
    if (targets.size === 0) say(`tap: no pods match yet${regex ? ` /${regex.source}/` : ''}; waiting for some`);
    let createNamespace: boolean;
    try {
      createNamespace = !(await objects.namespaceExists(agentNamespace));
    } catch (e) {
      throw apiUnreachable(cfg.server, e, `cannot read namespace ${agentNamespace}`);
    }
    const manifests = agentManifests({ runId, namespace: agentNamespace, image: opts.image, createNamespace });
    for (const obj of manifests.objects) {
      try {
        await objects.create(obj);
      } catch (e) {
        throw new UserError(`${cfg.server}: cannot create ${obj.kind} ${obj.metadata.name}: ${apiErrorText(e)}`, ExitCode.CAPTURE);
      }
      created.push(obj);
    }
    say(`tap: deployed agents (run ${runId}) in namespace ${agentNamespace}; Ctrl-C to stop`);
    reconcile();
    if (!stop.signal.aborted) await new Promise<void>((r) => stop.signal.addEventListener('abort', () => r(), { once: true }));
  } finally {
    stopping = true;
    spinner?.stop();
    spinner = undefined;
    if (durationTimer) clearTimeout(durationTimer);
    opts.signal.removeEventListener('abort', abort);
    await Promise.all([...slots.values()].map((s) => s.session.stop(fatal ? 200 : 3000)));
    merger.flush();
    await pcap?.finish();
    clearInterval(flushTimer);
    clearInterval(statsTimer);
    await opts.sink.flush();
    const removed = await removeCreated(objects, created, fatal ? 1500 : 15000);
    watch.stop();
    if (removed.failed.length > 0) {
      say(`tap: could not remove ${removed.failed.join(', ')}; run \`shark tap --clean\``);
    }
    if (!fatal && started.size > 0) for (const line of board.summary()) say(line);
    if (!fatal && pcap) say(`tap: ${pcap.packets} packets from ${started.size} agent(s); removed ${removed.done} object(s)`);
    else if (!fatal) say(`tap: ${entries} entries from ${started.size} agent(s); removed ${removed.done} object(s)`);
    result = { entries, agents: started.size, removed: removed.done };
  }
  if (fatal) throw fatal;
  return result;
}

/** Delete in reverse creation order, giving up after `timeoutMs` in total. */
async function removeCreated(objects: ClusterObjects, created: Manifest[], timeoutMs: number): Promise<{ done: number; failed: string[] }> {
  let done = 0;
  const failed: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (const obj of [...created].reverse()) {
    const left = deadline - Date.now();
    const label = `${obj.kind}/${obj.metadata.name}`;
    if (left <= 0) {
      failed.push(label);
      continue;
    }
    try {
      await withTimeout(objects.remove(obj.kind, obj.metadata.name, obj.metadata.namespace), left);
      done++;
    } catch (e) {
      failed.push(`${label} (${apiErrorText(e)})`);
    }
  }
  return { done, failed };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** `shark tap --clean`: delete every object shark created, of any run. */
export async function cleanCluster(flags: KubeConfigFlags, stderr: Writable = process.stderr): Promise<number> {
  const cfg = loadKubeConfig(flags);
  let removed: string[];
  try {
    removed = await new ClusterObjects(cfg.kc).removeAll();
  } catch (e) {
    throw apiUnreachable(cfg.server, e, 'cannot clean up');
  }
  for (const r of removed) stderr.write(`tap: removed ${r}\n`);
  stderr.write(`tap: ${removed.length} leftover object(s) removed\n`);
  return removed.length;
}
