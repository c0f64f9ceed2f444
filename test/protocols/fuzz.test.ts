// Fuzz every dissector of this folder with mutations of real payloads from the
// shared captures (bit flips, truncations, splices, length fields forced to
// 0/0xffff, duplicated regions, gaps), fed in random chunks through probe,
// parser, tick and end. Seeded, so a failure names a reproducible case.
// Checks: no exception escapes, every case ends (the runner's timeout catches
// a hang), and what is emitted stays bounded (memory cannot grow per input).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallRecord, Direction, ProtocolDissector } from '../../src/dissect/api.js';
import { http1 } from '../../src/dissect/protocols/http1.js';
import { dns, dnsTcp } from '../../src/dissect/protocols/dns.js';
import { redis } from '../../src/dissect/protocols/redis.js';
import { tls } from '../../src/dissect/protocols/tls.js';
import { IcmpTracker } from '../../src/dissect/protocols/icmp.js';
import { fakeContext, prng, tcpCapture, tsharkFields, type Segment } from './helpers.js';
import { sharedCapture } from '../helpers/paths.js';

const CASES = 1000;
/** No single call may carry more than this much JSON (bodies and values are capped far below). */
const MAX_CALL_JSON = 512 * 1024;
const VERDICTS = new Set(['request', 'response', 'need-more', false]);

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

function mutate(r: Rand, data: Buffer, donors: Buffer[]): Buffer {
  let b = Buffer.from(data);
  const rounds = 1 + int(r, 4);
  for (let k = 0; k < rounds && b.length > 0; k++) {
    switch (int(r, 7)) {
      case 0: // bit flips
        for (let i = 0; i < 1 + int(r, 8); i++) b[int(r, b.length)] ^= 1 << int(r, 8);
        break;
      case 1: // truncation
        b = b.subarray(0, int(r, b.length));
        break;
      case 2: {
        // splice a piece of another payload in
        const d = donors[int(r, donors.length)];
        const at = int(r, b.length);
        const from = int(r, Math.max(1, d.length));
        b = Buffer.concat([b.subarray(0, at), d.subarray(from, from + 1 + int(r, 200)), b.subarray(at)]);
        break;
      }
      case 3: // a 16-bit field forced to an extreme
        if (b.length >= 2) b.writeUInt16BE([0, 0xffff, 0x8000, 1][int(r, 4)], int(r, b.length - 1));
        break;
      case 4: {
        // duplicate a region (repeated headers, frames, records)
        const at = int(r, b.length);
        b = Buffer.concat([b, b.subarray(at, at + int(r, 300))]);
        break;
      }
      case 5: // digits become huge lengths (text protocols)
        b = Buffer.from(b.toString('latin1').replace(/\d+/, '9'.repeat(1 + int(r, 20))), 'latin1');
        break;
      default: // random garbage
        b = Buffer.concat([b.subarray(0, int(r, b.length)), Buffer.from(Array.from({ length: int(r, 64) }, () => int(r, 256)))]);
    }
  }
  return b;
}

function checkCalls(calls: CallRecord[], label: string): void {
  for (const c of calls) {
    const json = JSON.stringify(c);
    assert.ok(json.length < MAX_CALL_JSON, `${label}: call of ${json.length} bytes`);
    assert.equal(typeof c.summary, 'string', label);
    assert.equal(typeof c.requestTime, 'number', label);
  }
}

function fuzzTcp(d: ProtocolDissector, seeds: Segment[][], seed: number): void {
  const r = prng(seed);
  const donors = seeds.flat().map((s) => s.data);
  for (let i = 0; i < CASES; i++) {
    const label = `${d.name} case ${i} (seed ${seed})`;
    const base = seeds[int(r, seeds.length)];
    const segments = base.map((s) => ({ dir: s.dir, data: r() < 0.3 ? mutate(r, s.data, donors) : s.data }));
    if (r() < 0.3) segments.splice(int(r, segments.length), 1); // a lost segment
    const ctx = fakeContext({ maxBody: 1 + int(r, 4096), noBodies: r() < 0.1 });
    const first = segments[0]?.data ?? Buffer.alloc(0);
    assert.ok(VERDICTS.has(d.probe(first, r() < 0.5)), label);
    const p = d.createTcpParser!(ctx);
    for (const seg of segments) {
      ctx.now += int(r, 2000);
      ctx.frame++;
      let off = 0;
      while (off < seg.data.length) {
        const n = 1 + int(r, 600);
        p.onData(seg.dir, seg.data.subarray(off, off + n));
        off += n;
      }
      if (r() < 0.05) p.onGap(seg.dir, 1 + int(r, 5000));
      if (r() < 0.1) p.onTick?.(ctx.now, 1000);
    }
    p.onEnd((['fin', 'rst', 'timeout', 'eof'] as const)[int(r, 4)]);
    checkCalls(ctx.calls, label);
  }
}

let httpSeeds: Segment[][] = [];
let redisSeeds: Segment[][] = [];
let tlsSeeds: Segment[][] = [];
let dnsTcpSeeds: Segment[][] = [];
let dnsUdpSeeds: Buffer[] = [];

before(() => {
  const streams = (file: string) => [...tcpCapture(sharedCapture(file)).streams.values()];
  httpSeeds = [...streams('zeek-http-pipelined-requests.pcap'), ...streams('suricata-http2-range.pcap')];
  redisSeeds = [...streams('tcpdump-resp_1_benchmark.pcap'), ...streams('tcpdump-resp_3_malicious.pcap')];
  tlsSeeds = [...streams('arkime-tls-split-client-hello.pcap'), ...streams('zeek-tls-chrome-34-google.pcap')].map((s) => s.slice(0, 8));
  dnsTcpSeeds = streams('tcpdump-dns_tcp.pcap');
  dnsUdpSeeds = tsharkFields(sharedCapture('tcpdump-edns-opts.pcap'), 'udp', ['udp.payload']).map(([h]) => Buffer.from(h, 'hex'));
});

test('fuzz HTTP/1', () => {
  assert.ok(httpSeeds.length > 5);
  fuzzTcp(http1, httpSeeds, 1);
});

test('fuzz Redis', () => {
  assert.ok(redisSeeds.length > 5);
  fuzzTcp(redis, redisSeeds, 2);
});

test('fuzz TLS', () => {
  assert.ok(tlsSeeds.length >= 2);
  fuzzTcp(tls, tlsSeeds, 3);
});

test('fuzz DNS over TCP', () => {
  assert.ok(dnsTcpSeeds.length >= 1);
  fuzzTcp(dnsTcp, dnsTcpSeeds, 4);
});

test('fuzz DNS over UDP', () => {
  assert.ok(dnsUdpSeeds.length > 10);
  const r = prng(5);
  for (let i = 0; i < CASES; i++) {
    const ctx = fakeContext({}, 'udp');
    const p = dns.createUdpParser!(ctx);
    for (let k = 0; k < 4; k++) {
      const msg = mutate(r, dnsUdpSeeds[int(r, dnsUdpSeeds.length)], dnsUdpSeeds);
      assert.ok(VERDICTS.has(dns.probe(msg, r() < 0.5)));
      ctx.now += int(r, 3000);
      p.onDatagram((r() < 0.5 ? 'c2s' : 's2c') as Direction, msg);
      p.onTick?.(ctx.now, 2000);
    }
    p.onEnd('eof');
    checkCalls(ctx.calls, `dns udp case ${i}`);
  }
});

test('fuzz ICMP/ICMPv6', () => {
  const inner = Buffer.from('450000280000000040110000c6124001c61240021f4000350014abcd', 'hex');
  const seeds = [
    Buffer.from('0800000000070001616263646566', 'hex'),
    Buffer.concat([Buffer.from('0303000000000000', 'hex'), inner]),
    Buffer.concat([Buffer.from('0b00000000000000', 'hex'), inner]),
    Buffer.from('870000000000000020010db800000000000000000000000101010011223344556', 'hex'),
    Buffer.from('86000000400000000000000000000000010100112233445503044040ffffffffffffffff0000000020010db8000000000000000000000000', 'hex'),
    Buffer.from('8000000000090001aabbccdd', 'hex'),
  ];
  const r = prng(6);
  const calls: CallRecord[] = [];
  const t = new IcmpTracker((c) => calls.push(c));
  for (let i = 0; i < CASES * 2; i++) {
    const msg = mutate(r, seeds[int(r, seeds.length)], seeds);
    t.onPacket(r() < 0.5, `fd00::${int(r, 4)}`, `fd00::${int(r, 4)}`, msg, i, i);
    if (i % 100 === 0) t.onTick(i, 50);
  }
  t.end();
  checkCalls(calls, 'icmp');
  assert.ok(calls.length > CASES);
});
