// Builders for hand-made entries (shape of src/model/entry.ts) used by the
// stats and map tests, and the generator of fixtures/mixed.ndjson.
import type { Endpoint, Entry } from '../../src/model/entry.js';

let seq = 0;

export function ep(ip: string, port: number, k8s: Partial<Endpoint> = {}): Endpoint {
  return { ip, port, name: '', namespace: '', pod: '', service: '', node: '', ...k8s };
}

export function http(
  src: Endpoint,
  dst: Endpoint,
  method: string,
  path: string,
  status: number | null,
  elapsed: number,
  t: number,
  extra: { host?: string; reqSize?: number; resSize?: number } = {},
): Entry {
  seq++;
  return {
    id: `${seq}-0`,
    timestamp: t,
    protocol: 'http',
    transport: 'tcp',
    elapsedTime: status === null ? 0 : elapsed,
    src,
    dst,
    request: { method, path, headers: extra.host ? { host: extra.host } : {} },
    response: status === null ? null : { status },
    error: status === null || status >= 500,
    requestSize: extra.reqSize ?? 100,
    responseSize: status === null ? 0 : (extra.resSize ?? 1000),
    summary: `${method} ${path} → ${status ?? 'unanswered'}`,
  };
}

export function dns(src: Endpoint, dst: Endpoint, name: string, ips: string[], t: number, rcode = 'NOERROR'): Entry {
  seq++;
  return {
    id: `${seq}-0`,
    timestamp: t,
    protocol: 'dns',
    transport: 'udp',
    elapsedTime: 2,
    src,
    dst,
    request: { questions: [{ name, type: 'A' }] },
    response: { rcode, answers: ips.map((ip) => ({ name, type: 'A', data: ip, ttl: 30 })) },
    error: rcode !== 'NOERROR',
    requestSize: 40,
    responseSize: 56,
    summary: `A ${name}`,
  };
}

export function redis(src: Endpoint, dst: Endpoint, command: string, answered: boolean, t: number): Entry {
  seq++;
  return {
    id: `${seq}-0`,
    timestamp: t,
    protocol: 'redis',
    transport: 'tcp',
    elapsedTime: answered ? 0.5 : 0,
    src,
    dst,
    request: { command },
    response: answered ? { type: 'simple', value: 'OK' } : null,
    error: !answered,
    requestSize: 30,
    responseSize: answered ? 5 : 0,
    summary: command,
  };
}

export const productpage = (port = 40000) =>
  ep('198.18.1.10', port, { namespace: 'bookinfo', pod: 'productpage-v1-abc', workload: 'productpage-v1', name: 'productpage-v1-abc' });
export const details = () =>
  ep('198.18.1.20', 9080, { namespace: 'bookinfo', pod: 'details-v1-xyz', workload: 'details-v1', service: 'details', name: 'details' });
export const reviews = () =>
  ep('198.18.1.30', 9080, { namespace: 'bookinfo', pod: 'reviews-v2-q', workload: 'reviews-v2', service: 'reviews', name: 'reviews' });
export const coredns = () => ep('198.18.0.10', 53, { namespace: 'kube-system', pod: 'coredns-1', workload: 'coredns', service: 'kube-dns', name: 'kube-dns' });
export const cache = () => ep('198.18.2.5', 6379, { namespace: 'data', pod: 'redis-0', workload: 'redis', service: 'redis', name: 'redis' });
/** An external API with no metadata: named by the DNS answer that appears mid-stream. */
export const external = () => ep('203.0.113.50', 443);

/**
 * A fixed mix: 100 productpage→details GETs (10 % 500s, latency i ms), 50
 * productpage→reviews (no errors), 5 DNS lookups, 20 calls to an external IP
 * (10 before and 10 after its DNS answer), 8 Redis SETs (2 unanswered).
 */
export function mixedEntries(): Entry[] {
  seq = 0;
  const out: Entry[] = [];
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < 100; i++) out.push(http(productpage(40000 + i), details(), 'GET', `/details/${i % 5}`, i % 10 === 0 ? 500 : 200, i + 1, t0 + i * 100));
  for (let i = 0; i < 50; i++) out.push(http(productpage(41000 + i), reviews(), 'GET', '/reviews/0?x=1', 200, 20, t0 + i * 100 + 50));
  for (let i = 0; i < 10; i++) out.push(http(productpage(42000 + i), external(), 'POST', '/v1/charge', 201, 100, t0 + 1000 + i, { host: 'pay.example.com' }));
  out.push(dns(productpage(43000), coredns(), 'api.example.com', ['203.0.113.50'], t0 + 2000));
  for (let i = 0; i < 4; i++) out.push(dns(productpage(43001 + i), coredns(), `missing${i}.example.com`, [], t0 + 2100 + i, 'NXDOMAIN'));
  for (let i = 0; i < 10; i++) out.push(http(productpage(44000 + i), external(), 'POST', '/v1/charge', 201, 100, t0 + 3000 + i, { host: 'pay.example.com' }));
  for (let i = 0; i < 8; i++) out.push(redis(productpage(45000 + i), cache(), 'SET', i < 6, t0 + 4000 + i * 10));
  out.sort((a, b) => a.timestamp - b.timestamp);
  return out;
}
