// flowKey remembers recent keys (a direct-mapped cache): whatever the order
// of calls and however tuples collide in it, every answer must be the one
// computed afresh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flowKey } from '../../src/dissect/flow-key.js';
import { mulberry32 } from '../helpers/random.js';

function fresh(proto: string, src: string, sport: number, dst: string, dport: number): { key: string; senderIsA: boolean } {
  const aFirst = src < dst || (src === dst && sport <= dport);
  return aFirst ? { key: `${proto}|${src}|${sport}|${dst}|${dport}`, senderIsA: true } : { key: `${proto}|${dst}|${dport}|${src}|${sport}`, senderIsA: false };
}

test('both directions share a key; the sender side says which way', () => {
  const a = flowKey('t', '10.0.0.1', 40000, '10.0.0.2', 80);
  const b = flowKey('t', '10.0.0.2', 80, '10.0.0.1', 40000);
  assert.equal(a.key, b.key);
  assert.notEqual(a.senderIsA, b.senderIsA);
  assert.notEqual(flowKey('u', '10.0.0.1', 40000, '10.0.0.2', 80).key, a.key);
});

test('random tuples in random order, colliding in the cache, give the fresh answer every time', () => {
  const rand = mulberry32(16);
  const ips = Array.from({ length: 40 }, (_, i) => (i % 5 === 0 ? `fd00::${i.toString(16)}` : `198.18.${i}.${(i * 7) % 256}`));
  const tuples = Array.from({ length: 20_000 }, () => ({
    proto: rand() < 0.8 ? 't' : rand() < 0.5 ? 'u' : 's',
    src: ips[Math.floor(rand() * ips.length)],
    sport: Math.floor(rand() * 65536),
    dst: ips[Math.floor(rand() * ips.length)],
    dport: rand() < 0.5 ? 80 : Math.floor(rand() * 65536),
  }));
  for (let i = 0; i < 200_000; i++) {
    const t = tuples[Math.floor(rand() * tuples.length)];
    const [src, sport, dst, dport] = rand() < 0.5 ? [t.src, t.sport, t.dst, t.dport] : [t.dst, t.dport, t.src, t.sport];
    assert.deepEqual(flowKey(t.proto, src, sport, dst, dport), fresh(t.proto, src, sport, dst, dport));
  }
});

test('address text written as bytes is the dotted quad, for every octet width; long IPv6 keys stay whole', async () => {
  const { ipv4ToString } = await import('../../src/dissect/decode/addresses.js');
  const random = mulberry32(7);
  const edges = [0, 1, 9, 10, 99, 100, 199, 255];
  const values: number[] = [];
  for (const a of edges) for (const b of edges) values.push(((a << 24) | (b << 16) | (b << 8) | a) >>> 0);
  for (let i = 0; i < 20_000; i++) values.push(Math.floor(random() * 2 ** 32) >>> 0);
  for (const n of values) assert.equal(ipv4ToString(n), `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`);
  // The longest keys (IPv6 both ends) are not cut by the scratch buffer the key is flattened in.
  const v6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe';
  assert.deepEqual(flowKey('t', v6, 65535, `${v6.slice(0, -1)}f`, 65534), fresh('t', v6, 65535, `${v6.slice(0, -1)}f`, 65534));
});
