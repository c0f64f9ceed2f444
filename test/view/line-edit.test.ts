// Backspace in view's filter box takes one character as the user sees it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withoutLastCharacter } from '../../src/view/line-edit.js';

test('backspace removes the last character a user sees: ASCII, an emoji (no lone surrogate left), a flag, a family, a combining mark', () => {
  assert.equal(withoutLastCharacter('dns'), 'dn');
  assert.equal(withoutLastCharacter(''), '');
  assert.equal(withoutLastCharacter('path == "🦈'), 'path == "');
  assert.equal(withoutLastCharacter('x🇩🇪'), 'x');
  assert.equal(withoutLastCharacter('a👨‍👩‍👧'), 'a');
  assert.equal(withoutLastCharacter('cafe\u0301'), 'caf');
  // What slice(0, -1) left: half of a surrogate pair, which is not text.
  assert.ok(!/[\ud800-\udbff]$/.test(withoutLastCharacter('a🦈🦈')));
  assert.equal(withoutLastCharacter('a🦈🦈'), 'a🦈');
});
