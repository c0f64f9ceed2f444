// The agents' drop/loss counters, as the CLI shows them on stderr: every
// agent reports cumulative counters every few seconds (agent-control.ts). A
// person at a terminal sees one line per node periodically; a log gets a
// node's line only when its losses grew; everyone gets the totals at the end.
// An agent restarted on the same node starts counting from zero again, so
// each session's counters are kept apart and added up.

import { type AgentStats } from './agent-control.js';

interface NodeCounters {
  /** Finished sessions of this node's agents, added up. */
  done: AgentStats;
  /** The running session's latest report. */
  current: AgentStats | undefined;
  /** Losses (kernel + interface + queue) when this node's line was last printed. */
  printedLosses: number;
  /** Sessions that ended without their final report (their last seconds are not counted). */
  unreported: number;
}

const ZERO: AgentStats = { packets: 0, kernelDropped: null, ifDropped: 0, lost: 0, entries: 0, final: false };

function add(a: AgentStats, b: AgentStats): AgentStats {
  const kernel = a.kernelDropped === null && b.kernelDropped === null ? null : (a.kernelDropped ?? 0) + (b.kernelDropped ?? 0);
  return {
    packets: a.packets + b.packets,
    kernelDropped: kernel,
    ifDropped: a.ifDropped + b.ifDropped,
    lost: a.lost + b.lost,
    entries: a.entries + b.entries,
    ...(a.shedFlows !== undefined || b.shedFlows !== undefined ? { shedFlows: (a.shedFlows ?? 0) + (b.shedFlows ?? 0) } : {}),
    ...(a.shedPackets !== undefined || b.shedPackets !== undefined ? { shedPackets: (a.shedPackets ?? 0) + (b.shedPackets ?? 0) } : {}),
    // Lag is a level, not a count: the later report's.
    ...(b.lagMs !== undefined ? { lagMs: b.lagMs } : a.lagMs !== undefined ? { lagMs: a.lagMs } : {}),
    ...(a.duplicates !== undefined || b.duplicates !== undefined ? { duplicates: (a.duplicates ?? 0) + (b.duplicates ?? 0) } : {}),
    ...(a.untapped !== undefined || b.untapped !== undefined ? { untapped: (a.untapped ?? 0) + (b.untapped ?? 0) } : {}),
    final: false,
  };
}

function losses(s: AgentStats): number {
  // Shed packets (whole new flows the capture helper let go while dissection was behind) count as news too.
  return (s.kernelDropped ?? 0) + s.ifDropped + s.lost + (s.shedPackets ?? 0);
}

/** "1200 packets, 0 dropped by kernel, 3 lost in queue, 40 entries" (as tcpdump words them). */
export function describeStats(s: AgentStats): string {
  const parts = [`${s.packets} packets`, `${s.kernelDropped ?? 'unknown'} dropped by kernel`, `${s.lost} lost in queue`];
  if (s.ifDropped > 0) parts.push(`${s.ifDropped} dropped by interface`);
  // Shed whole because dissection fell behind: counted apart from losses inside flows.
  if (s.shedFlows || s.shedPackets) parts.push(`${s.shedFlows ?? 0} new flows shed (${s.shedPackets ?? 0} packets)`);
  if (s.lagMs !== undefined && s.lagMs >= 1000) parts.push(`lag ${(s.lagMs / 1000).toFixed(1)} s`);
  parts.push(`${s.entries} entries`);
  // Not a loss: the other copy of each such packet was kept (per-pod capture).
  if (s.duplicates) parts.push(`${s.duplicates} duplicate packets dropped`);
  // Not a loss either: --tls agents keep only the tapped pods' processes.
  if (s.untapped) parts.push(`${s.untapped} TLS events of untapped processes dropped`);
  return parts.join(', ');
}

export class AgentStatsBoard {
  private readonly nodes = new Map<string, NodeCounters>();

  private slot(node: string): NodeCounters {
    let n = this.nodes.get(node);
    if (!n) this.nodes.set(node, (n = { done: ZERO, current: undefined, printedLosses: 0, unreported: 0 }));
    return n;
  }

  /** A report from the agent session running on `node`. */
  record(node: string, stats: AgentStats): void {
    this.slot(node).current = stats;
  }

  /**
   * The node's session ended: keep its counters; note when its final report never came.
   * A session that never captured (an exec that failed at once, retried) had no seconds to lose.
   */
  sessionEnded(node: string, captured = true): void {
    const n = this.slot(node);
    if (captured && !n.current?.final) n.unreported++;
    if (n.current) n.done = add(n.done, n.current);
    n.current = undefined;
  }

  /** A node's counters over all its sessions so far. */
  node(node: string): AgentStats {
    const n = this.slot(node);
    return n.current ? add(n.done, n.current) : n.done;
  }

  total(): AgentStats {
    let t = ZERO;
    for (const name of this.nodes.keys()) t = add(t, this.node(name));
    return t;
  }

  /** Sessions, across nodes, whose last counters never arrived. */
  get unreported(): number {
    let u = 0;
    for (const n of this.nodes.values()) u += n.unreported;
    return u;
  }

  /**
   * Lines to print now: every node when `all` (a terminal, periodically),
   * else only nodes whose losses grew since they were last printed.
   */
  lines(all: boolean): string[] {
    const out: string[] = [];
    for (const [name, n] of [...this.nodes].sort(([a], [b]) => a.localeCompare(b))) {
      const s = this.node(name);
      const l = losses(s);
      if (!all && l <= n.printedLosses) continue;
      n.printedLosses = l;
      out.push(`tap: agent ${name}: ${describeStats(s)}`);
    }
    return out;
  }

  /** The closing lines: each node, then the totals, and what could not be counted. */
  summary(): string[] {
    const out = [...this.nodes.keys()].sort().map((name) => `tap: agent ${name}: ${describeStats(this.node(name))}`);
    out.push(`tap: agents total: ${describeStats(this.total())}`);
    const u = this.unreported;
    if (u > 0) out.push(`tap: ${u} agent session(s) ended without their last counters; their final seconds are not counted`);
    return out;
  }
}
