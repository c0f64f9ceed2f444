import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionTable } from '../../src/tls-capture/connections.js';
import { OtherEndWait, OTHER_END_WAIT_MS } from '../../src/tls-capture/other-end-wait.js';
import type { TlsEvent } from '../../src/tls-capture/frames.js';
import type { Entry } from '../../src/model/entry.js';

const client = { ip: '198.18.0.1', port: 40000 };
const server = { ip: '198.18.0.2', port: 443 };

function event(pid: number, local: typeof client, remote: typeof client, dir: 'write' | 'read', data: string, pos: number, otherPos: number): TlsEvent {
  return { kind: 'data', pid, tid: pid, fd: 5, timeMs: 0, tsSec: 0, tsNsec: 0, comm: pid === 1 ? 'curl' : 'nginx', family: 4, source: 'openssl', local, remote, dir, pos, otherPos, skipped: 0, data: Buffer.from(data) } as unknown as TlsEvent;
}

const entry = (id: string) => ({ id, src: { ...client }, dst: { ...server } }) as unknown as Entry;

test('an entry waits until both its ends are known, keeping order; then it goes at once; the end lets all go', () => {
  let now = 1000;
  const table = new ConnectionTable();
  const wait = new OtherEndWait(table, OTHER_END_WAIT_MS, () => now);
  // The server's events came first: only its end is known.
  table.onEvent(event(2, server, client, 'read', 'GET / HTTP/1.1\r\n\r\n', 0, 0));
  wait.add(entry('a'));
  wait.add(entry('b'));
  assert.deepEqual(wait.ready(), [], 'waiting for the client end');
  now += 50;
  // The client's events arrive: both entries go, in order.
  table.onEvent(event(1, client, server, 'write', 'GET / HTTP/1.1\r\n\r\n', 0, 0));
  assert.deepEqual(wait.ready().map((e) => e.id), ['a', 'b']);
  assert.equal(wait.size, 0);

  // A client off the node never shows up: the entry goes once its wait is over.
  const lone = new ConnectionTable();
  const w2 = new OtherEndWait(lone, OTHER_END_WAIT_MS, () => now);
  lone.onEvent(event(2, server, client, 'read', 'x', 0, 0));
  w2.add(entry('c'));
  assert.deepEqual(w2.ready(), []);
  now += OTHER_END_WAIT_MS;
  assert.deepEqual(w2.ready().map((e) => e.id), ['c']);
  w2.add(entry('d'));
  assert.deepEqual(w2.ready(true).map((e) => e.id), ['d'], 'at the end everything goes');
});

test('the server end trailing the client (a Go server after curl) is waited for too', () => {
  let now = 0;
  const table = new ConnectionTable();
  const wait = new OtherEndWait(table, OTHER_END_WAIT_MS, () => now);
  table.onEvent(event(1, client, server, 'write', 'PRI * HTTP/2.0', 0, 0));
  wait.add(entry('grpc'));
  assert.deepEqual(wait.ready(), [], 'only the client end is known');
  now += 20;
  table.onEvent(event(2, server, client, 'read', 'PRI * HTTP/2.0', 0, 0));
  assert.deepEqual(wait.ready().map((e) => e.id), ['grpc']);
});
