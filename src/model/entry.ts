// The entry: one dissected API call, one NDJSON line. Field names follow
// Kubeshark's where they exist so KFL queries written for Kubeshark work.
// docs/entry.md and docs/entry.schema.json describe the same shape; the test
// suite validates every emitted entry against the schema.

export interface Endpoint {
  ip: string;
  port: number;
  /** Pod, else Service, else node name after Kubernetes enrichment, else "" (DNS answers in the capture never fill it). */
  name: string;
  namespace: string;
  pod: string;
  service: string;
  node: string;
  /** Owner workload (Deployment/StatefulSet/DaemonSet name), "" when unknown. */
  workload?: string;
  labels?: Record<string, string>;
}

export type Transport = 'tcp' | 'udp' | 'icmp' | 'sctp';

export interface Entry {
  /** Unique within one run: "<frame>-<seq>". */
  id: string;
  /** Unix ms (float) of the request's first packet. */
  timestamp: number;
  /** Lower case: http, http2, grpc, dns, redis, tls, icmp, tcp, udp, kafka, amqp, postgresql, mysql … */
  protocol: string;
  transport: Transport;
  /** ms from the request's first packet to the response's last packet; 0 when unanswered. */
  elapsedTime: number;
  src: Endpoint;
  dst: Endpoint;
  /** Protocol-specific request object, null when only a response was seen. */
  request: Record<string, any> | null;
  /** Protocol-specific response object, null when unanswered. */
  response: Record<string, any> | null;
  /** True for HTTP >= 500, DNS rcode != 0, Redis error replies, resets, unanswered requests … */
  error: boolean;
  /** Bytes on the wire (application payload) of the request and of the response. */
  requestSize: number;
  responseSize: number;
  /** One human line, e.g. "GET /details/0 → 200". */
  summary: string;
  /** Dissection problems for this call: "gap", "malformed: …", "truncated", "unanswered" … */
  warnings?: string[];
  /** The call was carried inside TLS: decrypted with a key log (--tls-keylog) or captured in plaintext by eBPF (tap --tls). */
  tls?: boolean;
  /** `tap --tls`: the process whose TLS library was hooked (the client end's when both ends were). */
  process?: ProcessInfo;
  /** `tap --tls`: the server end's process, when both ends of the connection were hooked (one node). */
  peerProcess?: ProcessInfo;
  /** Capture frame numbers of the request's first and the response's last packet. */
  frames?: { request: number; response?: number };
  /** Capture node the packet was seen on (live tap); copied into src/dst.node by enrichment. */
  node?: { name: string };
  /**
   * Per-pod cluster capture: the tapped pod whose interface carried the call
   * (the client's when it is a tapped pod of its node, else the server's;
   * `loopback`: inside the pod, --service-mesh). Enrichment trusts it over
   * the IP for that side.
   */
  tapped?: { pod: string; namespace: string; side: 'client' | 'server' | 'loopback' };
  /**
   * `--service-mesh`: on an inner (loopback) call, the outer mTLS connection
   * that carried it (src/capture/per-pod/mesh-link.ts); on an outer `tls`
   * entry passed on, how many inner calls were linked to it.
   */
  mesh?: MeshLink;
}

/** How a sidecar's inner plaintext call and its outer mTLS connection were linked. */
export interface MeshLink {
  /** inbound: the pod is the outer connection's server; outbound: its client. */
  direction?: 'inbound' | 'outbound';
  /** ms, the inner call's request → response on the pod's loopback (also `elapsedTime`). */
  innerElapsedTime?: number;
  /** ms, the outer connection's first request packet → last response packet of this call. */
  outerElapsedTime?: number;
  /** The outer connection's client and server (and SNI) on the pod's interface. */
  outer?: { src: { ip: string; port: number }; dst: { ip: string; port: number }; sni?: string };
  /** The inner call's own loopback endpoints (src or dst of the entry became the outer peer). */
  inner?: { src: { ip: string; port: number }; dst: { ip: string; port: number } };
  /** On an outer `tls` entry: inner calls linked to it (it is passed on when some of its traffic was not theirs). */
  linkedCalls?: number;
}

/** A process at one end of a call captured inside it (`tap --tls`). */
export interface ProcessInfo {
  pid: number;
  /** The kernel's short name of the process (16 bytes at most). */
  comm: string;
  /** Which end of the call it was. */
  role: 'client' | 'server';
  /** The container it runs in (64 hex digits), from its cgroup (`tap --tls` agents; absent: in none found). */
  container?: string;
  /** The pod's metadata.uid, from its cgroup. */
  podUid?: string;
  /** The pod it runs in, named on a cluster from its container id or pod uid. */
  pod?: string;
  namespace?: string;
  /** On a cluster: the node it runs on, when it is in no pod the cluster knows (the node's own process). */
  node?: string;
}

export function emptyEndpoint(ip: string, port: number): Endpoint {
  return { ip, port, name: '', namespace: '', pod: '', service: '', node: '' };
}

/**
 * The call's latency in ms, or undefined when it has none. A response whose
 * request was not seen (the capture started after it, or lost it: `request:
 * null`) carries `elapsedTime: 0`, which means "unknown", not "instant";
 * counted, every Redis pub/sub message or mid-stream DNS answer would pull
 * percentiles towards zero. An entry that does not say (no `request` field,
 * NDJSON from elsewhere) keeps its elapsedTime.
 */
export function callLatency(e: Pick<Entry, 'request' | 'response' | 'elapsedTime'>): number | undefined {
  return e.response && e.request !== null && typeof e.elapsedTime === 'number' ? e.elapsedTime : undefined;
}

/**
 * A call that expects no answer: a request, no response, and neither an
 * error nor the warning `unanswered` (MQTT QoS 0 PUBLISH, NATS PUB, memcached
 * `noreply`, Redis under `CLIENT REPLY OFF`). Shown and counted as `one-way`,
 * not as `unanswered`, which is a call whose answer never came. Flows no
 * dissector claimed (`tcp`, `udp`, `tls`) are neither.
 */
export function isOneWay(e: Pick<Entry, 'protocol' | 'request' | 'response' | 'error' | 'warnings'>): boolean {
  if (!e.request || e.response || e.error === true) return false;
  if (e.protocol === 'tcp' || e.protocol === 'udp' || e.protocol === 'tls') return false;
  return !(Array.isArray(e.warnings) && e.warnings.includes('unanswered'));
}
