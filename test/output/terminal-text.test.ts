// Cutting text for a terminal: the middle taken out, the width counted in
// terminal columns (East Asian wide characters as two).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutMiddle, displayWidth, escapeForTerminal, fitToWidth } from '../../src/output/formats/terminal-text.js';
import { compactLine } from '../../src/output/formats/compact.js';
import { styles } from '../../src/output/formats/colour.js';
import { spawnSync } from 'node:child_process';
import { xmlAttr, xmlText } from '../../src/output/xml-text.js';
import { junitXml } from '../../src/stats/junit.js';

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

test('JUnit XML (stats --junit, diff --format junit): a control character, bidi override or noncharacter from traffic is shown escaped, not dropped or passed raw, and the XML stays well-formed', () => {
  assert.equal(xmlText('GET /c\x1b[2J/z\n<a> & b'), 'GET /c\\x1b[2J/z\n&lt;a&gt; &amp; b');
  assert.equal(xmlAttr('pay\u202egnp.exe "q"\n\u0085\ufffe\ud800'), 'pay\\u202egnp.exe &quot;q&quot;&#10;\\x85\\ufffe\\ud800');
  const xml = junitXml(
    [{ name: 'errors of /c\x1b[2J/z', type: 'error-rate', line: 3, passed: false, matched: 1, value: 100, limit: 1, detail: 'GET /a\u202eevil\u202c/x: 100% > 1%', scope: 'path /\u0085' }],
    'shark stats',
    'rules.yaml',
  );
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(xml, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufffe\uffff]/);
  assert.ok(xml.includes('name="errors of /c\\x1b[2J/z"'), xml);
  assert.ok(xml.includes('GET /a\\u202eevil\\u202c/x: 100% &gt; 1%'), xml);
  const lint = spawnSync('xmllint', ['--noout', '-'], { input: xml, encoding: 'utf8' });
  assert.equal(lint.status, 0, lint.stderr);
});
