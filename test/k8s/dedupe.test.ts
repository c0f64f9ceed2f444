import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrossNodeDeduper } from '../../src/k8s/dedupe.js';
import type { Entry } from '../../src/model/entry.js';

function call(node: string, timestamp: number, summary = 'GET /reviews/1 → 200', srcPort = 40000): Entry {
  const ep = (ip: string, port: number) => ({ ip, port, name: '', namespace: '', pod: '', service: '', node: '' });
  return {
    id: `${node}-${timestamp}`, timestamp, protocol: 'http', transport: 'tcp', elapsedTime: 1,
    src: ep('198.18.20.10', srcPort), dst: ep('198.18.20.43', 80), request: {}, response: {}, error: false,
    requestSize: 1, responseSize: 1, summary, node: { name: node },
  };
}

test('the same call seen by the client node and the server node passes once', () => {
  const d = new CrossNodeDeduper(250, 5000);
  assert.equal(d.isDuplicate(call('node0', 1000)), false);
  assert.equal(d.isDuplicate(call('node1', 1000.4)), true);
  assert.equal(d.dropped, 1);
});

test('repeated calls from one node, other calls and far-apart times are all kept', () => {
  const d = new CrossNodeDeduper(250, 5000);
  assert.equal(d.isDuplicate(call('node0', 1000)), false);
  assert.equal(d.isDuplicate(call('node0', 1000.1)), false, 'same node: a real second call');
  assert.equal(d.isDuplicate(call('node1', 1000, 'GET /reviews/2 → 200')), false, 'another path');
  assert.equal(d.isDuplicate(call('node1', 1000, undefined, 40001)), false, 'another connection');
  assert.equal(d.isDuplicate(call('node1', 2000)), false, 'a second later: another call');
  assert.equal(d.dropped, 0);
});

test('memory: calls older than the window are forgotten', () => {
  const d = new CrossNodeDeduper(250, 1000);
  for (let i = 0; i < 10_000; i++) d.isDuplicate(call('node0', i, `GET /${i} → 200`));
  assert.ok((d as unknown as { recent: Map<string, unknown> }).recent.size <= 1002);
});
