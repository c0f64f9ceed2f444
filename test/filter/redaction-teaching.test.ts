// A filter decides on the entry before redaction and redacts only what it keeps; but an entry it
// leaves out may be what tells the redactor that a kept one holds a secret: a JSON-RPC login sent
// as a WebSocket message of its own (its token comes in the next message), a Redis script loaded
// once (its EVALSHA calls pass the password as a bare argument). Kept alone, the answer or the call
// must still lose its secret, on every path of `shark filter`: the projection, a full parse, and JSONata.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { cliBin } from '../helpers/paths.js';
import { runFilter, type RunFilterOptions } from '../../src/filter/run.js';
import { REDACTED } from '../../src/redact/entry.js';

const base = { timestamp: 1, transport: 'tcp', elapsedTime: 0, error: false, requestSize: 1, responseSize: 0 };
const ends = (port: number) => ({ src: { ip: '198.18.0.1', port }, dst: { ip: '198.18.0.2', port: 80 } });
const ws = (id: string, from: string, body: unknown, port = 40000) =>
  JSON.stringify({ ...base, ...ends(port), id, protocol: 'ws', request: { from, opcode: 'text', body: JSON.stringify(body) }, response: null, summary: `${from} text` });
const script = "return redis.call('CONFIG', 'SET', 'requirepass', ARGV[1])";
const sha = createHash('sha1').update(script).digest('hex');
const redis = (id: string, command: string, args: string[], value: string) =>
  JSON.stringify({ ...base, ...ends(40100), dst: { ip: '198.18.0.3', port: 6379 }, id, protocol: 'redis', request: { command, args }, response: { type: 'bulk', value }, summary: command });

const LINES = [
  ws('w1', 'client', { jsonrpc: '2.0', id: 7, method: 'user.login', params: ['visible-user', 'loginSECRET'] }),
  ws('w2', 'server', { jsonrpc: '2.0', id: 7, result: 'tokenSECRET0424bd59' }),
  // Another connection's answer with the same id is not a login's.
  ws('w3', 'server', { jsonrpc: '2.0', id: 7, result: 'otherConnVisible' }, 40001),
  redis('r1', 'SCRIPT', ['LOAD', script], sha),
  redis('r2', 'EVALSHA', [sha, '0', 'evalshaSECRET'], 'OK'),
];

async function filter(expr: string, extra: Partial<RunFilterOptions> = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'shark-teach-'));
  try {
    const file = join(dir, 'e.ndjson');
    writeFileSync(file, LINES.join('\n') + '\n');
    let out = '';
    const stdout = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
    await runFilter({ inputs: [file], expr, stdout, onWarning: () => {}, ...extra });
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a kept answer or script call loses the secret its left-out call or script load said it holds', async () => {
  // Projection (KFL2 and KFL1), a full parse (a field the projection cannot read alone), invert, and JSONata.
  const runs: Array<[string, Partial<RunFilterOptions>]> = [
    ['ws_from == "server" || redis_type == "EVALSHA"', {}],
    ['request.from == "server" or request.command == "EVALSHA"', {}],
    ['request.body.contains("result") || size(request.args) == 3', {}],
    ['request.from == "client" or request.command == "SCRIPT"', { invert: true }],
    ['', { jsonata: 'request.from = "server" or request.command = "EVALSHA"' }],
  ];
  for (const [expr, extra] of runs) {
    const out = await filter(expr, extra);
    const kept = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(kept.map((e) => e.id), ['w2', 'w3', 'r2'], expr);
    assert.doesNotMatch(out, /SECRET/, expr);
    assert.equal(JSON.parse(kept[0].request.body).result, REDACTED, expr);
    assert.equal(JSON.parse(kept[1].request.body).result, 'otherConnVisible', expr);
    assert.deepEqual(kept[2].request.args, [sha, '0', REDACTED], expr);
  }
  // --no-redact writes what was captured, as asked.
  assert.match(await filter('ws_from == "server"', { noRedact: true }), /tokenSECRET0424bd59/);
});

test('on worker threads too: the login read by one worker, its answer by another, the token is not written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-teach-workers-'));
  try {
    // Blocks of lines go to the workers in turn (256 KB each): the login in the first, its answer in the second.
    const pad = (i: number) => JSON.stringify({ ...base, ...ends(41000), id: `p${i}`, protocol: 'http', request: { method: 'GET', path: `/${'x'.repeat(1000)}` }, response: { status: 200 }, summary: 'GET' });
    // First a login longer than a block, sent in pieces: `method` in its first 256 KB, `params` in the next
    // (each piece was tested alone, so it pinned nothing and its answer went to the other worker).
    const longLogin = ws('l1', 'client', { method: 'user.login', note: 'n'.repeat(300_000), params: ['long-user', 'longLoginSECRET'], id: 9 }, 40002);
    const longAnswer = ws('l2', 'server', { id: 9, result: 'tokenSECRETlong5e7f' }, 40002);
    // Lines that do not hold `method` after it: the record with the login's end must not say yes for them.
    const dns = (i: number) => JSON.stringify({ ...base, ...ends(41001), id: `d${i}`, protocol: 'dns', request: { questions: [{ name: `${'x'.repeat(1000)}.example`, type: 'A' }] }, response: { rcode: 0 }, summary: 'A' });
    const lines = [longLogin, ...Array.from({ length: 260 }, (_, i) => dns(i)), longAnswer, LINES[0], ...Array.from({ length: 260 }, (_, i) => pad(500 + i)), LINES[1], ...Array.from({ length: 300 }, (_, i) => pad(1000 + i))];
    const file = join(dir, 'e.ndjson');
    writeFileSync(file, lines.join('\n') + '\n');
    const r = spawnSync(process.execPath, [cliBin, 'filter', '--workers', '2', 'ws', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).id), ['l1', 'l2', 'w1', 'w2']);
    assert.doesNotMatch(r.stdout, /SECRET/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the pieces of a line longer than a block are looked at together for a teaching entry, words cut between two pieces too', async () => {
  const { RecordTeachingScan } = await import('../../src/redact/teaching.js');
  const feed = (records: Array<[string, boolean]>): boolean[] => {
    const scan = new RecordTeachingScan();
    return records.map(([text, endsLine]) => scan.feed(Buffer.from(text, 'latin1'), endsLine));
  };
  assert.deepEqual(feed([['{"method":"login",', false], ['"params":["u","p"]}\n', true]]), [false, true]);
  assert.deepEqual(feed([['{"met', false], ['hod":"login","jsonrpc":"2.0"}\n', true]]), [false, true]);
  assert.deepEqual(feed([['{"args":["return redis.cal', false], ['l(\'GET\')"]}\n', true]]), [false, true]);
  // A line's words do not outlive it: the next line starts afresh.
  assert.deepEqual(feed([['{"method":"x"}\n', true], ['{"params":[1]}\n', true]]), [false, false]);
  assert.deepEqual(feed([['{"method":"x","params":[1]}\n', true]]), [true]);
});
