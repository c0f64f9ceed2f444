// PostgreSQL and MySQL parsers against tshark on lab recordings
// (scripts/lab/record-more.sh) and the shared lab mix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { postgresql, probePostgres } from '../../src/dissect/protocols/postgresql.js';
import { MemoryBudget, Meter, enterMeter } from '../../src/dissect/memory-budget.js';
import { mysql, probeMysql, SQL_START } from '../../src/dissect/protocols/mysql.js';
import { repoRoot, sharedCapture } from '../helpers/paths.js';
import type { CallRecord } from '../../src/dissect/api.js';
import { dissectPacketList, readPcap, without } from '../helpers/pcap-edit.js';
import { AGG, feedConnections, feedWithGap, makeContext, tcpSegments, type Segment } from './helpers.js';

const fixture = (name: string): string => join(repoRoot, 'test', 'fixtures', 'captures', name);

/**
 * Our error codes against tshark's: same codes in the same order, each reported
 * by the call whose response ends at or just after tshark's ErrorResponse frame
 * (the call ends with the ReadyForQuery that may come in the next segment).
 */
function sameErrors(ours: Array<{ frame: number; code: string }>, segments: Segment[], field: number): void {
  // Classes 00-02 are NoticeResponse codes (success, warning, no data), not errors.
  const theirs = segments.flatMap((s) =>
    (s.extra[field] ?? '').split(AGG).filter((x) => x !== '' && !/^0[0-2]/.test(x)).map((code) => ({ frame: s.frame, code })),
  );
  ours.sort((a, b) => a.frame - b.frame);
  assert.deepEqual(ours.map((o) => o.code), theirs.map((t) => t.code));
  ours.forEach((o, i) => assert.ok(o.frame >= theirs[i].frame && o.frame <= theirs[i].frame + 2, `${o.frame} vs ${theirs[i].frame}`));
}

/** "frame value" pairs of one extra tshark field (index `i`), every occurrence. */
function pairs(segments: Segment[], i: number): string[] {
  const out: string[] = [];
  for (const s of segments) for (const v of (s.extra[i] ?? '').split(AGG).filter((x) => x !== '')) out.push(`${s.frame} ${v}`);
  return out.sort();
}

const PG_FIELDS = ['pgsql.query', 'pgsql.tag', 'pgsql.code'];

test('PostgreSQL lab: queries, command tags and SQLSTATEs agree with tshark', () => {
  const segments = tcpSegments(fixture('lab-pgsql.pcap'), { fields: PG_FIELDS });
  const { records, counters } = feedConnections(postgresql, segments);
  assert.deepEqual(counters, {});
  // Every query tshark shows (simple Query and Parse) starts one of our calls.
  const ours = records.filter((r) => r.request?.query !== undefined);
  const ourPairs = new Set(ours.map((r) => `${r.requestFrame} ${r.request!.query}`));
  const theirs = pairs(segments, 0);
  assert.ok(theirs.length >= 15);
  for (const p of theirs) assert.ok(ourPairs.has(p), `missing ${p}`);
  // The rest are Bind/Execute of named prepared statements, whose text we resolve.
  const extra = ours.filter((r) => !theirs.includes(`${r.requestFrame} ${r.request!.query}`));
  assert.ok(extra.length > 0 && extra.every((r) => r.request!.statement), JSON.stringify(extra.map((r) => r.request)));
  // Command tags and error codes, in the frames tshark saw them.
  const tags = records.flatMap((r) => (r.response?.commandTags ?? []).map((t: string) => `${r.responseFrame} ${t}`)).sort();
  assert.deepEqual(tags, pairs(segments, 1));
  sameErrors(records.filter((r) => r.response?.errorCode).map((r) => ({ frame: r.responseFrame!, code: r.response!.errorCode })), segments, 2);
  // Semantics a user relies on.
  const insert = records.find((r) => /^insert into pets values \(1, 'cat'/.test(r.request?.query ?? ''))!;
  assert.equal(insert.response!.rows, 3);
  const update = records.find((r) => r.request?.query?.startsWith('update'))!;
  assert.equal(update.response!.rows, 2);
  const dup = records.find((r) => r.request?.query?.includes("'dup'"))!;
  assert.equal(dup.error, true);
  assert.equal(dup.response!.errorCode, '23505');
  assert.match(dup.response!.errorMessage, /duplicate key/);
  const select = records.find((r) => r.request?.query === 'select id, name from pets order by id;')!;
  assert.deepEqual(select.response!.columns, ['id', 'name']);
  assert.equal(select.response!.rowsReturned, 3);
  const startup = records.find((r) => r.request?.type === 'startup')!;
  assert.equal(startup.request!.user, 'shark');
  assert.equal(startup.request!.database, 'shark');
  assert.equal(startup.response!.authentication, 'md5');
  assert.match(startup.response!.serverVersion, /^15\./);
  const ssl = records.find((r) => r.request?.type === 'SSLRequest')!;
  assert.equal(ssl.response!.accepted, false);
  const copyIn = records.find((r) => r.request?.query?.startsWith('copy pets'))!;
  assert.equal(copyIn.response!.copy, 'in');
  assert.ok(copyIn.request!.copyBytes >= '4\tfox\n'.length); // psql also sends its end marker line as data
  assert.equal(copyIn.response!.rows, 1);
  const copyOut = records.find((r) => r.request?.query?.startsWith('copy (select'))!;
  assert.equal(copyOut.response!.copy, 'out');
  assert.equal(copyOut.response!.rows, 4);
  const notice = records.find((r) => r.request?.query?.startsWith('do $$'))!;
  assert.deepEqual(notice.response!.notices, ['pets: 4']);
  const extended = records.find((r) => r.request?.type === 'extended' && r.request.parameters)!;
  assert.ok(extended.request!.parameters.length === 1);
  for (const r of records) assert.ok(r.responseTime === undefined || r.responseTime >= r.requestTime);
});

test('PostgreSQL pipelines: one call per statement, the error on the statement that failed, the skipped ones aborted; Flush before Sync', () => {
  const segments = tcpSegments(fixture('lab-pgsql-pipeline.pcap'), { fields: PG_FIELDS });
  const { records, counters } = feedConnections(postgresql, segments);
  assert.deepEqual(counters, {});
  // Every query tshark shows (a Parse's) starts a call of its own (three in one segment: three calls); the other
  // calls run prepared statements (Bind/Execute, their text resolved); and every call has its request.
  const calls = records.filter((r) => r.request?.query !== undefined);
  const theirs = pairs(segments, 0);
  const parsed = calls.filter((r) => theirs.includes(`${r.requestFrame} ${r.request!.query}`));
  assert.deepEqual(parsed.map((r) => `${r.requestFrame} ${r.request!.query}`).sort(), theirs);
  assert.deepEqual(calls.filter((r) => !parsed.includes(r)).map((r) => r.request!.statement), ['P_0', 'P_1', 'P_2', 'P_3']);
  assert.ok(records.every((r) => r.request !== null && !r.warnings?.includes('unanswered')), JSON.stringify(records.filter((r) => !r.request || r.warnings)));
  // Each call carries its own command tag and SQLSTATE, in the frame tshark shows them (or the ReadyForQuery just after).
  const tagsAt = new Set(pairs(segments, 1));
  const codesAt = new Set(pairs(segments, 2));
  const near = (set: Set<string>, frame: number, value: string) => [0, 1, 2].some((d) => set.has(`${frame - d} ${value}`));
  for (const r of calls) {
    assert.ok((r.response?.commandTags ?? []).length <= 1, `${r.request!.query}: ${r.response?.commandTags}`);
    if (r.response?.commandTag) assert.ok(near(tagsAt, r.responseFrame!, r.response.commandTag), `${r.request!.query} → ${r.response.commandTag} at ${r.responseFrame}`);
    if (r.response?.errorCode) assert.ok(near(codesAt, r.responseFrame!, r.response.errorCode), `${r.request!.query} → ${r.response.errorCode} at ${r.responseFrame}`);
  }
  // pgbench -M prepared first prepares each statement on its own (Parse, Sync): not the statement run.
  const byQuery = (q: string) => calls.filter((r) => r.request!.query === q && (r.request!.executes || r.request!.type === 'query'));
  const outcome = (q: string) => byQuery(q).map((r) => r.summary.slice(q.length + 3));
  assert.deepEqual(outcome("insert into kv values (1, 'one'), (2, 'two');"), ['INSERT 0 2']);
  assert.deepEqual(byQuery('select v from kv order by k;').map((r) => [r.response!.columns, r.response!.rowsReturned]), [[['v'], 2]]);
  assert.deepEqual(outcome("update kv set v = 'uno' where k = 1;"), ['UPDATE 1']);
  // The failing pipeline: its first statement succeeds, its second fails, the server skips the other two.
  assert.deepEqual(outcome('select count(*) from kv;'), ['SELECT 1']);
  const dup = byQuery("insert into kv values (1, 'dup');");
  assert.deepEqual(dup.map((r) => [r.error, r.response!.errorCode]), [[true, '23505']]);
  for (const q of ["select 'skipped';", 'delete from kv where k = 2;']) {
    assert.deepEqual(byQuery(q).map((r) => [r.error, r.response!.aborted, r.response!.commandTag]), [[true, true, undefined]], q);
  }
  // Flush before Sync (asyncpg): the prepare's answer and the statement are one call; the next query pairs with its own reply.
  const prepared = calls.find((r) => r.request!.query === 'select $1::int + 1')!;
  assert.deepEqual([prepared.request!.parameters, prepared.response!.rowsReturned, prepared.response!.commandTag], [['5'], 1, 'SELECT 1']);
  assert.deepEqual(outcome('select 42'), ['SELECT 1']);
  const refused = calls.find((r) => r.request!.query === 'selec 1')!;
  assert.deepEqual([refused.error, refused.response!.errorCode], [true, '42601']);
  assert.deepEqual(outcome('select 43'), ['SELECT 1']);
});

test('PostgreSQL prepare-only batches: each Parse before one Sync is a call of its own, like tshark shows them; a refused one fails, the next is aborted; a portal fetched in steps says suspended', () => {
  const segments = tcpSegments(fixture('lab-pgsql-prepare.pcap'), { fields: PG_FIELDS });
  const { records, counters } = feedConnections(postgresql, segments);
  assert.deepEqual(counters, {});
  // Every query tshark shows (three Parses in one segment: three calls) starts exactly one call; the
  // other calls with a query are the later Executes of a portal (its text resolved).
  const parseFrames = new Set(pairs(segments, 0).map((p) => Number(p.split(' ')[0])));
  const calls = records.filter((r) => r.request?.query !== undefined && parseFrames.has(r.requestFrame!));
  assert.deepEqual(calls.map((r) => `${r.requestFrame} ${r.request!.query}`).sort(), pairs(segments, 0));
  const executesOnly = records.filter((r) => r.request?.query !== undefined && !parseFrames.has(r.requestFrame!));
  assert.deepEqual(executesOnly.map((r) => [r.request!.query, r.request!.executes]), Array(2).fill(['select g from generate_series(1, 7) g', 1]));
  const byStatement = (name: string) => records.find((r) => r.request?.statement === name)!;
  // All prepared: each ends with the reply to its last message (st2 was described: its columns).
  assert.deepEqual(['st1', 'st2', 'st3'].map((n) => [byStatement(n).summary, byStatement(n).error]), [
    ['select 1 → prepared', false], ['select $1::text as word → prepared', false], ["select 'three' → prepared", false],
  ]);
  assert.deepEqual(byStatement('st2').response!.columns, ['word']);
  assert.equal(byStatement('st1').response!.columns, undefined);
  // The second of the next batch is refused (with the code and frame tshark shows); the server skips the third.
  const [ok, bad, skipped] = ['ok1', 'bad2', 'skip3'].map(byStatement);
  assert.deepEqual([ok.error, ok.summary], [false, 'select 10 → prepared']);
  assert.deepEqual([bad.error, bad.response!.errorCode], [true, '42601']);
  assert.ok(pairs(segments, 2).includes(`${bad.responseFrame} 42601`));
  assert.deepEqual([skipped.error, skipped.response!.aborted], [true, true]);
  assert.equal(records.find((r) => r.request?.query === 'select 44')!.summary, 'select 44 → SELECT 1');
  // A portal fetched three rows at a time (JDBC fetch size): each Execute a call, the suspended ones say so; then closed.
  const fetches = records.filter((r) => r.request?.query === 'select g from generate_series(1, 7) g');
  assert.deepEqual(fetches.map((r) => [r.summary.split(' → ')[1], r.response!.rowsReturned, r.error]), [['suspended', 3, false], ['suspended', 3, false], ['SELECT 1', 1, false]]);
  assert.deepEqual(records.filter((r) => r.request?.close).map((r) => r.summary), ['close portal cur → ok']);
});

test('PostgreSQL LISTEN/NOTIFY: each NotificationResponse is an entry of its own with its channel and payload, in the frame tshark shows it', () => {
  const segments = tcpSegments(fixture('lab-pgsql-prepare.pcap'), { fields: ['pgsql.condition', 'pgsql.text'] });
  const { records } = feedConnections(postgresql, segments);
  const notes = records.filter((r) => r.response?.type === 'notification');
  assert.deepEqual(notes.map((r) => `${r.responseFrame} ${r.response!.channel}`).sort(), pairs(segments, 0));
  // pgsql.text is also an error's severity: only the notification frames' payloads.
  const noteFrames = new Set(pairs(segments, 0).map((p) => p.split(' ')[0]));
  const payloads = pairs(segments, 1).filter((p) => noteFrames.has(p.split(' ')[0]));
  assert.deepEqual(notes.map((r) => `${r.responseFrame} ${r.response!.payload}`).sort(), payloads);
  assert.ok(notes.length === 2 && notes.every((r) => r.request === null && !r.error && r.summary === 'notification shark_events'));
  // The one inside the reply to the session's own pg_notify() leaves that call whole.
  const own = records.find((r) => r.request?.query?.startsWith('select pg_notify'))!;
  assert.deepEqual([own.summary, own.response!.rowsReturned], ["select pg_notify('shark_events', 'from myself') → SELECT 1", 1]);
  assert.equal(records.find((r) => r.request?.query === 'select 45')!.summary, 'select 45 → SELECT 1');
});

/** One PostgreSQL protocol message: type byte, length, body. */
function pgMsg(type: string, body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(b.length + 4, 1);
  return Buffer.concat([head, b]);
}

test('PostgreSQL: a pipeline of 300 statements holds at most 256 calls; the rest join the last one, counted, and every outcome pairs with its statement', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const parser = postgresql.createTcpParser!(makeContext(records, counters));
  const statements: Buffer[] = [];
  for (let i = 1; i <= 300; i++) {
    statements.push(pgMsg('P', `\0insert into t values (${i})\0\0\0`), pgMsg('B', '\0\0\0\0\0\0\0\0'), pgMsg('E', '\0\0\0\0\0'));
  }
  parser.onData('c2s', Buffer.concat([...statements, pgMsg('S', '')]));
  const replies: Buffer[] = [];
  for (let i = 1; i <= 300; i++) replies.push(pgMsg('1', ''), pgMsg('2', ''), pgMsg('C', `INSERT 0 ${i}\0`));
  parser.onData('s2c', Buffer.concat([...replies, pgMsg('Z', 'I')]));
  parser.onEnd('fin');
  assert.equal(records.length, 256);
  assert.deepEqual(counters, { 'postgresql.pipeline_overflow_folded': 44 });
  for (const [n, r] of records.entries()) {
    // Call n (from 0) runs statement n+1; the last one the 45 from 256 on.
    const executes = n === 255 ? 45 : 1;
    assert.equal(r.request!.query, `insert into t values (${n + 1})`);
    assert.deepEqual([r.request!.executes, r.response!.commandTags.length, r.response!.commandTags[0], r.error], [executes, executes, `INSERT 0 ${n + 1}`, false]);
  }
  assert.deepEqual(records[255].warnings, ['folded: 44 more pipelined statements in this call (over 256 waiting)']);
});

test('PostgreSQL: a query answered by 100,000 CommandCompletes and notices lists 100 of each, counts the rest and still sums the rows', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const parser = postgresql.createTcpParser!(makeContext(records, counters));
  parser.onData('c2s', pgMsg('Q', 'select 1\0'));
  const tag = pgMsg('C', 'SELECT 1\0');
  const notice = pgMsg('N', `SNOTICE\0Mnote ${'x'.repeat(5000)}\0\0`);
  const chunk = Buffer.concat(Array.from({ length: 1000 }, () => tag));
  for (let i = 0; i < 100; i++) parser.onData('s2c', chunk);
  for (let i = 0; i < 150; i++) parser.onData('s2c', notice);
  parser.onData('s2c', pgMsg('Z', 'I'));
  parser.onEnd('fin');
  assert.equal(records.length, 1);
  const res = records[0].response!;
  assert.equal(res.commandTags.length, 100);
  assert.equal(res.commandTagsNotListed, 99_900);
  assert.equal(res.rows, 100_000);
  assert.equal(res.notices.length, 100);
  assert.equal(res.noticesNotListed, 50);
  assert.ok(res.notices[0].length <= 1025, 'a notice keeps its first 1 KB');
  assert.equal(counters['postgresql.list_truncated'], 2);
});

test('PostgreSQL: prepared statements and portals keep 16 KB of text each, charged to the memory budget, and at most 1,000 of each, counted', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const budget = new MemoryBudget(1 << 30);
  const meter = new Meter(budget);
  const previous = enterMeter(meter);
  let parser;
  try {
    parser = postgresql.createTcpParser!(makeContext(records, counters));
  } finally {
    enterMeter(previous);
  }
  const text = `select '${'x'.repeat(200_000)}'`;
  for (let i = 0; i < 20; i++) parser.onData('c2s', Buffer.concat([pgMsg('P', `s${i}\0${text}\0\0\0`), pgMsg('S', '')]));
  // 20 statements of 200 KB: what is kept is their first 16 KB.
  assert.ok(budget.used > 20 * 16_000 && budget.used < 20 * 17_000, `${budget.used} bytes charged`);
  const binds: Buffer[] = [];
  for (let i = 0; i < 1100; i++) binds.push(pgMsg('B', `p${i}\0s${i % 20}\0\0\0\0\0\0\0`));
  parser.onData('c2s', Buffer.concat([...binds, pgMsg('S', '')]));
  assert.equal(counters['postgresql.statements_dropped'], 100);
  parser.onData('c2s', Buffer.concat([pgMsg('B', `p0\0s3\0\0\0\0\0\0\0`), pgMsg('E', 'p0\0\0\0\0\0'), pgMsg('S', '')]));
  parser.onEnd('fin');
  const last = records.at(-1)!;
  assert.equal(last.request!.query.length, 16 * 1024);
  assert.ok(last.request!.query.endsWith('…'));
});

test('PostgreSQL SCRAM login: the method is sasl with its mechanisms, not its last step; a refused password is the error', () => {
  const msg = pgMsg;
  const auth = (code: number, rest = Buffer.alloc(0)) => msg('R', Buffer.concat([Buffer.from([0, 0, 0, code]), rest]));
  const params = Buffer.from('user\0sc\0database\0postgres\0\0', 'latin1');
  const startup = Buffer.alloc(8);
  startup.writeUInt32BE(8 + params.length, 0);
  startup.writeUInt32BE(196608, 4);
  for (const refused of [false, true]) {
    const records: CallRecord[] = [];
    const parser = postgresql.createTcpParser!(makeContext(records, {}));
    parser.onData('c2s', Buffer.concat([startup, params]));
    parser.onData('s2c', auth(10, Buffer.from('SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0', 'latin1')));
    parser.onData('c2s', msg('p', Buffer.from('SCRAM-SHA-256\0\0\0\0\x20n,,n=,r=clientnonce0123456789abcd', 'latin1')));
    parser.onData('s2c', auth(11, Buffer.from('r=clientnonce0123456789abcdserver,s=c2FsdA==,i=4096', 'latin1')));
    parser.onData('c2s', msg('p', Buffer.from('c=biws,r=clientnonce0123456789abcdserver,p=cHJvb2Y=', 'latin1')));
    if (refused) parser.onData('s2c', msg('E', Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed for user "sc"\0\0', 'latin1')));
    else parser.onData('s2c', Buffer.concat([auth(12, Buffer.from('v=c2lnbmF0dXJl', 'latin1')), auth(0), msg('Z', Buffer.from('I'))]));
    parser.onEnd('fin');
    assert.equal(records.length, 1);
    const [login] = records;
    assert.deepEqual([login.response!.authentication, login.response!.saslMechanisms], ['sasl', ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']]);
    assert.deepEqual([login.error, login.response!.authenticated, login.summary], refused
      ? [true, undefined, 'startup user=sc db=postgres → FATAL 28P01']
      : [false, true, 'startup user=sc db=postgres → ready']);
    assert.doesNotMatch(JSON.stringify(login), /cHJvb2Y|clientnonce/);
  }
});

test('PostgreSQL lab-bookinfo-mix: 180 calls, like tshark', () => {
  const segments = tcpSegments(sharedCapture('lab-bookinfo-mix.pcap'), { fields: PG_FIELDS, bpf: 'tcp port 5432' });
  const { records } = feedConnections(postgresql, segments);
  const queries = records.filter((r) => r.request?.query !== undefined).map((r) => `${r.requestFrame} ${r.request!.query}`).sort();
  assert.deepEqual(queries, pairs(segments, 0));
  sameErrors(records.filter((r) => r.response?.errorCode).map((r) => ({ frame: r.responseFrame!, code: r.response!.errorCode })), segments, 2);
  assert.equal(records.filter((r) => r.request?.type === 'SSLRequest').length, records.filter((r) => r.request?.type === 'startup').length);
  assert.ok(records.filter((r) => r.error).every((r) => r.response?.errorCode === '42P01'));
});

test('PostgreSQL: a capture begun after the SSLRequest reads the refusal as one, and every later call as in the whole capture', () => {
  const segments = tcpSegments(sharedCapture('lab-bookinfo-mix.pcap'), { fields: PG_FIELDS, bpf: 'tcp port 5432' });
  const whole = feedConnections(postgresql, segments).records.filter((r) => r.request?.type !== 'SSLRequest');
  // Each connection's first client segment (its SSLRequest) is not in the capture.
  const firstClient = new Set<number>();
  const seen = new Set<number>();
  for (const s of segments) {
    if (s.payload.length === 0 || s.dstPort !== 5432 || seen.has(s.stream)) continue;
    seen.add(s.stream);
    if (s.payload.length === 8 && s.payload.readUInt32BE(4) === 80877103) firstClient.add(s.frame);
  }
  assert.ok(firstClient.size >= 10, `${firstClient.size} connections start with an SSLRequest`);
  const cut = feedConnections(postgresql, segments.filter((s) => !firstClient.has(s.frame)));
  assert.equal(cut.counters['postgresql.encryption_refusal_unpaired'], firstClient.size);
  const key = (r: CallRecord) => `${r.requestFrame} ${JSON.stringify(r.request)} ${r.responseFrame} ${JSON.stringify(r.response)} ${r.warnings ?? ''}`;
  assert.deepEqual(cut.records.map(key).sort(), whole.map(key).sort());
});

test('PostgreSQL under a snap length of 96: startups and queries cut short are read from what is there, and their replies still pair', () => {
  // tcpdump -s 96 with TCP timestamps keeps 30 bytes of payload: each StartupMessage (63 bytes) and each
  // `select * from no_such_table` (33) is cut, and its ErrorResponse (113), whose ReadyForQuery comes in the next segment.
  const whole = readPcap(sharedCapture('lab-bookinfo-mix.pcap'));
  const clean = dissectPacketList(whole).entries.filter((e) => e.protocol === 'postgresql');
  const packets = whole.map((p) => ({ ...p, data: p.data.subarray(0, Math.min(p.data.length, 96)) }));
  const pg = dissectPacketList(packets).entries.filter((e) => e.protocol === 'postgresql');
  const startups = pg.filter((e) => e.request?.type === 'startup');
  const sslRequests = pg.filter((e) => e.request?.type === 'SSLRequest');
  assert.equal(startups.length, sslRequests.length, pg.map((e) => e.summary).join(' | '));
  assert.equal(startups.length, clean.filter((e) => e.request?.type === 'startup').length);
  for (const s of startups) {
    assert.equal(s.request!.user, 'postgres');
    // The database parameter lay past the cut: not known, not taken to be the user.
    assert.equal(s.request!.database, undefined);
    assert.ok(s.warnings?.includes('gap'), JSON.stringify(s.warnings));
  }
  const failed = pg.filter((e) => e.response?.errorCode === '42P01');
  assert.equal(failed.length, clean.filter((e) => e.response?.errorCode === '42P01').length);
  assert.ok(failed.length > 0);
  for (const f of failed) {
    assert.equal(f.request!.query, 'select * from no_such_tab');
    assert.deepEqual(f.warnings, ['gap']);
  }
});

test('PostgreSQL probe: startup, SSLRequest, mid-connection query; not HTTP', () => {
  const startup = Buffer.from('0000000f00030000757365720000', 'hex');
  startup.writeUInt32BE(startup.length, 0);
  assert.equal(probePostgres(startup, false), 'request');
  assert.equal(probePostgres(Buffer.from('0000000804d2162f', 'hex'), false), 'request');
  const q = Buffer.concat([Buffer.from('Q'), Buffer.alloc(4), Buffer.from('select 1\0')]);
  q.writeUInt32BE(q.length - 1, 1);
  assert.equal(probePostgres(q, false), 'request');
  assert.equal(probePostgres(Buffer.from('GET / HTTP/1.1\r\n\r\n'), true), false);
});

const MY_FIELDS = ['mysql.query', 'mysql.error_code', 'mysql.affected_rows', 'mysql.user'];

test('MySQL lab (MariaDB): queries, error codes, affected rows agree with tshark', () => {
  const segments = tcpSegments(fixture('lab-mysql.pcap'), { fields: MY_FIELDS });
  const { records, counters } = feedConnections(mysql, segments);
  assert.deepEqual(counters, {});
  const queries = records.filter((r) => r.request?.query !== undefined).map((r) => `${r.requestFrame} ${r.request!.query}`).sort();
  assert.deepEqual(queries, pairs(segments, 0));
  const codes = records.filter((r) => r.response?.type === 'error').map((r) => `${r.responseFrame} ${r.response!.errorCode}`).sort();
  assert.deepEqual(codes, pairs(segments, 1));
  const affected = records.filter((r) => r.response?.type === 'ok').map((r) => `${r.responseFrame} ${r.response!.affectedRows}`).sort();
  assert.deepEqual(affected, pairs(segments, 2));
  const logins = records.filter((r) => r.request?.command === 'handshake');
  assert.deepEqual(logins.map((r) => `${r.requestFrame} ${r.request!.user}`).sort(), pairs(segments, 3));
  assert.match(logins[0].response!.serverVersion, /MariaDB/);
  const select = records.find((r) => r.request?.query === 'select id, name from pets order by id')!;
  assert.equal(select.response!.type, 'resultset');
  assert.equal(select.response!.rows, 3);
  assert.deepEqual(select.response!.columns, ['id', 'name']);
  const missing = records.find((r) => r.request?.query === 'select * from no_such_table')!;
  assert.equal(missing.error, true);
  assert.equal(missing.response!.sqlState, '42S02');
  assert.match(missing.response!.errorMessage, /doesn't exist/);
});

test('MySQL probe: greeting is the server, COM_QUERY the client', () => {
  const segments = tcpSegments(fixture('lab-mysql.pcap'), { fields: MY_FIELDS });
  const greeting = segments.find((s) => s.payload.length > 0)!;
  assert.equal(probeMysql(greeting.payload, false), 'response');
  const query = segments.find((s) => s.extra[0] !== '')!;
  assert.equal(probeMysql(query.payload, false), 'request');
  assert.equal(probeMysql(Buffer.from('GET / HTTP/1.1\r\n\r\n'), true), false);
});

test('MySQL probe: comments before the first word are read in linear time, in one line or several', () => {
  // The lazy `.*?` in a starred group tried every split of `/**/` runs into comments:
  // exponential in their number (40 of them: hours). A VM timeout interrupts a regex, a test timeout cannot.
  const hostile = '/**/'.repeat(40) + 'x';
  assert.equal(runInNewContext('re.test(s)', { re: SQL_START, s: hostile }, { timeout: 2000 }), false);
  const command = (text: string) => myPacket(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(text)]));
  for (const sql of ['select 1', '/* c */ SELECT 1', '/*+ hint */ update t set a = 1', '/***/select', '/* a * b */ /* c */ show tables', '/* two\nlines */ select 1']) {
    assert.equal(probeMysql(command(sql), false), 'request', sql);
  }
  for (const text of ['/* c */ nope', '/* unterminated select', '/* a */x select', hostile]) assert.equal(probeMysql(command(text), false), false, text);
});

/** MySQL packet: 3-byte little-endian length, sequence id, payload. */
function myPacket(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, payload]);
}

function columnDef(name: string): Buffer {
  const s = (t: string): Buffer => Buffer.concat([Buffer.from([t.length]), Buffer.from(t)]);
  return Buffer.concat([s('def'), s('shark'), s('pets'), s('pets'), s(name), s(name), Buffer.from('0c2100ffff0000fc1000000000', 'hex')]);
}

test('MySQL prepared statements: EXECUTE shows the PREPAREd text; binary rows are counted', () => {
  const records: CallRecord[] = [];
  const parser = mysql.createTcpParser!(makeContext(records, {}));
  const eof = Buffer.from('fe00000200', 'hex');
  parser.onData('c2s', myPacket(0, Buffer.concat([Buffer.from([0x16]), Buffer.from('select name from pets where id = ?')])));
  parser.onData('s2c', Buffer.concat([
    myPacket(1, Buffer.from('00' + '01000000' + '0100' + '0100' + '00' + '0000', 'hex')),
    myPacket(2, columnDef('?')), myPacket(3, eof), myPacket(4, columnDef('name')), myPacket(5, eof),
  ]));
  parser.onData('c2s', myPacket(0, Buffer.from('17' + '01000000' + '00' + '01000000' + '00' + '01' + '0300' + '02000000', 'hex')));
  parser.onData('s2c', Buffer.concat([
    myPacket(1, Buffer.from([1])), myPacket(2, columnDef('name')), myPacket(3, eof),
    myPacket(4, Buffer.from('0000' + '03444f47', 'hex')), myPacket(5, eof),
  ]));
  parser.onData('c2s', myPacket(0, Buffer.from('1901000000', 'hex'))); // COM_STMT_CLOSE: no reply
  parser.onEnd('fin');
  assert.equal(records.length, 3);
  const [prepare, execute, close] = records;
  assert.equal(prepare.response!.type, 'prepared');
  assert.equal(prepare.response!.statementId, 1);
  assert.equal(execute.request!.command, 'COM_STMT_EXECUTE');
  assert.equal(execute.request!.query, 'select name from pets where id = ?');
  assert.equal(execute.response!.rows, 1);
  assert.deepEqual(execute.response!.columns, ['name']);
  assert.equal(close.request!.command, 'COM_STMT_CLOSE');
  assert.equal(close.error, false);
  assert.equal(close.warnings, undefined);
});

test('MySQL lab captured mid-way: from every cut, the calls after the first whole command read as from the start', () => {
  const outcome = (r: CallRecord): string =>
    `${r.requestFrame} ${r.request?.query ?? r.request?.command} → ${r.response?.type} ${r.response?.rows ?? ''} ${r.response?.errorCode ?? ''}`;
  const segments = tcpSegments(fixture('lab-mysql.pcap'), { fields: MY_FIELDS }).filter((s) => s.payload.length > 0);
  let cuts = 0;
  for (const stream of new Set(segments.map((s) => s.stream))) {
    const list = segments.filter((s) => s.stream === stream);
    const full = feedWithGap(mysql, list, 3306);
    for (let k = 1; k < list.length; k++) {
      const rest = list.slice(k);
      const first = rest.find((s) => s.dstPort === 3306 && probeMysql(s.payload, true) === 'request');
      const expected = full.filter((r) => first && (r.requestFrame ?? 0) >= first.frame).map(outcome);
      assert.deepEqual(feedWithGap(mysql, rest, 3306).filter((r) => r.request !== null).map(outcome), expected, `stream ${stream}, cut before frame ${rest[0].frame}`);
      cuts++;
    }
  }
  assert.ok(cuts > 20, String(cuts));
});

test('PostgreSQL after a lost segment: calls from the client\'s next whole query on read as without the loss', () => {
  // A call as its reply says (a query text may be a prepared statement's name after a loss).
  const outcome = (r: CallRecord): string => `${r.requestFrame} ${JSON.stringify(r.response?.commandTags ?? null)} ${r.response?.errorCode ?? ''}`;
  const segments = tcpSegments(fixture('lab-pgsql.pcap'), { fields: PG_FIELDS }).filter((s) => s.payload.length > 0);
  let gaps = 0;
  for (const stream of new Set(segments.map((s) => s.stream))) {
    const list = segments.filter((s) => s.stream === stream);
    const full = feedWithGap(postgresql, list, 5432);
    // After the startup's reply (the first server segment after the first client one).
    const ready = list.findIndex((s, i) => i > 0 && s.srcPort === 5432 && list[i - 1].dstPort === 5432 && /Z/.test(s.payload.toString('latin1', s.payload.length - 6, s.payload.length - 5)));
    for (let lost = ready + 1; ready >= 0 && lost < list.length; lost++) {
      const frame = list[lost].frame;
      const records = feedWithGap(postgresql, list, 5432, lost);
      const resume = list.slice(lost + 1).find((s) => s.dstPort === 5432 && probePostgres(s.payload, true) === 'request');
      const before = full.filter((r) => (r.responseFrame ?? r.requestFrame ?? 0) < frame).map(outcome);
      const after = full.filter((r) => resume && (r.requestFrame ?? 0) >= resume.frame).map(outcome);
      const got = records.map(outcome);
      assert.deepEqual(got.slice(0, before.length), before, `stream ${stream}: lost frame ${frame}`);
      assert.deepEqual(got.slice(got.length - after.length), after, `stream ${stream}: lost frame ${frame}`);
      for (const r of records.slice(before.length, records.length - after.length)) {
        assert.ok(r.warnings?.includes('gap') || r.response === null, `stream ${stream}: lost frame ${frame}: ${outcome(r)}`);
      }
      gaps++;
    }
  }
  assert.ok(gaps > 30, String(gaps));
});

test('PostgreSQL: a StartupMessage lost whole from the capture, the queries after it are still read', () => {
  // lab-bookinfo-mix.pcap, port 56048: SSLRequest (2925) refused, StartupMessage (2929), then a failing query.
  const { entries } = dissectPacketList(without(readPcap(sharedCapture('lab-bookinfo-mix.pcap')), 2929));
  const conn = entries.filter((e) => e.protocol === 'postgresql' && e.src.port === 56048);
  assert.deepEqual(conn.map((e) => e.summary), ['SSLRequest → refused', '(request not captured) → ok', 'select * from no_such_table → ERROR 42P01']);
  // The answer to the lost startup says the loss; the calls after it are whole.
  assert.deepEqual(conn.map((e) => e.warnings ?? []), [[], ['gap'], []]);
});

test('MySQL multi-result replies: a CALL answered with two result sets and its closing OK, and two statements in one query, say their rows and sets', () => {
  const records: CallRecord[] = [];
  const parser = mysql.createTcpParser!(makeContext(records, {}));
  // EOFs carrying SERVER_MORE_RESULTS_EXISTS (0x0008) or not; the closing OK likewise.
  const eof = (status: number) => Buffer.from(`fe0000${(status & 0xff).toString(16).padStart(2, '0')}${(status >> 8).toString(16).padStart(2, '0')}`, 'hex');
  const row = (v: string) => Buffer.concat([Buffer.from([v.length]), Buffer.from(v)]);
  const resultSet = (seq: number, column: string, rows: string[], status: number): Buffer[] => [
    myPacket(seq, Buffer.from([1])), myPacket(seq + 1, columnDef(column)), myPacket(seq + 2, eof(0x0002)),
    ...rows.map((v, i) => myPacket(seq + 3 + i, row(v))), myPacket(seq + 3 + rows.length, eof(status)),
  ];
  parser.onData('c2s', myPacket(0, Buffer.concat([Buffer.from([0x03]), Buffer.from('call p()')])));
  parser.onData('s2c', Buffer.concat([
    ...resultSet(1, 'one', ['1'], 0x000a), ...resultSet(6, 'name', ['rex', 'tom'], 0x002a),
    myPacket(12, Buffer.from('000000220000', 'hex')),
  ]));
  parser.onData('c2s', myPacket(0, Buffer.concat([Buffer.from([0x03]), Buffer.from('select 1; select 2')])));
  parser.onData('s2c', Buffer.concat([...resultSet(1, '1', ['1'], 0x000a), ...resultSet(6, '2', ['2'], 0x0002)]));
  parser.onData('c2s', myPacket(0, Buffer.concat([Buffer.from([0x03]), Buffer.from('select name from pets')])));
  parser.onData('s2c', Buffer.concat(resultSet(1, 'name', ['rex'], 0x0002)));
  parser.onEnd('fin');
  assert.deepEqual(records.map((r) => [r.summary, r.response!.rows, r.error]), [
    ['call p() → 3 rows in 2 result sets', 3, false],
    ['select 1; select 2 → 2 rows in 2 result sets', 2, false],
    ['select name from pets → 1 rows', 1, false],
  ]);
});
