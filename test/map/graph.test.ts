import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MapAggregator, isPublicIp, type MapLevel } from '../../src/map/graph.js';
import { renderDot } from '../../src/output/dot.js';
import { renderMermaid } from '../../src/output/mermaid.js';
import { parseEdgeLabel, LABEL_PARTS } from '../../src/map/labels.js';
import { mixedEntries, http, ep, dns, productpage, details } from '../stats/entries.js';
import { plain, svgTexts } from './graphviz.js';
import { MAX_NAME_CHARS, boundedName } from '../../src/model/bounded-name.js';
import type { Entry } from '../../src/model/entry.js';
import { NameBook } from '../../src/stats/names.js';

const ALL = { parts: [...LABEL_PARTS], paths: 0 };

function build(level: MapLevel = 'workload', entries = mixedEntries(), filter?: (e: any) => boolean) {
  const m = new MapAggregator(level, filter);
  m.add(entries);
  return m.graph();
}

const names = (g: ReturnType<typeof build>) => g.nodes.map((n) => n.name);

test('workload level: Kubernetes owners, DNS-named external node, one edge per (src, dst, protocol)', () => {
  const g = build('workload');
  assert.deepEqual(names(g), ['details-v1', 'productpage-v1', 'reviews-v2', 'redis', 'coredns', 'api.example.com']);
  const byName = Object.fromEntries(g.nodes.map((n) => [n.name, n]));
  assert.equal(byName['api.example.com'].external, true);
  assert.equal(byName['api.example.com'].nameSource, 'dns');
  assert.equal(byName['details-v1'].namespace, 'bookinfo');
  assert.equal(g.edges.length, 5);
  const edge = (from: string, to: string) => g.edges.find((e) => e.source === byName[from].id && e.target === byName[to].id)!;
  // 10 calls before and 10 after the DNS answer land on one edge.
  assert.equal(edge('productpage-v1', 'api.example.com').requests, 20);
  const d = edge('productpage-v1', 'details-v1');
  assert.equal(d.requests, 100);
  assert.equal(d.errors, 10);
  assert.equal(d.bytesIn + d.bytesOut, 110_000);
  // /details/0 … /details/4: one templated path, as the catalogue names it.
  assert.deepEqual(d.paths.slice(0, 2), [{ path: 'GET /details/{id}', count: 100, atLeast: 100 }]);
});

test('levels: pod, service, namespace', () => {
  assert.ok(names(build('pod')).includes('details-v1-xyz'));
  // A client pod without a Service falls back to its workload.
  assert.deepEqual(names(build('service')), ['details', 'productpage-v1', 'reviews', 'redis', 'kube-dns', 'api.example.com']);
  const ns = build('namespace');
  assert.deepEqual(names(ns), ['bookinfo', 'data', 'kube-system', 'api.example.com']);
  // bookinfo → bookinfo (details and reviews) is one edge per protocol.
  assert.equal(ns.edges.find((e) => e.source === 'n0' && e.target === 'n0')!.requests, 150);
});

test('naming precedence without metadata: DNS, then Host/SNI, then IP:port', () => {
  const client = ep('198.18.5.1', 50000);
  const entries = [
    http(client, ep('198.18.5.2', 8080), 'GET', '/', 200, 1, 1, { host: 'web.lab' }),
    http(client, ep('198.18.5.3', 8080), 'GET', '/', 200, 1, 2, { host: 'api.lab' }),
    dns(client, ep('198.18.5.53', 53), 'api.internal', ['198.18.5.3'], 3),
    http(client, ep('198.18.5.4', 9000), 'GET', '/', 200, 1, 4),
  ];
  const g = build('workload', entries);
  const byName = Object.fromEntries(g.nodes.map((n) => [n.name, n.nameSource]));
  assert.deepEqual(byName, {
    '198.18.5.1': 'ip', // a client: its ports are ephemeral, the IP alone names it
    '198.18.5.4:9000': 'ip',
    '198.18.5.53:53': 'ip',
    'api.internal': 'dns',
    'web.lab': 'host',
  });
  assert.ok(g.nodes.every((n) => !n.external), 'lab range 198.18/15 is not external');
});

test('--min-requests hides edges and the nodes left alone; --filter narrows what is drawn', () => {
  const g = new MapAggregator('workload');
  g.add(mixedEntries());
  const big = g.graph({ minRequests: 50 });
  assert.deepEqual(big.nodes.map((n) => n.name), ['details-v1', 'productpage-v1', 'reviews-v2']);
  assert.equal(big.edges.length, 2);
  const onlyDns = build('workload', mixedEntries(), (e) => e.protocol === 'dns');
  assert.equal(onlyDns.edges.length, 1);
  assert.equal(onlyDns.edges[0].protocol, 'dns');
  // Names still come from all traffic.
  assert.equal(onlyDns.nodes.length, 2);
});

test('output is deterministic: shuffled input, same bytes', () => {
  const entries = mixedEntries();
  const a = renderDot(build('workload', entries), ALL);
  // Reverse but keep the DNS answer's relative position irrelevant: names are resolved at the end.
  const b = renderDot(build('workload', [...entries].reverse()), ALL);
  assert.equal(a, b);
  assert.equal(renderMermaid(build('workload', entries), ALL), renderMermaid(build('workload', [...entries].reverse()), ALL));
});

test('real dot draws it: nodes, clusters, edges and labels read back from -Tplain and -Tsvg', () => {
  const source = renderDot(build('workload'), { parts: [...LABEL_PARTS], paths: 2 });
  const g = plain(source);
  const nodes = g.nodes.filter((n) => n.name !== 'legend');
  assert.deepEqual(nodes.map((n) => n.label).sort(), ['api.example.com', 'coredns', 'details-v1', 'productpage-v1', 'redis', 'reviews-v2']);
  assert.equal(g.edges.length, 5);
  const label = (to: string) => g.edges.find((e) => e.head === nodes.find((n) => n.label === to)!.name)!.label;
  assert.equal(label('details-v1'), 'HTTP 100 req · 107 KB · p95 94.6 ms · 10% err\\nGET /details/{id} ×100');
  assert.equal(label('reviews-v2'), 'HTTP 50 req · 54 KB · p95 20.0 ms\\nGET /reviews/{id} ×50');
  const texts = svgTexts(source);
  for (const t of ['namespace bookinfo', 'namespace data', 'external', 'legend', '━━ HTTP', '━━ DNS', '━━ errors ≥ 5% (edge end)', '━━ REDIS', 'REDIS 8 req · 270 B · p95 0.500 ms · 25% err'])
    assert.ok(texts.includes(t), `svg shows "${t}"`);
  assert.match(source, /subgraph cluster_external \{/);
  assert.match(source, /n1 -> n0 \[color="#1f77b4;0.80:#d62728", penwidth=4,/, 'HTTP blue, last 20 % red (10% errors); 100 requests: width 4');
});

test('any name survives quoting: quotes, backslashes, newlines, unicode, markup', () => {
  const weird = ['a"b', 'back\\slash\\', 'two\nlines', 'ünïcødé ☸ 服务', '<b>&amp;</b>', 'x\\"y', 'tab\there', '\\N\\G'];
  const entries = weird.map((name, i) =>
    http(productpage(), ep(`198.18.7.${i + 1}`, 80, { namespace: 'odd ns "q"', workload: name }), 'GET', `/p"${i}\\`, 200, 1, i),
  );
  const g = build('workload', entries);
  const source = renderDot(g, { parts: [...LABEL_PARTS], paths: 1 });
  const texts = svgTexts(source);
  for (const name of weird) {
    // A line break or tab in a name is shown escaped, on the name's one line.
    const shown = name.replace(/\t/g, '\\t').replace(/\n/g, '\\n');
    assert.ok(texts.includes(shown), `svg shows ${JSON.stringify(shown)} (got ${JSON.stringify(texts.slice(0, 40))})`);
  }
  assert.ok(texts.includes('namespace odd ns "q"'));
  assert.ok(texts.includes('GET /p"0\\ ×1'));
  assert.equal(plain(source).edges.length, weird.length);
  const mermaid = renderMermaid(g, ALL);
  for (const line of mermaid.split('\n').filter((l) => l.includes('["'))) {
    const inner = line.slice(line.indexOf('["') + 2, line.lastIndexOf('"]')).replace(/<br\/>/g, '');
    assert.ok(!/["<>\n]/.test(inner), `mermaid label is escaped: ${line}`);
  }
  assert.match(mermaid, /\["a#quot;b"\]/);
  assert.match(mermaid, /\["two\\nlines"\]/);
});

test('a C1 control or a bidi override in a name is shown as an escape in DOT, in the SVG dot draws and in Mermaid', () => {
  const entries = [http(productpage(), ep('198.18.7.1', 80, { namespace: 'shop', workload: 'pay\u202egnp.exe' }), 'GET', '/c1/\u009b2J\u200b', 200, 1, 1)];
  const g = build('workload', entries);
  const labels = { parts: [...LABEL_PARTS], paths: 1 };
  const source = renderDot(g, labels);
  assert.doesNotMatch(source, /[\u0080-\u009f\u202e\u200b]/, 'no raw C1 or format character in DOT');
  const texts = svgTexts(source);
  assert.ok(texts.includes('pay\\u202egnp.exe'), JSON.stringify(texts));
  assert.ok(texts.some((t) => t.startsWith('GET /c1/\\x9b2J\\u200b')), JSON.stringify(texts));
  const mermaid = renderMermaid(g, labels);
  assert.doesNotMatch(mermaid, /[\u0080-\u009f\u202e\u200b]/, 'no raw C1 or format character in Mermaid');
  assert.ok(mermaid.includes('pay\\u202egnp.exe'), mermaid);
});

test('a line break in a path or name from traffic cannot forge a label line, and an ESC is shown, not dropped', () => {
  const entries = [
    http(productpage(), ep('198.18.7.1', 80, { namespace: 'shop', workload: 'pay\nforged-node' }), 'GET', '/x\nGET /admin ×999\n', 200, 1, 1),
    http(productpage(), ep('198.18.7.2', 80, { namespace: 'shop', workload: 'cart' }), 'GET', '/c\x1b[2J/z', 200, 1, 2),
  ];
  const g = build('workload', entries);
  const labels = { parts: [...LABEL_PARTS], paths: 1 };
  const source = renderDot(g, labels);
  const texts = svgTexts(source);
  assert.ok(!texts.includes('GET /admin ×999') && !texts.includes('forged-node'), JSON.stringify(texts));
  assert.ok(texts.includes('pay\\nforged-node'), JSON.stringify(texts));
  assert.ok(texts.includes('GET /x\\nGET /admin ×999\\n ×1'), JSON.stringify(texts));
  assert.ok(texts.includes('GET /c\\x1b[2J/z ×1'), JSON.stringify(texts));
  const mermaid = renderMermaid(g, labels);
  assert.ok(mermaid.includes('GET /x\\nGET /admin ×999\\n ×1'), mermaid);
  assert.ok(mermaid.includes('GET /c\\x1b[2J/z ×1'), mermaid);
  assert.ok(mermaid.includes('["pay\\nforged-node"]'), mermaid);
});

test('Mermaid: a name quoted in backticks stays text, not a Markdown string', () => {
  const entries = [http(productpage(), ep('198.18.7.2', 80, { namespace: 'shop', workload: '`**bold** [x](http://evil)`' }), 'GET', '/', 200, 1, 1)];
  const mermaid = renderMermaid(build('workload', entries), ALL);
  assert.doesNotMatch(mermaid, /`/, mermaid);
  assert.ok(mermaid.includes('["#96;**bold** [x](http://evil)#96;"]'), mermaid);
});

test('Mermaid: one subgraph per namespace, one linkStyle per edge', () => {
  const m = renderMermaid(build('workload'), ALL).split('\n');
  assert.equal(m[0], 'flowchart LR');
  assert.equal(m.filter((l) => l.includes('subgraph')).length, 4);
  assert.equal(m.filter((l) => / -->/.test(l)).length, 5);
  assert.deepEqual(
    m.filter((l) => l.includes('linkStyle')).map((l) => l.trim().split(' ')[1]),
    ['0', '1', '2', '3', '4'],
  );
  assert.ok(m.includes('  n1 -->|"HTTP 50 req · 54 KB · p95 20.0 ms"| n2'));
});

test('edge labels: --edge-label parts', () => {
  assert.deepEqual(parseEdgeLabel('requests,protocol'), ['protocol', 'requests']);
  assert.deepEqual(parseEdgeLabel('none'), []);
  assert.throws(() => parseEdgeLabel('protocol,colour'), /unknown part "colour"/);
  const source = renderDot(build('workload'), { parts: parseEdgeLabel('protocol,errors'), paths: 0 });
  assert.ok(plain(source).edges.some((e) => e.label === 'HTTP · 10% err'));
});

test('public vs internal addresses', () => {
  for (const ip of ['10.1.2.3', '172.20.0.1', '192.168.1.1', '127.0.0.1', '198.18.0.1', '198.19.255.1', '100.64.0.1', 'fd00::1', '::1', 'fe80::1', '169.254.1.1', '224.0.0.251', 'ff02::2', 'ff02::1:ff30:ed70'])
    assert.equal(isPublicIp(ip), false, ip);
  for (const ip of ['203.0.113.50', '8.8.8.8', '2001:db8::1', '172.32.0.1']) assert.equal(isPublicIp(ip), true, ip);
  void details;
});

test('a scan cannot grow the map without bound: at most MAX_EDGES edges (two nodes each), later edges\' calls counted', async () => {
  const { MAX_EDGES } = await import('../../src/map/graph.js');
  const client = ep('198.18.0.1', 40000);
  const scanned = (i: number) => ep(`198.19.${i >> 8}.${i & 255}`, 80);
  const entries = Array.from({ length: MAX_EDGES + 50 }, (_, i) => http(client, scanned(i), 'GET', '/', 200, 1, 1_700_000_000_000 + i));
  // A kept edge's later calls still count; a dropped edge's repeats are dropped too.
  entries.push(http(client, scanned(0), 'GET', '/', 200, 1, 1_700_000_100_000), http(client, scanned(MAX_EDGES + 1), 'GET', '/', 200, 1, 1_700_000_100_001));
  const m = new MapAggregator('workload');
  m.add(entries);
  const g = m.graph();
  assert.equal(g.edges.length, MAX_EDGES);
  assert.equal(g.nodes.length, MAX_EDGES + 1, 'the client and one node per kept edge');
  assert.equal(m.droppedCalls, 51);
  assert.equal(g.edges.reduce((n, e) => n + e.requests, 0), MAX_EDGES + 1);
  assert.equal(m.entries, MAX_EDGES + 52, 'every entry was read');
});

test('--paths counts: ids are templated, and counts the bounded counter may have inflated show only what is certain', () => {
  const entries: ReturnType<typeof http>[] = [];
  // 200 calls over 200 ids (one path), then 30 slugs once each, more than the counter's 20 slots.
  for (let i = 0; i < 200; i++) entries.push(http(productpage(), details(), 'GET', `/details/${i}`, 200, 1, 1_700_000_000_000 + i));
  for (let i = 0; i < 30; i++) entries.push(http(productpage(), details(), 'GET', `/books/title-${String.fromCharCode(97 + (i % 26))}${i}`, 200, 1, 1_700_000_001_000 + i));
  const m = new MapAggregator('workload');
  m.add(entries);
  const [edge] = m.graph({ topPaths: 5 }).edges;
  assert.deepEqual(edge.paths[0], { path: 'GET /details/{id}', count: 200, atLeast: 200 });
  // Every slug was called once: whatever a slot inherited is not claimed as seen.
  for (const p of edge.paths.slice(1)) assert.equal(p.atLeast, 1, JSON.stringify(p));
  const lines = renderMermaid(m.graph({ topPaths: 5 }), { parts: ['protocol'], paths: 3 });
  assert.match(lines, /GET \/details\/\{id\} ×200/);
  assert.match(lines, /GET \/books\/title-\w+ ×≥1/);
  assert.doesNotMatch(lines, /title-\w+ ×[2-9]/);
});

test('--paths: a path seen twice ranks above one whose count of two was half inherited from an evicted path', async () => {
  const { TopK } = await import('../../src/map/top-k.js');
  const k = new TopK(20);
  k.add('GET /b-twice');
  k.add('GET /b-twice');
  for (let i = 0; i < 19; i++) k.add(`GET /once-${String(i).padStart(2, '0')}`);
  // Full: the newcomer takes a count-1 slot and its count (2, of which 1 is certain).
  k.add('GET /a-late');
  assert.deepEqual(k.top(2), [
    { key: 'GET /b-twice', count: 2, atLeast: 2 },
    { key: 'GET /a-late', count: 2, atLeast: 1 },
  ]);
});

test('an ICMP destination is named by its IP, not IP:0, and a ping to a web server keeps it IP:port; IPv6 multicast is not external', () => {
  const icmp = (src: ReturnType<typeof ep>, dst: ReturnType<typeof ep>, t: number) =>
    ({ id: `icmp-${t}`, timestamp: t, protocol: 'icmp', transport: 'icmp', elapsedTime: 0.1, src, dst, request: { type: 8 }, response: { type: 0 }, error: false, requestSize: 64, responseSize: 64, summary: 'echo' }) as any;
  const client = ep('198.18.9.1', 0);
  const entries = [
    http(ep('198.18.9.1', 40000), ep('198.18.9.2', 80), 'GET', '/', 200, 1, 1),
    icmp(client, ep('198.18.9.2', 0), 2),
    icmp(client, ep('198.18.9.3', 0), 3),
    icmp(ep('fe80::1', 0), ep('ff02::2', 0), 4),
  ];
  const g = build('workload', entries);
  assert.deepEqual(names(g).sort(), ['198.18.9.1', '198.18.9.2:80', '198.18.9.3', '[fe80::1]', '[ff02::2]']);
  assert.ok(g.nodes.every((n) => !n.external), JSON.stringify(g.nodes));
});

test('entries that name no source or destination (NDJSON from elsewhere) are counted on the "?" node, as stats counts them, not dropped', () => {
  const noEnds = [
    { id: '1', timestamp: 1, protocol: 'http', request: { method: 'GET', path: '/a' }, response: { status: 200 }, elapsedTime: 1 },
    { id: '2', timestamp: 2, protocol: 'http', dst: { ip: '198.18.0.9', port: 80 }, request: { method: 'GET', path: '/b' }, response: { status: 200 }, elapsedTime: 1 },
  ];
  const m = new MapAggregator('workload');
  m.add(noEnds as never);
  assert.equal(m.entries, 2);
  const g = m.graph();
  assert.equal(g.edges.reduce((n, e) => n + e.requests, 0), 2);
  assert.ok(g.nodes.some((n) => n.name === '?'), JSON.stringify(g.nodes));
});

// Names from an entry file can be megabytes (a crafted service name, Host header, path): map keyed,
// copied and escaped a 20 MB service name whole (280 MB of memory, a 20 MB DOT label). What the map
// keeps of a name is at most MAX_NAME_CHARS, and how many were cut is counted for stderr.
const MB = 1 << 20;

function call(i: number, over: { service?: string; host?: string; path?: string; dstIp?: string }): Entry {
  const path = over.path ?? '/a';
  return {
    id: `${i}-0`,
    timestamp: 1_795_400_000_000 + i,
    protocol: 'http',
    transport: 'tcp',
    elapsedTime: 1,
    src: { ip: '198.18.0.1', port: 40000 + i, name: '', namespace: '', pod: '', service: '', node: '' },
    dst: { ip: over.dstIp ?? '198.18.0.2', port: 80, name: '', namespace: over.service ? 'shop' : '', pod: '', service: over.service ?? '', node: '' },
    request: { method: 'GET', path, url: path, headers: over.host ? { host: over.host } : {}, host: over.host, bodySize: 0 },
    response: { status: 200, headers: {}, bodySize: 0 },
    error: false,
    requestSize: 1,
    responseSize: 1,
    summary: '',
  } as unknown as Entry;
}

test('a megabyte service name, Host name and path are drawn cut, counted, and the calls still counted', () => {
  const map = new MapAggregator('service');
  map.add([
    call(1, { service: 's'.repeat(MB) }),
    call(2, { service: 's'.repeat(MB) + 'x' }),
    call(3, { host: 'h'.repeat(MB), dstIp: '198.18.0.3' }),
    call(4, { path: `/${'p'.repeat(MB)}`, dstIp: '198.18.0.4', host: 'api.example' }),
  ]);
  const g = map.graph({ topPaths: 5 });
  for (const n of g.nodes) assert.ok(n.name.length <= MAX_NAME_CHARS, `a node name of ${n.name.length} characters`);
  for (const e of g.edges) for (const p of e.paths) assert.ok(p.path.length <= MAX_NAME_CHARS, `a path of ${p.path.length} characters`);
  // The name is namespace/service cut, drawn inside its namespace without the prefix.
  assert.ok(g.nodes.some((n) => n.name === `${'s'.repeat(MAX_NAME_CHARS - 1 - 'shop/'.length)}…` && n.namespace === 'shop'));
  assert.ok(g.nodes.some((n) => n.name === `${'h'.repeat(MAX_NAME_CHARS - 1)}…`));
  // The two service names alike for their first 1,023 characters are one node: their calls add up.
  assert.equal(g.edges.reduce((sum, e) => sum + e.requests, 0), 4);
  assert.ok(map.cutNames >= 3, `cut ${map.cutNames}`);
  assert.ok(map.names.cutNames >= 1, `names cut ${map.names.cutNames}`);
  // A worker's name book hands its cuts on with its names: the thread that prints says them.
  const merged = new NameBook();
  merged.mergeWire(map.names.toWire());
  assert.equal(merged.cutNames, map.names.cutNames);
  assert.ok([...JSON.stringify(map.names.toWire())].length < 8 * MAX_NAME_CHARS, 'the book holds the cut name, not the megabyte');
  const labels = { parts: ['protocol' as const, 'requests' as const], paths: 3 };
  for (const text of [renderDot(g, labels), renderMermaid(g, labels)]) assert.ok(text.length < 16 * MAX_NAME_CHARS, `${text.length} characters drawn`);
});

test('boundedName keeps short names as they are and never splits a surrogate pair', () => {
  assert.equal(boundedName('web'), 'web');
  assert.equal(boundedName('x'.repeat(MAX_NAME_CHARS)), 'x'.repeat(MAX_NAME_CHARS));
  const cut = boundedName('😀'.repeat(MAX_NAME_CHARS));
  assert.ok(cut.length <= MAX_NAME_CHARS && cut.endsWith('…'));
  assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(cut), 'no lone high surrogate');
  assert.equal(boundedName(7 as unknown as string), 7 as unknown as string, 'a number from an entry file stays as it came');
});
