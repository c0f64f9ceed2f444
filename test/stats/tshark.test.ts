// stats over real captures, dissected on the fly, against tshark's own
// statistics for the same file (-z http,tree and -z dns,tree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { sharedCapture } from '../helpers/paths.js';
import { StatsAggregator, type StatsRow } from '../../src/stats/aggregate.js';
import { consumeEntries } from '../../src/stats/consume.js';

const cache = new Map<string, Promise<Record<string, Record<string, StatsRow>>>>();

/** Rows by protocol and by status, from one pass over the capture (memoised per file). */
function sharkStats(file: string): Promise<Record<string, Record<string, StatsRow>>> {
  if (!cache.has(file)) {
    cache.set(
      file,
      (async () => {
        const groupings = ['protocol', 'status'];
        const aggs = groupings.map((by) => new StatsAggregator(by));
        await consumeEntries([file], async (b) => {
          for (const a of aggs) await a.addBatch(b);
        }, { stop: new AbortController().signal, onWarning: () => undefined });
        return Object.fromEntries(aggs.map((a, i) => [groupings[i], Object.fromEntries(a.snapshot().rows.map((r) => [r.name, r]))]));
      })(),
    );
  }
  return cache.get(file)!;
}

/** "Topic / Item  Count …" lines of a tshark -z tree, as item → count. */
function tsharkTree(file: string, tree: string): Map<string, number> {
  const r = spawnSync('tshark', ['-r', file, '-q', '-z', tree], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(.+?)\s{2,}(\d+)\s/.exec(line);
    if (m && !out.has(m[1])) out.set(m[1], Number(m[2]));
  }
  return out;
}

for (const name of ['zeek-http-pipelined-requests.pcap', 'lab-bookinfo-mix.pcap']) {
  test(`HTTP requests and status codes match tshark -z http,tree: ${name}`, async () => {
    const file = sharedCapture(name);
    const tree = tsharkTree(file, 'http,tree');
    const stats = (await sharkStats(file)).status;
    const http = Object.entries(stats).filter(([k]) => k.startsWith('http '));
    const requests = http.reduce((n, [, r]) => n + r.entries, 0);
    assert.ok(tree.get('HTTP Request Packets')! > 0);
    assert.equal(requests, tree.get('HTTP Request Packets'));
    // Every status line tshark counted ("200 OK", "404 Not Found") is one of our rows.
    const statuses = [...tree].filter(([k]) => /^\d{3} /.test(k));
    assert.ok(statuses.length > 0);
    for (const [item, count] of statuses) assert.equal(stats[`http ${item.slice(0, 3)}`]?.entries, count, item);
    assert.equal(http.filter(([k]) => /^http \d{3}$/.test(k)).length, statuses.length, 'no status tshark did not see');
  });
}

for (const name of ['tcpdump-dns_tcp.pcap', 'lab-bookinfo-mix.pcap']) {
  test(`DNS queries and responses match tshark -z dns,tree: ${name}`, async () => {
    const file = sharedCapture(name);
    const tree = tsharkTree(file, 'dns,tree');
    const { protocol, status } = await sharkStats(file);
    assert.equal(protocol.dns.entries, tree.get('Query'), 'one entry per query');
    const responses = Object.entries(status)
      .filter(([k]) => k.startsWith('dns ') && k !== 'dns unanswered')
      .reduce((n, [, r]) => n + r.entries, 0);
    assert.equal(responses, tree.get('Response'), 'answered entries = responses');
  });
}
