import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headerName } from '../../src/dissect/protocols/util/header-names.js';

const named = (text: string): string => headerName(text, 0, text.length);

test('header names: lowercase, whether met before or not', () => {
  const first = named('Content-Type');
  assert.equal(first, 'content-type');
  assert.equal(named('CONTENT-TYPE'), 'content-type');
  assert.equal(named('content-type'), 'content-type');
  assert.equal(headerName('xx X-Request-Id yy', 3, 15), 'x-request-id');
  assert.equal(named('Caf\u00c9-Name'), 'caf\u00e9-name');
  assert.equal(named('N'.repeat(100)), 'n'.repeat(100));
});

test('header names: thousands of made-up names past the table are still read right', () => {
  for (let i = 0; i < 5000; i++) assert.equal(named(`X-Made-Up-${i}-Name`), `x-made-up-${i}-name`);
  // Names the table holds and names it does not hold any more read the same.
  for (let i = 0; i < 5000; i += 499) assert.equal(named(`X-MADE-UP-${i}-NAME`), `x-made-up-${i}-name`);
  assert.equal(named('Host'), 'host');
});
