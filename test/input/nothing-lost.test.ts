// Issue 22, "nothing lost silently", tried again with fresh inputs: a
// PostgreSQL query over the 1 MB message limit used to vanish (its reply came
// out as "(request not captured)"); it now yields its entry, truncated and
// said, and the limit hit is counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DissectionEngine } from '../../src/dissect/engine.js';
import type { Entry } from '../../src/model/entry.js';
import { Wire } from '../helpers/engine-wire.js';

function pgMessage(type: string, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
}

test('a PostgreSQL query over 1 MB: an entry with the start of its text, a warning, its reply paired, the limit counted', () => {
  const w = new Wire();
  let t = 1_000;
  const params = Buffer.from('user\0app\0database\0db\0\0');
  const startup = Buffer.alloc(8);
  startup.writeUInt32BE(8 + params.length, 0);
  startup.writeUInt32BE(196608, 4);
  w.send(t++, 1, 40100, 5432, Buffer.concat([startup, params]));
  w.send(t++, 2, 5432, 40100, Buffer.concat([pgMessage('R', Buffer.alloc(4)), pgMessage('Z', Buffer.from('I'))]));
  const query = pgMessage('Q', Buffer.from(`SELECT ${"'y',".repeat(400_000)}1\0`));
  for (let o = 0; o < query.length; o += 1400) w.send(t++, 1, 40100, 5432, query.subarray(o, o + 1400));
  w.send(t++, 2, 5432, 40100, Buffer.concat([pgMessage('C', Buffer.from('SELECT 1\0')), pgMessage('Z', Buffer.from('I'))]));

  const out: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => out.push(e));
  for (const p of w.packets) engine.push(p);
  engine.finish();
  const big = out.find((e) => e.protocol === 'postgresql' && (e.request as { type?: string })?.type === 'query');
  assert.ok(big, JSON.stringify(out.map((e) => e.summary)));
  assert.ok(query.length > 1024 * 1024);
  assert.equal(big.requestSize, query.length, 'every byte of the query is counted');
  assert.match(String((big.request as { query: string }).query), /^SELECT 'y','y',/);
  assert.ok(big.warnings?.includes('truncated: message over 1048576 bytes'), JSON.stringify(big.warnings));
  assert.equal((big.response as { commandTag?: string })?.commandTag, 'SELECT 1');
  assert.equal(engine.summary()['postgresql.message_truncated'], 1);
});
