// The map of a lab capture against what tshark sees in the same file:
// conversations (-z conv,tcp/udp), HTTP requests per client/server, DNS answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { sharedCapture } from '../helpers/paths.js';
import { MapAggregator, type MapGraph } from '../../src/map/graph.js';
import { consumeEntries } from '../../src/stats/consume.js';
import { renderDot } from '../../src/output/dot.js';
import { LABEL_PARTS } from '../../src/map/labels.js';
import { plain, svgTexts } from './graphviz.js';

const file = sharedCapture('lab-bookinfo-mix.pcap');

function tshark(args: string[]): string {
  const r = spawnSync('tshark', ['-r', file, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** Unordered IP pairs of tshark's TCP conversations and of all IPv4/IPv6 conversations (one tshark run). */
function conversations(): { tcp: Set<string>; ip: Set<string> } {
  const out = tshark(['-q', '-z', 'conv,tcp', '-z', 'conv,ip', '-z', 'conv,ipv6']);
  const tcp = new Set<string>();
  const ip = new Set<string>();
  let section = '';
  for (const line of out.split('\n')) {
    if (/Conversations$/.test(line.trim())) section = line.trim().split(' ')[0];
    const m = section === 'TCP' ? /^(\S+):\d+\s+<->\s+(\S+):\d+\s/.exec(line) : /^(\S+)\s+<->\s+(\S+)\s/.exec(line);
    if (m) (section === 'TCP' ? tcp : ip).add([m[1], m[2]].sort().join(' '));
  }
  return { tcp, ip };
}

let graph: Promise<MapGraph> | undefined;
function labMap(): Promise<MapGraph> {
  graph ??= (async () => {
    const m = new MapAggregator('workload');
    await consumeEntries([file], (b) => m.add(b), { stop: new AbortController().signal, onWarning: () => undefined });
    return m.graph();
  })();
  return graph;
}

function ipOf(g: MapGraph, id: string): string {
  const n = g.nodes.find((x) => x.id === id)!;
  assert.equal(n.ips.length, 1, `${n.name} is one address (no metadata in this capture)`);
  return n.ips[0];
}

test('every TCP conversation tshark sees is an edge, and every edge is an IP conversation', async () => {
  const g = await labMap();
  const edges = new Set(g.edges.map((e) => [ipOf(g, e.source), ipOf(g, e.target)].sort().join(' ')));
  const { tcp, ip } = conversations();
  assert.ok(tcp.size > 0 && ip.size >= tcp.size);
  for (const pair of tcp) assert.ok(edges.has(pair), `tcp conversation ${pair} is on the map`);
  for (const pair of edges) assert.ok(ip.has(pair), `edge ${pair} is a conversation tshark saw`);
});

test('HTTP requests per client → server match tshark, and DNS answers name the servers', async () => {
  const g = await labMap();
  const want = new Map<string, number>();
  for (const line of tshark(['-Y', 'http.request', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst']).trim().split('\n')) {
    const key = line.split('\t').join(' → ');
    want.set(key, (want.get(key) ?? 0) + 1);
  }
  const got = new Map(g.edges.filter((e) => e.protocol === 'http').map((e) => [`${ipOf(g, e.source)} → ${ipOf(g, e.target)}`, e.requests]));
  assert.deepEqual(got, want);

  const answers = tshark(['-Y', 'dns.flags.response == 1 && dns.a', '-T', 'fields', '-e', 'dns.qry.name', '-e', 'dns.a']).trim().split('\n');
  assert.ok(answers.length > 0);
  for (const line of answers) {
    const [name, ips] = line.split('\t');
    for (const ip of ips.split(',')) {
      const node = g.nodes.find((n) => n.ips.includes(ip));
      if (node) assert.equal(node.name, name, `${ip} is named from its DNS answer`);
    }
  }
  assert.ok(g.nodes.some((n) => n.nameSource === 'dns'));
  // No DNS answer for the web server: the Host header names it.
  assert.ok(g.nodes.some((n) => n.name === 'productpage.bookinfo' && n.nameSource === 'host'));
});

test('the lab map renders with real dot: -Tplain has every node and edge, -Tsvg every label', async () => {
  const g = await labMap();
  const source = renderDot(g, { parts: [...LABEL_PARTS], paths: 2 });
  const p = plain(source);
  assert.deepEqual(
    p.nodes.filter((n) => n.name !== 'legend').map((n) => n.label).sort(),
    g.nodes.map((n) => n.name).sort(),
  );
  assert.equal(p.edges.length, g.edges.length);
  const http = g.edges.find((e) => e.protocol === 'http')!;
  const texts = svgTexts(source);
  assert.equal(http.requests, 500, 'tshark: 500 HTTP requests');
  assert.ok(texts.some((t) => /^HTTP 500 req · \d+ KB · p95 [\d.]+ ms$/.test(t)), 'the HTTP edge label');
  assert.ok(texts.some((t) => /^GET \/\S* ×\d+$/.test(t)), 'top paths are drawn');
});
