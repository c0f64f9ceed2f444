// Colours that mean the same on every map: one per protocol (known ones fixed,
// others picked by a hash of the name), red/orange kept for errors only.

const KNOWN: Record<string, string> = {
  http: '#1f77b4',
  http2: '#17becf',
  http3: '#0b6e99',
  grpc: '#9467bd',
  dns: '#2ca02c',
  tls: '#7f7f7f',
  quic: '#5f6b73',
  redis: '#8c564b',
  kafka: '#bcbd22',
  amqp: '#e377c2',
  postgresql: '#393b79',
  mysql: '#637939',
  mongodb: '#31a354',
  tcp: '#8c8c8c',
  udp: '#a6a6a6',
  icmp: '#b0a890',
};

const OTHERS = ['#6b6ecf', '#9c9ede', '#8ca252', '#b5cf6b', '#8c6d31', '#bd9e39', '#7b4173', '#a55194', '#5254a3', '#637939'];

export const ERROR_SOME = '#ff7f0e';
export const ERROR_MANY = '#d62728';
/** Error rate (%) from which an edge is drawn in ERROR_MANY. */
export const ERROR_MANY_PERCENT = 5;

export function protocolColor(protocol: string): string {
  const known = KNOWN[protocol.toLowerCase()];
  if (known) return known;
  let h = 2166136261;
  for (let i = 0; i < protocol.length; i++) h = Math.imul(h ^ protocol.charCodeAt(i), 16777619) >>> 0;
  return OTHERS[h % OTHERS.length];
}

/** The single colour of an edge (Mermaid, labels): the protocol's, unless the edge has errors. */
export function edgeColor(protocol: string, errorRatePercent: number): string {
  if (errorRatePercent >= ERROR_MANY_PERCENT) return ERROR_MANY;
  if (errorRatePercent > 0) return ERROR_SOME;
  return protocolColor(protocol);
}

/**
 * Graphviz colour list for an edge: the protocol's colour, ending in the error
 * colour over a share of the length that grows with the error rate (at least
 * 20 %, at most 60 %), so an edge shows both what it carries and how it fails.
 */
export function dotEdgeColor(protocol: string, errorRatePercent: number): string {
  const base = protocolColor(protocol);
  if (errorRatePercent <= 0) return base;
  const share = Math.min(0.6, Math.max(0.2, errorRatePercent / 100));
  return `${base};${(1 - share).toFixed(2)}:${edgeColor(protocol, errorRatePercent)}`;
}

/** Pen width grows with the log of the request count: 1 call → 1, 1k → 5.5, capped at 10. */
export function penWidth(requests: number): number {
  return Math.min(10, Math.round((1 + 1.5 * Math.log10(Math.max(1, requests))) * 100) / 100);
}
