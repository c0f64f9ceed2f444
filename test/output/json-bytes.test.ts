// JsonBytes must write exactly the bytes of Buffer.from(JSON.stringify(v)),
// but for an infinite number, which both it and entryJson write as ±1e309
// (JSON.stringify's null would lose it): for every entry of real captures, for
// random values of every JSON shape, and for what JSON.stringify treats
// specially (toJSON, undefined members, lone surrogates, non-finite numbers,
// boxed values, BigInt's TypeError).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { JsonBytes } from '../../src/output/json-bytes.js';
import { entryJson } from '../../src/ndjson/stringify.js';
import { dissectFile } from '../helpers/dissect.js';
import { sharedCapture, sharedCaptures } from '../helpers/paths.js';
import { mulberry32 } from '../helpers/random.js';

function same(w: JsonBytes, v: unknown, what: string): void {
  const want = JSON.stringify(v) === undefined ? undefined : entryJson(v);
  const got = w.serialise(v);
  if (want === undefined) assert.equal(got, undefined, what);
  else assert.equal(got?.toString('utf8'), want, what);
}

test('every entry of the shared captures serialises as JSON.stringify does', async () => {
  const w = new JsonBytes();
  const names = readdirSync(sharedCaptures).filter((n) => /\.(pcap|pcapng)$/.test(n));
  assert.ok(names.length > 20);
  let entries = 0;
  for (const name of names) {
    const { entries: list } = await dissectFile(sharedCapture(name));
    const copies: [Buffer, string][] = [];
    for (const e of list) {
      const view = w.serialise(e) as Buffer;
      assert.equal(view.toString('utf8'), JSON.stringify(e), name);
      copies.push([Buffer.from(view), JSON.stringify(e)]);
    }
    // Copies of what was written stay what they were while the writer goes on.
    for (const [copy, text] of copies) assert.equal(copy.toString('utf8'), text, name);
    entries += list.length;
  }
  assert.ok(entries > 500, `${entries} entries`);
});

test('values JSON.stringify treats specially', () => {
  const w = new JsonBytes();
  const cases: unknown[] = [
    { a: undefined, b: () => 1, c: Symbol('x'), d: [undefined, () => 1, Symbol('y'), NaN, -0, Infinity, -Infinity] },
    [1e21, 1.5e-7, -3, 123456789012345, 999999999999999, 1e15, 2 ** 53, -(2 ** 31), 0.1 + 0.2, 5e-324, Number.MAX_VALUE],
    { s: '\u0000\u0001\u001f\u007f"\\\b\f\n\r\t/\u2028\u2029é€😀' },
    { lone: '\ud800', low: '\udc00x', pair: '\ud83d\ude00', reversed: '\ude00\ud83d', end: 'a\ud83d' },
    { long: 'x'.repeat(5000) + '"' + '\n'.repeat(10) + '\ud800', ascii: 'y'.repeat(100) },
    { date: new Date(0), buf: Buffer.from('ab'), n: new Number(3), s: new String('s'), b: new Boolean(false) },
    { nested: { toJSON: (k: string) => ({ k, inner: { toJSON: () => 'inner' } }) } },
    [{ toJSON: (k: string) => `index ${k}` }, { toJSON: () => undefined }],
    { omitted: { toJSON: () => undefined }, kept: 1 },
    Object.assign(Object.create(null), { b: 1, a: [null] }),
    { '2': 'two', '1': 'one', b: 3, a: 4, '-1': 5, '01': 6 },
    new (class Point { x = 1; y = 2; })(),
    new Map([[1, 2]]),
    [[[[]]], {}, [{}], ''],
    'text',
    5,
    null,
    true,
    undefined,
    () => 1,
  ];
  for (const [i, c] of cases.entries()) same(w, c, `case ${i}`);
  // Values that outgrow the writer's buffer (64 KB), and one past what it keeps (1 MB), then small ones again.
  same(w, { long: 'y'.repeat(70_000), many: Array.from({ length: 5000 }, (_v, i) => `é\n${i}`) }, 'grows');
  same(w, ['\u0001'.repeat(300_000)], 'escapes past 1 MB');
  same(w, { after: 'small' }, 'after a huge value');
  assert.throws(() => w.serialise({ big: 1n }), TypeError);
  const cycle: Record<string, unknown> = {};
  cycle.self = { again: cycle };
  assert.throws(() => w.serialise(cycle), TypeError);
  // After an exception the writer still works.
  same(w, { after: 'ok' }, 'after');
});

test('random JSON values of every shape serialise as JSON.stringify does', () => {
  const rand = mulberry32(1603);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const chars = ['a', 'Z', ' ', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '€', '\u2028', '😀', '\ud800', '\udfff', '→'];
  const str = (): string => Array.from({ length: Math.floor(rand() * (rand() < 0.1 ? 200 : 12)) }, () => pick(chars)).join('');
  const num = (): number => pick([0, -0, 1, -1, rand() * 1e6, -rand() * 1e-6, Math.round(rand() * 1e14), 1e300 * rand(), NaN, Infinity, Date.now() + rand()]);
  const value = (depth: number): unknown => {
    const r = rand();
    if (depth > 4 || r < 0.3) return pick([str(), num(), true, false, null, undefined]);
    if (r < 0.6) return Array.from({ length: Math.floor(rand() * 6) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(rand() * 6); i > 0; i--) o[pick([str(), String(Math.floor(rand() * 20)), 'id', 'timestamp'])] = value(depth + 1);
    return o;
  };
  const w = new JsonBytes();
  for (let i = 0; i < 3000; i++) same(w, value(0), `value ${i}`);
});

test('long strings (bodies) with every escape beside multi-byte characters serialise as JSON.stringify does', () => {
  const rand = mulberry32(2026);
  // Every character JSON escapes, next to multi-byte ones (whose UTF-8 bytes must never be taken for ASCII).
  // Lone surrogates too: since round 31 a long string is escaped by the writer's own loop, not by JSON.stringify.
  const chars = ['a', ' ', '"', '\\', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u0001', '\u001b', '\u001f', '\u007f', 'é', '€', '\u2028', '😀', '→', '<', '>', '\ud800', '\udbff', '\udc00', '\udfff'];
  const w = new JsonBytes();
  for (let i = 0; i < 2000; i++) {
    const length = 48 + Math.floor(rand() * (rand() < 0.05 ? 20_000 : 400));
    const plain = rand() < 0.3;
    const s = Array.from({ length }, () => (plain && rand() < 0.97 ? 'x' : chars[Math.floor(rand() * chars.length)])).join('');
    same(w, { body: s, after: 'z' }, `string ${i}`);
  }
  // A pair's high half as a long string's last character, and its low half as the first.
  same(w, ['<p>'.repeat(20) + '\ud83d', '\ude00' + '"'.repeat(60)], 'halves at the ends');
  // All escapes and nothing else, at the buffer's worst case (6 bytes per character), past its first size.
  same(w, ['\u0001'.repeat(20_000) + '"'.repeat(20_000)], 'only escapes');
});

test('integers around the int32 fast path, and keys past what the key cache holds, as JSON.stringify does', () => {
  const w = new JsonBytes();
  const ints = [0, -0, 1, 9, 10, 99, 100, 99999, 100000, 999999999, 1000000000, 2147483647, 2147483648, 4294967295, 4294967296, -1, -2147483648, 1e15 - 1, 1e15];
  for (const n of ints) same(w, { n, a: [n] }, `integer ${n}`);
  // More distinct keys than the cache keeps, long ones it never keeps, and ones with escapes, each met twice.
  const keys = Array.from({ length: 5000 }, (_v, i) => (i % 7 === 0 ? `k${i}"\n\u0001é😀` : i % 11 === 0 ? `long-${'x'.repeat(100)}-${i}` : `key${i}`));
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < keys.length; i += 50) {
      const o: Record<string, unknown> = {};
      for (const k of keys.slice(i, i + 50)) o[k] = k.length;
      same(w, o, `keys from ${i}, round ${round}`);
    }
  }
});

test('an enumerable member added to Object.prototype is left out, as JSON.stringify leaves it', () => {
  const w = new JsonBytes();
  same(w, { a: 1, b: { c: 2 } }, 'before');
  Object.defineProperty(Object.prototype, 'polluted', { value: 'x', enumerable: true, configurable: true, writable: true });
  try {
    same(w, { a: 1, b: { c: 2 } }, 'polluted');
  } finally {
    delete (Object.prototype as Record<string, unknown>).polluted;
  }
  same(w, { a: 1, b: { c: 2 } }, 'after');
});

test('numbers with up to three decimals (timestamps and latencies in ms) come out as JSON.stringify writes them', () => {
  const writer = new JsonBytes();
  const rand = mulberry32(11);
  const edges = [0.001, -0.001, 0.0005, 0.1 + 0.2, 2 ** 41 - 0.001, 2 ** 41 + 0.5, 2 ** 41 - 1 / 1024, 1e-7, 0.5, -0, 123.45, 1796598046241.851, 0.999, 999.999, 1.1, -2.05];
  const values = [...edges];
  for (let i = 0; i < 50_000; i++) {
    values.push(Math.round((1.7e12 + rand() * 5e11) * 1000) / 1000); // capture timestamps, some past 2^41
    values.push(Math.round(rand() * 1e7) / 10 ** Math.floor(rand() * 5) - 500); // latencies, 0–4 decimals
    values.push(1.7e12 + rand() * 1e11); // more decimals than three
  }
  for (const x of values) assert.equal(writer.serialise(x)?.toString('utf8'), JSON.stringify(x), String(x));
});
