// Cutting text for a terminal: the middle taken out, the width counted in
// terminal columns (East Asian wide characters as two).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutMiddle, displayWidth, escapeForTerminal, fitToWidth } from '../../src/output/formats/terminal-text.js';
import { compactLine } from '../../src/output/formats/compact.js';
import { styles } from '../../src/output/formats/colour.js';

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

test('cuts never split an escape: a control character is shown whole or not at all, at every width', () => {
  // ESC, a bidi override and a newline from the traffic, escaped as \\x1b, \\u202e and \\n before any cut.
  const text = escapeForTerminal('GET /\x1b[31mred/\u202eevil/\nnext/\x1b[0m/end');
  // Every backslash in a cut starts a whole escape (none was sent as text here).
  const whole = (s: string) => s.replace(/\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|n)/g, '').includes('\\') === false;
  for (let columns = 2; columns < displayWidth(text); columns++) {
    const middle = cutMiddle(text, columns);
    assert.ok(displayWidth(middle) <= columns, `cutMiddle ${columns}: ${middle}`);
    assert.ok(whole(middle), `cutMiddle ${columns} split an escape: ${middle}`);
    const end = fitToWidth(text, columns);
    assert.ok(displayWidth(end) <= columns, `fitToWidth ${columns}: ${end}`);
    assert.ok(whole(end), `fitToWidth ${columns} split an escape: ${end}`);
  }
  // In a compact line too, whatever the terminal width.
  const entry = { id: '1', timestamp: 0, protocol: 'http', summary: `GET /\u001b[31m${'x'.repeat(40)}\u001b]0;title\u0007 → 200`, request: {}, response: { status: 200 } };
  for (let columns = 30; columns < 140; columns++) {
    const line = compactLine(entry as never, { columns, wide: false, styles: styles(false) });
    assert.ok(whole(line), `compact at ${columns} split an escape: ${line}`);
  }
});
