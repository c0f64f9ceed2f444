// Cutting text for a terminal: the middle taken out, the width counted in
// terminal columns (East Asian wide characters as two).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutMiddle, displayWidth } from '../../src/output/formats/terminal-text.js';

test('cutMiddle keeps both ends of a path and fits the columns exactly', () => {
  assert.equal(cutMiddle('/api/v2/users/12345/orders', 15), '/api/v2…/orders');
  assert.equal(cutMiddle('bookinfo/details-v1-79f774bdb9-abcde:9080', 17), 'bookinfo…cde:9080');
  assert.equal(cutMiddle('short', 10), 'short');
  assert.equal(cutMiddle('abc', 1), '…');
  assert.equal(cutMiddle('abc', 0), '');
});

test('cutMiddle counts wide characters as two columns and never overflows', () => {
  const path = '日本語のパス/ファイル';
  for (let columns = 1; columns < displayWidth(path); columns++) {
    const cut = cutMiddle(path, columns);
    assert.ok(displayWidth(cut) <= columns, `${columns}: ${cut}`);
    assert.ok(cut.includes('…'));
  }
  assert.equal(cutMiddle(path, 9), '日本…イル');
});
