// Aggregates entries into a service graph: nodes at the chosen level, one edge
// per (source, destination, protocol). Endpoints without Kubernetes metadata
// are held by IP and named only when the graph is built (DNS answers may come
// after the first calls), and nodes that end up with the same name merge.
// Memory grows with the number of distinct nodes and edges, not with entries,
// and both are bounded: at most MAX_EDGES edges (so at most twice as many
// nodes); the calls of later edges are counted (droppedCalls), not drawn.

import { callLatency, type Endpoint, type Entry } from '../model/entry.js';
import { LatencySketch } from '../stats/latency-sketch.js';
import { K8S_NAME_FIELDS, NAME_FIELDS, NameBook, k8sName } from '../stats/names.js';
import { OPERATION_FIELDS, operationShape, protocolOf } from '../stats/group-by.js';
import { mergeSpecs, type FieldSpec } from '../ndjson/project.js';
import { TopK } from './top-k.js';
import { boundedName } from '../model/bounded-name.js';

export type MapLevel = 'pod' | 'workload' | 'service' | 'namespace';
export const MAP_LEVELS: MapLevel[] = ['pod', 'workload', 'service', 'namespace'];

/** How a node got its name (the precedence order). */
export type NameSource = 'kubernetes' | 'dns' | 'host' | 'ip';

export interface MapNode {
  /** Stable id in the output: n0, n1 … in sorted order. */
  id: string;
  name: string;
  /** Kubernetes namespace, "" when the endpoint has no metadata. */
  namespace: string;
  /** Public address without Kubernetes metadata: drawn in the "external" group. */
  external: boolean;
  nameSource: NameSource;
  /** IPs behind the node (at most 8 listed). */
  ips: string[];
}

export interface MapEdge {
  source: string;
  target: string;
  protocol: string;
  requests: number;
  errors: number;
  errorRate: number;
  bytesIn: number;
  bytesOut: number;
  latency: { p50: number | null; p95: number | null; p99: number | null; max: number | null };
  /** count may overestimate once an edge had more than 20 distinct paths; atLeast is certain. */
  paths: { path: string; count: number; atLeast: number }[];
}

export interface MapGraph {
  level: MapLevel;
  nodes: MapNode[];
  edges: MapEdge[];
}

interface RawNode {
  namespace: string;
  /** Kubernetes name at the level, or "" for an IP-only endpoint. */
  k8s: string;
  ip: string;
  /** Ports this IP served on (bounded), to name an unnamed server IP:port. */
  ports: Set<number>;
}

const ENDPOINT_FIELDS = mergeSpecs(K8S_NAME_FIELDS, { ip: true, port: true });

/** Every entry field MapAggregator.add reads without a filter (keep in step with add, nodeKey and EdgeAcc.add). */
export const MAP_FIELDS: FieldSpec = mergeSpecs(NAME_FIELDS, OPERATION_FIELDS, {
  protocol: true,
  src: ENDPOINT_FIELDS,
  dst: ENDPOINT_FIELDS,
  error: true,
  requestSize: true,
  responseSize: true,
  request: {},
  response: {},
  elapsedTime: true,
});

class EdgeAcc {
  requests = 0;
  errors = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly latency = new LatencySketch();
  readonly paths = new TopK(20);

  /** `path`: the call's operation shape (operationShape), already bounded. */
  add(e: Entry, path: string): void {
    this.requests++;
    if (e.error) this.errors++;
    this.bytesIn += typeof e.requestSize === 'number' ? e.requestSize : 0;
    this.bytesOut += typeof e.responseSize === 'number' ? e.responseSize : 0;
    const ms = callLatency(e);
    if (ms !== undefined) this.latency.add(ms);
    this.paths.add(path);
  }

  merge(o: EdgeAcc): void {
    this.requests += o.requests;
    this.errors += o.errors;
    this.bytesIn += o.bytesIn;
    this.bytesOut += o.bytesOut;
    this.latency.merge(o.latency);
    this.paths.merge(o.paths);
  }
}

const SEP = '\u0000';

/**
 * Raw edges kept. A scan (or a crafted capture) can make an edge per
 * address; a map is drawn, and 10,000 edges is already more than Graphviz
 * lays out readably. The first edges seen are kept (as the first paths of an
 * edge are, TopK): past the bound, calls of new edges are counted only.
 */
export const MAX_EDGES = 10_000;

/** An edge between two raw nodes (their keys) for one protocol. */
interface RawEdge {
  s: string;
  d: string;
  protocol: string;
  acc: EdgeAcc;
}

/**
 * One map key for several strings, whatever they hold: names, namespaces and
 * protocols come from entries (attacker input) and may contain any separator.
 */
const keyOf = (...parts: string[]): string => JSON.stringify(parts);

const NO_ENDPOINT: Endpoint = { ip: '', port: 0, name: '', namespace: '', pod: '', service: '', node: '' };

export class MapAggregator {
  readonly names = new NameBook();
  private readonly nodes = new Map<string, RawNode>();
  private readonly edges = new Map<string, RawEdge>();
  entries = 0;
  /** Calls of edges not kept (MAX_EDGES was reached): counted, not drawn. */
  droppedCalls = 0;
  /** Names, addresses, protocols and paths cut at MAX_NAME_CHARS (model/bounded-name.ts). */
  cutNames = 0;

  constructor(
    readonly level: MapLevel = 'workload',
    private readonly filter?: (e: Entry) => boolean,
    /** Applied after the filter, before an entry is counted: `--paths` labels are made from entries. */
    private readonly redact: (e: Entry) => Entry = (e) => e,
  ) {}

  add(batch: Entry[]): void {
    for (const e of batch) {
      // Names are learned from all traffic, even what the filter hides, and redacted (a Host header is attacker input).
      const shown = this.redact(e);
      this.names.learn(shown);
      if (this.filter && !this.filter(e)) continue;
      // An entry from elsewhere that names no source or destination: its calls go to the "?" node (as an
      // endpoint without an address does) rather than vanish, so the map counts what stats counts.
      const from = e.src ?? NO_ENDPOINT;
      const to = e.dst ?? NO_ENDPOINT;
      this.entries++;
      const src = this.nodeOf(from);
      const dst = this.nodeOf(to);
      const protocol = this.bounded(protocolOf(e));
      const key = keyOf(src.key, dst.key, protocol);
      let edge = this.edges.get(key);
      if (!edge) {
        if (this.edges.size >= MAX_EDGES) {
          this.droppedCalls++;
          continue;
        }
        this.edges.set(key, (edge = { s: src.key, d: dst.key, protocol, acc: new EdgeAcc() }));
      }
      // Nodes are made only for kept edges: at most two per edge.
      this.keepNode(src, from, false);
      this.keepNode(dst, to, true);
      edge.acc.add(shown, this.bounded(operationShape(shown)));
    }
  }

  /** `s` cut at MAX_NAME_CHARS, counted when it was. */
  private bounded(s: string): string {
    const b = boundedName(s);
    if (b !== s) this.cutNames++;
    return b;
  }

  /** An endpoint's node at the map's level: its key, and what a new node is made of. */
  private nodeOf(ep: Endpoint): { key: string; namespace: string; k8s: string; ip: string } {
    const rawNs = ep.namespace ?? '';
    const ns = typeof rawNs === 'string' ? this.bounded(rawNs) : rawNs;
    const k8s = this.bounded(this.level === 'namespace' ? ns : k8sName(ep, this.level === 'service' ? 'service' : this.level));
    // An endpoint without an address (an entry from elsewhere) is one node, "?".
    const ip = typeof ep.ip === 'string' ? this.bounded(ep.ip) : '';
    return { key: k8s ? keyOf('k8s', k8s) : keyOf('ip', ip), namespace: k8s ? ns : '', k8s, ip };
  }

  /** Make the node if it is new; a server's port is noted (a few per IP) to name an unnamed IP:port. */
  private keepNode(node: { key: string; namespace: string; k8s: string; ip: string }, ep: Endpoint, server: boolean): void {
    let n = this.nodes.get(node.key);
    if (!n) this.nodes.set(node.key, (n = { namespace: node.namespace, k8s: node.k8s, ip: node.ip, ports: new Set() }));
    // Port 0 is no port (ICMP): a ping to a web server leaves it 198.18.0.5:80, and a pinged address is its IP, not IP:0.
    if (server && !node.k8s && n.ports.size < 4 && typeof ep.port === 'number' && ep.port > 0) n.ports.add(ep.port);
  }

  /** Build the named, merged, sorted graph. */
  graph(opts: { minRequests?: number; topPaths?: number } = {}): MapGraph {
    // 1. Name every raw node; raw nodes with the same final name merge.
    const finalOf = new Map<string, string>();
    const finals = new Map<string, Omit<MapNode, 'id'> & { ipSet: Set<string> }>();
    for (const [key, raw] of this.nodes) {
      const { name, source } = this.nameOf(raw);
      const external = !raw.k8s && isPublicIp(raw.ip);
      const fkey = keyOf(raw.namespace, external ? 'x' : '', name);
      finalOf.set(key, fkey);
      let f = finals.get(fkey);
      if (!f) finals.set(fkey, (f = { name, namespace: raw.namespace, external, nameSource: source, ips: [], ipSet: new Set() }));
      if ((!raw.k8s || this.level === 'pod') && raw.ip) f.ipSet.add(raw.ip);
    }
    // 2. Merge edges onto final nodes. Most final edges are one raw edge: its accumulator is read as it is
    // (copied only when a second edge merges into it, so the raw edges stay as they were).
    const merged = new Map<string, { s: string; d: string; protocol: string; acc: EdgeAcc; own: boolean }>();
    for (const { s, d, protocol, acc } of this.edges.values()) {
      const fs = finalOf.get(s)!;
      const fd = finalOf.get(d)!;
      const mkey = keyOf(fs, fd, protocol);
      const m = merged.get(mkey);
      if (!m) merged.set(mkey, { s: fs, d: fd, protocol, acc, own: false });
      else {
        if (!m.own) {
          const copy = new EdgeAcc();
          copy.merge(m.acc);
          m.acc = copy;
          m.own = true;
        }
        m.acc.merge(acc);
      }
    }
    // 3. Drop noise, then the nodes nothing connects to any more.
    const min = opts.minRequests ?? 0;
    const kept = [...merged.values()].filter((m) => m.acc.requests >= min);
    const used = new Set<string>();
    for (const m of kept) used.add(m.s).add(m.d);
    // 4. Sort and number: same input, same bytes.
    // Sort keys made once, not at each of a sort's n·log n comparisons: 10,000 edges take a SIGTERM's wait to draw.
    const order = [...used]
      .map((k) => ({ k, sk: groupSortKey(finals.get(k)!) }))
      .sort((a, b) => cmp(a.sk, b.sk) || cmp(a.k, b.k))
      .map((n) => n.k);
    const idOf = new Map(order.map((k, i) => [k, `n${i}`]));
    const indexOf = new Map(order.map((k, i) => [k, i]));
    const nodes: MapNode[] = order.map((k) => {
      const { ipSet, ...f } = finals.get(k)!;
      return { id: idOf.get(k)!, ...f, ips: [...ipSet].sort().slice(0, 8) };
    });
    const topPaths = opts.topPaths ?? 5;
    const edges: MapEdge[] = kept
      .map((m) => ({ m, si: indexOf.get(m.s)!, di: indexOf.get(m.d)! }))
      .sort((a, b) => a.si - b.si || a.di - b.di || cmp(a.m.protocol, b.m.protocol))
      .map(({ m }) => ({
        source: idOf.get(m.s)!,
        target: idOf.get(m.d)!,
        protocol: m.protocol,
        requests: m.acc.requests,
        errors: m.acc.errors,
        errorRate: m.acc.requests ? (100 * m.acc.errors) / m.acc.requests : 0,
        bytesIn: m.acc.bytesIn,
        bytesOut: m.acc.bytesOut,
        latency: {
          p50: m.acc.latency.quantile(0.5),
          p95: m.acc.latency.quantile(0.95),
          p99: m.acc.latency.quantile(0.99),
          max: m.acc.latency.count ? m.acc.latency.max : null,
        },
        paths: m.acc.paths.top(topPaths).map(({ key, count, atLeast }) => ({ path: key, count, atLeast })),
      }));
    return { level: this.level, nodes, edges };
  }

  private nameOf(raw: RawNode): { name: string; source: NameSource } {
    if (raw.k8s) {
      // Inside its namespace cluster the node needs no "namespace/" prefix.
      const short = raw.namespace && raw.k8s.startsWith(`${raw.namespace}/`) ? raw.k8s.slice(raw.namespace.length + 1) : raw.k8s;
      return { name: short, source: 'kubernetes' };
    }
    const dnsName = this.names.dnsName(raw.ip);
    if (dnsName) return { name: dnsName, source: 'dns' };
    const host = this.names.hostName(raw.ip);
    if (host) return { name: host, source: 'host' };
    if (!raw.ip) return { name: '?', source: 'ip' };
    const ip = raw.ip.includes(':') ? `[${raw.ip}]` : raw.ip;
    return { name: raw.ports.size === 1 ? `${ip}:${[...raw.ports][0]}` : ip, source: 'ip' };
  }
}

/** Namespaced nodes first (by namespace), then unnamespaced, then external. */
function groupSortKey(n: { namespace: string; external: boolean; name: string }): string {
  return `${n.external ? '2' : n.namespace ? '0' : '1'}${n.namespace}${SEP}${n.name}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Not private, loopback, link-local, CGNAT, benchmark (198.18/15, the lab range) or ULA. */
export function isPublicIp(ip: string): boolean {
  if (!ip) return false;
  if (ip.includes(':')) {
    const l = ip.toLowerCase();
    if (l === '::1' || l === '::' || l.startsWith('fe8') || l.startsWith('fe9') || l.startsWith('fea') || l.startsWith('feb')) return false;
    if (l.startsWith('fc') || l.startsWith('fd')) return false;
    // Multicast (ff00::/8: ff02::2 all-routers, ff02::1:ff… solicited-node) is no outside host, as IPv4's 224/4 is not.
    if (l.startsWith('ff')) return false;
    if (l.startsWith('::ffff:')) return isPublicIp(l.slice(7));
    return true;
  }
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x))) return false;
  const [a, b] = p;
  if (a === 10 || a === 127 || a === 0 || a >= 224) return false;
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  if (a === 169 && b === 254) return false;
  if (a === 100 && b >= 64 && b <= 127) return false;
  if (a === 198 && (b === 18 || b === 19)) return false;
  return true;
}
