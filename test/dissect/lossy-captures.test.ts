// Loss a capture point suffers, seen from what a user reads: a connection
// whose data the capture missed, datagrams a snap length cut, copies of one
// message. The rule: calls may be lost, never reported wrong without a
// warning, and every loss counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Packet } from '../../src/model/packet.js';
import type { Entry } from '../../src/model/entry.js';
import { AckedConnection, tcpPacket } from '../helpers/acked-connection.js';
import { udpPacket } from '../helpers/pcap-wire.js';
import { dissectPacketList } from '../helpers/pcap-edit.js';

/** Entries and counters of one engine over `packets`, numbered in order. */
function dissect(packets: Packet[]): { entries: Entry[]; counters: Record<string, number> } {
  return dissectPacketList(packets.map((p, i) => ({ ...p, frame: i + 1 })));
}

test('a connection whose only data segment was lost, then quiet until the capture ends, says how many bytes were lost', () => {
  const conn = new AckedConnection(9999);
  conn.lose(1, 'x'.repeat(453));
  conn.ackOnly(10, 2); // the server acknowledged the 453 bytes the capture missed
  const { entries, counters } = dissect(conn.packets);
  assert.equal(entries.length, 1);
  assert.equal(entries[0].summary, 'TCP 0 B → 0 B (453 B lost)');
  assert.deepEqual(entries[0].warnings, ['gap']);
  assert.equal(entries[0].request!.lostBytes, 453);
  assert.equal(counters['tcp.gap_bytes'], 453);
});

/** A datagram as `tcpdump -s` keeps it: the first `keep` bytes of its UDP payload, the IP header saying how long it was. */
function cutDatagram(atMs: number, src: 1 | 2, sport: number, dport: number, body: Buffer, keep: number): Packet {
  const whole = udpPacket(atMs, 0, src, sport, dport, body);
  return { ...whole, data: whole.data.subarray(0, 28 + keep) };
}

function dnsMessage(id: number, flags: number, answer?: Buffer): Buffer {
  const question = Buffer.concat([Buffer.from('\x03api\x07example\x03com\x00', 'latin1'), Buffer.from([0, 1, 0, 1])]);
  const header = Buffer.from([id >> 8, id & 255, flags >> 8, flags & 255, 0, 1, 0, answer ? 1 : 0, 0, 0, 0, 0]);
  return Buffer.concat([header, question, answer ?? Buffer.alloc(0)]);
}

test('a DNS answer a snap length cut is still DNS: the call says truncated, counted, not malformed, its size the wire size', () => {
  // Two A records: the second runs past the capture's end.
  const a = (ip: number[]) => Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ip]);
  const answer = Buffer.concat([a([198, 18, 0, 9]), a([198, 18, 0, 10])]);
  const response = dnsMessage(7, 0x8180, answer);
  response.writeUInt16BE(2, 6);
  const packets = [udpPacket(0, 0, 1, 40000, 53, dnsMessage(7, 0x0100)), cutDatagram(1, 2, 53, 40000, response, response.length - 8)];
  const { entries, counters } = dissect(packets);
  assert.equal(entries.length, 1);
  const e = entries[0];
  assert.equal(e.protocol, 'dns');
  assert.equal(e.summary, 'A api.example.com → 198.18.0.9');
  assert.deepEqual(e.warnings, ['truncated']);
  assert.equal(e.responseSize, response.length);
  assert.equal(counters['dns.truncated'], 1);
  assert.equal(counters['dns.malformed'], undefined);
});

test('DNS over UDP: a query asked again after its resolver timeout is one call timed from the first, and the answer to each copy gives one entry, the second counted', async () => {
  const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 9]);
  const packets = [
    udpPacket(0, 0, 1, 40000, 53, dnsMessage(7, 0x0100)),
    udpPacket(5000, 0, 1, 40000, 53, dnsMessage(7, 0x0100)), // the resolver's 5 s retry (a lost datagram, the conntrack race)
    udpPacket(5001, 0, 2, 53, 40000, dnsMessage(7, 0x8180, answer)),
    udpPacket(5040, 0, 2, 53, 40000, dnsMessage(7, 0x8180, answer)), // the server answered both copies
    udpPacket(6000, 0, 1, 40000, 53, dnsMessage(8, 0x0100)),
    udpPacket(6001, 0, 2, 53, 40000, dnsMessage(8, 0x8180, answer)),
  ];
  const { entries, counters } = dissect(packets);
  assert.deepEqual(entries.map((e) => [e.summary, e.error, e.elapsedTime, e.warnings ?? [], e.request?.retransmissions, e.frames]), [
    ['A api.example.com → 198.18.0.9', false, 5001, ['retransmitted'], 1, { request: 1, response: 3 }],
    ['A api.example.com → 198.18.0.9', false, 1, [], undefined, { request: 5, response: 6 }],
  ]);
  assert.equal(counters['dns.retransmitted_queries'], 1);
  assert.equal(counters['dns.duplicate_responses'], 1);
  // Said on stderr with the run's notes: nothing was lost, but a datagram made no entry.
  const { dissectionNotes } = await import('../../src/input/dissect-summary.js');
  assert.deepEqual(dissectionNotes(undefined, { packets: 6, entries: 2, counters }, false), ['not made entries: 1 DNS answer to a query already answered (asked twice, answered twice)']);
});

test('a RADIUS request and answer a snap length cut are still RADIUS, read as far as captured, and say truncated', () => {
  const attr = (type: number, value: string) => Buffer.concat([Buffer.from([type, value.length + 2]), Buffer.from(value, 'latin1')]);
  const radius = (code: number, attrs: Buffer) => {
    const b = Buffer.concat([Buffer.from([code, 42, 0, 0]), Buffer.alloc(16, 0xab), attrs]);
    b.writeUInt16BE(b.length, 2);
    return b;
  };
  const request = radius(1, Buffer.concat([attr(1, 'steve'), attr(31, 'x'.repeat(60))]));
  const accept = radius(2, attr(18, 'welcome, this reply is long enough to be cut'));
  const packets = [cutDatagram(0, 1, 40000, 1812, request, 40), cutDatagram(1, 2, 1812, 40000, accept, 30)];
  const { entries, counters } = dissect(packets);
  assert.deepEqual(entries.map((e) => `${e.protocol} ${e.summary} ${JSON.stringify(e.warnings)}`), ['radius Access-Request steve → Access-Accept ["truncated"]']);
  assert.equal(entries[0].requestSize, request.length);
  assert.equal(counters['radius.truncated'], 2);
});

test('datagrams of an unknown protocol a snap length cut: the udp entry says truncated', () => {
  const body = Buffer.alloc(200, 0x5a);
  const { entries } = dissect([cutDatagram(0, 1, 40000, 7777, body, 64), udpPacket(1, 0, 2, 7777, 40000, Buffer.alloc(10, 1))]);
  assert.equal(entries.length, 1);
  assert.equal(entries[0].protocol, 'udp');
  assert.deepEqual(entries[0].warnings, ['truncated']);
});

test('a long connection of an unknown protocol: the interim report whose interval lost a segment says gap, though the hole is said only after it', () => {
  const conn = new AckedConnection(9999);
  // 24 bytes from the server every second, each acknowledged; the one at 29.5 s never reaches the capture
  // (its ACK does), then a pause: the next segment, which shows where the hole ends, comes after the
  // 30 s interim report is due.
  for (let t = 0; t < 29_000; t += 1000) {
    conn.send(t + 1, 2, 'x'.repeat(24));
    conn.ackOnly(t + 2, 1);
  }
  conn.lose(2, 'x'.repeat(24));
  conn.ackOnly(29_502, 1);
  for (let t = 35_000; t < 75_000; t += 1000) {
    conn.send(t, 2, 'x'.repeat(24));
    conn.ackOnly(t + 1, 1);
  }
  const { entries, counters } = dissect(conn.packets);
  const reports = entries.map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`);
  assert.ok(entries.length >= 2, reports.join('\n'));
  // The first report falls due with the segment at 35 s (no packet came between) and holds it, out of
  // order behind the hole: 30 segments captured, the 31st sent in its time lost.
  assert.equal(reports[0], 'TCP 0 B → 720 B (ongoing) ["gap"]');
  assert.equal(counters['tcp.gap_bytes'], 24);
  // Reports with no loss in them stay clean.
  assert.ok(reports.slice(2).every((r) => r.endsWith('[]')), reports.join('\n'));
});

test('Redis caught in the middle of a large reply, on its own port: the port names the server, no reply text becomes commands, and the calls after it pair as in the whole capture', async () => {
  const { readCapture, dissectPacketList } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const all = await readCapture(sharedCapture('zeek-redis-pubsub-resp3.pcap'));
  const whole = new Set(dissectPacketList(all).entries.map((e) => e.summary));
  // Frame 19 on is the rest of the server's COMMAND DOCS reply (text such as "…EING the number of elements popped.").
  const { entries, counters } = dissectPacketList(all.slice(18).map((p, i) => ({ ...p, frame: i + 1 })));
  const invented = entries.filter((e) => !whole.has(e.summary)).map((e) => e.summary);
  assert.deepEqual(invented, []);
  for (const s of ['SUBSCRIBE Foo → [3 items]', 'PSUBSCRIBE F* → [3 items]', 'SET random_key → OK', 'PING → PONG']) {
    assert.ok(entries.some((e) => e.summary === s), s);
  }
  assert.equal(counters['redis.malformed'], undefined);
  assert.ok(counters['redis.gap_dropped'] > 0, 'the reply read in part is counted as dropped');
});

test('pipelined HTTP/1 whose SYN-ACK and first response were lost: the requests are not paired one response off, the first says gap', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const all = await readCapture(sharedCapture('zeek-http-pipelined-requests.pcap'));
  const line = (e: { summary: string; warnings?: string[]; response: unknown }) => `${e.summary} ${(e.response as { bodySize?: number } | null)?.bodySize ?? '-'} ${JSON.stringify(e.warnings ?? [])}`;
  const whole = dissectPacketList(all).entries.map(line);
  // Frame 2 is the server's SYN-ACK, frame 5 the whole answer to the first GET: the client's ACKs still say where the server's bytes began.
  const lossy = dissectPacketList(without(without(all, 5), 2)).entries.map(line);
  assert.deepEqual(lossy, [
    'GET /style/enhanced.css → unanswered - ["gap","unanswered"]',
    'GET /script/urchin.js → 200 6716 ["gap"]',
    ...whole.slice(2),
  ]);
});

test('Redis bytes skipped before the first message of a connection caught mid-way are counted as such, not as a gap: nothing was lost', async () => {
  const { readCapture, dissectPacketList } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  // One segment on port 6379 that does not start a message (a crafted capture from tcpdump's tests).
  const { counters } = dissectPacketList(await readCapture(sharedCapture('tcpdump-resp_4_infiniteloop.pcapng')));
  assert.ok(counters['redis.midstream_dropped'] > 0, JSON.stringify(counters));
  assert.equal(counters['redis.gap_dropped'], undefined);
  assert.equal(counters['tcp.gaps'], undefined);
});

test('DNS over TCP whose query or answer the capture lost: the lone answer and the query left waiting say gap, and an intact copy changes nothing', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const all = await readCapture(sharedCapture('tcpdump-dns_tcp.pcap'));
  const line = (e: Entry) => `${e.request ? 'q' : '-'}${e.response ? 'r' : '-'} ${e.summary} ${JSON.stringify(e.warnings ?? [])}`;
  const answer = 'A www.tcpdump.org → 192.139.46.66, 198.199.88.104';
  assert.deepEqual(dissectPacketList(all).entries.map(line), [`qr ${answer} []`]);
  // Frame 4 is the query (the server's ACK in frame 5 says it was sent): the answer is alone, and says why.
  assert.deepEqual(dissectPacketList(without(all, 4)).entries.map(line), [`-r ${answer} ["gap"]`]);
  // Frame 6 is the answer (the client's ACK in frame 7 says it was sent): not an unanswered query as if the server were silent.
  assert.deepEqual(dissectPacketList(without(all, 6)).entries.map(line), ['q- A www.tcpdump.org → unanswered ["unanswered","gap"]']);
  // The `any` interface records a packet twice: the copy is a retransmission, not a second query or answer.
  for (const frame of [4, 6]) {
    const twice = all.flatMap((p) => (p.frame === frame ? [p, p] : [p])).map((p, i) => ({ ...p, frame: i + 1 }));
    assert.deepEqual(dissectPacketList(twice).entries.map(line), [`qr ${answer} []`]);
  }
});

test('AMQP: a reply whose method the capture lost says gap beside request not captured; one whose method came before the capture began does not', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const all = await readCapture(sharedCapture('deepflow-amqp1.pcap'));
  const lone = (packets: Packet[]) => dissectPacketList(packets).entries.filter((e) => e.protocol === 'amqp' && !e.request).map((e) => `${e.summary} ${JSON.stringify(e.warnings)}`);
  // Frame 8 is the server's connection.start, frame 11 its connection.tune: the client's ACKs say both were sent.
  assert.deepEqual(lone(without(all, 8)), ['connection.start-ok ["request not captured","gap"]']);
  assert.deepEqual(lone(without(all, 11)), ['connection.tune-ok ["request not captured","gap"]']);
  // The capture begun after connection.start (frame 9 on, no handshake): nothing was lost.
  assert.deepEqual(lone(all.slice(8).map((p, i) => ({ ...p, frame: i + 1 }))), ['connection.start-ok ["request not captured"]']);
});

test('PostgreSQL whose one-byte answer to an SSLRequest was lost: the client next bytes say refused or accepted, and the connection is still read', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { sharedCapture, repoRoot } = await import('../helpers/paths.js');
  const { join } = await import('node:path');
  const line = (e: Entry) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`;
  // lab-bookinfo-mix frame 428 is the server's N (refused); the StartupMessage in the clear follows.
  const mix = (await readCapture(sharedCapture('lab-bookinfo-mix.pcap'))).filter((p) => p.frame >= 389 && p.frame <= 450);
  const refused = dissectPacketList(without(mix, 428 - 388));
  assert.deepEqual(refused.entries.filter((e) => e.protocol === 'postgresql').map(line), [
    'SSLRequest → refused ["gap"]',
    'startup user=postgres db=postgres → ready []',
    'select 1 as n, now() → SELECT 1 []',
  ]);
  assert.equal(refused.counters['postgresql.encryption_reply_inferred'], 1);
  // lab-pgsql-tls frame 6 is the server's S (accepted); the ClientHello follows: TLS is read.
  const tls = await readCapture(join(repoRoot, 'test', 'fixtures', 'captures', 'lab-pgsql-tls.pcap'));
  assert.deepEqual(dissectPacketList(without(tls, 6)).entries.map(line), ['SSLRequest → accepted (encrypted) ["gap"]', 'TLS db.shark.test []']);
});

test('Redis pipeline whose client segment was lost and found lost only later (the server ACK past it): every command read after the hole says gap, none is paired one off in silence', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { repoRoot } = await import('../helpers/paths.js');
  const { join } = await import('node:path');
  const all = await readCapture(join(repoRoot, 'test', 'fixtures', 'captures', 'lab-redis-pipe.pcap'));
  const whole = new Set(dissectPacketList(all).entries.map((e) => e.summary));
  // Frame 5 is the client's second segment of 3,000 pipelined commands; frames 6 to 8 wait behind the hole.
  const { entries, counters } = dissectPacketList(without(all, 5));
  const silentlyWrong = entries.filter((e) => !e.warnings?.includes('gap') && !whole.has(e.summary)).map((e) => e.summary);
  assert.deepEqual(silentlyWrong.slice(0, 3), []);
  // The commands of frame 4, before the hole, pair as in the whole capture, and say nothing.
  assert.ok(entries.slice(0, 50).every((e) => e.warnings === undefined && whole.has(e.summary)));
  assert.equal(counters['tcp.gap_bytes'], 1448);
});

test('Kafka: a response to no request seen says gap when the client bytes were lost, not when the capture began after its request', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { sharedCapture, repoRoot } = await import('../helpers/paths.js');
  const { join } = await import('node:path');
  const lone = (packets: Packet[]) => dissectPacketList(packets).entries.filter((e) => e.protocol === 'kafka' && !e.request).map((e) => `${e.summary} ${JSON.stringify(e.warnings)}`);
  // ndpi-kafka, captured mid-connection: the server's frame 5 acknowledges 44 client bytes never captured (request #131);
  // #140 and #141 answer requests sent before the capture began.
  assert.deepEqual(lone(await readCapture(sharedCapture('ndpi-kafka.pcapng'))).slice(0, 3), [
    'response #131 → ok ["request not captured","gap"]',
    'response #140 → ok ["request not captured"]',
    'response #141 → ok ["request not captured"]',
  ]);
  // lab-kafka-groups frame 4 is the client first request (its answer is frame 6).
  const groups = await readCapture(join(repoRoot, 'test', 'fixtures', 'captures', 'lab-kafka-groups.pcap'));
  assert.deepEqual(lone(without(groups, 4)), ['response #1 → ok ["request not captured","gap"]']);
});

test('PostgreSQL whose server bytes were lost before a Close and its Sync, or after statements sent before their end: each call keeps its own answer', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { repoRoot } = await import('../helpers/paths.js');
  const { join } = await import('node:path');
  const all = await readCapture(join(repoRoot, 'test', 'fixtures', 'captures', 'lab-pgsql-prepare.pcap'));
  // Frame 25 is the server's rows for an Execute; frame 26 the client's Close/Sync (answered by 27), frame 28 its commit.
  const { entries } = dissectPacketList(without(all, 25));
  const lines = entries.filter((e) => e.src.port === 43654).slice(-3).map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`);
  assert.deepEqual(lines, ['select g from generate_series(1, 7) g → unanswered ["gap","unanswered"]', 'close portal cur → ok []', 'commit → COMMIT []']);
  // Frames 9 and 11, the startup answer and the answer to frame 10's statements, are one hole: frame 10 was sent
  // before the server sent its end (its ACK says so), so frame 12's statements keep their own answers.
  const hole = dissectPacketList(without(without(all, 11), 9)).entries.slice(1, 6).map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`);
  assert.deepEqual(hole, [
    'select 1 → unanswered ["gap","unanswered"]',
    'select $1::text as word → unanswered ["gap","unanswered"]',
    'select \'three\' → unanswered ["gap","unanswered"]',
    'select 10 → prepared []',
    'selec 20 → ERROR 42601 []',
  ]);
});

test('MySQL whose lost server bytes ran past a query sent before their end: that query is unanswered with gap, and the next reply pairs with its own command', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { repoRoot } = await import('../helpers/paths.js');
  const { join } = await import('node:path');
  const all = await readCapture(join(repoRoot, 'test', 'fixtures', 'captures', 'lab-mysql-compressed.pcap'));
  // Frames 22 and 24 are one hole: the end of a result set, then the reply to frame 23 (whose ACK stops before it).
  const lines = dissectPacketList(without(without(all, 24), 22)).entries.slice(3, 6).map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`);
  assert.deepEqual(lines, [
    'select id, v from docs → unanswered ["gap","unanswered"]',
    'select \'after\' as small → unanswered ["gap","unanswered"]',
    'drop table docs → OK []',
  ]);
});

test('MQTT whose CONNECT or PUBLISH was lost: the lone acknowledgement says gap and names its packet once; one whose CONNECT came before the capture began says nothing', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const line = (e: Entry) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`;
  // Frame 4 is the CONNECT, frame 8 the QoS 1 PUBLISH; frame 5 is the server's ACK of the CONNECT.
  const all = await readCapture(sharedCapture('suricata-mqtt311-pub-qos1.pcap'));
  const lostConnect = dissectPacketList(without(all, 4)).entries.map(line);
  assert.equal(lostConnect[0], '(no request) → CONNACK Connection Accepted ["gap"]');
  const lostPublish = dissectPacketList(without(all, 8)).entries.map(line);
  assert.ok(lostPublish.includes('(no request) → PUBACK ["gap"]'), lostPublish.join('\n'));
  assert.equal(lostPublish[0], 'CONNECT myvoiceismypassport → CONNACK Connection Accepted []');
  // Begun after the CONNECT (its handshake and CONNECT not captured): nothing was lost.
  const late = dissectPacketList(all.slice(4).map((p, i) => ({ ...p, frame: i + 1 })));
  assert.equal(line(late.entries[0]), '(no request) → CONNACK Connection Accepted []');
  assert.equal(late.counters['mqtt.gap'], undefined);
});

test('NATS whose HPUB naming a reply subject was lost: the server delivering it back is not an unanswered request in silence, it says gap', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const all = await readCapture(sharedCapture('deepflow-nats-headers.pcap'));
  const line = (e: Entry) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`;
  const whole = dissectPacketList(all).entries.map(line);
  // Frame 24 is the client's HPUB FRONT.DOOR with a reply subject; frame 25 the server's HMSG delivering it back.
  assert.ok(whole.includes('HMSG FRONT.DOOR → (no response) []'), whole.join('\n'));
  const lossy = dissectPacketList(without(all, 24)).entries.map(line);
  const hmsg = lossy.filter((l) => l.startsWith('HMSG FRONT.DOOR'));
  assert.deepEqual(hmsg, ['HMSG FRONT.DOOR → unanswered ["gap","unanswered"]']);
  // The calls before the loss are as in the whole capture, and no one else is unanswered.
  assert.deepEqual(lossy.slice(0, 7), whole.slice(0, 7));
  assert.equal(lossy.filter((l) => l.includes('"unanswered"')).length, 1, lossy.join('\n'));
});

test('a connection reset recorded after the SYN of the next one on the same ports ends neither: no empty TCP RST entry, both calls read', async () => {
  const at = (ms: number, data: Buffer): Packet => ({ tsSec: 0, tsNsec: ms * 1e6, linkType: 101, data, origLen: data.length, interfaceId: 0, frame: 0 });
  const none = Buffer.alloc(0);
  const get = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  const ok = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  /** Handshake, GET, 200, then the client's RST or FIN (random-looking ISNs, as stacks choose them). */
  const conn = (t: number, c: number, s: number, end: 'rst' | 'fin'): Packet[] => {
    const [c1, s1] = [(c + 1) >>> 0, (s + 1) >>> 0];
    const [c2, s2] = [(c1 + get.length) >>> 0, (s1 + ok.length) >>> 0];
    const out = [at(t, tcpPacket(1, 40000, 8080, c, undefined, none, 0x02)), at(t + 1, tcpPacket(2, 8080, 40000, s, c1, none, 0x02)), at(t + 2, tcpPacket(1, 40000, 8080, c1, s1, get)), at(t + 3, tcpPacket(2, 8080, 40000, s1, c2, ok))];
    if (end === 'rst') return [...out, at(t + 4, tcpPacket(1, 40000, 8080, c2, s2, none, 0x04))];
    return [...out, at(t + 4, tcpPacket(1, 40000, 8080, c2, s2, none, 0x01)), at(t + 5, tcpPacket(2, 8080, 40000, s2, (c2 + 1) >>> 0, none, 0x01)), at(t + 6, tcpPacket(1, 40000, 8080, (c2 + 1) >>> 0, (s2 + 1) >>> 0, none, 0))];
  };
  const first = conn(0, 0x9e3779b9, 0x7f4a7c15, 'rst');
  const second = conn(10, 0x3c6ef372, 0xdaa66d2b, 'fin');
  const line = (e: Entry) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`;
  const inOrder = dissect([...first, ...second]);
  // The reset swapped with the next SYN, each keeping its time slot.
  const swapped = [...first.slice(0, -1), { ...second[0], tsNsec: first[4].tsNsec }, { ...first[4], tsNsec: second[0].tsNsec }, ...second.slice(1)];
  const lossy = dissect(swapped);
  assert.deepEqual(lossy.entries.map(line), inOrder.entries.map(line));
  assert.deepEqual(lossy.entries.map(line), ['GET / → 200 []', 'GET / → 200 []']);
  assert.equal(lossy.counters['tcp.rst_stray'], 1);
  const { describeRepeats } = await import('../../src/input/dissect-summary.js');
  assert.equal(describeRepeats(lossy.counters), "not made entries: 1 TCP reset of an earlier connection on the same ports (recorded after the new one's SYN)");
  // A reset that is the connection's own still ends it: a refused SYN, a client's abort.
  const refused = dissect([at(0, tcpPacket(1, 40001, 8080, 0x11111111, undefined, none, 0x02)), at(1, tcpPacket(2, 8080, 40001, 0, 0x11111112, none, 0x04))]);
  assert.deepEqual(refused.entries.map(line), ['TCP 0 B → 0 B [RST] []']);
  assert.equal(inOrder.counters['tcp.rst_stray'], undefined);
});

/** PostgreSQL v3 wire messages for crafted connections. */
const pgMsg = (t: string, body: Buffer) => Buffer.concat([Buffer.from(t, 'latin1'), Buffer.from([0, 0, 0, 0].map((_, i) => ((body.length + 4) >> (24 - 8 * i)) & 255)), body]);
const cstr = (s: string) => Buffer.from(`${s}\0`, 'latin1');
const zeros = (n: number) => Buffer.alloc(n);
const pgStartupBody = Buffer.concat([Buffer.from([0, 3, 0, 0]), cstr('user'), cstr('app'), cstr('database'), cstr('shop'), zeros(1)]);
const pgStartup = Buffer.concat([Buffer.from([0, 0, 0, pgStartupBody.length + 4]), pgStartupBody]);
const pgReady = pgMsg('Z', Buffer.from('I'));

test('PostgreSQL whose Parse of the unnamed statement was lost: the Bind after it does not take the previous statement text, its call says gap', () => {
  const parse = (q: string) => pgMsg('P', Buffer.concat([cstr(''), cstr(q), zeros(2)]));
  const bindExecSync = Buffer.concat([pgMsg('B', Buffer.concat([cstr(''), cstr(''), zeros(6)])), pgMsg('E', Buffer.concat([cstr(''), zeros(4)])), pgMsg('S', zeros(0))]);
  const done = (tag: string) => Buffer.concat([pgMsg('1', zeros(0)), pgMsg('2', zeros(0)), pgMsg('C', cstr(tag)), pgReady]);
  const conn = new AckedConnection(5432);
  conn.send(1, 1, pgStartup);
  conn.send(2, 2, Buffer.concat([pgMsg('R', zeros(4)), pgReady]));
  conn.send(3, 1, Buffer.concat([parse('SELECT 1'), bindExecSync]));
  conn.send(4, 2, done('SELECT 1'));
  conn.lose(1, parse('UPDATE t SET a = 1').toString('latin1')); // its own segment, lost
  conn.send(5, 1, bindExecSync);
  conn.send(6, 2, done('UPDATE 3'));
  conn.send(7, 1, Buffer.concat([parse('SELECT 2'), bindExecSync]));
  conn.send(8, 2, done('SELECT 1'));
  const { entries } = dissect(conn.packets);
  const lines = entries.map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])} ${e.request?.query ?? '-'}`);
  assert.deepEqual(lines.slice(1), ['SELECT 1 → SELECT 1 [] SELECT 1', 'extended → UPDATE 3 ["gap"] -', 'SELECT 2 → SELECT 1 [] SELECT 2']);
});

test('PostgreSQL whose SSLRequest and the server one-byte refusal were both lost: the startup and the query after it are still read', () => {
  const conn = new AckedConnection(5432);
  conn.lose(1, '\0\0\0\x08\x04\xd2\x16\x2f'); // SSLRequest
  conn.lose(2, 'N');
  conn.send(1, 1, pgStartup);
  conn.send(2, 2, Buffer.concat([pgMsg('R', zeros(4)), pgReady]));
  conn.send(3, 1, pgMsg('Q', cstr('select 1')));
  conn.send(4, 2, Buffer.concat([pgMsg('C', cstr('SELECT 1')), pgReady]));
  const { entries, counters } = dissect(conn.packets);
  assert.deepEqual(entries.map((e) => e.summary), ['startup user=app db=shop → ready', 'select 1 → SELECT 1']);
  assert.equal(counters['tcp.gap_bytes'], 9);
});

test('Redis whose SUBSCRIBE was lost: the server confirmation, alone, says gap; the next subscription still pairs', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const all = await readCapture(sharedCapture('zeek-redis-pubsub-resp3.pcap'));
  // Frame 41 is SUBSCRIBE Foo (RESP3: its confirmation, frame 43, is a push).
  const lines = dissectPacketList(without(all, 41)).entries.map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`);
  assert.deepEqual(lines.slice(2, 4), ['subscribe Foo ["gap"]', 'PSUBSCRIBE F* → [3 items] []']);
  // Messages pushed on a subscription are entries of their own and say nothing.
  assert.ok(lines.includes('message Foo []'), lines.join('\n'));
});

test('MySQL whose greeting, login or login OK was lost: the commands after it are still read and paired, the login says gap', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { repoRoot } = await import('../helpers/paths.js');
  const { join } = await import('node:path');
  const line = (e: Entry) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`;
  const plain = await readCapture(join(repoRoot, 'test', 'fixtures', 'captures', 'lab-mysql.pcap'));
  // Frame 4 is the server greeting, 6 the login, 8 its OK, 9/10 the first query and its rows.
  const whole = dissectPacketList(plain).entries.filter((e) => e.protocol === 'mysql').map(line);
  assert.equal(whole[1], 'select 1 as one, "hello" as greeting → 1 rows []');
  for (const [frame, login] of [[4, 'login user=shark → OK ["gap"]'], [8, 'login user=shark → reply ["gap","truncated"]']] as const) {
    const lossy = dissectPacketList(without(plain, frame)).entries.map(line);
    assert.deepEqual(lossy.slice(0, 2), [login, whole[1]], `without frame ${frame}`);
    assert.deepEqual(lossy.slice(2), whole.slice(2), `without frame ${frame}`);
  }
  // Compression agreed in the login: read from the client's flags when the greeting was lost.
  const compressed = await readCapture(join(repoRoot, 'test', 'fixtures', 'captures', 'lab-mysql-compressed.pcap'));
  const wholeZ = dissectPacketList(compressed).entries.map(line);
  const lossyZ = dissectPacketList(without(compressed, 4)).entries.map(line);
  assert.deepEqual(lossyZ, [wholeZ[0].replace('[]', '["gap"]'), ...wholeZ.slice(1)]);
});

test('CQL whose PREPARE was lost: the EXECUTEs that name its id without its text say gap; in the whole capture an unknown id says nothing', async () => {
  const { readCapture, dissectPacketList, without } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const all = await readCapture(sharedCapture('cqltrace-cql-v3-simple.pcap'));
  const unknown = (entries: Entry[]) => entries.filter((e) => e.summary.startsWith('EXECUTE <prepared')).map((e) => `${e.summary.replace(/ \(either.*/, '')} ${JSON.stringify(e.warnings ?? [])}`);
  // The server forgot one id (its error names it): no loss there.
  assert.deepEqual(unknown(dissectPacketList(all).entries), ['EXECUTE <prepared 654772b3d4cfa251a111b33f9f6f9338> → ERROR Unprepared: Prepared query with ID 654772b3d4cfa251a111b33f9f6f9338 not found []']);
  // Frame 53 is the PREPARE of that id on another connection.
  const lossy = unknown(dissectPacketList(without(all, 53)).entries);
  assert.equal(lossy.filter((l) => l.endsWith('→ Void ["gap"]')).length, 5, lossy.join('\n'));
  assert.ok(lossy.every((l) => l.endsWith('["gap"]') || l.includes('Unprepared')), lossy.join('\n'));
});
