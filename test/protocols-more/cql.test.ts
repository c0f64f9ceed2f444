// Cassandra CQL against tshark on the shared v3 capture (a v4 STARTUP refused,
// QUERY/PREPARE/EXECUTE, RESULT kinds, several frames per segment), plus a
// byte-level client for v4 authentication, BATCH, response flags and v5
// segment framing. Cassandra is not in Debian, so there is no lab server.
// Compression: cql-compressed.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cql, probeCql } from '../../src/dissect/protocols/cql.js';
import { createRedactor } from '../../src/redact/entry.js';
import { sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import { tsharkFields } from '../protocols/helpers.js';
import { makeContext } from './helpers.js';
import { frame, int, longStr, map, query, rowsResult, short, str } from './cql-wire.js';
import type { CallRecord } from '../../src/dissect/api.js';
import { enterMeter, MemoryBudget, Meter } from '../../src/dissect/memory-budget.js';

const OPS = ['ERROR', 'STARTUP', 'READY', 'AUTHENTICATE', 'CREDENTIALS', 'OPTIONS', 'SUPPORTED', 'QUERY', 'RESULT', 'PREPARE', 'EXECUTE', 'REGISTER'];

test('CQL v3 capture: every frame tshark sees, with stream id, opcode, statement, result kind, rows and error code', async () => {
  const file = sharedCapture('cqltrace-cql-v3-simple.pcap');
  const rows = tsharkFields(file, 'cql', ['frame.number', 'cql.stream', 'cql.opcode', 'cql.result.kind', 'cql.error_code', 'cql.result.rows.row_count', 'cql.query_id']);
  // tshark: one (frame, stream, opcode, kind, error) per CQL frame; a segment may carry several.
  const theirs: string[] = [];
  for (const [frame, streams, ops, kinds, errors] of rows) {
    // The helper joins several occurrences with '|'.
    const s = streams.split('|');
    const o = ops.split('|');
    const k = kinds ? kinds.split('|') : [];
    const e = errors ? errors.split('|') : [];
    let ki = 0;
    let ei = 0;
    s.forEach((stream, i) => {
      const op = Number(o[i]);
      const kind = op === 8 ? k[ki++] : '';
      const err = op === 0 ? e[ei++] : '';
      theirs.push(`${frame} ${stream} ${OPS[op]} ${kind} ${err}`);
    });
  }
  const { entries, error } = await dissectFile(file);
  assert.equal(error, undefined);
  const ours: string[] = [];
  const calls = entries.filter((e) => e.protocol === 'cql');
  const KIND: Record<string, string> = { Void: '1', Rows: '2', Set_keyspace: '3', Prepared: '4', Schema_change: '5' };
  for (const e of calls) {
    assert.ok(e.request && e.response, `unpaired ${e.summary}`);
    assert.equal(e.request.streamId, e.response.streamId);
    ours.push(`${e.frames!.request} ${e.request.streamId} ${e.request.opcode}  `);
    ours.push(`${e.frames!.response} ${e.response.streamId} ${e.response.opcode} ${KIND[e.response.resultKind] ?? ''} ${e.response.errorCode ?? ''}`);
  }
  assert.deepEqual([...new Set(ours)].sort(), [...new Set(theirs)].sort());
  // Statement text as tshark reads it (cql.string of QUERY/PREPARE frames).
  const texts = tsharkFields(file, 'cql.opcode == 7 || cql.opcode == 9', ['frame.number', 'cql.string']);
  for (const [frame, strings] of texts) {
    const inFrame = calls.filter((e) => e.frames!.request === Number(frame)).map((e) => e.request!.query);
    for (const s of strings.split('|')) assert.ok(inFrame.includes(s.replace(/\\n/g, '\n')), `frame ${frame}: ${s}`);
  }
  // Row counts tshark decodes (it marks 5 big segments malformed and gives none for them).
  const counts = tsharkFields(file, 'cql.result.rows.row_count', ['frame.number', 'cql.result.rows.row_count']);
  for (const [frame, ns] of counts) {
    const inFrame = calls.filter((e) => e.frames!.response === Number(frame)).map((e) => e.response!.rows);
    for (const n of ns.split('|')) assert.ok(inFrame.includes(Number(n)), `frame ${frame} rows ${n}`);
  }
  // EXECUTE shows the text its PREPARE registered; the one the server forgot is Unprepared.
  const exec = calls.filter((e) => e.request!.opcode === 'EXECUTE');
  assert.ok(exec.filter((e) => !e.error).every((e) => typeof e.request!.query === 'string'));
  assert.deepEqual(calls.filter((e) => e.error).map((e) => e.response!.errorName), ['Protocol error', 'Invalid', 'Invalid', 'Unprepared']);
});

// ---------------------------------------------------------------- byte-level client

/** A v5 uncompressed segment (CRCs are not checked by the dissector, so zeros here). */
function segment(payload: Buffer, selfContained: boolean): Buffer {
  const h = Buffer.alloc(6);
  h.writeUIntLE(payload.length | (selfContained ? 1 << 17 : 0), 0, 3);
  return Buffer.concat([h, payload, Buffer.alloc(4)]);
}

function run(conv: Array<['c2s' | 's2c', Buffer]>, piece = 0): { records: CallRecord[]; counters: Record<string, number> } {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters);
  const parser = cql.createTcpParser!(ctx);
  for (const [dir, data] of conv) {
    ctx.frame += 1;
    if (piece === 0) parser.onData(dir, data);
    else for (let i = 0; i < data.length; i += piece) parser.onData(dir, data.subarray(i, i + piece));
  }
  parser.onEnd('eof');
  return { records, counters };
}

test('CQL v4 byte-level: SASL PLAIN password redacted, BATCH, tracing and warnings flags, events', () => {
  const token = Buffer.from('\0cassandra\0s3cret-pw');
  const conv: Array<['c2s' | 's2c', Buffer]> = [
    ['c2s', frame(4, 0, 1, map({ CQL_VERSION: '3.0.0' }))],
    ['s2c', frame(0x84, 0, 3, str('org.apache.cassandra.auth.PasswordAuthenticator'))],
    ['c2s', frame(4, 1, 15, Buffer.concat([int(token.length), token]))],
    ['s2c', frame(0x84, 1, 16, int(-1))],
    ['c2s', frame(4, 2, 13, Buffer.concat([Buffer.from([1]), short(2), Buffer.from([0]), longStr('INSERT INTO ks.t (k) VALUES (1)'), short(0), Buffer.from([0]), longStr('INSERT INTO ks.t (k) VALUES (2)'), short(0), short(6), Buffer.from([0])]))],
    ['s2c', frame(0x84, 2, 8, Buffer.concat([Buffer.alloc(16, 0xab), short(1), str('Batch too large'), int(1)]), 0x02 | 0x08)],
    ['c2s', frame(4, 3, 7, query('SELECT * FROM ks.t', 4))],
    ['s2c', frame(0x84, -1, 12, Buffer.concat([str('SCHEMA_CHANGE'), str('CREATED'), str('KEYSPACE'), str('ks2')]))],
    ['s2c', frame(0x84, 3, 8, rowsResult(7))],
    ['c2s', frame(4, 4, 7, query('SELECT nope', 4))],
    ['s2c', frame(0x84, 4, 0, Buffer.concat([int(0x2000), str('line 1:7 no viable alternative')]))],
  ];
  for (const piece of [0, 1, 5]) {
    const { records, counters } = run(conv, piece);
    assert.deepEqual(counters, {}, `piece ${piece}`);
    assert.deepEqual(records.map((r) => r.summary), [
      'STARTUP → AUTHENTICATE',
      'AUTH_RESPONSE → AUTH_SUCCESS',
      'BATCH INSERT INTO ks.t (k) VALUES (1) (2 statements) → Void',
      'EVENT SCHEMA_CHANGE',
      'QUERY SELECT * FROM ks.t → 7 rows',
      'QUERY SELECT nope → ERROR Syntax_error: line 1:7 no viable alternative',
    ]);
    const auth = records[1];
    assert.equal(auth.request!.user, 'cassandra');
    const redacted = createRedactor()({ ...auth, id: '1', timestamp: 0, transport: 'tcp', elapsedTime: 0, src: {} as any, dst: {} as any } as any);
    assert.ok(!JSON.stringify(redacted).includes('s3cret'), 'password leaked past the redactor');
    assert.deepEqual(records[2].request!.queries.length, 2);
    assert.equal(records[2].request!.batchType, 'UNLOGGED');
    assert.equal(records[2].response!.tracingId, 'ab'.repeat(16));
    assert.deepEqual(records[2].response!.serverWarnings, ['Batch too large']);
    assert.equal(records[3].warnings, undefined, 'an event is not a response whose request was lost');
    assert.equal(records[5].error, true);
    assert.equal(records[5].response!.errorCode, 0x2000);
  }
});

test('CQL v5 byte-level: segments after READY, several frames per self-contained segment, a frame split across segments', () => {
  const big = 'SELECT * FROM ks.t WHERE k IN (' + Array.from({ length: 3000 }, (_, i) => i).join(',') + ')';
  const bigFrame = frame(5, 3, 7, query(big, 5));
  const cut = 4000;
  const conv: Array<['c2s' | 's2c', Buffer]> = [
    ['c2s', frame(5, 0, 1, map({ CQL_VERSION: '3.0.0' }))],
    ['s2c', frame(0x85, 0, 2, Buffer.alloc(0))],
    ['c2s', segment(Buffer.concat([frame(5, 1, 7, query('SELECT a FROM ks.t', 5)), frame(5, 2, 7, query('SELECT b FROM ks.t', 5))]), true)],
    ['s2c', segment(Buffer.concat([frame(0x85, 2, 8, rowsResult(2)), frame(0x85, 1, 8, rowsResult(1))]), true)],
    ['c2s', Buffer.concat([segment(bigFrame.subarray(0, cut), false), segment(bigFrame.subarray(cut), false)])],
    ['s2c', segment(frame(0x85, 3, 8, int(1)), true)],
  ];
  for (const piece of [0, 3]) {
    const { records, counters } = run(conv, piece);
    assert.deepEqual(counters, {});
    assert.deepEqual(records.map((r) => `${r.request?.streamId} ${r.request?.opcode} ${r.response?.resultKind ?? r.response?.opcode} ${r.response?.rows ?? ''}`), [
      '0 STARTUP READY ', '2 QUERY Rows 2', '1 QUERY Rows 1', '3 QUERY Void ',
    ]);
    assert.equal(records[3].request!.query.length, Math.min(big.length, 16 * 1024));
  }
});

test('CQL probe: frames yes, other protocols no; after a gap, reading resumes at the next whole frame', () => {
  assert.equal(probeCql(frame(4, 0, 1, map({ CQL_VERSION: '3.0.0' })), false), 'request');
  assert.equal(probeCql(frame(0x84, 0, 2, Buffer.alloc(0)), false), 'response');
  assert.equal(probeCql(frame(4, 7, 7, query('SELECT 1', 4)), false), false, 'mid-session QUERY away from 9042 is not enough');
  assert.equal(probeCql(frame(4, 7, 7, query('SELECT 1', 4)), true), 'request');
  assert.equal(probeCql(Buffer.from('GET / HTTP/1.1\r\n\r\n'), true), false);
  assert.equal(probeCql(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0, 0, 0]), true), false);
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const parser = cql.createTcpParser!(makeContext(records, counters));
  parser.onData('c2s', frame(4, 1, 7, query('SELECT 1', 4)));
  parser.onGap('s2c', 10);
  parser.onData('s2c', Buffer.from('the middle of a lost frame'));
  parser.onData('s2c', frame(0x84, 1, 8, int(1)));
  parser.onEnd('eof');
  // The answer pairs by its stream id: the call is whole, and says a gap came while it waited.
  assert.deepEqual(records.map((r) => [r.response?.resultKind, r.warnings]), [['Void', ['gap']]]);
  assert.equal(counters['cql.gap_dropped'], 26);
});

test('CQL prepared statements are charged to the memory budget; an id over 64 bytes is shown cut and not remembered; past 1,000 the oldest go, counted', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const budget = new MemoryBudget(1 << 30);
  const previous = enterMeter(new Meter(budget));
  let parser;
  try {
    parser = cql.createTcpParser!(makeContext(records, counters));
  } finally {
    enterMeter(previous);
  }
  const startup = Buffer.concat([short(1), str('CQL_VERSION'), str('3.0.0')]);
  parser.onData('c2s', frame(4, 0, 0x01, startup));
  parser.onData('s2c', frame(0x84, 0, 0x02, Buffer.alloc(0)));
  const prepared = (id: Buffer) => Buffer.concat([int(4), short(id.length), id, int(0), int(0), int(0), int(0), int(0)]);
  const text = (i: number) => `SELECT ${i} FROM t WHERE k = ?`;
  // 20 PREPAREs answered with 64 KB ids: 20 × 128 KB of hex were held, uncharged.
  for (let i = 1; i <= 20; i++) {
    parser.onData('c2s', frame(4, i, 0x09, longStr(text(i))));
    parser.onData('s2c', frame(0x84, i, 0x08, prepared(Buffer.alloc(65_535, i))));
  }
  assert.equal(counters['cql.statements_dropped'], 20);
  assert.ok(budget.used < 10_000, `${budget.used} bytes charged`);
  const long = records.at(-1)!;
  assert.equal(long.response!.preparedId, `${Buffer.alloc(64, 20).toString('hex')}…`);
  // 1,001 PREPAREs of 16-byte ids: the first is forgotten, each is charged while it is kept.
  const id = (i: number) => {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(i);
    return b;
  };
  for (let i = 0; i <= 1000; i++) {
    parser.onData('c2s', frame(4, 100, 0x09, longStr(text(i))));
    parser.onData('s2c', frame(0x84, 100, 0x08, prepared(id(i))));
  }
  assert.equal(counters['cql.statements_evicted'], 1);
  const held = 1000 * (32 + text(500).length);
  assert.ok(budget.used > held * 0.9 && budget.used < held * 1.2, `${budget.used} bytes charged for ${held}`);
  const execute = (i: number) => Buffer.concat([short(16), id(i), short(1), Buffer.from([0])]);
  parser.onData('c2s', frame(4, 101, 0x0a, execute(1000)));
  parser.onData('s2c', frame(0x84, 101, 0x08, int(1)));
  parser.onData('c2s', frame(4, 102, 0x0a, execute(0)));
  parser.onData('s2c', frame(0x84, 102, 0x08, int(1)));
  parser.onEnd('fin');
  const [last, forgotten] = records.slice(-2);
  assert.equal(last.request!.query, text(1000));
  assert.equal(forgotten.request!.query, undefined);
  assert.equal(forgotten.request!.preparedId, id(0).toString('hex'));
});
