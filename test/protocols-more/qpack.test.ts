// QPACK decoder (RFC 9204): the worked examples of Appendix B byte for byte,
// two field sections from a real HTTP/3 capture, blocking on inserts not yet
// seen, encoder-stream bytes split anywhere, and hostile input (every bound is
// an error, never an exception). A seeded fuzz closes.
import { mulberry32 } from '../helpers/random.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QPACK_STATIC_TABLE, QpackDecoder, type QpackField, type QpackResult } from '../../src/dissect/protocols/qpack.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const f = (name: string, value: string): QpackField => ({ name, value });

/** RFC 7541 §5.1 prefix integer, first byte carrying `flags` above the prefix. */
function int(value: number, prefixBits: number, flags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** Plain (non-Huffman) 8-bit prefix string literal. */
const str = (s: string): Buffer => Buffer.concat([int(s.length, 7), Buffer.from(s, 'latin1')]);

function fieldsOf(result: QpackResult): QpackField[] {
  assert.ok('fields' in result, `expected fields, got ${JSON.stringify(result)}`);
  return result.fields;
}

function errorOf(result: QpackResult): string {
  assert.ok('error' in result, `expected an error, got ${JSON.stringify(result).slice(0, 200)}`);
  assert.match(result.error, /^qpack: [a-z0-9 ^,.'()-]+$/);
  return result.error;
}

// RFC 9204 Appendix B, the hex exactly as printed there.
const B1_STREAM0 = hex('0000 510b 2f69 6e64 6578 2e68 746d 6c');
const B2_ENCODER = hex('3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c10c 2f73 616d 706c 652f 7061 7468');
const B2_STREAM4 = hex('0381 10 11');
const B3_ENCODER = hex('4a63 7573 746f 6d2d 6b65 790c 6375 7374 6f6d 2d76 616c 7565');
const B4_ENCODER = hex('02');
const B4_STREAM8 = hex('0500 80 c1 81');
const B5_ENCODER = hex('810d 6375 7374 6f6d 2d76 616c 7565 32');
const ALL_ENCODER = Buffer.concat([B2_ENCODER, B3_ENCODER, B4_ENCODER, B5_ENCODER]);

// Two field sections from an HTTP/3 capture (static table only, no Huffman).
const REQUEST = hex('0000d1d7510b2f696e6465782e68746d6c5004746573745f500a48335a65726f2f312e30');
const RESPONSE = hex('0000d95f4d0a48335a65726f2f312e30f4');

test('static table: 99 entries, Appendix A, including the values the RFC wraps across lines', () => {
  assert.equal(QPACK_STATIC_TABLE.length, 99);
  assert.deepEqual(QPACK_STATIC_TABLE[0], [':authority', '']);
  assert.deepEqual(QPACK_STATIC_TABLE[1], [':path', '/']);
  assert.deepEqual(QPACK_STATIC_TABLE[2], ['age', '0']);
  assert.deepEqual(QPACK_STATIC_TABLE[17], [':method', 'GET']);
  assert.deepEqual(QPACK_STATIC_TABLE[25], [':status', '200']);
  assert.deepEqual(QPACK_STATIC_TABLE[30], ['accept', 'application/dns-message']);
  assert.deepEqual(QPACK_STATIC_TABLE[41], ['cache-control', 'public, max-age=31536000']);
  assert.deepEqual(QPACK_STATIC_TABLE[47], ['content-type', 'application/x-www-form-urlencoded']);
  assert.deepEqual(QPACK_STATIC_TABLE[52], ['content-type', 'text/html; charset=utf-8']);
  assert.deepEqual(QPACK_STATIC_TABLE[54], ['content-type', 'text/plain;charset=utf-8']);
  assert.deepEqual(QPACK_STATIC_TABLE[58], ['strict-transport-security', 'max-age=31536000; includesubdomains; preload']);
  assert.deepEqual(QPACK_STATIC_TABLE[63], [':status', '100']);
  assert.deepEqual(QPACK_STATIC_TABLE[71], [':status', '500']);
  assert.deepEqual(QPACK_STATIC_TABLE[85], ['content-security-policy', "script-src 'none'; object-src 'none'; base-uri 'none'"]);
  assert.deepEqual(QPACK_STATIC_TABLE[92], ['server', '']);
  assert.deepEqual(QPACK_STATIC_TABLE[95], ['user-agent', '']);
  assert.deepEqual(QPACK_STATIC_TABLE[98], ['x-frame-options', 'sameorigin']);
  for (const [name] of QPACK_STATIC_TABLE) assert.match(name, /^:?[a-z-]+$/);
});

test('RFC 9204 B.1: literal field line with a static name reference', () => {
  const d = new QpackDecoder();
  assert.deepEqual(fieldsOf(d.decode(B1_STREAM0)), [f(':path', '/index.html')]);
  assert.equal(d.insertCount, 0);
  assert.equal(d.tableSize, 0);
});

/** Runs B.2 through B.5 in order on one decoder, checking the table after each step. */
function runAppendixB(d: QpackDecoder, feed: (bytes: Buffer) => void): void {
  // B.2: capacity 220, two inserts by static name reference, then a section using post-base indices.
  feed(B2_ENCODER);
  assert.equal(d.insertCount, 2);
  assert.equal(d.tableSize, 106);
  assert.deepEqual(fieldsOf(d.decode(B2_STREAM4)), [f(':authority', 'www.example.com'), f(':path', '/sample/path')]);

  // B.3: speculative insert with a literal name.
  feed(B3_ENCODER);
  assert.equal(d.insertCount, 3);
  assert.equal(d.tableSize, 160);

  // B.4: Duplicate of relative index 2 (absolute 0), then a section with relative and static indices.
  feed(B4_ENCODER);
  assert.equal(d.insertCount, 4);
  assert.equal(d.tableSize, 217);
  assert.deepEqual(fieldsOf(d.decode(B4_STREAM8)), [
    f(':authority', 'www.example.com'),
    f(':path', '/'),
    f('custom-key', 'custom-value'),
  ]);

  // B.5: insert by dynamic name reference (relative 1 = absolute 2) evicts absolute 0.
  feed(B5_ENCODER);
  assert.equal(d.insertCount, 5);
  assert.equal(d.tableSize, 215);
}

test('RFC 9204 B.2-B.5: dynamic table, speculative insert, duplicate, insert with eviction', () => {
  const d = new QpackDecoder(4096);
  runAppendixB(d, (bytes) => assert.equal(d.onEncoderStream(bytes), undefined));

  // After B.5 the table holds absolute 1..4: check each by a section (RIC 5, Base 5).
  // Relative 0..3 are absolute 4, 3, 2, 1.
  assert.deepEqual(fieldsOf(d.decode(hex('0600 80 81 82 83'))), [
    f('custom-key', 'custom-value2'),
    f(':authority', 'www.example.com'),
    f('custom-key', 'custom-value'),
    f(':path', '/sample/path'),
  ]);
  // Absolute 0 was evicted by B.5.
  assert.equal(errorOf(d.decode(hex('0600 84'))), 'qpack: reference to evicted entry 0');
  // The B.4 section still decodes (its entries 2 and 3 survive).
  assert.deepEqual(fieldsOf(d.decode(B4_STREAM8))[2], f('custom-key', 'custom-value'));
});

test('Appendix B with SETTINGS_QPACK_MAX_TABLE_CAPACITY unknown: the capacity the encoder set stands in', () => {
  const d = new QpackDecoder();
  runAppendixB(d, (bytes) => assert.equal(d.onEncoderStream(bytes), undefined));
  // MaxEntries = 220 / 32 = 6, so Required Insert Count 5 is sent as 5 mod 12 + 1 = 6, as with 4096.
  assert.equal(fieldsOf(d.decode(hex('0600 80'))).length, 1);
  // Learning the setting later replaces the stand-in.
  d.setMaxTableCapacity(4096);
  assert.deepEqual(fieldsOf(d.decode(hex('0600 80'))), [f('custom-key', 'custom-value2')]);
});

test('a capture request and response (static table, no Huffman) decode exactly', () => {
  const d = new QpackDecoder();
  assert.deepEqual(fieldsOf(d.decode(REQUEST)), [
    f(':method', 'GET'),
    f(':scheme', 'https'),
    f(':path', '/index.html'),
    f(':authority', 'test'),
    f('user-agent', 'H3Zero/1.0'),
  ]);
  assert.deepEqual(fieldsOf(d.decode(RESPONSE)), [
    f(':status', '200'),
    f('server', 'H3Zero/1.0'),
    f('content-type', 'text/html; charset=utf-8'),
  ]);
});

test('Huffman strings, literal names and post-base name references', () => {
  const d = new QpackDecoder(4096);
  // Encoder: capacity 220; Insert with Literal Name, Huffman name and value (RFC 7541 C.4.3 codes).
  const insert = hex('3fbd01 68 25a849e95ba97d7f 89 25a849e95bb8e8b4bf');
  assert.equal(d.onEncoderStream(insert), undefined);
  assert.equal(d.insertCount, 1);
  assert.equal(d.tableSize, 10 + 12 + 32);
  // Section: RIC 1 (encoded 2), Sign 1, Delta 0 -> Base 0, so the entry is post-base index 0.
  //  00 08 ...: Literal Field Line with Post-Base Name Reference, N=1, index 0, value "v".
  //  2f 01 ...: Literal Field Line with Literal Name, Huffman name of 8 bytes (3-bit prefix 7 + 1).
  //  5c 8c ...: Literal with static name reference 12 (location), Huffman value "www.example.com".
  const section = hex('02 80 08 0176 2f01 25a849e95ba97d7f 0178 5c 8c f1e3c2e5f23a6ba0ab90f4ff 10');
  assert.deepEqual(fieldsOf(d.decode(section)), [
    f('custom-key', 'v'),
    f('custom-key', 'x'),
    f('location', 'www.example.com'),
    f('custom-key', 'custom-value'),
  ]);
});

test('blocked: a section needing inserts not yet seen is {blocked}, then decodes once they arrive', () => {
  const d = new QpackDecoder(4096);
  assert.deepEqual(d.decode(B2_STREAM4), { blocked: true });
  // Capacity and the first insert only: Required Insert Count 2 is still not met.
  assert.equal(d.onEncoderStream(B2_ENCODER.subarray(0, 20)), undefined);
  assert.equal(d.insertCount, 1);
  assert.deepEqual(d.decode(B2_STREAM4), { blocked: true });
  assert.equal(d.onEncoderStream(B2_ENCODER.subarray(20)), undefined);
  assert.equal(d.insertCount, 2);
  assert.deepEqual(fieldsOf(d.decode(B2_STREAM4)), [f(':authority', 'www.example.com'), f(':path', '/sample/path')]);
});

test('a dynamic reference with no table capacity known at all is an error, not a guess', () => {
  const d = new QpackDecoder();
  assert.equal(errorOf(d.decode(B2_STREAM4)), 'qpack: dynamic table reference with no table capacity known');
});

test('encoder stream split byte by byte gives the same table and sections as whole', () => {
  const whole = new QpackDecoder(4096);
  assert.equal(whole.onEncoderStream(ALL_ENCODER), undefined);
  const split = new QpackDecoder(4096);
  for (let i = 0; i < ALL_ENCODER.length; i++) assert.equal(split.onEncoderStream(ALL_ENCODER.subarray(i, i + 1)), undefined);
  assert.equal(split.insertCount, whole.insertCount);
  assert.equal(split.tableSize, whole.tableSize);
  const section = hex('0600 80 81 82 83');
  assert.deepEqual(split.decode(section), whole.decode(section));

  // And in every two-piece split, replayed through all of Appendix B.
  for (let cut = 0; cut <= ALL_ENCODER.length; cut++) {
    const d = new QpackDecoder(4096);
    assert.equal(d.onEncoderStream(ALL_ENCODER.subarray(0, cut)), undefined);
    assert.equal(d.onEncoderStream(ALL_ENCODER.subarray(cut)), undefined);
    assert.equal(d.insertCount, 5);
    assert.equal(d.tableSize, 215);
  }
});

test('a large insert (60 KB value) fed in 1-byte pieces completes and is not re-read quadratically', () => {
  const d = new QpackDecoder(65536);
  const value = 'a'.repeat(60_000);
  const bytes = Buffer.concat([int(65536, 5, 0x20), int(95, 6, 0xc0), str(value)]);
  const start = performance.now();
  for (let i = 0; i < bytes.length; i++) assert.equal(d.onEncoderStream(bytes.subarray(i, i + 1)), undefined);
  assert.ok(performance.now() - start < 3000, 'byte-by-byte feed took too long');
  assert.equal(d.insertCount, 1);
  assert.deepEqual(fieldsOf(d.decode(hex('0200 80'))), [f('user-agent', value)]);
});

test('hostile field sections: each is a short error, quickly, never an exception', () => {
  const d = new QpackDecoder(4096);
  assert.equal(d.onEncoderStream(hex('3fbd01')), undefined);
  assert.equal(d.onEncoderStream(Buffer.concat([int(0, 6, 0xc0), str('a')])), undefined); // absolute 0

  // Static index 99 (one past the table): 0xff then 99 - 63 = 36.
  assert.equal(errorOf(d.decode(hex('0000 ff24'))), 'qpack: static index 99 out of range');
  assert.equal(errorOf(d.decode(hex('0000 5f54 00'))), 'qpack: static index 99 out of range');
  // Absent entry: post-base index 0 with Base 1 is absolute 1, never inserted (and not below RIC 1).
  assert.match(errorOf(d.decode(hex('02 00 10'))), /reference to entry 1 not below required insert count 1/);
  // Dynamic reference in a section that declares Required Insert Count 0 (Base 0 + Delta 1 = 1).
  assert.match(errorOf(d.decode(hex('0001 80'))), /reference to entry 0 not below required insert count 0/);
  // Relative index reaching below absolute 0.
  assert.equal(errorOf(d.decode(hex('02 00 81'))), 'qpack: relative index below the base');
  // Negative Base: Sign 1 with Delta Base >= Required Insert Count.
  assert.equal(errorOf(d.decode(hex('02 81'))), 'qpack: negative base');
  // Encoded Required Insert Count beyond 2 * MaxEntries (256 for 4096).
  assert.equal(errorOf(d.decode(Buffer.concat([int(257, 8), hex('00')]))), 'qpack: invalid required insert count 257');
  // Huge integers: above 2^32, and too many continuation bytes.
  assert.equal(errorOf(d.decode(hex('0000 ff 8080808010'))), 'qpack: integer above 2^32');
  assert.equal(errorOf(d.decode(hex('0000 ff 80808080808080 00'))), 'qpack: integer longer than 6 continuation bytes');
  assert.equal(errorOf(d.decode(hex('ff ffffffffffffffff7f'))), 'qpack: integer above 2^32'); // in the prefix, 2^32 is passed first
  // Truncated: prefix only half there, a string cut short, an empty buffer.
  assert.equal(errorOf(d.decode(hex('00'))), 'qpack: truncated field section');
  assert.equal(errorOf(d.decode(hex('0000 510b 2f69'))), 'qpack: truncated field section');
  assert.equal(errorOf(d.decode(Buffer.alloc(0))), 'qpack: truncated field section');
  // Bad Huffman (EOS-like padding longer than 7 bits).
  assert.equal(errorOf(d.decode(hex('0000 51 82 ffff'))), 'qpack: bad huffman string');

  const start = performance.now();
  // 5,000 fields.
  const many = Buffer.concat([hex('0000'), Buffer.alloc(5000, 0xd1)]);
  assert.equal(errorOf(d.decode(many)), 'qpack: more than 1000 fields in a section');
  // A 1 MB literal length with nothing behind it, and one with the megabyte really there.
  assert.match(errorOf(d.decode(Buffer.concat([hex('0000 51'), int(1_000_000, 7), Buffer.from('abc')]))), /string length 1000000 over limit/);
  const bigValue = Buffer.concat([hex('0000 51'), int(1_000_000, 7), Buffer.alloc(1_000_000, 0x61)]);
  assert.match(errorOf(d.decode(bigValue)), /string length 1000000 over limit/);
  // 300 KB spread over fields that are each fine.
  const spread = Buffer.concat([hex('0000'), ...Array.from({ length: 10 }, () => Buffer.concat([hex('51'), str('b'.repeat(30_000))]))]);
  assert.match(errorOf(d.decode(spread)), /over limit|over 256 kib/);
  assert.ok(performance.now() - start < 1000, 'hostile sections took too long');

  // None of this touched the table: the decoder still works.
  assert.deepEqual(fieldsOf(d.decode(hex('0200 80'))), [f(':authority', 'a')]);
});

test('hostile encoder streams: an error string, then the decoder stays in error', () => {
  const cases: Array<[string, number, Buffer, RegExp]> = [
    ['capacity over our 64 KiB cap', 0, int(65537, 5, 0x20), /^qpack: table capacity 65537 over our 64 kib limit$/],
    ['capacity over the setting', 4096, int(4097, 5, 0x20), /^qpack: table capacity 4097 over the maximum 4096$/],
    ['insert before any capacity', 4096, Buffer.concat([int(0, 6, 0xc0), str('a')]), /entry over table capacity 0/],
    ['entry larger than the capacity', 4096, Buffer.concat([int(40, 5, 0x20), int(0, 6, 0xc0), str('x'.repeat(10))]), /over table capacity 40/],
    ['1 MB literal name length', 4096, Buffer.concat([int(4096, 5, 0x20), int(1_000_000, 5, 0x40)]), /string length 1000000 over limit 4064/],
    ['1 MB value length', 0, Buffer.concat([int(65536, 5, 0x20), int(0, 6, 0xc0), int(1_000_000, 7)]), /string length 1000000 over limit/],
    ['duplicate of an absent entry', 4096, Buffer.concat([int(220, 5, 0x20), int(0, 5)]), /absent entry -1/],
    ['dynamic name reference to an absent entry', 4096, Buffer.concat([int(220, 5, 0x20), int(3, 6, 0x80), str('v')]), /absent entry -4/],
    ['static name reference 99', 4096, Buffer.concat([int(220, 5, 0x20), int(99, 6, 0xc0), str('v')]), /static index 99 out of range/],
    ['huge integer', 4096, hex('3f ffffffffffffffff7f'), /integer (above 2\^32|longer than 6 continuation bytes)/],
    ['bad huffman', 4096, Buffer.concat([int(220, 5, 0x20), hex('c0 82 ffff')]), /bad huffman string/],
  ];
  for (const [what, max, bytes, expected] of cases) {
    const d = new QpackDecoder(max);
    const err = d.onEncoderStream(bytes);
    assert.ok(err !== undefined, what);
    assert.match(err, expected, what);
    // Sticky: more data and any section get the same error.
    assert.equal(d.onEncoderStream(hex('3f01')), err, what);
    assert.deepEqual(d.decode(REQUEST), { error: err }, what);
  }

  // The largest instruction a 64 KiB table admits, split in pieces, is kept whole and completes:
  // name 30,000 + value 35,000 + 32 fits 65,536. (So the 64 KiB tail bound is a backstop: every
  // string length is checked against the room in the table as soon as it is read.)
  const d = new QpackDecoder(65536);
  assert.equal(d.onEncoderStream(int(65536, 5, 0x20)), undefined);
  assert.equal(d.onEncoderStream(Buffer.concat([int(30_000, 5, 0x40), Buffer.alloc(30_000, 0x6e)])), undefined);
  assert.equal(d.onEncoderStream(int(35_000, 7)), undefined);
  assert.equal(d.onEncoderStream(Buffer.alloc(35_000 - 1, 0x76)), undefined);
  assert.equal(d.insertCount, 0);
  assert.equal(d.onEncoderStream(Buffer.from('v')), undefined);
  assert.equal(d.insertCount, 1);
  assert.equal(d.tableSize, 65_032);
  // One byte more of value than the table has room for is refused when the length is read.
  const over = new QpackDecoder(65536);
  assert.equal(over.onEncoderStream(int(65536, 5, 0x20)), undefined);
  assert.equal(over.onEncoderStream(Buffer.concat([int(30_000, 5, 0x40), Buffer.alloc(30_000, 0x6e)])), undefined);
  assert.equal(over.onEncoderStream(int(35_505, 7)), 'qpack: string length 35505 over limit 35504');
});

test('setMaxTableCapacity and the constructor tolerate junk without throwing', () => {
  for (const n of [-1, Number.NaN, Infinity, 1.5, 2 ** 62]) {
    const d = new QpackDecoder(n);
    d.setMaxTableCapacity(n);
    assert.deepEqual(fieldsOf(d.decode(REQUEST)).length, 5);
  }
});


function mutate(input: Buffer, rnd: () => number): Buffer {
  const out = Buffer.from(input);
  const kind = Math.floor(rnd() * 5);
  const at = Math.floor(rnd() * Math.max(1, out.length));
  if (kind === 0) out[at] ^= 1 << Math.floor(rnd() * 8);
  if (kind === 1) out[at] = Math.floor(rnd() * 256);
  if (kind === 2) return out.subarray(0, at);
  if (kind === 3) return Buffer.concat([out.subarray(0, at), Buffer.from([Math.floor(rnd() * 256), Math.floor(rnd() * 256)]), out.subarray(at)]);
  if (kind === 4) for (let i = 0; i < 4; i++) out[Math.floor(rnd() * out.length)] = Math.floor(rnd() * 256);
  return out;
}

test('fuzz: 2,000 mutations of the sections and the encoder stream never throw', () => {
  const rnd = mulberry32(9204);
  const sections = [B1_STREAM0, B2_STREAM4, B4_STREAM8, REQUEST, RESPONSE, hex('0600 80 81 82 83')];
  const encoderParts = [B2_ENCODER, B3_ENCODER, B4_ENCODER, B5_ENCODER];
  for (let i = 0; i < 2000; i++) {
    const d = new QpackDecoder(rnd() < 0.5 ? 4096 : 0);
    for (const part of encoderParts) {
      const bytes = rnd() < 0.3 ? mutate(part, rnd) : part;
      // Feed in random pieces so the tail handling is fuzzed too.
      for (let p = 0; p < bytes.length; ) {
        const n = 1 + Math.floor(rnd() * 8);
        const err = d.onEncoderStream(bytes.subarray(p, p + n));
        assert.ok(err === undefined || typeof err === 'string');
        p += n;
      }
    }
    const section = mutate(sections[Math.floor(rnd() * sections.length)], rnd);
    const result = d.decode(section);
    assert.ok('fields' in result || 'blocked' in result || 'error' in result);
    if ('fields' in result) for (const fl of result.fields) assert.ok(typeof fl.name === 'string' && typeof fl.value === 'string');
    // Mutations may add instructions, but never more than one per encoder-stream byte.
    assert.ok(Number.isInteger(d.insertCount) && d.insertCount >= 0 && d.insertCount <= ALL_ENCODER.length + 8);
  }
});
