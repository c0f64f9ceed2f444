import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimeOrderMerger } from '../../src/merge/time-order.js';
import { diffTargets, nodeFilter, selectTargets } from '../../src/k8s/targets.js';
import { filterForIps, MATCH_NOTHING, readAgentControl } from '../../src/k8s/agent-control.js';
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
