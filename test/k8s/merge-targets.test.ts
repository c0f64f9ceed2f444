import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimeOrderMerger } from '../../src/merge/time-order.js';
import { diffTargets, nodeFilter, nodePods, selectTargets } from '../../src/k8s/targets.js';
import { filterForIps, MATCH_NOTHING, podsMessage, readAgentControl } from '../../src/k8s/agent-control.js';
import { PassThrough } from 'node:stream';
import type { Entry } from '../../src/model/entry.js';

const e = (timestamp: number, id: string) => ({ id, timestamp }) as Entry;

test('merger holds each entry its window and releases in timestamp order', () => {
  let now = 1000;
  const out: string[] = [];
  const m = new TimeOrderMerger((x) => out.push(x.id), 500, 100, () => now);
  m.push(e(50, 'late-finisher-b'));
  now = 1100;
  m.push(e(10, 'slow-call-a'));
  m.release();
  assert.deepEqual(out, []);
  now = 1550;
  m.release();
  // a (earlier timestamp) has not waited its window yet, and it must come first: nothing out.
  assert.deepEqual(out, []);
  now = 1600;
  m.release();
  assert.deepEqual(out, ['slow-call-a', 'late-finisher-b']);
  m.push(e(5, 'x'));
  m.flush();
  assert.deepEqual(out.at(-1), 'x');
  assert.equal(m.size, 0);
});

test('merger is bounded: past maxHeld the earliest goes out at once', () => {
  const out: number[] = [];
  const m = new TimeOrderMerger((x) => out.push(x.timestamp), 10_000, 3, () => 0);
  for (const t of [5, 3, 9, 1]) m.push(e(t, String(t)));
  assert.deepEqual(out, [1]);
  m.flush();
  assert.deepEqual(out, [1, 3, 5, 9]);
});

const pod = (ns: string, name: string, ip: string, node: string, extra: Record<string, any> = {}) => ({
  metadata: { namespace: ns, name, labels: extra.labels ?? {} },
  spec: { nodeName: node, hostNetwork: extra.hostNetwork ?? false },
  status: { phase: extra.phase ?? 'Running', podIP: ip },
});

test('targets: regex, namespaces, running with an IP, no host-network or shark pods; per-node filters', () => {
  const pods = [
    pod('web', 'nginx-1', '198.18.16.11', 'n1'),
    pod('data', 'redis-0', '198.18.16.12', 'n2'),
    pod('data', 'redis-pending', '', 'n2', { phase: 'Pending' }),
    pod('infra', 'dnsmasq', '198.18.16.13', 'n1'),
    pod('kube-system', 'redis-proxy', '198.18.16.1', 'n1', { hostNetwork: true }),
    pod('shark-system', 'shark-agent-x', '198.18.16.1', 'n1', { labels: { 'app.kubernetes.io/managed-by': 'shark' } }),
  ];
  const all = selectTargets(pods, { regex: /nginx|redis/ });
  assert.deepEqual([...all.keys()].sort(), ['data/redis-0', 'web/nginx-1']);
  const onlyData = selectTargets(pods, { regex: /nginx|redis/, namespaces: ['data'] });
  assert.deepEqual([...onlyData.keys()], ['data/redis-0']);
  assert.equal(nodeFilter(all, 'n1'), 'host 198.18.16.11');
  assert.equal(nodeFilter(all, 'n3'), MATCH_NOTHING);
  assert.equal(filterForIps(['b', 'a', 'a']), 'host a or host b');
  const d = diffTargets(onlyData, all);
  assert.deepEqual(d.added.map((t) => t.name), ['nginx-1']);
  assert.deepEqual(d.removed, []);
});

test('agent control: filter lines applied, bad lines reported, EOF ends', async () => {
  const input = new PassThrough();
  const filters: string[] = [];
  const warnings: string[] = [];
  let stops = 0;
  const ended = new Promise<void>((resolve) =>
    readAgentControl(input, { setFilter: (f) => filters.push(f), onStop: () => stops++, onEnd: resolve, warn: (w) => warnings.push(w) }),
  );
  input.end('{"filter":"host 1.2.3.4"}\nnot json\n{"filter":""}\nnull\n{"stop":true}\n');
  await ended;
  assert.deepEqual(filters, ['host 1.2.3.4', MATCH_NOTHING]);
  assert.deepEqual(warnings, ['control line 2: not JSON', 'control line 4: not a JSON object']);
  assert.equal(stops, 1);
});

test('targets → pods message → agent: each pod\'s uid and container ids cross to a --tls agent; malformed ones are dropped', async () => {
  const id = (c: string) => c.repeat(64);
  const pods = [
    {
      metadata: { name: 'web-1', namespace: 'web', uid: '11111111-2222-4333-8444-555555555555' },
      spec: { nodeName: 'n1' },
      status: { phase: 'Running', podIP: '10.0.0.5', containerStatuses: [{ name: 'main', containerID: `containerd://${id('a')}` }, { name: 'starting' }] },
    },
    { metadata: { name: 'web-2', namespace: 'web' }, spec: { nodeName: 'n1' }, status: { phase: 'Running', podIP: '10.0.0.6' } },
  ];
  const targets = selectTargets(pods, {});
  assert.deepEqual(nodePods(targets, 'n1'), [
    { name: 'web-1', namespace: 'web', ips: ['10.0.0.5'], uid: '11111111-2222-4333-8444-555555555555', containers: [id('a')] },
    { name: 'web-2', namespace: 'web', ips: ['10.0.0.6'] },
  ]);
  const input = new PassThrough();
  const got: unknown[] = [];
  const warnings: string[] = [];
  const ended = new Promise<void>((resolve) =>
    readAgentControl(input, { setFilter: () => {}, setPods: (p) => got.push(p), onStop: () => {}, onEnd: resolve, warn: (m) => warnings.push(m) }),
  );
  input.write(podsMessage(nodePods(targets, 'n1')));
  input.end(JSON.stringify({ pods: [{ name: 'x', namespace: 'y', ips: ['10.0.0.7'], uid: 42, containers: [id('b'), 7, ''] }] }) + '\n');
  await ended;
  assert.deepEqual(got[0], nodePods(targets, 'n1'));
  assert.deepEqual(got[1], [{ name: 'x', namespace: 'y', ips: ['10.0.0.7'], containers: [id('b')] }]);
  assert.deepEqual(warnings, []);
});
