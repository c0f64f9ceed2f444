// The node agent's protocol with the CLI, over the exec websocket.
// CLI → agent, on the agent's stdin: one JSON object per line,
//   {"filter": "BPF"}  replace the capture filter as tapped pods come and go;
//   {"pods": [{"name","namespace","ips","uid","containers"}]}  the node's
//                      tapped pods: per-pod capture (their host-side
//                      interfaces, each connection once); an agent given pods
//                      ignores "filter"; a --tls agent keeps the TLS calls of
//                      processes whose cgroup names one of the pods' uid or
//                      container ids (uid and containers are optional);
//   {"stop": true}     flush what is pending, send the last counters, exit 0.
// The CLI ends an agent with "stop", never by closing stdin: on API servers
// before 1.30 (exec subprotocol v4.channel.k8s.io) a client cannot half-close
// stdin, so closing it closes the whole stream and the agent's last entries
// would be lost. EOF still stops the agent (the CLI went away; a kubelet does
// not always kill an exec'd process when its stream closes).
// Agent → CLI, on the agent's stderr (stdout carries only entries or packets):
//   shark-agent-stats {"packets":…,"kernelDropped":…,"ifDropped":…,"lost":…,"entries":…,"final":…}
// every few seconds and once more, with "final": true, as the agent ends;
//   agent NODE: capturing on any   (or `agent NODE: --tls: hooked …`) once its
// capture is open: only then does the CLI count that node as tapped (an exec
// that opens and dies, say in an image without shark, is not an agent running).

import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import type { PodTarget } from '../capture/per-pod/capture.js';

/** The agent's line saying its capture is open (agent-capture-run.ts, agent-tls-run.ts). Anchored, no nested quantifier: linear. */
export const AGENT_CAPTURING = /^agent\b[^:]*: (?:capturing on |--tls: hooked )/;

/** BPF that matches nothing: the agent's filter while its node has no tapped pod. */
export const MATCH_NOTHING = 'less 1';

/** Longest control line the agent accepts (a filter for thousands of pods fits). */
export const MAX_CONTROL_LINE = 1 << 20;

export interface AgentControlHandlers {
  setFilter(bpf: string): void;
  /** The node's tapped pods (per-pod capture); agents without it ignore the message. */
  setPods?(pods: PodTarget[]): void;
  /** The CLI asked the agent to finish ({"stop": true}). */
  onStop(): void;
  /** stdin ended: the CLI is gone. */
  onEnd(): void;
  warn(message: string): void;
}

export function readAgentControl(input: Readable, h: AgentControlHandlers): void {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  lines.on('line', (line) => {
    n++;
    if (!line.trim()) return;
    if (line.length > MAX_CONTROL_LINE) {
      h.warn(`control line ${n}: longer than ${MAX_CONTROL_LINE} characters, ignored`);
      return;
    }
    let msg: { filter?: unknown; pods?: unknown; stop?: unknown };
    try {
      msg = JSON.parse(line);
    } catch {
      h.warn(`control line ${n}: not JSON`);
      return;
    }
    if (msg === null || typeof msg !== 'object') {
      h.warn(`control line ${n}: not a JSON object`);
      return;
    }
    if (Array.isArray(msg.pods) && h.setPods) {
      const pods = podTargets(msg.pods);
      if (pods.length < msg.pods.length) h.warn(`control line ${n}: ${msg.pods.length - pods.length} pod(s) without name, namespace or ips ignored`);
      h.setPods(pods);
    } else if (typeof msg.filter === 'string') {
      try {
        h.setFilter(msg.filter || MATCH_NOTHING);
      } catch (err) {
        h.warn(`control line ${n}: filter not applied: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    if (msg.stop === true) h.onStop();
  });
  lines.on('close', () => h.onEnd());
}

/** The well-formed pods of a control message. */
function podTargets(list: unknown[]): PodTarget[] {
  const out: PodTarget[] = [];
  for (const p of list) {
    if (!p || typeof p !== 'object') continue;
    const { name, namespace, ips, uid, containers } = p as Record<string, unknown>;
    if (typeof name !== 'string' || typeof namespace !== 'string' || !Array.isArray(ips)) continue;
    const good = ips.filter((ip): ip is string => typeof ip === 'string' && ip.length > 0);
    if (good.length === 0) continue;
    const target: PodTarget = { name, namespace, ips: good };
    if (typeof uid === 'string' && uid) target.uid = uid;
    if (Array.isArray(containers)) target.containers = containers.filter((c): c is string => typeof c === 'string' && c.length > 0);
    out.push(target);
  }
  return out;
}

/** The node's tapped pods, for an agent doing per-pod capture. */
export function podsMessage(pods: PodTarget[]): string {
  return (
    JSON.stringify({
      pods: pods.map((p) => ({
        name: p.name,
        namespace: p.namespace,
        ips: p.ips,
        ...(p.uid ? { uid: p.uid } : {}),
        ...(p.containers?.length ? { containers: p.containers } : {}),
      })),
    }) + '\n'
  );
}

export const STOP_MESSAGE = JSON.stringify({ stop: true }) + '\n';

export function filterMessage(bpf: string): string {
  return JSON.stringify({ filter: bpf }) + '\n';
}

/** "host a or host b" for the tapped pods' IPs; MATCH_NOTHING when there are none. */
export function filterForIps(ips: string[]): string {
  const unique = [...new Set(ips.filter(Boolean))].sort();
  if (unique.length === 0) return MATCH_NOTHING;
  return unique.map((ip) => `host ${ip}`).join(' or ');
}

/** One agent's loss and volume counters since it started (cumulative). */
export interface AgentStats {
  /** Packets libpcap handed to the agent. */
  packets: number;
  /** Dropped by the kernel before libpcap saw them; null when libpcap cannot tell (`any`, a filter set). */
  kernelDropped: number | null;
  /** Interface receive drops during the capture. */
  ifDropped: number;
  /** Packets the agent's queue had no room for (the agent was too slow). */
  lost: number;
  /** Entries written (0 in packets mode). */
  entries: number;
  /** Capture helper: new flows shed whole (dissection too far behind), and their packets. */
  shedFlows?: number;
  shedPackets?: number;
  /** Capture helper: age of the oldest packet waiting for dissection, ms (not cumulative). */
  lagMs?: number;
  /** Per-pod capture: second copies of packets already kept at another pod's interface. */
  duplicates?: number;
  /** --tls agents (whose `packets` are TLS events): events of processes outside the tapped pods, dropped on the node. */
  untapped?: number;
  /** The agent's last report, sent as it ends. */
  final: boolean;
}

export const STATS_PREFIX = 'shark-agent-stats ';

export function formatAgentStats(s: AgentStats): string {
  return `${STATS_PREFIX}${JSON.stringify(s)}\n`;
}

/** The counters from an agent's stderr line, or undefined when the line is something else. */
export function parseAgentStats(line: string): AgentStats | undefined {
  if (!line.startsWith(STATS_PREFIX)) return undefined;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(line.slice(STATS_PREFIX.length));
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const count = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : 0);
  return {
    packets: count(v.packets),
    kernelDropped: typeof v.kernelDropped === 'number' && v.kernelDropped >= 0 ? v.kernelDropped : null,
    ifDropped: count(v.ifDropped),
    lost: count(v.lost),
    entries: count(v.entries),
    ...(v.shedFlows !== undefined ? { shedFlows: count(v.shedFlows) } : {}),
    ...(v.shedPackets !== undefined ? { shedPackets: count(v.shedPackets) } : {}),
    ...(v.lagMs !== undefined ? { lagMs: count(v.lagMs) } : {}),
    ...(v.duplicates !== undefined ? { duplicates: count(v.duplicates) } : {}),
    ...(v.untapped !== undefined ? { untapped: count(v.untapped) } : {}),
    final: v.final === true,
  };
}
