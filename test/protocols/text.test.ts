import { test } from 'node:test';
import assert from 'node:assert/strict';
import { looksLikeText } from '../../src/dissect/protocols/util/text.js';

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
