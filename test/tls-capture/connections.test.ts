// The user-space half of `tap --tls` without BPF: frames as the loader writes
// them are decoded, events become one connection's TCP segments, and the
// engine makes entries of them — one per call when both ends were hooked, and
// a hole where the kernel lost bytes is a reported gap, not a silent splice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, EVENT_HEADER, type TlsEvent } from '../../src/tls-capture/frames.js';
import { ConnectionTable } from '../../src/tls-capture/connections.js';
import { annotate, tlsSummary } from '../../src/tls-capture/tap.js';
import { dissectPackets } from '../../src/dissect/dissect-packets.js';
import type { Entry } from '../../src/model/entry.js';
import type { Packet } from '../../src/model/packet.js';

const CLIENT = { ip: '198.19.120.1', port: 40001 };
const SERVER = { ip: '198.19.120.2', port: 443 };
let clock = 1_800_000_000_000;

function ev(over: Partial<TlsEvent> & Pick<TlsEvent, 'pid' | 'dir' | 'pos'>, data = ''): TlsEvent {
  clock += 1;
  const client = over.pid === 100;
  return {
    kind: 'data',
    tid: over.pid,
    fd: client ? 5 : 9,
    timeMs: clock,
    tsSec: Math.floor(clock / 1000),
    tsNsec: (clock % 1000) * 1e6,
    skipped: 0,
    otherPos: 0,
    source: 'openssl',
    family: 4,
    local: client ? CLIENT : SERVER,
    remote: client ? SERVER : CLIENT,
    comm: client ? 'curl' : 'nginx',
    cgroupId: 0n,
    afterWriteInFlight: false,
    data: Buffer.from(data),
    ...over,
  };
}

async function entriesOf(events: TlsEvent[], table: ConnectionTable): Promise<{ entries: Entry[]; counters: Record<string, number> }> {
  const packets: Packet[] = events.flatMap((e) => table.onEvent(e));
  let engine: any;
  const entries: Entry[] = [];
  for await (const batch of dissectPackets((async function* () { yield packets; })(), { engineRef: (e) => (engine = e) })) {
    for (const e of batch) {
      annotate(e, table);
      entries.push(e);
    }
  }
  return { entries, counters: engine.summary() };
}

const REQ_A = 'GET /a HTTP/1.1\r\nHost: web\r\n\r\n';
const RES_A = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const REQ_B = 'GET /b HTTP/1.1\r\nHost: web\r\n\r\n';
const RES_B = 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n';

test('a call hooked at both ends is one entry, with the client process and the server as its peer', async () => {
  const table = new ConnectionTable();
  const { entries } = await entriesOf(
    [
      ev({ pid: 100, dir: 'write', pos: 0 }, REQ_A),
      ev({ pid: 200, dir: 'read', pos: 0 }, REQ_A),
      ev({ pid: 200, dir: 'write', pos: 0 }, RES_A),
      ev({ pid: 100, dir: 'read', pos: 0 }, RES_A),
      { ...ev({ pid: 100, dir: 'write', pos: REQ_A.length }), kind: 'close', skipped: RES_A.length },
      { ...ev({ pid: 200, dir: 'write', pos: RES_A.length }), kind: 'close', skipped: REQ_A.length },
    ],
    table,
  );
  const http = entries.filter((e) => e.protocol === 'http');
  assert.equal(http.length, 1, JSON.stringify(entries.map((e) => e.summary)));
  assert.equal(http[0].summary, 'GET /a → 200');
  assert.equal(http[0].tls, true);
  assert.deepEqual(http[0].process, { pid: 100, comm: 'curl', role: 'client' });
  assert.deepEqual(http[0].peerProcess, { pid: 200, comm: 'nginx', role: 'server' });
  assert.equal(table.counters.bothEnds, 1);
  assert.equal(entries.length, 1, 'no second entry from the server end');
});

test('bytes the kernel lost are a gap of their size: the call after it still comes out, the lost one is marked', async () => {
  const table = new ConnectionTable();
  // The first response never arrived (ring full): the next read starts past it.
  const { entries, counters } = await entriesOf(
    [
      ev({ pid: 100, dir: 'write', pos: 0 }, REQ_A),
      ev({ pid: 100, dir: 'write', pos: REQ_A.length, otherPos: RES_A.length }, REQ_B),
      ev({ pid: 100, dir: 'read', pos: RES_A.length }, RES_B),
      { ...ev({ pid: 100, dir: 'write', pos: REQ_A.length + REQ_B.length }), kind: 'close', skipped: RES_A.length + RES_B.length },
    ],
    table,
  );
  assert.equal(table.counters.gaps, 1);
  assert.equal(table.counters.gapBytes, RES_A.length);
  const b = entries.find((e) => e.request?.path === '/b');
  assert.ok(b, JSON.stringify(entries.map((e) => e.summary)));
  assert.equal(b.response?.status, 404);
  const a = entries.find((e) => e.request?.path === '/a');
  assert.ok(a, 'the call whose response was lost is still reported');
  assert.notEqual(a.response?.status, 200);
  assert.ok(Object.entries(counters).some(([k, v]) => /gap/.test(k) && v > 0), `gap counted: ${JSON.stringify(counters)}`);
});

test('bytes already counted into the other side\'s offset when a connection is first seen: a chunk wholly before it is counted, one reaching past it keeps its new bytes', async () => {
  const table = new ConnectionTable();
  // The server end feeds. Its first event (a read) says the write side had carried 10 bytes:
  // a chunk that ends there adds nothing (counted); the next one begins inside them and goes on.
  const junk = 'x'.repeat(10);
  const { entries } = await entriesOf(
    [
      ev({ pid: 200, dir: 'read', pos: 0, otherPos: junk.length }, REQ_A),
      ev({ pid: 200, dir: 'write', pos: 0, otherPos: REQ_A.length }, junk),
      ev({ pid: 200, dir: 'write', pos: 0, otherPos: REQ_A.length }, junk + RES_A),
      ev({ pid: 200, dir: 'read', pos: REQ_A.length, otherPos: junk.length + RES_A.length }, REQ_B),
      ev({ pid: 200, dir: 'write', pos: junk.length + RES_A.length, otherPos: REQ_A.length + REQ_B.length }, RES_B),
    ],
    table,
  );
  assert.equal(table.counters.stale, 1);
  assert.equal(table.counters.staleBytes, junk.length);
  assert.equal(table.counters.gaps, 0);
  assert.deepEqual(
    entries.filter((e) => e.protocol === 'http').map((e) => e.summary),
    ['GET /a → 200', 'GET /b → 404'],
  );
  assert.match(tlsSummary({ entries: entries.length, filtered: 0, events: 5, otherPods: 0, table: table.counters }), /1 stale events dropped \(10 bytes already passed on\)/);
});

test('frames split anywhere decode to the same events; a frame longer than any the loader writes is an error', () => {
  const body = Buffer.alloc(EVENT_HEADER + 3);
  body.writeUInt32LE(1, 0); // kind
  body.writeUInt32LE(4242, 4); // pid
  body.writeUInt32LE(4243, 8); // tid
  body.writeInt32LE(7, 12); // fd
  body.writeBigUInt64LE(1_800_000_000_123_456_789n, 16);
  body.writeBigUInt64LE(10n, 24); // pos
  body.writeUInt32LE(3, 32); // len
  body[40] = 1; // read
  body.writeUInt16LE(10, 42); // AF_INET6
  body.writeUInt16LE(443, 44);
  body.writeUInt16LE(50000, 46);
  body.write('python3', 48, 'latin1');
  Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 19, 120, 9]).copy(body, 64); // v4-mapped
  Buffer.from('fd000000000000000000000000000001', 'hex').copy(body, 80);
  body.writeBigUInt64LE(77n, 96); // the other direction's offset
  body.writeBigUInt64LE(6466n, 104); // the caller's cgroup v2 id
  body.writeUInt32LE(1, 112); // EVF_WRITE_IN_FLIGHT
  Buffer.from('abc').copy(body, EVENT_HEADER);
  const frame = Buffer.concat([Buffer.alloc(5), body]);
  frame.writeUInt32LE(frame.length, 0);
  frame[4] = 1;
  const stream = Buffer.concat([frame, frame]);
  for (let cut = 1; cut < stream.length; cut += 37) {
    const d = new FrameDecoder();
    const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
    assert.equal(got.length, 2);
    for (const f of got) {
      assert.equal(f.type, 'event');
      if (f.type !== 'event') continue;
      assert.equal(f.event.pid, 4242);
      assert.equal(f.event.dir, 'read');
      assert.equal(f.event.comm, 'python3');
      assert.deepEqual(f.event.local, { ip: '198.19.120.9', port: 443 });
      assert.deepEqual(f.event.remote, { ip: 'fd00::1', port: 50000 });
      assert.equal(f.event.data.toString(), 'abc');
      assert.equal(f.event.tsNsec, 123_456_789);
      assert.equal(f.event.otherPos, 77);
      assert.equal(f.event.cgroupId, 6466n);
      assert.equal(f.event.afterWriteInFlight, true);
    }
    assert.equal(d.buffered, 0);
  }
  const bad = Buffer.alloc(8);
  bad.writeUInt32LE(10_000_000, 0);
  assert.throws(() => new FrameDecoder().push(bad), /out of step/);
});

test('the other end still reading what the feeding end wrote before it closed is its copy, not a new connection with a gap', async () => {
  const table = new ConnectionTable();
  const body = 'x'.repeat(100);
  const req = `POST /up HTTP/1.1\r\nHost: web\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const { entries } = await entriesOf(
    [
      ev({ pid: 100, dir: 'write', pos: 0 }, req),
      ev({ pid: 200, dir: 'read', pos: 0 }, req.slice(0, 50)),
      ev({ pid: 200, dir: 'write', pos: 0 }, RES_A),
      ev({ pid: 100, dir: 'read', pos: 0 }, RES_A),
      { ...ev({ pid: 100, dir: 'write', pos: req.length }), kind: 'close', skipped: RES_A.length },
      // The server reads the rest after the client closed.
      ev({ pid: 200, dir: 'read', pos: 50 }, req.slice(50)),
      { ...ev({ pid: 200, dir: 'write', pos: RES_A.length }), kind: 'close', skipped: req.length },
    ],
    table,
  );
  assert.deepEqual(entries.filter((e) => e.protocol === 'http').map((e) => e.summary), ['POST /up → 200']);
  assert.equal(table.counters.connections, 1);
  assert.equal(table.counters.gaps, 0);
  assert.equal(table.counters.afterClose, 1);
});

test('an end whose events all come after the feeding end closed is still named (its process is the call\'s client)', async () => {
  const table = new ConnectionTable();
  const { entries } = await entriesOf(
    [
      ev({ pid: 200, dir: 'read', pos: 0 }, REQ_A),
      ev({ pid: 200, dir: 'write', pos: 0 }, RES_A),
      { ...ev({ pid: 200, dir: 'write', pos: RES_A.length }), kind: 'close', skipped: REQ_A.length },
      ev({ pid: 100, dir: 'write', pos: 0 }, REQ_A),
      ev({ pid: 100, dir: 'read', pos: 0 }, RES_A),
    ],
    table,
  );
  const http = entries.filter((e) => e.protocol === 'http');
  assert.deepEqual(http.map((e) => e.summary), ['GET /a → 200']);
  assert.equal(http[0].process?.comm, 'curl');
  assert.equal(http[0].peerProcess?.comm, 'nginx');
  assert.equal(table.counters.connections, 1);
  assert.equal(table.counters.bothEnds, 1);
});

test('an fd reused for another connection with no close event between (close_range, dup2, a lost event): the first connection ends there, the second is its own', async () => {
  const table = new ConnectionTable();
  const UNTIL_CLOSE = 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it';
  const second = { ip: CLIENT.ip, port: CLIENT.port + 1 };
  const packets = [
    ev({ pid: 100, dir: 'write', pos: 0 }, REQ_A),
    ev({ pid: 100, dir: 'read', pos: 0 }, UNTIL_CLOSE),
    // Same pid and fd, another socket: the loader made its state afresh (tls_capture.bpf.c conn_of).
    ev({ pid: 100, dir: 'write', pos: 0, local: second }, REQ_B),
    ev({ pid: 100, dir: 'read', pos: 0, local: second }, RES_B),
  ].flatMap((e) => table.onEvent(e));
  // The first connection's FINs come before the second connection's first segment.
  const fins = packets.findIndex((p) => (p.data[33] & 0x01) !== 0);
  const firstOfSecond = packets.findIndex((p) => p.data.readUInt16BE(20) === second.port);
  assert.ok(fins >= 0 && fins < firstOfSecond, `FIN at ${fins}, second connection from ${firstOfSecond}`);
  const entries: Entry[] = [];
  for await (const batch of dissectPackets((async function* () { yield packets; })(), {})) entries.push(...batch);
  const http = entries.filter((e) => e.protocol === 'http');
  assert.deepEqual(http.map((e) => e.summary), ['GET /a → 200', 'GET /b → 404']);
  assert.deepEqual(http.map((e) => e.src.port), [CLIENT.port, second.port]);
  // Its body ran until the close: whole, not cut at the end of the run.
  assert.equal(http[0].response?.body, 'all of it');
  assert.deepEqual(http.map((e) => e.warnings ?? []), [[], []]);
  assert.equal(table.counters.connections, 2);
  assert.equal(table.counters.gaps, 0);
});

test('an event whose socket gave no port (0) is skipped and counted, never an entry with port 0', async () => {
  const table = new ConnectionTable();
  const { entries } = await entriesOf(
    [
      ev({ pid: 200, dir: 'read', pos: 0, local: { ip: SERVER.ip, port: 0 } }, REQ_A),
      ev({ pid: 200, dir: 'write', pos: 0, local: { ip: SERVER.ip, port: 0 } }, RES_A),
    ],
    table,
  );
  assert.deepEqual(entries, []);
  assert.equal(table.counters.connections, 0);
  assert.equal(table.counters.noAddress, 2);
  assert.match(tlsSummary({ entries: 0, filtered: 0, events: 2, otherPods: 0, table: table.counters }), /2 events on sockets with no address \(port 0\) skipped \(\d+ bytes\)/);
});

test('a gap at the feeding end of a connection hooked at both ends is said apart: the other end copy does not fill it', async () => {
  const table = new ConnectionTable();
  // The client feeds; its read of the first response was lost (ring full), the server's write of it was not.
  await entriesOf(
    [
      ev({ pid: 100, dir: 'write', pos: 0 }, REQ_A),
      ev({ pid: 200, dir: 'read', pos: 0 }, REQ_A),
      ev({ pid: 200, dir: 'write', pos: 0 }, RES_A),
      ev({ pid: 100, dir: 'write', pos: REQ_A.length, otherPos: RES_A.length }, REQ_B),
      ev({ pid: 100, dir: 'read', pos: RES_A.length }, RES_B),
    ],
    table,
  );
  assert.equal(table.counters.gaps, 1);
  assert.equal(table.counters.gapsBothEnds, 1);
  assert.match(tlsSummary({ entries: 2, filtered: 0, events: 5, otherPods: 0, table: table.counters }), /1 gaps \(\d+ bytes; 1 on connections hooked at both ends, not filled from the other end.s copy\)/);
  // The other end shows up only after the gap: counted then.
  const later = new ConnectionTable();
  await entriesOf(
    [
      ev({ pid: 100, dir: 'write', pos: 0 }, REQ_A),
      ev({ pid: 100, dir: 'write', pos: REQ_A.length, otherPos: RES_A.length }, REQ_B),
      ev({ pid: 100, dir: 'read', pos: RES_A.length }, RES_B),
      ev({ pid: 200, dir: 'write', pos: RES_A.length }, RES_B),
    ],
    later,
  );
  assert.deepEqual([later.counters.gaps, later.counters.gapsBothEnds], [1, 1]);
});

test('a child forked with the connection (its own offsets from 0) feeds it too: its call between the parent calls is an entry, named after it', async () => {
  const table = new ConnectionTable();
  // The child (pid 101, same fd and socket as the parent 100) counts its offsets from its own first call.
  const child = (over: Partial<TlsEvent> & Pick<TlsEvent, 'dir' | 'pos'>, data = ''): TlsEvent => ({ ...ev({ pid: 100, ...over }, data), pid: 101, tid: 101, comm: 'python3-child' });
  const a = REQ_A.length;
  const ra = RES_A.length;
  const { entries } = await entriesOf(
    [
      ev({ pid: 100, dir: 'write', pos: 0 }, REQ_A),
      ev({ pid: 200, dir: 'read', pos: 0 }, REQ_A),
      ev({ pid: 200, dir: 'write', pos: 0, otherPos: a }, RES_A),
      ev({ pid: 100, dir: 'read', pos: 0, otherPos: a }, RES_A),
      // The child's call: the server's copy of it (offsets past the first call) is dropped as the other end's.
      child({ dir: 'write', pos: 0 }, REQ_B),
      ev({ pid: 200, dir: 'read', pos: a, otherPos: ra }, REQ_B),
      ev({ pid: 200, dir: 'write', pos: ra, otherPos: a + REQ_B.length }, RES_B),
      child({ dir: 'read', pos: 0, otherPos: REQ_B.length }, RES_B),
      // The child exits (no close event: its fds close at exit); the parent calls again from its own offsets.
      ev({ pid: 100, dir: 'write', pos: a, otherPos: ra }, REQ_A),
      ev({ pid: 100, dir: 'read', pos: ra, otherPos: 2 * a }, RES_A),
      { ...ev({ pid: 100, dir: 'write', pos: 2 * a }), kind: 'close', skipped: 2 * ra },
    ],
    table,
  );
  const http = entries.filter((e) => e.protocol === 'http');
  assert.deepEqual(
    http.map((e) => `${e.summary} ${e.process?.pid}`),
    ['GET /a → 200 100', 'GET /b → 404 101', 'GET /a → 200 100'],
  );
  assert.ok(http.every((e) => !e.warnings?.length), JSON.stringify(http.map((e) => e.warnings)));
  assert.equal(table.counters.shared, 1);
  assert.equal(table.counters.gaps, 0);
  assert.match(tlsSummary({ events: 11, table: table.counters } as any), /1 used by more than one process \(a forked child, an fd passed on\)/);
});
