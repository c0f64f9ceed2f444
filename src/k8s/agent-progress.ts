// Tells the user, per node, what the agents are doing while they start
// (one line each time a node's state changes; past PER_NODE_LINES nodes only
// failures get their own line, the rest a count at most every 2 s), decides
// when every expected agent runs, and at the deadline gives the verdict: one
// line per node that has no running agent, with the reason and what to do.
// Nodes that can never run the agent (OS, architecture, an untolerated taint)
// and nodes that are not Ready now (NotReady, unreachable) are told once and
// not waited on; the run's summary names them.

import { agentStates, describeState, failureKind, notReadyReason, unsupportedReason, untoleratedTaints, type AgentStatusInput, type NodeAgentState } from './agent-status.js';

type Obj = Record<string, any>;

/** Architectures the agent image is built for (Dockerfile: linux/amd64, linux/arm64). */
export const AGENT_ARCHS = ['amd64', 'arm64'];
/** Above this many nodes, states other than "failed" are summed up instead of told per node. */
export const PER_NODE_LINES = 10;

export interface AgentProgressOptions {
  say(line: string): void;
  /** The current view: DaemonSet, agent pods, events, nodes (undefined without -A). */
  view(): Omit<AgentStatusInput, 'nodes'> & { nodes?: Obj[] };
  /** The DaemonSet's tolerations, to tell nodes it will never run on. */
  tolerations: Obj[];
  /** The tapped pods on `node` ("ns/name"), named when its agent fails while the run taps. */
  tappedOn?(node: string): string[];
}

export class AgentProgress {
  private readonly last = new Map<string, string>();
  /** Nodes not waited on, with a short reason for the summary ("NotReady", "windows node …"). */
  private readonly skipped = new Map<string, string>();
  /** Nodes read one by one (without -A, at the deadline: `lookUpNodes`), for their Ready condition. */
  private readonly looked = new Map<string, Obj>();
  private states: NodeAgentState[] = [];
  private lastCount = '';
  private lastCountAt = 0;
  /** Nodes are watched (-A): a node not Ready is skipped, so a slow agent is not a node that is down. */
  private nodesKnown = false;
  /**
   * The run taps (its start-up verdict is past): an agent failing now (a
   * node that joined and cannot pull the image, an agent in a crash loop)
   * ends nothing, so its line says what it costs — the tapped pods there go
   * uncaptured — and the node is kept for the run's last line.
   */
  private tapping = false;
  /** Nodes whose agent failed while the run tapped, with the reason (for the last line). */
  private readonly failedWhileTapping = new Map<string, string>();

  constructor(private readonly opts: AgentProgressOptions) {}

  /** Recompute; print what changed. */
  update(): void {
    const view = this.opts.view();
    this.nodesKnown = view.nodes !== undefined;
    let nodes: Obj[] | undefined;
    if (view.nodes) {
      nodes = [];
      for (const n of view.nodes) if (!this.skip(n)) nodes.push(n);
    }
    // Without -A the states are per agent pod; a pod on a node read as NotReady is not waited on either.
    this.states = agentStates({ ...view, nodes, tapping: this.tapping }).filter((s) => nodes || !s.node || !this.looked.has(s.node) || !this.skip(this.looked.get(s.node)!));
    const seen = new Set<string>();
    this.states.forEach((s, i) => {
      const id = s.node || s.pod || `#${i}`;
      seen.add(id);
      const line = describeState(s);
      // While tapping, a failing agent is news once: a kubelet flips ErrImagePull and ImagePullBackOff, and a
      // crash loop's back-off message, at every retry (for as long as the run lasts, not till --agent-timeout).
      const news = this.tapping && s.phase === 'failed' ? `failed: ${failureKind(s.reason)}` : line;
      // A pod not created yet, on a node we cannot name (-n): news only when it fails.
      // In a big cluster only failures are worth a line each.
      const quiet = (!s.node && s.phase === 'pending') || (this.states.length > PER_NODE_LINES && s.phase !== 'failed');
      if (this.last.get(id) !== news && !quiet) this.opts.say(`tap: ${this.tapping && s.phase === 'failed' ? this.failedLine(s, line) : line}`);
      this.last.set(id, news);
      if (this.tapping && s.phase === 'failed') this.failedWhileTapping.set(id, s.reason ?? 'failed');
      else this.failedWhileTapping.delete(id);
    });
    for (const id of this.failedWhileTapping.keys()) if (!seen.has(id)) this.failedWhileTapping.delete(id);
    const present = new Set((view.nodes ?? []).map((n) => n.metadata?.name));
    for (const id of this.last.keys()) {
      if (seen.has(id)) continue;
      // A node removed (scale-down, a replaced VM): its agent went with it. Said in a small cluster; a big one's counts say it.
      if (view.nodes && !present.has(id) && this.states.length <= PER_NODE_LINES) this.opts.say(`tap: ${id}: node left the cluster; its agent went with it`);
      this.last.delete(id);
    }
    if (this.states.length > PER_NODE_LINES) this.sayCounts();
  }

  /** "agents: 480 running, 15 pulling the agent image, 5 failed of 500 node(s)", when it changed, at most every 2 s. */
  private sayCounts(): void {
    const by = new Map<string, number>();
    for (const s of this.states) by.set(s.phase, (by.get(s.phase) ?? 0) + 1);
    const line = `agents: ${[...by].map(([phase, n]) => `${n} ${phase === 'ready' ? 'running' : phase}`).join(', ')} of ${this.states.length} node(s)`;
    const all = by.get('ready') === this.states.length;
    if (line === this.lastCount || (!all && Date.now() - this.lastCountAt < 2000)) return;
    this.lastCount = line;
    this.lastCountAt = Date.now();
    this.opts.say(`tap: ${line}`);
  }

  /** The run taps from now on: agents that fail are said with the pods they leave uncaptured. */
  startTapping(): void {
    this.tapping = true;
  }

  /** "node1: failed: ImagePullBackOff: …; not captured: data/redis-1; the other nodes are tapped → hint". */
  private failedLine(s: NodeAgentState, line: string): string {
    const pods = s.node ? (this.opts.tappedOn?.(s.node) ?? []) : [];
    const shown = pods.slice(0, 3).join(', ') + (pods.length > 3 ? `, … (${pods.length} in all)` : '');
    const cost = pods.length ? `not captured: ${shown}` : s.node ? 'no tapped pod there yet' : 'the tapped pods on its node are not captured';
    return `${line}; ${cost}; the other nodes are tapped${s.hint ? ` → ${s.hint}` : ''}`;
  }

  /** "no agent running on 1 node(s): node1 (ImagePullBackOff)": agents that failed while the run tapped, for its last line. */
  failedSummary(): string | undefined {
    if (this.failedWhileTapping.size === 0) return undefined;
    const shown = [...this.failedWhileTapping].slice(0, 5).map(([n, why]) => `${n.startsWith('#') ? 'a node' : n} (${why})`);
    return `no agent running on ${this.failedWhileTapping.size} node(s): ${shown.join(', ')}${this.failedWhileTapping.size > shown.length ? ', …' : ''}`;
  }

  /** Whether the node is not waited on (said once); a NotReady node that is Ready again is waited on again (said). */
  private skip(n: Obj): boolean {
    const name: string = n.metadata?.name ?? '';
    const unsupported = unsupportedReason(n, AGENT_ARCHS);
    const taint = unsupported ? undefined : this.taintReason(n);
    const notReady = unsupported || taint ? undefined : notReadyReason(n);
    const why = unsupported ?? taint ?? (notReady ? `${notReady.text}: its agent cannot start there; the other nodes are tapped` : undefined);
    if (!why) {
      if (this.skipped.get(name) === 'NotReady' || this.skipped.get(name) === 'unreachable') {
        this.opts.say(`tap: ${name}: node Ready again; its agent is tapped once it runs`);
        this.skipped.delete(name);
      }
      return false;
    }
    // Listed once, never waited on.
    if (!this.skipped.has(name)) this.opts.say(`tap: ${name}: no agent: ${why}`);
    this.skipped.set(name, notReady?.short ?? (taint ? 'taint not tolerated' : unsupported!));
    return true;
  }

  /** Nodes whose agent is not running (by name): the ones to read when nodes are not watched (-n). */
  waitingNodes(): string[] {
    return this.states.filter((s) => s.phase !== 'ready' && s.node).map((s) => s.node);
  }

  /** Read nodes (without -A, those of agents not running by the deadline): a NotReady one is then not waited on. */
  async lookUpNodes(read: (name: string) => Promise<Obj | undefined>): Promise<void> {
    await Promise.all(
      this.waitingNodes().map(async (name) => {
        const node = await read(name).catch(() => undefined); // 403 (no node access) and the like: not known
        if (node) this.looked.set(name, node);
      }),
    );
  }

  /** "node1 (NotReady), win0 (windows node …)": the nodes without an agent now, for the run's summary. */
  skippedSummary(): string | undefined {
    if (this.skipped.size === 0) return undefined;
    const shown = [...this.skipped].slice(0, 5).map(([n, why]) => `${n} (${why})`);
    return `no agent on ${this.skipped.size} node(s): ${shown.join(', ')}${this.skipped.size > shown.length ? ', …' : ''}`;
  }

  /** Every node that should run an agent runs one (and the DaemonSet has counted them). */
  allReady(): boolean {
    const ds = this.opts.view().daemonSet;
    // The controller has not looked at this generation yet: its counts say nothing.
    if ((ds?.status?.observedGeneration ?? 0) < (ds?.metadata?.generation ?? 1)) return false;
    if (this.states.length === 0) return false;
    return this.states.every((s) => s.phase === 'ready');
  }

  /** Nodes without a running agent, as "node: reason: message → what to do" lines. */
  failures(): string[] {
    if (this.states.length === 0) return ['no node can run the agent (see the lines above)'];
    return this.states
      .filter((s) => s.phase !== 'ready')
      .map(
        (s) =>
          `${describeState(s)}${s.hint ? ` → ${s.hint}` : s.phase !== 'failed' ? this.nodesKnown ? ' → still starting: a slow image pull or node? raise --agent-timeout' : ` → still starting: a slow image pull (raise --agent-timeout), or a node that is down${s.node ? ` (kubectl get node ${s.node})` : ''}?` : ''}`,
      );
  }

  get expected(): number {
    return this.states.length;
  }

  private taintReason(node: Obj): string | undefined {
    const taints = untoleratedTaints(node, this.opts.tolerations);
    return taints.length ? `taint ${taints.join(', ')} is not tolerated (--agent-tolerate all tolerates every taint)` : undefined;
  }
}
