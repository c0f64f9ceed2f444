// examples/README.md quotes what tshark finds in each example capture; keep the
// two in agreement (re-recording the examples must update the README).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { examplesDir } from '../helpers/paths.js';

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
    for (const file of documented.keys()) total += statSync(join(examplesDir, file)).size;
    assert.ok(total < 2 * 1024 * 1024, `examples total ${total} bytes`);
    assert.ok(statSync(join(examplesDir, 'bookinfo-mix.pcap')).size < 300 * 1024);
  });

  for (const [file, expected] of readmeCounts()) {
    it(`${file}: the README's counts are what tshark finds`, () => {
      assert.deepEqual(tsharkCounts(join(examplesDir, file)), expected);
    });
  }

  it('bookinfo-mix has every protocol of the mix, and errors', () => {
    const mix = documented.get('bookinfo-mix.pcap')!;
    assert.ok(mix.http > 0 && mix.httpErrors > 0 && mix.dns > 0 && mix.redis > 0 && mix.icmp > 0, JSON.stringify(mix));
  });
});
