// HTTP/1 on lossy and hostile traffic: responses lost from the capture,
// captures that start mid-message, split heads, lone interim responses, and
// heads that never end. Engine-level cases run synthetic TCP wires whose ACKs
// are what real stacks send, so a request acknowledges the response bytes
// the client received even when the capture missed them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DissectionEngine } from '../../src/dissect/engine.js';
import { http1, MAX_HEAD_BYTES, type Http1Parser } from '../../src/dissect/protocols/http1.js';
import type { Packet } from '../../src/model/packet.js';
import type { Entry } from '../../src/model/entry.js';
import { fakeContext } from './helpers.js';
import { AckedConnection, CLIENT_PORT } from '../helpers/acked-connection.js';
import { dissectPacketList } from '../helpers/pcap-edit.js';

/** Dissect packets (numbered in order) and return the entries and the run's counters. */
function dissect(packets: Packet[]): { entries: Entry[]; counters: Record<string, number> } {
  return dissectPacketList(packets.map((p, i) => ({ ...p, frame: i + 1 })));
}

const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: svc\r\n\r\n`;
/** The response echoes the path in its body, so a pairing can be checked from the entry alone. */
const response = (path: string): string => `HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`;
const rightlyPaired = (e: Entry): boolean => e.request !== null && e.response !== null && e.response.body === e.request.path;

test('keep-alive, 1,000 requests, one response lost from the capture: every other response pairs with its own request', () => {
  const conn = new AckedConnection();
  const lost = '/r/500';
  for (let i = 0; i < 1000; i++) {
    const path = `/r/${i}`;
    conn.send(i * 10, 1, request(path));
    if (path === lost) conn.lose(2, response(path));
    else conn.send(i * 10 + 5, 2, response(path));
  }
  const { entries, counters } = dissect(conn.packets);
  assert.equal(entries.length, 1000);
  const paired = entries.filter(rightlyPaired);
  assert.equal(paired.length, 999, `${paired.length} of 999 rightly paired`);
  // Each response's own packet, 5 ms after its request — also the one that waited behind the hole in reassembly.
  assert.deepEqual(paired.filter((e) => e.elapsedTime !== 5).map((e) => `${e.request!.path} ${e.elapsedTime}`), []);
  const unanswered = entries.filter((e) => e.response === null);
  assert.deepEqual(unanswered.map((e) => e.request!.path), [lost]);
  assert.deepEqual(unanswered[0].warnings, ['gap', 'unanswered']);
  assert.equal(counters['http.response_lost_in_gap'], 1);
});

test('keep-alive, two responses in a row lost: the client acknowledged them before each next request, so both are unanswered', () => {
  const conn = new AckedConnection();
  for (let i = 0; i < 20; i++) {
    const path = `/r/${i}`;
    conn.send(i * 10, 1, request(path));
    if (i === 7 || i === 8) conn.lose(2, response(path));
    else conn.send(i * 10 + 5, 2, response(path));
  }
  const { entries } = dissect(conn.packets);
  assert.equal(entries.filter(rightlyPaired).length, 18);
  assert.deepEqual(entries.filter((e) => e.response === null).map((e) => e.request!.path), ['/r/7', '/r/8']);
});

test('pipelined requests, first response lost: the rest still pair in order (the requests acknowledged nothing of it)', () => {
  const conn = new AckedConnection();
  conn.send(0, 1, request('/a') + request('/b') + request('/c'));
  conn.lose(2, response('/a'));
  conn.send(10, 2, response('/b'));
  conn.send(11, 2, response('/c'));
  conn.send(12, 1, request('/d'));
  conn.send(20, 2, response('/d'));
  const { entries } = dissect(conn.packets);
  assert.deepEqual(
    entries.map((e) => `${e.request?.path} ${e.response?.body ?? 'unanswered'}`),
    ['/a unanswered', '/b /b', '/c /c', '/d /d'],
  );
  assert.ok(entries[0].warnings!.includes('gap'));
});

test('pipelined requests, a gap inside a chunked response: that response is marked, the next ones pair in order', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from(request('/a') + request('/b') + request('/c')));
  p.onData('s2c', Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n/a'));
  p.onGap('s2c', 300);
  p.onData('s2c', Buffer.from('more of /a\r\n0\r\n\r\n' + response('/b') + response('/c')));
  p.onEnd('eof');
  assert.deepEqual(
    ctx.calls.map((c) => `${c.request?.path} ${c.response?.status}`),
    ['/a 200', '/b 200', '/c 200'],
  );
  assert.equal(ctx.calls[1].response!.body, '/b');
  assert.equal(ctx.calls[2].response!.body, '/c');
  assert.ok(ctx.calls[0].warnings!.includes('gap'));
  assert.ok(ctx.counters['http.bytes_dropped'] > 0, 'skipped bytes are counted');
});

test('a response cut short by lost bytes ends at its last captured packet, not at the packet that revealed the loss', () => {
  const conn = new AckedConnection();
  conn.send(0, 1, request('/cut'));
  conn.send(10, 2, 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'); // frame 5
  conn.lose(2, 'x'.repeat(90));
  conn.send(50, 1, request('/next'));
  conn.send(60, 2, response('/next'));
  conn.send(70, 1, request('/last'));
  conn.send(80, 2, response('/last'));
  const { entries } = dissect(conn.packets);
  assert.deepEqual(entries.map((e) => `${e.request?.path} ${e.response?.status}`), ['/cut 200', '/next 200', '/last 200']);
  assert.equal(entries[0].frames!.response, 5);
  assert.equal(entries[0].elapsedTime, 10);
  assert.ok(entries[0].warnings!.includes('gap'));
  assert.ok(entries.slice(1).every(rightlyPaired));
});

test('without ACKs to go by, a gap between keep-alive responses still belongs to the request waiting for it', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from(request('/1')));
  p.onData('s2c', Buffer.from(response('/1')));
  p.onData('c2s', Buffer.from(request('/2')));
  p.onGap('s2c', response('/2').length);
  p.onData('c2s', Buffer.from(request('/3')));
  p.onData('s2c', Buffer.from(response('/3')));
  p.onEnd('eof');
  assert.deepEqual(ctx.calls.map((c) => `${c.request?.path} ${c.response?.body ?? 'unanswered'}`), ['/1 /1', '/2 unanswered', '/3 /3']);
});

test('without ACKs, lost bytes running past the end of a known-length body began the next response', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from(request('/1')));
  p.onData('s2c', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123'));
  p.onData('c2s', Buffer.from(request('/2')));
  p.onGap('s2c', 6 + response('/2').length);
  p.onData('c2s', Buffer.from(request('/3')));
  p.onData('s2c', Buffer.from(response('/3')));
  p.onEnd('eof');
  assert.deepEqual(ctx.calls.map((c) => `${c.request?.path} ${c.response?.status ?? 'unanswered'}`), ['/1 200', '/2 unanswered', '/3 200']);
  assert.equal(ctx.calls[0].response!.bodySize, 10, 'sizes count the lost bytes of the body');
  assert.equal(ctx.calls[2].response!.body, '/3');
});

test('a request lost from the capture (a gap in the request direction) leaves the next request paired with its own response', () => {
  const conn = new AckedConnection();
  conn.send(0, 1, request('/1'));
  conn.send(5, 2, response('/1'));
  conn.lose(1, request('/2'));
  conn.send(15, 2, response('/2'));
  conn.send(20, 1, request('/3'));
  conn.send(25, 2, response('/3'));
  const { entries } = dissect(conn.packets);
  assert.deepEqual(
    entries.map((e) => `${e.request?.path ?? '(none)'} ${e.response?.body ?? 'unanswered'}`).sort(),
    ['(none) /2', '/1 /1', '/3 /3'],
  );
});

test('a request and its response both lost from the capture: the next request, sent after the client had the lost bytes, keeps its response', () => {
  const conn = new AckedConnection();
  conn.send(0, 1, request('/1'));
  conn.send(5, 2, response('/1'));
  conn.lose(1, request('/2'));
  conn.lose(2, response('/2'));
  conn.send(20, 1, request('/3'));
  conn.send(25, 2, response('/3'));
  conn.send(30, 1, request('/4'));
  conn.send(35, 2, response('/4'));
  const { entries } = dissect(conn.packets);
  assert.deepEqual(
    entries.map((e) => `${e.request?.path ?? '(none)'} ${e.response?.body ?? 'unanswered'}`),
    ['/1 /1', '/3 /3', '/4 /4'],
  );
});

test('a request head split over two packets is stamped with its first packet (time and frame)', () => {
  const conn = new AckedConnection();
  conn.send(1000, 1, 'GET /split HTTP/1.1\r\nHo');
  conn.send(1040, 1, 'st: svc\r\n\r\n');
  conn.send(1100, 2, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n');
  conn.send(1130, 2, 'ok');
  // A second request never completed: stamped with its own first packet, not the last one of the capture.
  conn.send(2000, 1, 'GET /cut HTTP/1.1\r\n');
  conn.send(2500, 1, 'X-Partial: 1\r\n');
  conn.send(3000, 2, '');
  const { entries } = dissect(conn.packets);
  const [split, cut] = entries;
  assert.equal(split.summary, 'GET /split → 200');
  assert.equal(split.timestamp, 1000);
  assert.equal(split.elapsedTime, 130);
  // Frames 1-3 are the handshake.
  assert.deepEqual(split.frames, { request: 4, response: 7 });
  assert.equal(cut.summary, 'GET /cut → unanswered');
  assert.equal(cut.timestamp, 2000);
  assert.equal(cut.frames!.request, 8);
  assert.ok(cut.warnings!.includes('truncated'));
});

test('a lone 100 Continue (its request before the capture) is an entry of its own; with its request it is listed on the final response', () => {
  let conn = new AckedConnection();
  conn.send(0, 2, 'HTTP/1.1 100 Continue\r\n\r\n');
  let { entries } = dissect(conn.packets);
  assert.deepEqual(entries.map((e) => `${e.protocol} ${e.summary}`), ['http (no request) → 100']);
  assert.equal(entries[0].response!.status, 100);

  conn = new AckedConnection();
  conn.send(0, 1, 'PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n');
  conn.send(1, 2, 'HTTP/1.1 100 Continue\r\n\r\n');
  conn.send(2, 1, 'ok');
  conn.send(3, 2, 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n');
  ({ entries } = dissect(conn.packets));
  assert.deepEqual(entries.map((e) => e.summary), ['PUT /u → 201']);
  assert.deepEqual(entries[0].response!.interim, [{ status: 100, statusText: 'Continue' }]);

  // 101 still switches protocols.
  conn = new AckedConnection();
  conn.send(0, 1, 'GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  conn.send(1, 2, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi');
  ({ entries } = dissect(conn.packets));
  assert.equal(entries[0].summary, 'GET /ws → 101');
  assert.equal(entries[0].response!.upgrade, 'websocket');
});

test('a capture that starts inside a response body (odd port) is still HTTP: the body is skipped to the next status line', () => {
  const conn = new AckedConnection(1234, 40001, false);
  conn.send(0, 2, 'tail of a body we never saw the head of\r\nmore body\r\n');
  conn.send(1, 2, response('/seen'));
  conn.send(10, 1, request('/next'));
  conn.send(11, 2, response('/next'));
  const { entries, counters } = dissect(conn.packets);
  assert.deepEqual(entries.map((e) => `${e.protocol} ${e.summary}`), ['http (no request) → 200', 'http GET /next → 200']);
  assert.equal(entries[1].response!.body, '/next');
  assert.equal(entries[0].src.port, 40001, 'the server is the side that sent the status line');
  assert.ok(counters['http.bytes_dropped'] > 0);
});

test('a lower-case "http/1.1" status line (zeek-http-lower-case-port-1234) is read, with a warning, not counted malformed', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from(request('/index.html')));
  p.onData('s2c', Buffer.from('http/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'));
  p.onEnd('eof');
  assert.equal(ctx.calls.length, 1);
  assert.equal(ctx.calls[0].response!.status, 200);
  assert.equal(ctx.calls[0].response!.body, 'abc');
  assert.deepEqual(ctx.calls[0].warnings, ['nonstandard: "http/" in status line']);
  assert.equal(ctx.counters['http.malformed'], undefined);
});

test('a head over the cap yields a truncated entry and a counter, holds at most the cap, and the next request still parses', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx) as Http1Parser;
  p.onData('c2s', Buffer.from('GET /big HTTP/1.1\r\nHost: svc\r\n'));
  const line = Buffer.from('X-Long: ' + 'a'.repeat(8000) + '\r\n');
  let maxHeld = 0;
  for (let i = 0; i < 100; i++) {
    p.onData('c2s', line);
    maxHeld = Math.max(maxHeld, p.bufferedBytes());
  }
  p.onData('c2s', Buffer.from('\r\n' + request('/after')));
  p.onData('s2c', Buffer.from('HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n' + response('/after')));
  p.onEnd('eof');
  assert.ok(maxHeld <= MAX_HEAD_BYTES + line.length, `held ${maxHeld} bytes`);
  assert.equal(ctx.counters['http.head_truncated'], 1);
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['GET /big → 431', 'GET /after → 200']);
  assert.equal(ctx.calls[0].request!.host, 'svc');
  assert.ok(ctx.calls[0].warnings!.includes(`truncated: head over ${MAX_HEAD_BYTES} bytes`));
});

test('a 10 MB request line: an entry with the start of the target, a warning, and at most the cap held', () => {
  const conn = new AckedConnection();
  conn.send(0, 1, 'GET /' + 'a'.repeat(4000));
  const chunk = 'a'.repeat(60000);
  for (let i = 0; i < 175; i++) conn.send(1 + i, 1, chunk);
  conn.send(200, 1, ' HTTP/1.1\r\n\r\n');
  conn.send(201, 2, 'HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\n\r\n');
  const { entries, counters } = dissect(conn.packets);
  assert.equal(entries.length, 1);
  assert.equal(entries[0].protocol, 'http');
  assert.equal(entries[0].summary.slice(0, 10), 'GET /aaaaa');
  assert.equal(entries[0].response!.status, 414);
  assert.ok(entries[0].request!.url.length <= 4096);
  assert.ok(entries[0].warnings!.includes(`truncated: head over ${MAX_HEAD_BYTES} bytes`));
  assert.equal(counters['http.head_truncated'], 1);
  assert.equal(counters['http.malformed'], undefined);
});

test('1,000 flows each sending 200 KB of a head that never ends: 1,000 truncated entries, 1,000 counted', () => {
  const engine = new DissectionEngine({}, (e) => entries.push(e));
  const entries: Entry[] = [];
  const filler = Buffer.from('X-Filler: ' + 'b'.repeat(16 * 1024 - 12) + '\r\n');
  let frame = 0;
  for (let f = 0; f < 1000; f++) {
    const conn = new AckedConnection(80, 20000 + f);
    conn.send(f, 1, 'GET /endless HTTP/1.1\r\n');
    for (let i = 0; i < 12; i++) conn.send(f, 1, filler);
    for (const pkt of conn.packets) engine.push({ ...pkt, frame: ++frame });
  }
  engine.finish();
  const counters = engine.summary();
  assert.equal(entries.length, 1000);
  assert.ok(entries.every((e) => e.protocol === 'http' && e.request!.path === '/endless' && e.warnings!.includes(`truncated: head over ${MAX_HEAD_BYTES} bytes`)));
  assert.equal(counters['http.head_truncated'], 1000);
});

test('a 4 MB chunked body is never held beyond --max-body, and its size is the wire size', () => {
  const ctx = fakeContext({ maxBody: 1024 });
  const p = http1.createTcpParser!(ctx) as Http1Parser;
  p.onData('c2s', Buffer.from(request('/big')));
  p.onData('s2c', Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'));
  const piece = Buffer.concat([Buffer.from('4000\r\n'), Buffer.alloc(0x4000, 0x61), Buffer.from('\r\n')]);
  let maxHeld = 0;
  for (let i = 0; i < 256; i++) {
    p.onData('s2c', piece);
    maxHeld = Math.max(maxHeld, p.bufferedBytes());
  }
  p.onData('s2c', Buffer.from('0\r\n\r\n'));
  p.onEnd('eof');
  assert.equal(maxHeld, 0, 'each piece is read as it arrives');
  assert.equal(ctx.calls.length, 1);
  assert.equal(ctx.calls[0].response!.bodySize, 256 * 0x4000);
  assert.equal(ctx.calls[0].response!.body.length, 1024);
  assert.equal(ctx.calls[0].response!.bodyTruncated, true);
});

test('after a gap, a line in a response body that reads like a request line is not taken for one', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from(request('/log') + request('/next')));
  p.onData('s2c', Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\naccess log:\n'));
  p.onGap('s2c', 100);
  p.onData('s2c', Buffer.from('GET /admin HTTP/1.1\r\n\r\n\r\n0\r\n\r\n' + response('/next')));
  p.onEnd('eof');
  assert.deepEqual(ctx.calls.map((c) => `${c.request?.path} ${c.response?.status}`), ['/log 200', '/next 200']);
  assert.equal(ctx.calls[1].response!.body, '/next');
});

test('a status line a snap length cut before its end still gives the status (connection close: the FINs say the rest was lost)', () => {
  // tcpdump -s 96 with TCP timestamps keeps 30 bytes of payload: "HTTP/1.1 500 Internal Server E".
  const conn = new AckedConnection(80);
  conn.send(0, 1, request('/ratings/1'));
  conn.sendCut(1, 2, 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 21\r\nConnection: close\r\n\r\nInternal Server Error', 30); // frame 5
  conn.fin(2, 2);
  conn.fin(3, 1);
  conn.ackOnly(4, 2);
  // A cut before the status is complete says nothing: that request stays unanswered.
  const short = new AckedConnection(80, CLIENT_PORT + 1);
  short.send(10, 1, request('/short'));
  short.sendCut(11, 2, 'HTTP/1.1 503 Service Unavailable\r\n\r\n', 11);
  short.fin(12, 2);
  short.fin(13, 1);
  short.ackOnly(14, 2);
  const { entries } = dissect([...conn.packets, ...short.packets]);
  assert.deepEqual(entries.map((e) => e.summary), ['GET /ratings/1 → 500', 'GET /short → unanswered']);
  const [cut] = entries;
  assert.equal(cut.error, true);
  assert.equal(cut.frames!.response, 5);
  assert.ok(cut.warnings!.includes('gap'), JSON.stringify(cut.warnings));
  assert.equal(cut.response!.statusText, '');
});

test('keep-alive under a snap length: a cut status line gives the status and the next call pairs with its own response', () => {
  const conn = new AckedConnection(80);
  conn.send(0, 1, request('/a'));
  conn.sendCut(1, 2, `HTTP/1.1 503 Service Unavailable\r\nContent-Length: 40\r\n\r\n${'x'.repeat(40)}`, 20);
  conn.send(10, 1, request('/b'));
  conn.send(11, 2, response('/b'));
  const { entries } = dissect(conn.packets);
  assert.deepEqual(entries.map((e) => `${e.request?.path} ${e.response?.status ?? 'unanswered'}`), ['/a 503', '/b 200']);
  assert.ok(entries[0].warnings!.includes('gap'));
  assert.ok(rightlyPaired(entries[1]));
});

test('a request and its response both cut by a snap length, the capture ending before the client FIN: still one call', () => {
  const conn = new AckedConnection(80);
  // The request line fits, its headers do not; then the response's status line is cut, the server closes.
  conn.sendCut(0, 1, 'GET /ratings/1 HTTP/1.0\r\nHost: ratings\r\nUser-Agent: x\r\n\r\n', 30);
  conn.sendCut(1, 2, 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n', 30);
  conn.fin(2, 2);
  const { entries } = dissect(conn.packets);
  assert.deepEqual(entries.map((e) => e.summary), ['GET /ratings/1 → 500']);
  // The IP header says how much the snap length cut: those bytes are a gap as soon as the request is read.
  assert.ok(entries[0].warnings!.includes('gap'), JSON.stringify(entries[0].warnings));
});

test('a malformed status line leaves the status null (unknown), never 0, and the summary says so', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from(request('/odd')));
  p.onData('s2c', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  p.onData('c2s', Buffer.from(request('/bad')));
  p.onData('s2c', Buffer.from('HTTP/1.1 2xx Broken\r\nContent-Length: 0\r\n\r\n'));
  p.onEnd('fin');
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['GET /odd → 200', 'GET /bad → ? (malformed)']);
  const bad = ctx.calls[1];
  assert.equal(bad.response!.status, null);
  assert.equal(bad.error, false);
  assert.ok(bad.warnings!.some((w) => w.startsWith('malformed: status line')), JSON.stringify(bad.warnings));
});

test('a lost 101 before WebSocket: the frames after it switch the connection, the upgrade says gap (suricata-websocket-basic)', async () => {
  // suricata-websocket-basic.pcap frame 5 is the 101 (with the first server frame); the connection then carries WebSocket frames.
  const { readPcap, without, dissectPacketList } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const packets = readPcap(sharedCapture('suricata-websocket-basic.pcap'));
  const whole = dissectPacketList(packets).entries.filter((e) => e.protocol === 'ws');
  const { entries, counters } = dissectPacketList(without(packets, 5));
  const upgrade = entries.find((e) => e.request?.path === '/service');
  assert.ok(upgrade, entries.map((e) => e.summary).join(' | '));
  assert.deepEqual(upgrade.warnings, ['gap']);
  assert.equal(upgrade.summary, 'GET /service → ? (switched to websocket)');
  assert.deepEqual(upgrade.response, { status: null, headers: {}, upgrade: 'websocket' });
  assert.equal(upgrade.error, false);
  // Every frame but the one that shared the lost segment with the 101.
  const ws = entries.filter((e) => e.protocol === 'ws');
  assert.equal(ws.length, whole.length - 1);
  assert.equal(counters['http.upgrade_inferred'], 1);
  assert.equal(counters['http.bytes_dropped'], undefined);
});

test('a lost 101 before h2c: the HTTP/2 preface after the upgrade request switches the connection, stream 1 says gap (suricata-http2-range)', async () => {
  // suricata-http2-range.pcap: three upgrades to h2c; frame 51 is the second 101.
  const { readPcap, without, dissectPacketList } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const packets = readPcap(sharedCapture('suricata-http2-range.pcap'));
  const whole = dissectPacketList(packets).entries;
  const { entries } = dissectPacketList(without(packets, 51));
  // The same calls but the 101 entry, none read as HTTP/1 "PRI *" requests.
  assert.deepEqual(entries.map((e) => e.summary), whole.map((e) => e.summary).filter((s, i) => !(s === 'GET /eicar → 101' && i === 3)));
  const stream1 = entries.filter((e) => e.protocol === 'http2')[1];
  assert.deepEqual(stream1.warnings, ['gap']);
  assert.equal(stream1.response!.status, 206);
});

test('a lost 101 before h2c seen first in the server bytes: its SETTINGS frame after the lost ones switches the connection', () => {
  const conn = new AckedConnection(80);
  conn.send(0, 1, 'GET / HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
  conn.lose(2, 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
  conn.send(2, 2, Buffer.from('000000040000000000', 'hex'));
  conn.send(3, 1, Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from('000000040000000000', 'hex')]));
  // Stream 1's response (:status 200), then a second request on stream 3 and its response.
  conn.send(4, 2, Buffer.from('000001010500000001' + '88', 'hex'));
  conn.send(5, 1, Buffer.from('000008010500000003' + '82868441' + '03737663', 'hex'));
  conn.send(6, 2, Buffer.from('000001010500000003' + '88', 'hex'));
  const { entries, counters } = dissect(conn.packets);
  assert.deepEqual(entries.map((e) => `${e.protocol} ${e.summary} ${JSON.stringify(e.warnings ?? [])}`), ['http2 GET / → 200 ["gap"]', 'http2 GET / → 200 []']);
  assert.equal(counters['http.upgrade_inferred'], 1);
});

test('pipelined requests, the first lost from the capture: every call until the responses catch up says gap, then pairing is clean', () => {
  const conn = new AckedConnection();
  conn.lose(1, request('/a'));
  conn.send(1, 1, request('/b'));
  conn.send(2, 1, request('/c'));
  conn.send(10, 2, response('/a') + response('/b'));
  conn.send(11, 2, response('/c'));
  conn.send(20, 1, request('/d'));
  conn.send(21, 2, response('/d'));
  const { entries } = dissect(conn.packets);
  // The lost request shifts the pairing by one: no call may come out wrong without saying so.
  const silentlyWrong = entries.filter((e) => !rightlyPaired(e) && !e.warnings?.includes('gap'));
  assert.deepEqual(silentlyWrong.map((e) => e.summary), []);
  assert.equal(entries.length, 4);
  const last = entries[3];
  assert.ok(rightlyPaired(last), last.summary);
  assert.equal(last.warnings, undefined, 'a request sent after every response came is not touched by the loss');
});

test('keep-alive, a request lost from the capture: only its lone response says gap', () => {
  const conn = new AckedConnection();
  conn.send(0, 1, request('/a'));
  conn.send(1, 2, response('/a'));
  conn.lose(1, request('/b'));
  conn.send(11, 2, response('/b'));
  conn.send(20, 1, request('/c'));
  conn.send(21, 2, response('/c'));
  const { entries } = dissect(conn.packets);
  assert.deepEqual(entries.map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`), ['GET /a → 200 []', '(no request) → 200 ["gap"]', 'GET /c → 200 []']);
});
