// Benchmark: `shark filter` beside jq on the same NDJSON file, alternating,
// 3 runs each, medians and the throughput ratio. Run: npx tsx bench/filter.ts
// [entries]. benchFilter() returns the rows for `npm run bench`.

import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(repoRoot, 'bin', 'run.js');

export interface BenchRow {
  name: string;
  tool: string;
  medianMs: number;
  entriesPerSec: number;
  matches: number;
  note?: string;
}

/** Deterministic pseudo-random numbers (mulberry32) so every run uses the same file. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMESPACES = ['bookinfo', 'guestbook', 'default', 'kube-system', 'shop'];
const PATHS = ['/productpage', '/details/0', '/reviews/1', '/ratings/2', '/api/v1/orders', '/api/v1/cart', '/healthz', '/metrics', '/login'];

function endpoint(r: () => number, port: number): Record<string, unknown> {
  const ns = NAMESPACES[Math.floor(r() * NAMESPACES.length)];
  const svc = ['details', 'reviews', 'ratings', 'productpage', 'redis', 'frontend'][Math.floor(r() * 6)];
  return { ip: `10.0.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}`, port, name: `${svc}-7d9f`, namespace: ns, pod: `${svc}-v1-7d9f5c-x${Math.floor(r() * 99)}`, service: svc, node: 'node-1' };
}

/** One realistic entry: HTTP (70%), DNS, Redis, gRPC, PostgreSQL. */
export function syntheticEntry(i: number, r: () => number): Record<string, unknown> {
  const ts = 1_700_000_000_000 + i * 3.7;
  const pick = r();
  const base = { id: `${i}-0`, timestamp: ts, transport: 'tcp', frames: { request: i * 4 + 1, response: i * 4 + 3 } };
  if (pick < 0.7) {
    const path = PATHS[Math.floor(r() * PATHS.length)];
    const s = r();
    const status = s < 0.8 ? 200 : s < 0.9 ? 404 : s < 0.95 ? 500 : 503;
    const method = r() < 0.8 ? 'GET' : 'POST';
    return {
      ...base,
      protocol: 'http',
      elapsedTime: Math.round(r() * 50_000) / 1000,
      src: endpoint(r, 30000 + Math.floor(r() * 30000)),
      dst: endpoint(r, 9080),
      request: { method, path, url: `${path}?page=${i % 7}`, httpVersion: 'HTTP/1.1', headers: { host: 'details:9080', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) shark-bench', accept: '*/*', 'x-request-id': `a8f7${i}` }, query: { page: String(i % 7) }, host: 'details:9080', bodySize: 0 },
      response: { status, statusText: status === 200 ? 'OK' : 'Error', httpVersion: 'HTTP/1.1', headers: { 'content-type': 'application/json', 'content-length': '178', server: 'istio-envoy' }, contentType: 'application/json', bodySize: 178, body: '{"id":0,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200}' },
      error: status >= 500,
      requestSize: 180,
      responseSize: 320,
      summary: `${method} ${path} → ${status}`,
    };
  }
  if (pick < 0.82) {
    const rcode = r() < 0.9 ? 0 : 3;
    return {
      ...base,
      protocol: 'dns',
      transport: 'udp',
      elapsedTime: 0.4,
      src: endpoint(r, 40000 + Math.floor(r() * 20000)),
      dst: endpoint(r, 53),
      request: { id: i % 65536, questions: [{ name: `details.bookinfo.svc.cluster.local`, type: 'A' }] },
      response: { rcode, answers: rcode === 0 ? [{ name: 'details.bookinfo.svc.cluster.local', type: 'A', data: '10.96.0.12', ttl: 30 }] : [] },
      error: rcode !== 0,
      requestSize: 52,
      responseSize: 90,
      summary: `A details.bookinfo.svc.cluster.local → ${rcode === 0 ? '10.96.0.12' : 'NXDOMAIN'}`,
    };
  }
  if (pick < 0.92) {
    return {
      ...base,
      protocol: 'redis',
      elapsedTime: 0.2,
      src: endpoint(r, 50000),
      dst: endpoint(r, 6379),
      request: { command: 'GET', key: `session:${i % 1000}`, args: [`session:${i % 1000}`] },
      response: { type: 'bulk', value: 'xyz' },
      error: false,
      requestSize: 30,
      responseSize: 10,
      summary: `GET session:${i % 1000}`,
    };
  }
  const status = r() < 0.9 ? 0 : 14;
  return {
    ...base,
    protocol: 'grpc',
    elapsedTime: 2.5,
    src: endpoint(r, 50001),
    dst: endpoint(r, 50051),
    request: { service: 'helloworld.Greeter', method: 'SayHello', path: '/helloworld.Greeter/SayHello', headers: { ':authority': 'greeter:50051', 'content-type': 'application/grpc' } },
    response: { status: 200, grpcStatus: status, headers: { 'content-type': 'application/grpc' } },
    error: status !== 0,
    requestSize: 40,
    responseSize: 40,
    summary: `/helloworld.Greeter/SayHello → ${status}`,
  };
}

export async function writeSyntheticEntries(path: string, count: number): Promise<void> {
  const r = rng(42);
  const out = createWriteStream(path);
  let buf: string[] = [];
  for (let i = 0; i < count; i++) {
    buf.push(JSON.stringify(syntheticEntry(i, r)));
    if (buf.length === 1000) {
      if (!out.write(buf.join('\n') + '\n')) await once(out, 'drain');
      buf = [];
    }
  }
  if (buf.length) out.write(buf.join('\n') + '\n');
  out.end();
  await once(out, 'finish');
}

function timeRun(cmd: string, args: string[]): { ms: number; out: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { ms, out: r.stdout };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchFilter(entries = 200_000, runs = 3): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'shark-bench-filter-'));
  const file = join(dir, 'entries.ndjson');
  try {
    await writeSyntheticEntries(file, entries);
    const size = statSync(file).size;
    const cases = [
      { name: 'KFL1 http and response.status >= 400', tool: 'shark', cmd: process.execPath, args: [cli, 'filter', '--count', 'http and response.status >= 400', file] },
      { name: 'KFL2 http && status_code >= 400', tool: 'shark', cmd: process.execPath, args: [cli, 'filter', '--count', 'http && status_code >= 400', file] },
      { name: 'KFL1 (output, no --count)', tool: 'shark', cmd: 'sh', args: ['-c', `node '${cli}' filter 'http and response.status >= 400' '${file}' | wc -l`] },
      // User regexes run on RE2 (linear time); this pair shows what that costs beside jq's backtracking Oniguruma.
      { name: 'KFL2 path.matches("^/api/v[0-9]+/(orders|cart)$") --count', tool: 'shark', peer: 4, cmd: process.execPath, args: [cli, 'filter', '--count', 'http && path.matches("^/api/v[0-9]+/(orders|cart)$")', file] },
      { name: 'jq select(.request.path|test("^/api/v[0-9]+/(orders|cart)$"))', tool: 'jq', cmd: 'sh', args: ['-c', `jq -c 'select(.protocol=="http" and (.request.path|test("^/api/v[0-9]+/(orders|cart)$")))' '${file}' | wc -l`] },
      { name: 'jq select(.protocol=="http" and .response.status>=400)', tool: 'jq', cmd: 'sh', args: ['-c', `jq -c 'select(.protocol=="http" and .response.status>=400)' '${file}' | wc -l`] },
    ] as Array<{ name: string; tool: string; peer?: number; cmd: string; args: string[] }>;
    const times: number[][] = cases.map(() => []);
    const counts: number[] = cases.map(() => 0);
    for (let run = 0; run < runs; run++) {
      for (let c = 0; c < cases.length; c++) {
        const { ms, out } = timeRun(cases[c].cmd, cases[c].args);
        times[c].push(ms);
        counts[c] = Number(out.trim());
      }
    }
    const jqMs = median(times[times.length - 1]);
    return cases.map((c, i) => {
      const ms = median(times[i]);
      return {
        name: c.name,
        tool: c.tool,
        medianMs: Math.round(ms),
        entriesPerSec: Math.round((entries / ms) * 1000),
        matches: counts[i],
        note: c.tool === 'jq' ? `${(size / 1e6).toFixed(0)} MB, ${entries} entries` : `${((c.peer === undefined ? jqMs : median(times[c.peer])) / ms).toFixed(1)}× jq`,
      };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2] ?? 200_000);
  const rows = await benchFilter(n);
  for (const r of rows) {
    process.stdout.write(`${r.name.padEnd(58)} ${String(r.medianMs).padStart(7)} ms  ${String(r.entriesPerSec).padStart(9)} entries/s  matches=${r.matches}  ${r.note ?? ''}\n`);
  }
}
