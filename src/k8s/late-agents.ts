// Agents that come after the run is tapping: a node that joined, an agent pod
// that was not ready at the start. The start-up verdict (--agent-timeout,
// exit 4) is past, so without this an exec that never captures there (an
// image without shark for that node, a capture the node refuses) was said
// once as "retrying" and then nothing: its node's tapped pods went
// uncaptured for the rest of the run. Each such agent gets --agent-timeout
// from its first exec; one still not capturing then is overdue: the caller
// says so with the pods it leaves out, keeps retrying, and names its node in
// the run's last line. It does not end the run: the other nodes are tapping,
// as a late node whose agent pod fails does not end it either.

export interface LateAgentsOptions {
  timeoutMs: number;
  /** The agent pod `pod` on `node` has not captured by the deadline. */
  overdue(pod: string, node: string): void;
}

export class LateAgents {
  /** Deadlines of late agent pods not capturing yet. */
  private readonly deadlines = new Map<string, NodeJS.Timeout>();
  /** Agent pods said to be overdue, with their node. */
  private readonly overdueNodes = new Map<string, string>();
  /** Agent pods seen capturing: a restart of theirs is a reconnect, not a late start. */
  private readonly captured = new Set<string>();

  constructor(private readonly opts: LateAgentsOptions) {}

  /** An exec into `pod` starts while the run taps: its deadline runs from the first one. */
  started(pod: string, node: string): void {
    if (this.captured.has(pod) || this.deadlines.has(pod) || this.overdueNodes.has(pod)) return;
    const t = setTimeout(() => {
      this.deadlines.delete(pod);
      this.opts.overdue(pod, node);
    }, this.opts.timeoutMs);
    t.unref();
    this.deadlines.set(pod, t);
  }

  /** The caller said `pod` is overdue. */
  markOverdue(pod: string, node: string): void {
    this.overdueNodes.set(pod, node);
  }

  /** `pod`'s agent captures; returns its node when it had been said overdue (to say it captures now). */
  capturing(pod: string): string | undefined {
    this.captured.add(pod);
    this.clear(pod);
    const node = this.overdueNodes.get(pod);
    this.overdueNodes.delete(pod);
    return node;
  }

  /** The agent pod is gone (its node left, it was replaced). */
  gone(pod: string): void {
    this.clear(pod);
    this.captured.delete(pod);
    this.overdueNodes.delete(pod);
  }

  /** Nodes whose late agent is overdue now, for the run's last line. */
  nodes(): string[] {
    return [...new Set(this.overdueNodes.values())].sort();
  }

  stop(): void {
    for (const t of this.deadlines.values()) clearTimeout(t);
    this.deadlines.clear();
  }

  private clear(pod: string): void {
    const t = this.deadlines.get(pod);
    if (t) clearTimeout(t);
    this.deadlines.delete(pod);
  }
}
