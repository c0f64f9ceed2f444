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

/** A table and a wait on a clock the test moves; `seen(end, data)`: that end's event arrives. */
function rig() {
  const clock = { now: 1000 };
  const table = new ConnectionTable();
  const wait = new OtherEndWait(table, OTHER_END_WAIT_MS, () => clock.now);
  const seen = (end: 'client' | 'server', data: string): void => {
    table.onEvent(end === 'client' ? event(1, client, server, 'write', data, 0, 0) : event(2, server, client, 'read', data, 0, 0));
  };
  const ids = (all = false) => wait.ready(all).map((e) => e.id);
  return { clock, wait, seen, ids };
}

test('an entry waits until both its ends are known, keeping order; then it goes at once; the end lets all go', () => {
  const r = rig();
  // The server's events came first: only its end is known.
  r.seen('server', 'GET / HTTP/1.1\r\n\r\n');
  r.wait.add(entry('a'));
  r.wait.add(entry('b'));
  assert.deepEqual(r.ids(), [], 'waiting for the client end');
  r.clock.now += 50;
  // The client's events arrive: both entries go, in order.
  r.seen('client', 'GET / HTTP/1.1\r\n\r\n');
  assert.deepEqual(r.ids(), ['a', 'b']);
  assert.equal(r.wait.size, 0);

  // A client off the node never shows up: the entry goes once its wait is over.
  const lone = rig();
  lone.seen('server', 'x');
  lone.wait.add(entry('c'));
  assert.deepEqual(lone.ids(), []);
  lone.clock.now += OTHER_END_WAIT_MS;
  assert.deepEqual(lone.ids(), ['c']);
  lone.wait.add(entry('d'));
  assert.deepEqual(lone.ids(true), ['d'], 'at the end everything goes');
});

test('the server end trailing the client (a Go server after curl) is waited for too', () => {
  const r = rig();
  r.seen('client', 'PRI * HTTP/2.0');
  r.wait.add(entry('grpc'));
  assert.deepEqual(r.ids(), [], 'only the client end is known');
  r.clock.now += 20;
  r.seen('server', 'PRI * HTTP/2.0');
  assert.deepEqual(r.ids(), ['grpc']);
});
