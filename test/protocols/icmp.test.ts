// ICMP/ICMPv6 tracker: echo pairing, errors quoting the failed packet, NDP,
// and the ICMPv6 capture through the engine compared with tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallRecord } from '../../src/dissect/api.js';
import { IcmpTracker } from '../../src/dissect/protocols/icmp.js';
import { sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import { tsharkFields } from './helpers.js';

function tracker() {
  const out: { call: CallRecord; src: string; dst: string }[] = [];
  const t = new IcmpTracker((call, src, dst) => out.push({ call, src: src.ip, dst: dst.ip }));
  return { t, out };
}

function echo(type: number, id: number, seq: number, data = 'abcd'): Buffer {
  const b = Buffer.alloc(8 + data.length);
  b[0] = type;
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  b.write(data, 8);
  return b;
}

test('echo request/reply pair by id, seq and addresses; lost requests are unanswered', () => {
  const { t, out } = tracker();
  t.onPacket(false, '198.18.64.1', '198.18.64.2', echo(8, 7, 1), 1000, 1);
  t.onPacket(false, '198.18.64.1', '198.18.64.2', echo(8, 7, 2), 1001, 2);
  t.onPacket(false, '198.18.64.2', '198.18.64.1', echo(0, 7, 1), 1003.5, 3);
  t.onPacket(true, 'fd00::1', 'fd00::2', echo(128, 9, 1), 1004, 4);
  t.onPacket(true, 'fd00::2', 'fd00::1', echo(129, 9, 1), 1005, 5);
  t.end();
  assert.equal(out.length, 3);
  const [v4, v6, lost] = out;
  assert.equal(v4.call.summary, 'echo 198.18.64.2 id=7 seq=1 → reply');
  assert.equal(v4.call.responseTime! - v4.call.requestTime, 3.5);
  assert.equal(v4.src, '198.18.64.1');
  assert.equal(v4.call.error, false);
  assert.equal(v6.call.request!.version, 6);
  assert.equal(v6.call.response!.typeName, 'echo-reply');
  assert.equal(lost.call.response, null);
  assert.equal(lost.call.error, true);
  assert.deepEqual(lost.call.warnings, ['unanswered']);
});

test('onTick flushes old echo requests only', () => {
  const { t, out } = tracker();
  t.onPacket(false, '198.18.64.1', '198.18.64.2', echo(8, 1, 1), 1000, 1);
  t.onPacket(false, '198.18.64.1', '198.18.64.2', echo(8, 1, 2), 9000, 2);
  t.onTick(10_000, 5000);
  assert.equal(out.length, 1);
  assert.equal(out[0].call.request!.seq, 1);
});

test('port unreachable quotes the failed UDP packet and is an error', () => {
  const { t, out } = tracker();
  const inner = Buffer.alloc(28);
  inner[0] = 0x45;
  inner[9] = 17;
  Buffer.from([198, 18, 64, 1, 198, 18, 64, 2]).copy(inner, 12);
  inner.writeUInt16BE(5353, 20);
  inner.writeUInt16BE(53, 22);
  const icmp = Buffer.concat([Buffer.from([3, 3, 0, 0, 0, 0, 0, 0]), inner]);
  t.onPacket(false, '198.18.64.2', '198.18.64.1', icmp, 1, 1);
  assert.equal(out[0].call.summary, 'destination-unreachable port-unreachable (udp 198.18.64.2:53)');
  assert.equal(out[0].call.error, true);
  assert.deepEqual(out[0].call.request!.original, { src: '198.18.64.1', dst: '198.18.64.2', protocol: 'udp', srcPort: 5353, dstPort: 53 });
});

test('truncated and crafted messages are marked, never thrown', () => {
  const { t, out } = tracker();
  t.onPacket(false, '1.1.1.1', '2.2.2.2', Buffer.from([8, 0]), 1, 1);
  t.onPacket(true, 'fe80::1', 'ff02::1', Buffer.from([135, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0x80]), 1, 2);
  t.onPacket(true, 'fe80::1', 'ff02::1', Buffer.from([134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), 1, 3);
  t.end();
  assert.equal(out.length, 3);
  assert.ok(out.every((o) => o.call.warnings?.[0]?.startsWith('malformed')), JSON.stringify(out.map((o) => o.call.warnings)));
});

test('tcpdump-icmpv6.pcap through the engine: one entry per message, types as tshark says', async () => {
  const capture = sharedCapture('tcpdump-icmpv6.pcap');
  const rows = tsharkFields(capture, 'icmpv6', ['ipv6.src', 'icmpv6.type']);
  const { entries } = await dissectFile(capture);
  const icmp = entries.filter((e) => e.protocol === 'icmp');
  assert.deepEqual(
    icmp.map((e) => [e.src.ip, String(e.request!.type)]),
    rows.map(([src, type]) => [src, type]),
  );
  assert.ok(icmp.every((e) => e.request!.version === 6 && e.warnings === undefined));
  const ra = icmp.find((e) => e.request!.typeName === 'router-advertisement')!;
  assert.equal(typeof ra.request!.routerLifetime, 'number');
});

test('an echo captured twice (tcpdump -i any: the veth and the bridge) is one call, its copies counted', () => {
  const out: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const t = new IcmpTracker((call) => out.push(call), (name) => (counters[name] = (counters[name] ?? 0) + 1));
  t.onPacket(false, '198.18.64.1', '198.18.64.2', echo(8, 7, 1), 1000, 1);
  t.onPacket(false, '198.18.64.1', '198.18.64.2', echo(8, 7, 1), 1000.01, 2);
  t.onPacket(false, '198.18.64.2', '198.18.64.1', echo(0, 7, 1), 1000.5, 3);
  t.onPacket(false, '198.18.64.2', '198.18.64.1', echo(0, 7, 1), 1000.51, 4);
  // A second later the same id and seq again (a ping sent anew, not a copy): a call of its own.
  t.onPacket(false, '198.18.64.1', '198.18.64.2', echo(8, 7, 1), 2000, 5);
  t.end();
  assert.deepEqual(out.map((c) => c.summary), ['echo 198.18.64.2 id=7 seq=1 → reply', 'echo 198.18.64.2 id=7 seq=1 → unanswered']);
  assert.equal(counters['icmp.duplicate_copies'], 2);
});

test('a one-way ICMPv6 message captured twice (an MLD report on the veth and the bridge) is one entry, its copy counted', async () => {
  const { readPcap } = await import('../helpers/pcap-edit.js');
  const packets = readPcap(sharedCapture('tcpdump-icmpv6.pcap'));
  const out: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const t = new IcmpTracker((call) => out.push(call), (name) => (counters[name] = (counters[name] ?? 0) + 1));
  // Each message's ICMPv6 bytes after its Ethernet and IPv6 headers (hop-by-hop options included, as the capture has them).
  const icmpv6 = (data: Buffer): { src: string; dst: string; body: Buffer } => {
    let next = data[14 + 6];
    let off = 14 + 40;
    while (next === 0) {
      next = data[off];
      off += (data[off + 1] + 1) * 8;
    }
    const addr = (at: number) => data.toString('hex', at, at + 16);
    return { src: addr(14 + 8), dst: addr(14 + 24), body: data.subarray(off) };
  };
  packets.forEach((p, i) => {
    const m = icmpv6(p.data);
    const ms = p.tsSec * 1000 + p.tsNsec / 1e6;
    t.onPacket(true, m.src, m.dst, m.body, ms, 2 * i + 1);
    t.onPacket(true, m.src, m.dst, m.body, ms + 0.02, 2 * i + 2);
  });
  t.end();
  assert.equal(out.length, packets.length, out.map((c) => c.summary).join(' | '));
  assert.equal(counters['icmp.duplicate_copies'], packets.length);
  // The same report sent again a second later (MLD repeats unsolicited reports) is a message of its own.
  const m = icmpv6(packets[1].data);
  t.onPacket(true, m.src, m.dst, m.body, 5_000_000, 100);
  t.onPacket(true, m.src, m.dst, m.body, 5_001_000, 101);
  assert.equal(out.length, packets.length + 2);
});

test('copies of ICMP messages read once are said on stderr beside the UDP ones', async () => {
  const { describeCopies } = await import('../../src/input/dissect-summary.js');
  assert.equal(describeCopies({ 'icmp.duplicate_copies': 5 }), "5 ICMP messages captured more than once (as on 'any') read once");
  assert.equal(describeCopies({ 'udp.duplicate_copies': 1, 'icmp.duplicate_copies': 1 }), "1 UDP datagram and 1 ICMP message captured more than once (as on 'any') read once");
  assert.equal(describeCopies({}), undefined);
});

test('an echo reply recorded just before its request (two capture queues) pairs with it; a reply whose request never comes is alone', () => {
  const out: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const t = new IcmpTracker((call) => out.push(call), (name) => (counters[name] = (counters[name] ?? 0) + 1));
  t.onPacket(false, '198.18.64.2', '198.18.64.1', echo(0, 9, 1), 1000, 1);
  t.onPacket(false, '198.18.64.1', '198.18.64.2', echo(8, 9, 1), 1000.05, 2);
  t.onPacket(false, '198.18.64.2', '198.18.64.1', echo(0, 9, 2), 2000, 3);
  t.onTick(5000, 30_000);
  t.end();
  assert.deepEqual(out.map((c) => c.summary), ['echo 198.18.64.2 id=9 seq=1 → reply', 'echo-reply id=9 seq=2 (no request)']);
  assert.deepEqual([out[0].requestFrame, out[0].responseFrame], [2, 1]);
  assert.equal(counters['icmp.reply_before_request'], 1);
});

test('a reply to a broadcast ping pairs with the oldest request of its requester, id and seq, by lookup', async () => {
  const { t, out } = tracker();
  t.onPacket(false, '198.18.64.1', '198.18.64.255', echo(8, 9, 1), 1000, 1);
  t.onPacket(false, '198.18.64.1', '198.18.64.254', echo(8, 9, 1), 1001, 2);
  t.onPacket(false, '198.18.64.7', '198.18.64.1', echo(0, 9, 1), 1002, 3);
  assert.equal(out.length, 1);
  assert.equal(out[0].call.requestFrame, 1);
  assert.equal(out[0].call.responseFrame, 3);
});

test('a flood of replies answering none of 4,096 waiting requests is read in linear time (each searched them all: 14 s for 1 MB)', { timeout: 30_000 }, async () => {
  const { t, out } = tracker();
  for (let i = 0; i < 4096; i++) t.onPacket(false, '198.18.64.1', '198.18.64.2', echo(8, i, 1), 1000, i + 1);
  // In chunks, so that the test's timeout can end a quadratic run.
  for (let chunk = 0; chunk < 100; chunk++) {
    for (let i = 0; i < 2000; i++) t.onPacket(false, '198.18.64.2', '198.18.64.1', echo(0, 50_000 + chunk, i), 2000, 5000 + i);
    await new Promise((resolve) => setImmediate(resolve));
  }
  // Replies wait a moment for a request recorded after them (the oldest go out past the bound); the rest at the end.
  t.end();
  assert.equal(out.length, 200_000 + 4096);
  assert.equal(out[0].call.request, null);
  assert.equal(out.filter((o) => o.call.request === null).length, 200_000);
});
