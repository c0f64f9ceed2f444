// DNS: hand-built messages, crafted malformed captures, and agreement with
// tshark on real UDP and TCP traffic.
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { dns, dnsTcp, parseDnsMessage, probeDns } from '../../src/dissect/protocols/dns.js';
import { chunkings, fakeContext, feed, followTcp, tsharkFields } from './helpers.js';
import { sharedCapture } from '../helpers/paths.js';

function name(n: string): Buffer {
  return Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

function header(id: number, flags: number, qd: number, an: number, ns = 0, ar = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
}

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

function rr(ptr: number, type: number, ttl: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xc0, ptr]), u16(type), u16(1), u32(ttl), u16(data.length), data]);
}

const QNAME = 'reviews.bookinfo.svc';
const query = Buffer.concat([header(0x1234, 0x0100, 1, 0), name(QNAME), u16(1), u16(1)]);
const answer = Buffer.concat([
  header(0x1234, 0x8180, 1, 2),
  name(QNAME),
  u16(1),
  u16(1),
  rr(12, 5, 30, name('r.example')), // CNAME
  rr(12, 1, 30, Buffer.from([198, 18, 1, 5])),
]);
const nx = Buffer.concat([header(0x9999, 0x8183, 1, 0), name('nope.example'), u16(28), u16(1)]);

test('UDP: query and answer pair by id; rcode ≠ 0 is an error; responses without queries are kept', () => {
  const ctx = fakeContext({}, 'udp');
  const p = dns.createUdpParser!(ctx);
  p.onDatagram('c2s', query);
  ctx.now += 5;
  p.onDatagram('s2c', answer);
  p.onDatagram('s2c', nx);
  p.onDatagram('c2s', Buffer.concat([header(7, 0x0100, 1, 0), name('lost.example'), u16(1), u16(1)]));
  p.onEnd('eof');
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['A reviews.bookinfo.svc → 198.18.1.5', 'AAAA nope.example → NXDOMAIN', 'A lost.example → unanswered']);
  const [ok, bad, lost] = ctx.calls;
  assert.deepEqual(ok.request!.questions, [{ name: QNAME, type: 'A', class: 'IN' }]);
  assert.equal(ok.response!.rcode, 0);
  assert.equal(ok.response!.answers[0].type, 'CNAME');
  assert.equal(ok.response!.answers[0].data, 'r.example');
  assert.equal(ok.response!.answers[1].ttl, 30);
  assert.equal(ok.responseTime! - ok.requestTime, 5);
  assert.equal(ok.error, false);
  assert.equal(bad.request, null);
  assert.equal(bad.response!.rcodeName, 'NXDOMAIN');
  assert.equal(bad.response!.questions[0].name, 'nope.example');
  assert.equal(bad.error, true);
  assert.equal(lost.error, true);
  assert.deepEqual(lost.warnings, ['unanswered']);
});

test('UDP: an answer recorded just before its query (-i any) pairs with it; one whose query comes too late, or never, is an answer alone', () => {
  const ctx = fakeContext({}, 'udp');
  const p = dns.createUdpParser!(ctx);
  const t0 = ctx.now;
  p.onDatagram('s2c', answer);
  assert.equal(p.pendingSince!(), t0, 'the held answer keeps the conversation and the entries after it waiting');
  ctx.now += 40;
  ctx.frame = 2;
  p.onDatagram('c2s', query);
  // An NXDOMAIN whose query comes 300 ms later: the tick at 250 ms lets the answer out alone.
  ctx.frame = 3;
  p.onDatagram('s2c', nx);
  ctx.now += 250;
  p.onTick!(ctx.now, 30_000);
  assert.equal(ctx.calls.length, 2);
  ctx.now += 50;
  ctx.frame = 4;
  p.onDatagram('c2s', Buffer.concat([header(0x9999, 0x0100, 1, 0), name('nope.example'), u16(28), u16(1)]));
  p.onEnd('eof');
  assert.deepEqual(ctx.calls.map((c) => [c.summary, c.requestFrame, c.responseFrame, c.error, c.warnings]), [
    ['A reviews.bookinfo.svc → 198.18.1.5', 2, 1, false, undefined],
    ['AAAA nope.example → NXDOMAIN', 3, 3, true, undefined],
    ['AAAA nope.example → unanswered', 4, undefined, true, ['unanswered']],
  ]);
  const paired = ctx.calls[0];
  assert.equal(paired.requestTime, t0 + 40);
  assert.equal(paired.responseTime, t0 + 40, 'no negative time: answered at once');
  assert.equal(paired.request!.questions[0].name, QNAME);
  assert.deepEqual(ctx.counters, { 'dns.answer_before_query': 1 });
});

test('UDP: a query to a multicast group (mDNS, LLMNR) without an answer on its conversation is one-way, not unanswered', () => {
  const ptr = Buffer.concat([header(0, 0x0000, 1, 0), name('_googlecast._tcp.local'), u16(12), u16(1)]);
  const calls = [
    ['224.0.0.251', 5353],
    ['ff02::fb', 5353],
    ['224.0.0.252', 5355],
    ['FF02::1:3', 5355],
    ['198.18.64.2', 5353],
    ['fe80::1', 53],
  ].map(([ip, port]) => {
    const ctx = fakeContext({}, 'udp');
    Object.assign(ctx, { server: { ...ctx.server, ip, port } });
    const p = dns.createUdpParser!(ctx);
    p.onDatagram('c2s', ptr);
    p.onEnd('eof');
    return ctx.calls[0];
  });
  assert.deepEqual(calls.map((c) => [c.summary, c.error, c.response, c.warnings]), [
    ...Array(4).fill(['PTR _googlecast._tcp.local → (no response)', false, null, undefined]),
    ...Array(2).fill(['PTR _googlecast._tcp.local → unanswered', true, null, ['unanswered']]),
  ]);
});

test('UDP: several queries waiting on one socket pair in any order, expire and end oldest first; past 1,024 the oldest goes out', () => {
  const q = (id: number, host: string) => Buffer.concat([header(id, 0x0100, 1, 0), name(host), u16(1), u16(1)]);
  const a = (id: number, host: string) => Buffer.concat([header(id, 0x8180, 1, 1), name(host), u16(1), u16(1), rr(12, 1, 30, Buffer.from([198, 18, 9, id & 0xff]))]);
  const ctx = fakeContext({}, 'udp');
  const p = dns.createUdpParser!(ctx);
  const hosts = ['one.example', 'two.example', 'three.example', 'four.example'];
  hosts.forEach((h, i) => {
    ctx.now = 1000 + i * 1000;
    p.onDatagram('c2s', q(i + 1, h));
  });
  assert.equal(p.pendingSince!(), 1000);
  // The oldest is answered after the second: what waits longest is then the third.
  ctx.now = 4500;
  p.onDatagram('s2c', a(2, hosts[1]));
  p.onDatagram('s2c', a(1, hosts[0]));
  assert.equal(p.pendingSince!(), 3000);
  // The third asked again (same id, same question): a retransmission, one lookup still waiting since the first.
  ctx.now = 5000;
  p.onDatagram('c2s', q(3, hosts[2]));
  assert.equal(p.pendingSince!(), 3000);
  assert.equal(ctx.counters['dns.retransmitted_queries'], 1);
  // A tick expires what waited longer than the timeout, and only that.
  p.onTick!(5500, 2000);
  assert.equal(p.pendingSince!(), 4000);
  p.onEnd('eof');
  assert.deepEqual(
    ctx.calls.map((c) => [c.summary, c.requestTime, c.warnings ?? []]),
    [
      ['A two.example → 198.18.9.2', 2000, []],
      ['A one.example → 198.18.9.1', 1000, []],
      ['A three.example → unanswered', 3000, ['unanswered', 'retransmitted']],
      ['A four.example → unanswered', 4000, ['unanswered']],
    ],
  );

  const flood = fakeContext({}, 'udp');
  const f = dns.createUdpParser!(flood);
  for (let id = 0; id <= 1024; id++) {
    flood.now = 1000 + id;
    f.onDatagram('c2s', q(id, `h${id}.example`));
  }
  assert.equal(flood.counters['dns.pending-overflow'], 1);
  assert.deepEqual(flood.calls.map((c) => c.summary), ['A h0.example → unanswered']);
  assert.equal(f.pendingSince!(), 1001);
  f.onDatagram('s2c', a(1024, 'h1024.example'));
  f.onEnd('eof');
  assert.equal(flood.calls.length, 1025);
  assert.deepEqual(flood.calls.slice(1, 4).map((c) => c.summary), ['A h1024.example → 198.18.9.0', 'A h1.example → unanswered', 'A h2.example → unanswered']);
  assert.equal(flood.calls.at(-1)!.summary, 'A h1023.example → unanswered');
});

for (const how of chunkings) {
  test(`TCP with length prefixes, several messages per segment (${how})`, () => {
    const framed = (m: Buffer) => Buffer.concat([u16(m.length), m]);
    const ctx = fakeContext();
    const p = dnsTcp.createTcpParser!(ctx);
    const nxQuery = Buffer.concat([header(0x9999, 0x0100, 1, 0), name('nope.example'), u16(28), u16(1)]);
    feed(p, ctx, [{ dir: 'c2s', data: Buffer.concat([framed(query), framed(nxQuery)]) }, { dir: 's2c', data: Buffer.concat([framed(answer), framed(nx)]) }], how);
    p.onEnd('eof');
    assert.deepEqual(ctx.calls.map((c) => c.summary), ['A reviews.bookinfo.svc → 198.18.1.5', 'AAAA nope.example → NXDOMAIN']);
  });
}

test('zone transfers over TCP: IXFR increments end with the newest SOA; one cut off by the end of the connection says truncated, one with a lost message says gap', () => {
  const framed = (m: Buffer) => Buffer.concat([u16(m.length), m]);
  const soa = (serial: number) => rr(12, 6, 300, Buffer.concat([name('ns.zone.test'), name('admin.zone.test'), u32(serial), u32(1), u32(2), u32(3), u32(4)]));
  const a = (last: number) => rr(12, 1, 300, Buffer.from([198, 18, 0, last]));
  const ask = (id: number, type: number, auth: Buffer[] = []) => Buffer.concat([header(id, 0x0000, 1, 0, auth.length), name('zone.test'), u16(type), u16(1), ...auth]);
  const reply = (id: number, records: Buffer[], question: boolean) => Buffer.concat([
    header(id, 0x8400, question ? 1 : 0, records.length), ...(question ? [name('zone.test'), u16(251), u16(1)] : [Buffer.alloc(0)]), ...records,
  ]);
  // Without a question after the first message, the answers' name pointers (offset 12) still land on a name: the zone's own.
  const later = (id: number, records: Buffer[]) => Buffer.concat([header(id, 0x8400, 1, records.length), name('zone.test'), u16(251), u16(1), ...records]);
  const ctx = fakeContext();
  const p = dnsTcp.createTcpParser!(ctx);
  // IXFR from serial 7 to 9: SOA 9, (SOA 7, deleted, SOA 8, added), (SOA 8, deleted, SOA 9, added), SOA 9, in three messages.
  feed(p, ctx, [
    { dir: 'c2s', data: framed(ask(0x51, 251, [soa(7)])) },
    { dir: 's2c', data: framed(reply(0x51, [soa(9), soa(7), a(1), soa(8)], true)) },
    { dir: 's2c', data: framed(later(0x51, [a(2), soa(8), a(3), soa(9)])) },
    { dir: 's2c', data: framed(later(0x51, [a(4), soa(9)])) },
    // An AXFR the connection's end cuts off after its first message.
    { dir: 'c2s', data: framed(ask(0x52, 252)) },
    { dir: 's2c', data: framed(reply(0x52, [soa(9), a(1), a(2)], true)) },
  ], 'whole');
  p.onEnd('eof');
  // One whose middle message was lost: the rest still ends it, and it says gap.
  const lossy = fakeContext();
  const q = dnsTcp.createTcpParser!(lossy);
  feed(q, lossy, [
    { dir: 'c2s', data: framed(ask(0x53, 252)) },
    { dir: 's2c', data: framed(reply(0x53, [soa(9), a(1)], true)) },
  ], 'whole');
  q.onGap('s2c', 30);
  feed(q, lossy, [{ dir: 's2c', data: framed(later(0x53, [a(3), soa(9)])) }], 'whole');
  q.onEnd('fin');
  // The response frame is the first message's (tshark's dns.response_in), the last one's is lastFrame; the time is the last's.
  assert.deepEqual(ctx.calls.map((c) => [c.summary, c.requestFrame, c.responseFrame, c.response?.lastFrame, c.response?.messages, c.warnings]), [
    ['IXFR zone.test → 10 records in 3 messages', 2, 3, 5, 3, undefined],
    ['AXFR zone.test → 3 records in 1 message', 6, 7, 7, 1, ['truncated']],
  ]);
  assert.equal(ctx.calls[0].responseTime! - ctx.calls[0].requestTime!, 3, 'timed to the last message (one ms a segment)');
  assert.deepEqual(ctx.counters, { 'dns.transfer_truncated': 1 });
  assert.deepEqual(lossy.calls.map((c) => [c.summary, c.warnings]), [['AXFR zone.test → 4 records in 2 messages', ['gap']]]);
  assert.equal(ctx.calls[0].response!.answers.length, 10);
});

test('record types: AAAA, MX, TXT, SRV, SOA, OPT, RRSIG', () => {
  const v6 = Buffer.from('20010db8000000000000000000000001', 'hex');
  const soa = Buffer.concat([name('ns.example'), name('admin.example'), u32(1), u32(2), u32(3), u32(4), u32(5)]);
  const opt = Buffer.concat([Buffer.from([0]), u16(41), u16(1232), u32(0x00008000), u16(0)]);
  const msg = Buffer.concat([
    header(1, 0x8180, 1, 8, 0, 1),
    name('x.example'),
    u16(255),
    u16(1),
    rr(12, 28, 1, v6),
    rr(12, 15, 1, Buffer.concat([u16(10), name('mail.example')])),
    rr(12, 16, 1, Buffer.from('\x05hello\x06 world', 'latin1')),
    rr(12, 16, 1, Buffer.from('\x0cone "string"', 'latin1')),
    rr(12, 16, 1, Buffer.from('\x04a"b\\\x00', 'latin1')),
    rr(12, 33, 1, Buffer.concat([u16(1), u16(2), u16(5432), name('db.example')])),
    rr(12, 6, 1, soa),
    // RRSIG over SSHFP: algorithm 5, 3 labels, TTL 900, expiration 2008-12-29 11:00:04, inception 2008-09-30 11:00:04, tag 29234.
    rr(12, 46, 1, Buffer.concat([u16(44), Buffer.from([5, 3]), u32(900), u32(1230548404), u32(1222772404), u16(29234), name('cynic.net'), Buffer.alloc(8)])),
    opt,
  ]);
  const m = parseDnsMessage(msg)!;
  assert.deepEqual(m.warnings, []);
  // A TXT record of several strings lists them apart, quoted as dig shows them; one string is its text.
  assert.deepEqual(
    m.answers.map((a) => `${a.type} ${a.data}`),
    ['AAAA 2001:db8::1', 'MX 10 mail.example', 'TXT "hello" " world"', 'TXT one "string"', 'TXT "a\\"b\\\\" ""', 'SRV 1 2 5432 db.example', 'SOA ns.example admin.example 1 2 3 4 5',
      'RRSIG SSHFP 5 3 900 20081229110004 20080930110004 29234 cynic.net'],
  );
  assert.equal(m.additionals[0].type, 'OPT');
  assert.equal(m.additionals[0].udpPayloadSize, 1232);
  assert.equal(m.additionals[0].do, true);
});

test('names in presentation format: dots, spaces and other bytes inside labels are escaped, also through a pointer', () => {
  // Labels "a.b", " x\0", "\xff", then "example"; an answer's name points at the second label.
  const labels = [Buffer.from('a.b'), Buffer.from(' x\0', 'latin1'), Buffer.from([0xff]), Buffer.from('example')];
  const qname = Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0])]);
  const msg = Buffer.concat([header(7, 0x8180, 1, 1), qname, u16(1), u16(1), rr(12 + 4, 1, 60, Buffer.from([198, 18, 0, 7]))]);
  const m = parseDnsMessage(msg)!;
  assert.deepEqual(m.warnings, []);
  assert.equal(m.questions[0].name, 'a\\.b.\\032x\\000.\\255.example');
  assert.equal(m.answers[0].name, '\\032x\\000.\\255.example');
  assert.equal(m.answers[0].data, '198.18.0.7');
});

test('compression loops and bad labels are marked malformed, never thrown or looped', () => {
  // Pointer to itself, and a two-pointer cycle.
  const self = Buffer.concat([header(1, 0x0100, 1, 0), Buffer.from([0xc0, 12]), u16(1), u16(1)]);
  const cycle = Buffer.concat([header(1, 0x8180, 1, 1), name('a'), u16(1), u16(1), Buffer.from([0xc0, 31, 0xc0, 29]), u16(1), u16(1), u32(1), u16(0)]);
  const badLabel = Buffer.concat([header(1, 0x0100, 1, 0), Buffer.from([0x40, 0x41]), u16(1), u16(1)]);
  for (const [what, m] of [['self', self], ['cycle', cycle], ['bad label', badLabel]] as const) {
    const parsed = parseDnsMessage(m)!;
    assert.ok(parsed.warnings.some((w) => w.startsWith('malformed')), `${what}: ${parsed.warnings}`);
  }
  assert.equal(parseDnsMessage(Buffer.alloc(5)), null);
});

// The crafted tcpdump regression captures: their DNS bytes sit behind a UDP
// header claiming no payload (so tshark and the engine see none); the bytes
// after the UDP header are fed to the parser directly here.
for (const file of ['tcpdump-dns-zlip-1.pcap', 'tcpdump-dns-zlip-3.pcap', 'tcpdump-dns-badlabel.pcap']) {
  test(`${file}: crafted names end as malformed marks`, () => {
    const frame = firstFrame(sharedCapture(file));
    const ipLen = (frame[14] & 0x0f) * 4;
    const m = parseDnsMessage(frame.subarray(14 + ipLen + 8));
    assert.ok(m !== null);
    assert.ok(m.warnings.some((w) => w.startsWith('malformed')), m.warnings.join());
  });
}

/** The first frame's bytes of a classic little-endian pcap file (what these three are). */
function firstFrame(capture: string): Buffer {
  const file = readFileSync(capture);
  assert.equal(file.readUInt32LE(0), 0xa1b2c3d4);
  const inclLen = file.readUInt32LE(24 + 8);
  return file.subarray(24 + 16, 24 + 16 + inclLen);
}

test('probe: header plausibility off-port, leniency on port 53', () => {
  assert.equal(probeDns(query, false, false), 'request');
  assert.equal(probeDns(answer, false, false), 'response');
  assert.equal(probeDns(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n'), false, false), false);
  assert.equal(probeDns(Buffer.alloc(4), true, false), false);
  assert.equal(probeDns(Buffer.concat([u16(query.length), query]), true, true), 'request');
});

// Real traffic against tshark: names, rcodes, A records.
for (const file of ['tcpdump-dns_udp.pcap', 'tcpdump-dnssec.pcap', 'tcpdump-edns-opts.pcap', 'tcpdump-LINKTYPE_RAW_ipv6.pcap']) {
  test(`${file}: questions, rcodes and A answers agree with tshark`, () => {
    const capture = sharedCapture(file);
    const rows = tsharkFields(capture, 'dns', ['udp.payload', 'dns.qry.name', 'dns.flags.rcode', 'dns.a', 'dns.flags.response']);
    assert.ok(rows.length > 0);
    for (const [payload, qname, rcode, a, isResponse] of rows) {
      const m = parseDnsMessage(Buffer.from(payload, 'hex'))!;
      assert.deepEqual(m.warnings, [], qname);
      assert.equal(m.questions.map((q) => q.name).join('|'), qname);
      assert.equal(m.qr, isResponse === '1' || isResponse === 'True');
      if (m.qr) assert.equal(String(m.rcode), rcode);
      // tshark's dns.a lists A records of every section.
      const all = [...m.answers, ...m.authorities, ...m.additionals];
      assert.equal(all.filter((x) => x.type === 'A').map((x) => x.data).join('|'), a);
    }
  });
}

test('tcpdump-dns_tcp.pcap: DNS over TCP pairs and agrees with tshark', () => {
  const capture = sharedCapture('tcpdump-dns_tcp.pcap');
  const ctx = fakeContext();
  const p = dnsTcp.createTcpParser!(ctx);
  feed(p, ctx, followTcp(capture, 0), 'random');
  p.onEnd('eof');
  const names = tsharkFields(capture, 'dns.flags.response == 1', ['dns.qry.name', 'dns.a']);
  assert.equal(ctx.calls.length, names.length);
  assert.equal(ctx.calls[0].request!.questions[0].name, names[0][0]);
  const r = ctx.calls[0].response!;
  const all = [...r.answers, ...r.authorities, ...r.additionals];
  assert.equal(all.filter((x: any) => x.type === 'A').map((x: any) => x.data).join('|'), names[0][1]);
});

test('DNS over TCP after a lost segment: each direction reads on from its next message, queries and answers still pair by id', () => {
  const framed = (m: Buffer): Buffer => Buffer.concat([u16(m.length), m]);
  const q = (id: number, n: string): Buffer => Buffer.concat([header(id, 0x0100, 1, 0), name(n), u16(1), u16(1)]);
  const a = (id: number, n: string, last: number): Buffer =>
    Buffer.concat([header(id, 0x8180, 1, 1), name(n), u16(1), u16(1), rr(12, 1, 30, Buffer.from([198, 18, 1, last]))]);
  const names = ['a.svc', 'b.svc', 'c.svc', 'd.svc', 'e.svc'];
  // A resolver keeping its connection open: two queries per segment, answers one per segment
  // except the last two, which share one; the third answer is split over two segments.
  const queries = [0, 2, 4].map((i) => Buffer.concat(names.slice(i, i + 2).map((n, j) => framed(q(i + j + 1, n)))));
  const answers = names.map((n, i) => framed(a(i + 1, n, i + 1)));
  const third = answers[2];
  const segments: Array<{ dir: 'c2s' | 's2c'; data: Buffer }> = [
    { dir: 'c2s', data: queries[0] },
    { dir: 's2c', data: answers[0] },
    { dir: 's2c', data: answers[1] },
    { dir: 'c2s', data: queries[1] },
    { dir: 's2c', data: third.subarray(0, 20) },
    { dir: 's2c', data: third.subarray(20) },
    { dir: 'c2s', data: queries[2] },
    { dir: 's2c', data: Buffer.concat([answers[3], answers[4]]) },
  ];
  const outcome = (lost: number) => {
    const ctx = fakeContext();
    const p = dnsTcp.createTcpParser!(ctx);
    segments.forEach((s, i) => {
      ctx.frame++;
      ctx.now++;
      if (i === lost) p.onGap(s.dir, s.data.length);
      else p.onData(s.dir, s.data);
    });
    p.onEnd('eof');
    return { calls: ctx.calls.map((c) => `${c.request?.questions[0].name ?? '-'} → ${c.response ? c.response.answers[0].data : 'none'}`).sort(), counters: ctx.counters };
  };
  const whole = outcome(-1).calls;
  assert.deepEqual(whole, ['a.svc → 198.18.1.1', 'b.svc → 198.18.1.2', 'c.svc → 198.18.1.3', 'd.svc → 198.18.1.4', 'e.svc → 198.18.1.5']);
  // The second queries' segment lost: their answers come alone, the rest pair.
  assert.deepEqual(outcome(3).calls, ['- → 198.18.1.3', '- → 198.18.1.4', 'a.svc → 198.18.1.1', 'b.svc → 198.18.1.2', 'e.svc → 198.18.1.5']);
  // The third answer's first part lost: its rest is dropped (counted), the next answers are read.
  const cut = outcome(4);
  assert.deepEqual(cut.calls, ['a.svc → 198.18.1.1', 'b.svc → 198.18.1.2', 'c.svc → none', 'd.svc → 198.18.1.4', 'e.svc → 198.18.1.5']);
  assert.equal(cut.counters['dns.gap_dropped'], third.length - 20);
});
