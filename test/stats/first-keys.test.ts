import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FirstKeys } from '../../src/stats/first-keys.js';
import { NameBook, MAX_NAMED_IPS } from '../../src/stats/names.js';
import { dns, ep, http } from './entries.js';

test('a bounded table keeps the alphabetically first keys, in any order, and says how often it refused', () => {
  const keys = Array.from({ length: 500 }, (_, i) => `k${(i * 7919) % 500}`);
  const sorted = [...new Set(keys)].sort();
  for (const order of [keys, [...keys].reverse(), [...keys].sort(), [...keys].sort().reverse()]) {
    const t = new FirstKeys<number>(50);
    const evicted: string[] = [];
    for (const k of order) t.admit(k, () => 0, (key) => evicted.push(key));
    assert.deepEqual([...t.map.keys()].sort(), sorted.slice(0, 50));
    assert.equal(t.size, 50);
    assert.ok(t.dropped >= 450, String(t.dropped));
    // Whatever was displaced is not among the kept.
    assert.ok(evicted.every((k) => !t.map.has(k)));
  }
  // A kept key is found again, and a refused one stays refused.
  const t = new FirstKeys<{ n: number }>(2);
  t.admit('b', () => ({ n: 1 }))!.n++;
  assert.equal(t.admit('b', () => ({ n: 99 }))!.n, 2);
  t.admit('c', () => ({ n: 0 }));
  assert.equal(t.admit('d', () => ({ n: 0 })), undefined);
  assert.notEqual(t.admit('a', () => ({ n: 0 })), undefined, "'a' displaces 'c'");
  assert.equal(t.get('c'), undefined);
});

test('name books merged from parts equal one book; names per IP and IPs are bounded', () => {
  const client = ep('198.18.0.9', 40000);
  const server = ep('198.18.0.53', 53);
  // 20 names for one IP (past the 16 kept), and Host headers, split over two books.
  const entries = [];
  for (let i = 0; i < 20; i++) entries.push(dns(client, server, `n${String(i).padStart(2, '0')}.example`, ['198.18.1.1'], i));
  for (let i = 0; i < 30; i++) entries.push(http(client, ep('198.18.1.1', 80), 'GET', '/', 200, 1, 100 + i, { host: i % 3 ? 'web.example' : 'alt.example' }));
  const one = new NameBook();
  for (const e of entries) one.learn(e);
  const a = new NameBook();
  const b = new NameBook();
  entries.forEach((e, i) => (i % 2 ? a : b).learn(e));
  const merged = new NameBook();
  merged.mergeWire(structuredClone(b.toWire()));
  merged.mergeWire(structuredClone(a.toWire()));
  assert.deepEqual(merged.toWire().hosts, one.toWire().hosts);
  assert.deepEqual(new Set(merged.toWire().dns[0][1]), new Set(one.toWire().dns[0][1]));
  assert.equal(one.toWire().dns[0][1].length, 16 * 2, '16 names, each with its count');
  assert.equal(one.dnsName('198.18.1.1'), 'n00.example');
  assert.equal(one.hostName('198.18.1.1'), 'web.example');

  // IPs past the bound stay unnamed, and are counted.
  const many = new NameBook();
  for (let i = 0; i < MAX_NAMED_IPS + 10; i++) many.learn(http(client, ep(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 80), 'GET', '/', 200, 1, i, { host: 'h.example' }));
  assert.equal(many.toWire().hosts.length, MAX_NAMED_IPS);
  assert.equal(many.dropped, 10);
});
