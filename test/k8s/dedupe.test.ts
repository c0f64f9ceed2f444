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

// A Service call between nodes: the client's node saw it before kube-proxy's DNAT, the server's after.
const reviews = {
  name: 'reviews',
  namespace: 'shop',
  clusterIPs: ['198.18.200.5'],
  ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }],
  selector: { app: 'reviews' },
};
const serviceAt = (ip: string, port: number) => (ip === '198.18.200.5' && port === 80 ? reviews : undefined);

function viaService(node: string, timestamp: number, side: 'client' | 'server', dst: { ip: string; port: number }): Entry {
  const e = call(node, timestamp);
  e.dst = { ...e.dst, ...dst };
  e.tapped = { pod: side === 'client' ? 'web-1' : 'reviews-1', namespace: 'shop', side };
  return e;
}

test('a Service call seen before DNAT on the client node and after it on the server node passes once, as the client saw it', () => {
  const d = new CrossNodeDeduper(250, 5000, serviceAt);
  const server = viaService('node1', 1000, 'server', { ip: '198.18.20.43', port: 8080 });
  const client = viaService('node0', 1000.3, 'client', { ip: '198.18.200.5', port: 80 });
  assert.equal(d.isDuplicate(server), false);
  assert.equal(d.isDuplicate(client), true);
  assert.equal(d.dropped, 1);
  // The report kept now carries the client's view: the Service address, attributed to the client pod.
  assert.deepEqual([server.dst.ip, server.dst.port, server.tapped?.side, server.tapped?.pod], ['198.18.200.5', 80, 'client', 'web-1']);

  const d2 = new CrossNodeDeduper(250, 5000, serviceAt);
  const first = viaService('node0', 2000, 'client', { ip: '198.18.200.5', port: 80 });
  assert.equal(d2.isDuplicate(first), false);
  assert.equal(d2.isDuplicate(viaService('node1', 2000.1, 'server', { ip: '198.18.20.43', port: 8080 })), true);
  assert.equal(first.dst.ip, '198.18.200.5', 'the client view stays');
});

test('other destinations are other calls: a port the Service does not lead to, an address that is no Service', () => {
  const d = new CrossNodeDeduper(250, 5000, serviceAt);
  assert.equal(d.isDuplicate(viaService('node0', 1000, 'client', { ip: '198.18.200.5', port: 80 })), false);
  assert.equal(d.isDuplicate(viaService('node1', 1000, 'server', { ip: '198.18.20.43', port: 9090 })), false, 'target port is 8080');
  assert.equal(d.isDuplicate(viaService('node2', 1000, 'server', { ip: '198.18.20.99', port: 80 })), false, 'not a Service address on either side');
  assert.equal(d.dropped, 0);
});
