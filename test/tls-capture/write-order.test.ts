// A read that returned while a write on its socket was still in its call
// (flagged by the kernel) goes after that write: the order the bytes moved,
// not the order the return probes ran. Checked on the events alone, then
// through the connection table and the engine, where the probes' order made
// one call a response-only and a request-only entry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TlsEvent } from '../../src/tls-capture/frames.js';
import { MAX_HELD_EVENTS, MAX_HELD_FDS, WRITE_WAIT_MS, WriteOrder } from '../../src/tls-capture/write-order.js';
import { ConnectionTable } from '../../src/tls-capture/connections.js';
import { dissectPackets } from '../../src/dissect/dissect-packets.js';
import type { Entry } from '../../src/model/entry.js';

const CLIENT = { ip: '198.18.7.1', port: 40001 };
const SERVER = { ip: '198.18.7.2', port: 443 };
let clock = 1_800_000_000_000;

function ev(dir: 'write' | 'read', pos: number, data: string, over: Partial<TlsEvent> = {}): TlsEvent {
  clock += 1;
  return {
    kind: 'data',
    pid: 100,
    tid: 100,
    fd: 5,
    timeMs: clock,
    tsSec: Math.floor(clock / 1000),
    tsNsec: (clock % 1000) * 1e6,
    pos,
    skipped: 0,
    otherPos: 0,
    dir,
    source: 'go',
    family: 4,
    local: CLIENT,
    remote: SERVER,
    comm: 'goclient',
    cgroupId: 0n,
    afterWriteInFlight: false,
    data: Buffer.from(data),
    ...over,
  };
}

function rig() {
  const now = { ms: 0 };
  const order = new WriteOrder(WRITE_WAIT_MS, () => now.ms);
  const out: TlsEvent[] = [];
  const push = (...evs: TlsEvent[]) => {
    for (const e of evs) order.push(e, out);
    return out.map((e) => e.data.toString() || e.kind);
  };
  return { now, order, out, push };
}

test('a flagged read waits for its fd\'s next write, then follows it, no earlier than it; other fds pass meanwhile', () => {
  const r = rig();
  const reply = ev('read', 0, 'reply', { afterWriteInFlight: true });
  const other = ev('read', 0, 'other fd', { fd: 6 });
  const more = ev('read', 5, 'more reply');
  assert.deepEqual(r.push(reply, other, more), ['other fd'], 'the read and what follows it on fd 5 are held');
  const request = ev('write', 0, 'request');
  assert.deepEqual(r.push(request), ['other fd', 'request', 'reply', 'more reply']);
  assert.equal(r.out[2].timeMs, request.timeMs, 'the reply is not earlier than the request it answers');
  assert.equal(r.out[2].tsNsec, request.tsNsec);
  assert.equal(r.out[3].timeMs, request.timeMs, 'nor is what was held behind it');
  assert.ok(more.timeMs < request.timeMs);
  assert.deepEqual(r.order.counters, { held: 1, closesHeld: 0, reordered: 1, timedOut: 0, cutShort: 0 });
  assert.equal(r.order.holding, false);
});

test('an unflagged read passes at once, and so does a write with nothing held', () => {
  const r = rig();
  assert.deepEqual(r.push(ev('read', 0, 'a'), ev('write', 0, 'b'), ev('read', 1, 'c')), ['a', 'b', 'c']);
  assert.equal(r.order.counters.held, 0);
});

test('with no write event (the write failed, or its event was lost), the hold ends after WRITE_WAIT_MS, in order', () => {
  const r = rig();
  r.push(ev('read', 0, 'x', { afterWriteInFlight: true }), ev('read', 1, 'y'));
  r.now.ms = WRITE_WAIT_MS - 1;
  r.order.expire(r.out);
  assert.deepEqual(r.out.length, 0);
  r.now.ms = WRITE_WAIT_MS;
  r.order.expire(r.out);
  assert.deepEqual(r.out.map((e) => e.data.toString()), ['x', 'y']);
  assert.equal(r.order.counters.timedOut, 1);
  assert.equal(r.order.counters.reordered, 0);
});

test('a close lets the hold go before it; the end of the stream lets everything go', () => {
  const r = rig();
  const close = { ...ev('write', 0, ''), kind: 'close' as const };
  assert.deepEqual(r.push(ev('read', 0, 'x', { afterWriteInFlight: true }), close), ['x', 'close']);
  const s = rig();
  s.push(ev('read', 0, 'p', { afterWriteInFlight: true }), ev('read', 0, 'q', { fd: 9, afterWriteInFlight: true }));
  s.order.flush(s.out);
  assert.deepEqual(s.out.map((e) => e.data.toString()), ['p', 'q']);
});

test('bounded: too many events on one fd, or too many fds held, let the oldest hold go early (counted)', () => {
  const r = rig();
  r.push(ev('read', 0, 'first', { afterWriteInFlight: true }));
  for (let i = 1; i < MAX_HELD_EVENTS; i++) r.order.push(ev('read', i, `r${i}`), r.out);
  assert.equal(r.out.length, MAX_HELD_EVENTS);
  assert.equal(r.out[0].data.toString(), 'first');
  assert.equal(r.order.counters.cutShort, 1);
  const s = rig();
  for (let fd = 0; fd <= MAX_HELD_FDS; fd++) s.order.push(ev('read', 0, `fd${fd}`, { fd, afterWriteInFlight: true }), s.out);
  assert.deepEqual(s.out.map((e) => e.data.toString()), ['fd0']);
  assert.equal(s.order.counters.cutShort, 1);
});

// The probes' order of a Go client's call on a loaded machine: the reply's read returned (and was
// flagged) before the request's write did. Through the table and the engine, with and without the order.
const REQ = 'GET /boom HTTP/1.1\r\nHost: web\r\n\r\n';
const RES = 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n';

async function entriesOf(events: TlsEvent[], ordered: boolean): Promise<Entry[]> {
  const order = new WriteOrder(WRITE_WAIT_MS, () => 0);
  const fed: TlsEvent[] = [];
  if (ordered) {
    for (const e of events) order.push(e, fed);
    order.flush(fed);
  } else fed.push(...events);
  const table = new ConnectionTable();
  const packets = fed.flatMap((e) => table.onEvent(e));
  const entries: Entry[] = [];
  for await (const batch of dissectPackets((async function* () { yield packets; })(), {})) entries.push(...batch);
  return entries.filter((e) => e.protocol === 'http');
}

test('a reply whose read came before its request\'s write is one whole call, not a response-only and a request-only one', async () => {
  const events = () => [
    ev('read', 0, RES, { afterWriteInFlight: true }),
    ev('write', 0, REQ),
    { ...ev('write', REQ.length, ''), kind: 'close' as const, skipped: RES.length },
  ];
  const unordered = await entriesOf(events(), false);
  assert.deepEqual(
    unordered.map((e) => [Boolean(e.request), Boolean(e.response)]).sort(),
    [[false, true], [true, false]],
    'as the probes ran: the call is split in two (what the order is for)',
  );
  const ordered = await entriesOf(events(), true);
  assert.equal(ordered.length, 1, JSON.stringify(ordered.map((e) => e.summary)));
  assert.equal(ordered[0].summary, 'GET /boom → 500');
  assert.ok(ordered[0].elapsedTime >= 0, `it does not end before it began: ${ordered[0].elapsedTime}`);
});

test('a flagged close waits for the write still in flight on its socket, then follows it; a write of the next connection on the fd lets it go first', () => {
  const r = rig();
  const close = { ...ev('write', 5, ''), kind: 'close' as const, afterWriteInFlight: true };
  const late = ev('write', 5, 'trailers');
  assert.deepEqual(r.push(close), [], 'held');
  assert.deepEqual(r.push(late), ['trailers', 'close']);
  assert.equal(r.order.counters.closesHeld, 1);
  assert.equal(r.order.counters.held, 0, 'no read was held');
  const s = rig();
  const next = ev('write', 0, 'next connection', { local: { ...CLIENT, port: CLIENT.port + 1 } });
  assert.deepEqual(s.push({ ...close }, next), ['close', 'next connection'], 'the old connection ends before the new one begins');
});

// A Go server (the end that fed the connection) closes it on its reading goroutine while the
// goroutine that wrote the response's last bytes is still returning from that write: the
// kernel puts the close first, flagged, and the write after it with the closed stream's offsets.
test('a response whose last write returned after its connection\'s close is whole once the close waits for it', async () => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst';
  const atServer = { local: SERVER, remote: CLIENT, comm: 'grpcserver' };
  const events = () => [
    ev('read', 0, REQ, atServer),
    ev('write', 0, head, { ...atServer, otherPos: REQ.length }),
    { ...ev('write', head.length, '', atServer), kind: 'close' as const, skipped: REQ.length, afterWriteInFlight: true },
    ev('write', head.length, 'later', { ...atServer, otherPos: REQ.length }),
  ];
  const unordered = await entriesOf(events(), false);
  assert.notEqual(unordered[0]?.response?.bodySize, 10, 'as the probes ran: the body ends at the close (what the order is for)');
  const ordered = await entriesOf(events(), true);
  assert.equal(ordered.length, 1, JSON.stringify(ordered.map((e) => e.summary)));
  assert.equal(ordered[0].summary, 'GET /boom → 200');
  assert.equal(ordered[0].response?.bodySize, 10);
  assert.deepEqual(ordered[0].warnings ?? [], []);
});
