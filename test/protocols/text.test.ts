import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decimalInteger, looksLikeText } from '../../src/dissect/protocols/util/text.js';

test('looksLikeText: UTF-8 text yes; control bytes, invalid UTF-8 no; a sequence cut at the end is fine', () => {
  const b = (x: string | number[]) => Buffer.from(x as any);
  assert.equal(looksLikeText(b('hello\r\n\tworld')), true);
  assert.equal(looksLikeText(b('héllo ✓ 😀')), true);
  assert.equal(looksLikeText(b('😀').subarray(0, 3)), true, 'cut inside the last character');
  assert.equal(looksLikeText(b([0x61, 0x00])), false);
  assert.equal(looksLikeText(b([0x61, 0x7f])), false);
  assert.equal(looksLikeText(b([0x61, 0xff])), false);
  assert.equal(looksLikeText(b([0xe2, 0x41, 0x41])), false, 'a lead byte without continuation mid-text');
  assert.equal(looksLikeText(Buffer.concat([b('a'.repeat(5000)), b([0])])), true, 'only the first 4096 bytes are checked');
});

test('looksLikeText: short values take the ASCII loop and agree with the long path', () => {
  const cases: [Buffer, boolean][] = [
    [Buffer.from('VXK'), true],
    [Buffer.from('tab\tand\r\nlines'), true],
    [Buffer.from([0x61, 0x00, 0x62]), false],
    [Buffer.from([0x61, 0x7f]), false],
    [Buffer.from('héllo wörld'), true],
    [Buffer.from([0x61, 0xc3]), true], // cut inside a 2-byte sequence at the end
    [Buffer.from([0x61, 0xff, 0x62]), false],
    [Buffer.alloc(0), true],
  ];
  for (const [buf, want] of cases) {
    assert.equal(looksLikeText(buf), want, JSON.stringify([...buf]));
    // The same bytes behind 80 bytes of text go through the native checks: same verdict.
    assert.equal(looksLikeText(Buffer.concat([Buffer.alloc(80, 0x61), buf])), want, `long ${JSON.stringify([...buf])}`);
  }
});

test('decimalInteger: digits only, within the bound, a sign only when allowed; never NaN', () => {
  assert.equal(decimalInteger('0'), 0);
  assert.equal(decimalInteger('42'), 42);
  assert.equal(decimalInteger('007'), 7);
  assert.equal(decimalInteger('-1', 15, true), -1);
  assert.equal(decimalInteger('-1'), undefined, 'unsigned by default');
  assert.equal(decimalInteger('123456789012345'), 123456789012345);
  assert.equal(decimalInteger('1234567890123456'), undefined, 'past 15 digits');
  assert.equal(decimalInteger('1234567890', 9), undefined);
  for (const bad of [undefined, '', '-', ' 1', '1 ', '1e3', '0x10', '+1', '1.5', 'NaN', 'Infinity', '١٢']) assert.equal(decimalInteger(bad, 15, true), undefined, String(bad));
});

test('looksLikeText: every byte value alone, at every place of a 4-byte step, text or not as tab/CR/LF and the control characters decide', () => {
  for (let c = 0; c < 0x80; c++) {
    const control = (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f;
    for (let at = 0; at < 7; at++) {
      // Past 64 bytes (the short path), with the byte at each offset of the 4-byte walk and in its tail.
      const buf = Buffer.alloc(70 + (at % 3), 0x61);
      buf[buf.length - 1 - at] = c;
      assert.equal(looksLikeText(buf), !control, `byte 0x${c.toString(16)} at ${buf.length - 1 - at} of ${buf.length}`);
    }
  }
});
