// examples/README.md quotes what tshark finds in each example capture; keep the
// two in agreement (re-recording the examples must update the README), and check
// that shark dissect finds the same calls. Needs a build (npm run build).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cliBin, examplesDir } from '../helpers/paths.js';

interface Counts {
  packets: number;
  bytes: number;
  http: number;
  httpErrors: number;
  dns: number;
  redis: number;
  icmp: number;
}

/** The same counting as scripts/lab/record-examples.sh: field occurrences, not frames. */
function tsharkCounts(file: string): Counts {
  const out = execFileSync(
    'tshark',
    ['-r', file, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,',
      '-e', 'http.request.method', '-e', 'http.response.code', '-e', 'dns.flags.response',
      '-e', 'tcp.dstport', '-e', 'resp.array.length', '-e', 'icmp.type'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 },
  );
  const counts: Counts = { packets: 0, bytes: statSync(file).size, http: 0, httpErrors: 0, dns: 0, redis: 0, icmp: 0 };
  const items = (field: string | undefined): string[] => (field ? field.split(',') : []);
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [method, codes, response, dstPort, arrays, icmpType] = line.split('\t');
    counts.packets++;
    counts.http += items(method).length;
    counts.httpErrors += items(codes).filter((c) => Number(c) >= 400).length;
    if (response === '0' || response === 'False') counts.dns++;
    if (dstPort === '6379') counts.redis += items(arrays).length;
    if (icmpType === '8') counts.icmp++;
  }
  return counts;
}

function readmeCounts(): Map<string, Counts> {
  const readme = readFileSync(join(examplesDir, 'README.md'), 'utf8');
  const rows = new Map<string, Counts>();
  for (const line of readme.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length !== 12) continue; // the main table; tls-h2 has its own
    const file = /^`([\w-]+\.pcap)`$/.exec(cells[1] ?? '')?.[1];
    if (!file) continue;
    const n = (i: number): number => Number(/^\d+/.exec(cells[i] ?? '')?.[0]);
    rows.set(file, { packets: n(4), bytes: n(5), http: n(6), httpErrors: n(7), dns: n(8), redis: n(9), icmp: n(10) });
  }
  return rows;
}

describe('examples', () => {
  const documented = readmeCounts();

  it('documents the four lab captures, all small', () => {
    assert.deepEqual([...documented.keys()].sort(), ['bookinfo-mix.pcap', 'http-errors.pcap', 'node-a.pcap', 'node-b.pcap']);
    let total = 0;
    for (const file of [...documented.keys(), 'tls-h2.pcap']) total += statSync(join(examplesDir, file)).size;
    assert.ok(total < 2 * 1024 * 1024, `examples total ${total} bytes`);
    assert.ok(statSync(join(examplesDir, 'bookinfo-mix.pcap')).size < 300 * 1024);
  });

  for (const [file, expected] of readmeCounts()) {
    it(`${file}: the README's counts are what tshark finds`, () => {
      assert.deepEqual(tsharkCounts(join(examplesDir, file)), expected);
    });
  }

  it('tls-h2.pcap: SNI, ALPN and h2c requests as documented', () => {
    const file = join(examplesDir, 'tls-h2.pcap');
    const fields = (filter: string, field: string, extra: string[] = []): string[] =>
      execFileSync('tshark', ['-r', file, ...extra, '-Y', filter, '-T', 'fields', '-e', field], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n').filter(Boolean).sort();
    const readme = readFileSync(join(examplesDir, 'README.md'), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `tls-h2.pcap`'))!;
    assert.ok(row, 'tls-h2 row in the README');
    const hellos = fields('tls.handshake.type == 1', 'tls.handshake.extensions_server_name');
    assert.deepEqual(hellos, [
      'details.bookinfo.svc.cluster.local', 'details.bookinfo.svc.cluster.local',
      'reviews.bookinfo.svc.cluster.local', 'reviews.bookinfo.svc.cluster.local',
    ]);
    assert.deepEqual(fields('tls.handshake.type == 2', 'tls.handshake.extensions_alpn_str'), ['h2', 'h2', 'http/1.1', 'http/1.1']);
    const h2c = fields('http2.headers.method', 'http2.headers.method', ['-d', 'tcp.port==8081,http2']);
    assert.equal(h2c.length, 6);
    assert.match(row, /\| 4 \(`reviews…` ×2, `details…` ×2\) \| `http\/1\.1` ×2, `h2` ×2 \| 6 /);

    // shark: one tls entry per ClientHello with its SNI, one http2 entry per h2c request
    const entries = execFileSync(process.execPath, [cliBin, 'dissect', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n').filter(Boolean)
      .map((line) => JSON.parse(line) as { protocol: string; request?: { sni?: string; path?: string } | null });
    assert.deepEqual(entries.filter((e) => e.protocol === 'tls').map((e) => e.request?.sni).sort(), hellos);
    assert.deepEqual(entries.filter((e) => e.protocol === 'http2').map((e) => e.request?.path).sort(),
      ['/api/login', '/api/login', '/details/0', '/details/0', '/ratings/0', '/ratings/0']);
    assert.equal(entries.length, 10);
  });

  // End to end: shark finds one entry per call that tshark counts (HTTP request,
  // DNS query, Redis command, ICMP echo), nothing more, nothing less.
  for (const [file, expected] of readmeCounts()) {
    it(`${file}: shark dissect emits one entry per call tshark counts`, () => {
      const out = execFileSync(process.execPath, [cliBin, 'dissect', join(examplesDir, file)], {
        encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024,
      });
      const byProtocol: Record<string, number> = {};
      let errors = 0;
      for (const line of out.split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { protocol: string; response?: { status?: number } | null };
        byProtocol[entry.protocol] = (byProtocol[entry.protocol] ?? 0) + 1;
        if (entry.protocol === 'http' && (entry.response?.status ?? 0) >= 400) errors++;
      }
      const want: Record<string, number> = {};
      if (expected.http) want.http = expected.http;
      if (expected.dns) want.dns = expected.dns;
      if (expected.redis) want.redis = expected.redis;
      if (expected.icmp) want.icmp = expected.icmp;
      assert.deepEqual(byProtocol, want);
      assert.equal(errors, expected.httpErrors);
    });
  }

  it('bookinfo-mix has every protocol of the mix, and errors', () => {
    const mix = documented.get('bookinfo-mix.pcap')!;
    assert.ok(mix.http > 0 && mix.httpErrors > 0 && mix.dns > 0 && mix.redis > 0 && mix.icmp > 0, JSON.stringify(mix));
  });
});
