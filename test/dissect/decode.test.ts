import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findNetwork, EtherType } from '../../src/dissect/decode/link.js';
import { decodeIp, IpProto } from '../../src/dissect/decode/ip.js';
import { FragmentReassembler } from '../../src/dissect/decode/fragments.js';
import { ipv4ToString, ipv6ToString } from '../../src/dissect/decode/addresses.js';
import { LinkType } from '../../src/model/packet.js';

function ipv4(id: number, fragOffset8: number, more: boolean, payload: Buffer, proto = 17): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(id, 4);
  h.writeUInt16BE((more ? 0x2000 : 0) | fragOffset8, 6);
  h[8] = 64;
  h[9] = proto;
  Buffer.from([198, 18, 0, 1]).copy(h, 12);
  Buffer.from([198, 18, 0, 2]).copy(h, 16);
  return Buffer.concat([h, payload]);
}

test('802.1Q and QinQ tags are skipped to the IP header', () => {
  const eth = Buffer.alloc(22);
  eth.writeUInt16BE(0x88a8, 12);
  eth.writeUInt16BE(0x8100, 16);
  eth.writeUInt16BE(0x0800, 20);
  assert.deepEqual(findNetwork(LinkType.ETHERNET, eth), { etherType: EtherType.IPV4, offset: 22 });
});

test('SLL, SLL2, raw and BSD loopback headers', () => {
  const sll = Buffer.alloc(16);
  sll.writeUInt16BE(0x86dd, 14);
  assert.equal(findNetwork(LinkType.LINUX_SLL, sll)?.etherType, EtherType.IPV6);
  const sll2 = Buffer.alloc(20);
  sll2.writeUInt16BE(0x0800, 0);
  assert.equal(findNetwork(LinkType.LINUX_SLL2, sll2)?.offset, 20);
  assert.equal(findNetwork(LinkType.RAW, Buffer.from([0x60, 0]))?.etherType, EtherType.IPV6);
  const nullLe = Buffer.from([2, 0, 0, 0, 0x45]);
  const nullBe = Buffer.from([0, 0, 0, 30, 0x60]);
  assert.equal(findNetwork(LinkType.NULL, nullLe)?.etherType, EtherType.IPV4);
  assert.equal(findNetwork(LinkType.NULL, nullBe)?.etherType, EtherType.IPV6);
  assert.equal(findNetwork(LinkType.ETHERNET, Buffer.alloc(5)), null);
});

test('IPv4 fragments are reassembled in any order', () => {
  const frags = new FragmentReassembler();
  const payload = Buffer.alloc(40, 7);
  payload.writeUInt16BE(53, 2);
  const first = ipv4(9, 0, true, payload.subarray(0, 24));
  const second = ipv4(9, 3, false, payload.subarray(24));
  assert.equal(decodeIp(second, 0, 4, frags, 0), null);
  const whole = decodeIp(first, 0, 4, frags, 1);
  assert.ok(whole && !('skip' in whole));
  assert.equal(whole.protocol, IpProto.UDP);
  assert.deepEqual(whole.payload, payload);
  assert.equal(whole.src, '198.18.0.1');
  assert.equal(frags.counters.reassembled, 1);
});

test('incomplete fragments expire and are counted, not kept', () => {
  const frags = new FragmentReassembler(10, 1000);
  decodeIp(ipv4(1, 0, true, Buffer.alloc(16)), 0, 4, frags, 0);
  assert.equal(frags.size, 1);
  frags.expire(5000);
  assert.equal(frags.size, 0);
  assert.equal(frags.counters.dropped, 1);
});

test('a truncated IPv4 header is a reason, not an exception', () => {
  const r = decodeIp(Buffer.from([0x45, 0, 0]), 0, 4, new FragmentReassembler(), 0);
  assert.deepEqual(r, { skip: 'ipv4.truncated' });
});

test('IPv6 addresses print in RFC 5952 form', () => {
  const a = Buffer.from('20010db8000000000000000000000001', 'hex');
  assert.equal(ipv6ToString(a, 0), '2001:db8::1');
  const b = Buffer.from('fe800000000000000202b3fffe1e8329', 'hex');
  assert.equal(ipv6ToString(b, 0), 'fe80::202:b3ff:fe1e:8329');
});

test('ipv4 text: addresses at and past 2^31 read right, from the cache too', () => {
  for (let round = 0; round < 2; round++) {
    assert.equal(ipv4ToString(0xc6120001), '198.18.0.1');
    assert.equal(ipv4ToString(0x80000000), '128.0.0.0');
    assert.equal(ipv4ToString(0x7fffffff), '127.255.255.255');
    assert.equal(ipv4ToString(0xffffffff), '255.255.255.255');
    assert.equal(ipv4ToString(0), '0.0.0.0');
  }
});

test('a datagram in more than 2,048 pieces is dropped as malformed; one of 1,365 pieces (64 KiB at the smallest IPv4 MTU) is reassembled', () => {
  const frags = new FragmentReassembler();
  // The last fragment first, then 5,000 one-byte fragments that never fill the hole at 0: each was a sort of all the pieces.
  assert.equal(frags.add('a', 64, false, Buffer.alloc(8), 0), null);
  for (let i = 0; i < 5000; i++) frags.add('a', 8, true, Buffer.alloc(1), 0);
  // Dropped at its 2,049th piece; the pieces after start a new datagram, dropped in turn, and 903 wait.
  assert.equal(frags.counters.malformed, 2);
  assert.equal(frags.size, 1);
  const payload = Buffer.alloc(1365 * 48);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 255;
  let whole: Buffer | null = null;
  for (let i = 1364; i >= 0; i--) whole = frags.add('b', i * 48, i < 1364, payload.subarray(i * 48, (i + 1) * 48), 0);
  assert.deepEqual(whole, payload);
  assert.equal(frags.counters.reassembled, 1);
});
