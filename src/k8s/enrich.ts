// Kubernetes enrichment of entries by address, as Hubble does it: narrow
// getters over an index of a ClusterSnapshot (pod IP, service ClusterIP+port,
// node IP); dissectors never talk to the API server. The snapshot comes from
// a file (`dissect --meta`), or from a live list+watch (`--kube`, `tap`).

import { snapshotProblem } from './snapshot-shape.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ClusterSnapshot, NodeInfo, PodInfo, ServiceInfo } from '../model/cluster.js';
import type { Endpoint, Entry } from '../model/entry.js';
import { ExitCode, UserError, errnoText } from '../cli/errors.js';
import { parseProblem } from '../ndjson/read.js';
import { readFileBounded } from '../input/bounded-file.js';

export type SnapshotProvider = () => ClusterSnapshot;

/** The narrow getters enrichment needs. */
export interface K8sGetters {
  podByIp(ip: string): PodInfo | undefined;
  /** By namespace and name (per-pod capture names the pod at the source). */
  podByName?(namespace: string, name: string): PodInfo | undefined;
  /** A hostNetwork pod by the node address and one of its container ports (only when one pod claims it). */
  podByAddr?(ip: string, port: number): PodInfo | undefined;
  serviceByAddr(ip: string, port: number): ServiceInfo | undefined;
  nodeByIp(ip: string): NodeInfo | undefined;
  /** The service whose endpoints (or selector) include this pod. */
  serviceOfPod(pod: PodInfo): string;
  /** The pod of a process's cgroup: its pod uid, else one of its container ids (`tap --tls`). */
  podByProcess?(p: { podUid?: string; container?: string }): PodInfo | undefined;
}

export function indexSnapshot(snap: ClusterSnapshot): K8sGetters {
  const pods = new Map<string, PodInfo>();
  const byName = new Map<string, PodInfo>();
  const byUid = new Map<string, PodInfo>();
  const byContainer = new Map<string, PodInfo>();
  // Host-network pods share the node's address: the node names that IP, unless the port names one pod.
  const hostPorts = new Map<string, PodInfo | null>();
  for (const p of snap.pods) {
    byName.set(`${p.namespace}/${p.name}`, p);
    if (p.uid) byUid.set(p.uid, p);
    for (const c of p.containers ?? []) byContainer.set(c, p);
    if (p.hostNetwork) {
      for (const ip of p.ips ?? [p.ip]) {
        for (const port of p.ports ?? []) {
          const key = `${ip}|${port}`;
          // Two pods claiming the same address and port (one pending, say): neither is named.
          hostPorts.set(key, hostPorts.has(key) ? null : p);
        }
      }
      continue;
    }
    for (const ip of p.ips ?? [p.ip]) if (ip) pods.set(ip, p);
  }
  const services = new Map<string, ServiceInfo[]>();
  for (const s of snap.services) {
    for (const ip of s.clusterIPs) {
      const list = services.get(ip) ?? [];
      list.push(s);
      services.set(ip, list);
    }
  }
  const nodes = new Map<string, NodeInfo>();
  for (const n of snap.nodes) for (const ip of n.addresses) nodes.set(ip, n);
  const endpointService = new Map<string, string>();
  for (const ep of snap.endpoints ?? []) for (const ip of ep.ips) endpointService.set(`${ep.namespace}/${ip}`, ep.service);

  return {
    podByIp: (ip) => pods.get(ip),
    podByName: (namespace, name) => byName.get(`${namespace}/${name}`),
    podByAddr: (ip, port) => hostPorts.get(`${ip}|${port}`) ?? undefined,
    podByProcess: (p) => (p.podUid ? byUid.get(p.podUid) : undefined) ?? (p.container ? byContainer.get(p.container) : undefined),
    serviceByAddr(ip, port) {
      const list = services.get(ip);
      if (!list) return undefined;
      return list.find((s) => s.ports.length === 0 || s.ports.some((p) => p.port === port));
    },
    nodeByIp: (ip) => nodes.get(ip),
    serviceOfPod(pod) {
      const viaSlice = endpointService.get(`${pod.namespace}/${pod.ip}`);
      if (viaSlice) return viaSlice;
      const bySelector = snap.services.find(
        (s) =>
          s.namespace === pod.namespace &&
          Object.keys(s.selector).length > 0 &&
          Object.entries(s.selector).every(([k, v]) => pod.labels[k] === v),
      );
      return bySelector?.name ?? '';
    },
  };
}

/** Fill one endpoint from the getters; leaves it untouched when the address is unknown. */
export function enrichEndpoint(ep: Endpoint, g: K8sGetters): void {
  const pod = g.podByIp(ep.ip) ?? g.podByAddr?.(ep.ip, ep.port);
  if (pod) {
    ep.name = pod.name;
    ep.namespace = pod.namespace;
    ep.pod = pod.name;
    ep.node = pod.node;
    ep.service = g.serviceOfPod(pod);
    ep.workload = pod.owner?.name ?? '';
    ep.labels = { ...pod.labels };
    return;
  }
  const svc = g.serviceByAddr(ep.ip, ep.port);
  if (svc) {
    ep.name = svc.name;
    ep.namespace = svc.namespace;
    ep.service = svc.name;
    return;
  }
  const node = g.nodeByIp(ep.ip);
  if (node) {
    ep.name = node.name;
    ep.node = node.name;
  }
}

/**
 * `tap --tls`: each hooked process is named after the pod its cgroup is in
 * (process.pod/namespace), and the entry's side the process is on (src for
 * the client, dst for the server) after that pod too — a TLS call's
 * addresses are often the node's, a Service's or 127.0.0.1 (a mesh), which
 * name no pod. A process in no known pod is the node's (process.node).
 */
export function enrichProcesses(e: Entry, g: K8sGetters): void {
  for (const p of [e.process, e.peerProcess]) {
    if (!p) continue;
    const pod = p.podUid || p.container ? g.podByProcess?.(p) : undefined;
    if (!pod) {
      if (e.node?.name) p.node = e.node.name;
      continue;
    }
    p.pod = pod.name;
    p.namespace = pod.namespace;
    // Only the pod's own process names its side: the peer's side is named by the peer.
    const ep = p.role === 'client' ? e.src : e.dst;
    if (ep.pod !== pod.name || ep.namespace !== pod.namespace) enrichEndpoint(ep, { ...g, podByIp: () => pod });
  }
}

/**
 * Per-pod capture tells which tapped pod's interface carried the call
 * (`entry.tapped`): that side is named after it, not after whichever pod the
 * snapshot says holds the IP (an address reused by a newer pod, a watch that
 * lags, a pod already gone from the snapshot).
 */
export function enrichTapped(e: Entry, g: K8sGetters): void {
  const t = e.tapped;
  // Loopback entries (127.0.0.1 on both sides) are the pod talking to itself.
  if (!t || t.side === 'loopback') return;
  const ep = t.side === 'client' ? e.src : e.dst;
  if (ep.pod === t.pod && ep.namespace === t.namespace) return;
  const pod = g.podByName?.(t.namespace, t.pod);
  if (pod) {
    enrichEndpoint(ep, { ...g, podByIp: () => pod });
    return;
  }
  ep.name = t.pod;
  ep.pod = t.pod;
  ep.namespace = t.namespace;
  ep.service = '';
  ep.node = e.node?.name ?? ep.node;
}

/** The getters of the provider's current snapshot, re-indexed only when it hands out a new snapshot object. */
export function currentGetters(provider: SnapshotProvider): () => K8sGetters {
  let last: ClusterSnapshot | undefined;
  let getters: K8sGetters | undefined;
  return () => {
    const snap = provider();
    if (snap !== last || !getters) {
      last = snap;
      getters = indexSnapshot(snap);
    }
    return getters;
  };
}

export function createEnricher(provider: SnapshotProvider): (e: Entry) => void {
  return enricherFor(currentGetters(provider));
}

/** Enrichment through getters shared with other users of the same snapshot (cluster tap's deduper). */
export function enricherFor(current: () => K8sGetters): (e: Entry) => void {
  return (e: Entry) => {
    const getters = current();
    enrichEndpoint(e.src, getters);
    enrichEndpoint(e.dst, getters);
    enrichTapped(e, getters);
    if (e.process) enrichProcesses(e, getters);
  };
}

/**
 * A cluster snapshot larger than this is refused: --meta /dev/zero was read
 * until killed. A 10,000-pod cluster's snapshot is about 20 MB.
 */
const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024;

/** Read a ClusterSnapshot from a recording's manifest.json ({cluster: …}) or a bare snapshot file. */
export function loadSnapshot(file: string): ClusterSnapshot {
  let text: string;
  try {
    const bytes = readFileBounded(file, MAX_SNAPSHOT_BYTES);
    if (!bytes) throw new UserError(`${file}: cluster snapshot larger than ${MAX_SNAPSHOT_BYTES / 1024 / 1024} MB`, ExitCode.USAGE);
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${file}: cannot read cluster snapshot (${errnoText((err as NodeJS.ErrnoException).code)})`, ExitCode.USAGE);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: not JSON: ${parseProblem(err as Error)}`, ExitCode.BAD_INPUT);
  }
  const snap = (doc && typeof doc === 'object' && 'cluster' in doc ? (doc as { cluster: unknown }).cluster : doc) as
    | Partial<ClusterSnapshot>
    | undefined;
  if (!snap || typeof snap !== 'object' || !Array.isArray(snap.pods)) {
    throw new UserError(`${file}: no cluster snapshot (expected "pods" at the top or under "cluster")`, ExitCode.BAD_INPUT);
  }
  const problem = snapshotProblem(snap as Record<string, unknown>);
  if (problem) throw new UserError(`${file}: bad cluster snapshot: ${problem}`, ExitCode.BAD_INPUT);
  const out: ClusterSnapshot = {
    context: snap.context ?? '',
    takenAt: snap.takenAt ?? '',
    pods: snap.pods,
    services: Array.isArray(snap.services) ? snap.services : [],
    nodes: Array.isArray(snap.nodes) ? snap.nodes : [],
    ...(Array.isArray(snap.endpoints) ? { endpoints: snap.endpoints } : {}),
  };
  const changes = (doc as { clusterChanges?: { file?: unknown } }).clusterChanges?.file;
  if (typeof changes === 'string' && !changes.includes('/') && existsSync(join(dirname(file), changes))) replayChanges(out, join(dirname(file), changes));
  return out;
}

/**
 * Apply a recording's cluster changes (record's cluster-changes.ndjson) over
 * its start snapshot: pods, services and nodes that appeared or changed are
 * added, later ones after earlier ones, so an IP names the last pod that held
 * it. Deleted and finished pods stay (their traffic may be in the recording)
 * unless a later pod took their IP. A last line cut short (a killed
 * recording) is ignored; any other bad line is an error naming it.
 */
function replayChanges(snap: ClusterSnapshot, path: string): void {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  // Maps keep insertion order: delete + set moves a changed object to the end, so later wins the IP.
  const key = (o: { namespace?: string; name: string }) => `${o.namespace ?? ''}/${o.name}`;
  const pods = new Map(snap.pods.map((p) => [key(p), p]));
  const services = new Map(snap.services.map((x) => [key(x), x]));
  const nodes = new Map(snap.nodes.map((n) => [n.name, n]));
  const put = <T>(m: Map<string, T>, k: string, v: T) => {
    m.delete(k);
    m.set(k, v);
  };
  // The part after the last newline is empty, or a line cut short by a killed recording.
  for (let i = 0; i < lines.length - 1; i++) {
    if (!lines[i]) continue;
    let change: { kind?: string; type?: string; object?: any };
    try {
      change = JSON.parse(lines[i]);
    } catch {
      throw new UserError(`${path}: line ${i + 1} is not JSON`, ExitCode.BAD_INPUT);
    }
    const o = change.object;
    if (change.type === 'DELETED' || !o || typeof o !== 'object') continue;
    if (change.kind === 'endpointslices' && Array.isArray(o.ips)) (snap.endpoints ??= []).push(o);
    else if (typeof o.name !== 'string') continue;
    else if (change.kind === 'pods' && typeof o.ip === 'string') put(pods, key(o), o);
    else if (change.kind === 'services' && Array.isArray(o.clusterIPs)) put(services, key(o), o);
    else if (change.kind === 'nodes' && Array.isArray(o.addresses)) put(nodes, o.name, o);
  }
  snap.pods = [...pods.values()];
  snap.services = [...services.values()];
  snap.nodes = [...nodes.values()];
}
