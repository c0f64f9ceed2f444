// MySQL's compressed protocol (CLIENT_COMPRESS, zlib) on a lab recording:
// MariaDB's client with --compress against MariaDB (scripts/lab/record-more.sh
// mysql-compressed). Checked against tshark, which unpacks the frames when it
// sees the handshake; then captured mid-way, where no handshake tells, cut at
// every segment; then frames that do not unpack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { compressedHead, mysql, probeMysql } from '../../src/dissect/protocols/mysql.js';
import { repoRoot } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import type { CallRecord, Direction } from '../../src/dissect/api.js';
import { AGG, feedConnections, feedWithGap, makeContext, tcpSegments, type Segment } from './helpers.js';

const CAPTURE = join(repoRoot, 'test', 'fixtures', 'captures', 'lab-mysql-compressed.pcap');
const FIELDS = ['mysql.query', 'mysql.error_code', 'mysql.affected_rows', 'mysql.compressed_packet_length'];

function pairs(segments: Segment[], i: number): string[] {
  const out: string[] = [];
  for (const s of segments) for (const v of (s.extra[i] ?? '').split(AGG).filter((x) => x !== '')) out.push(`${s.frame} ${v}`);
  return out.sort();
}

/**
 * The recording's second connection, the one without packets over 1 MB (the first one's are
 * checked with lab-mysql-big.pcap.gz, below): its segments only.
 */
function session(segments: Segment[]): Segment[] {
  const stream = segments.find((s) => /^select 1 as one/.test(s.extra[0] ?? ''))!.stream;
  return segments.filter((s) => s.stream === stream);
}

/** A call as a user reads it: the query, and what came back. */
const outcome = (r: CallRecord): string =>
  `${r.requestFrame} ${r.request?.query ?? r.request?.command} → ${r.response?.type} ${r.response?.rows ?? ''} ${r.response?.errorCode ?? ''} ${r.response?.affectedRows ?? ''}`;

test('MySQL compressed protocol: every query, error code and affected-row count agrees with tshark', () => {
  const segments = session(tcpSegments(CAPTURE, { fields: FIELDS }));
  // The recording really is compressed: tshark reads compressed frames in both directions.
  const framed = segments.filter((s) => s.extra[3] !== '');
  assert.ok(framed.some((s) => s.dstPort === 3306) && framed.some((s) => s.srcPort === 3306));
  const { records, counters } = feedConnections(mysql, segments);
  assert.deepEqual(counters, {});
  const queries = records.filter((r) => r.request?.query !== undefined).map((r) => `${r.requestFrame} ${r.request!.query}`).sort();
  assert.deepEqual(queries, pairs(segments, 0));
  assert.ok(queries.length >= 8);
  const codes = records.filter((r) => r.response?.type === 'error').map((r) => `${r.responseFrame} ${r.response!.errorCode}`).sort();
  assert.deepEqual(codes, pairs(segments, 1));
  const affected = records.filter((r) => r.response?.type === 'ok' && r.request?.command !== 'handshake').map((r) => `${r.responseFrame} ${r.response!.affectedRows}`);
  assert.deepEqual(affected.sort(), pairs(segments, 2).filter((p) => !p.startsWith(`${records[0].responseFrame} `)));
  // What the frames held, read whole: a 3,000-row result in many frames, a value longer than a frame.
  const login = records[0];
  assert.equal(login.request!.command, 'handshake');
  assert.equal(login.response!.compression, 'zlib');
  const many = records.find((r) => /seq_1_to_3000/.test(r.request?.query ?? ''))!;
  assert.equal(many.response!.rows, 3000);
  assert.deepEqual(many.response!.columns, ['seq', 'filler']);
  const big = records.find((r) => /as big$/.test(r.request?.query ?? ''))!;
  assert.equal(big.response!.rows, 1);
  assert.ok(big.responseSize > 70_000, String(big.responseSize));
  assert.equal(records.at(-1)!.request!.command, 'COM_QUIT');
  // A call's time is its first packet's, as for uncompressed packets.
  for (const r of records) assert.ok(r.responseTime === undefined || r.responseTime >= r.requestTime);
});

test('MySQL compressed protocol captured mid-way: from every cut, the calls that follow read as from the start', () => {
  const segments = session(tcpSegments(CAPTURE, { fields: FIELDS }));
  const full = feedConnections(mysql, segments).records;
  const byFrame = new Map(full.map((r) => [r.requestFrame, outcome(r)]));
  const loginEnd = full[0].responseFrame!;
  let cuts = 0;
  for (let k = segments.findIndex((s) => s.frame > loginEnd); k < segments.length; k++) {
    const rest = segments.slice(k);
    const records: CallRecord[] = [];
    const counters: Record<string, number> = {};
    const ctx = makeContext(records, counters);
    const parser = mysql.createTcpParser!(ctx);
    for (const s of rest) {
      ctx.now = s.time;
      ctx.frame = s.frame;
      parser.onData((s.dstPort === 3306 ? 'c2s' : 's2c') as Direction, s.payload);
    }
    parser.onEnd('eof');
    // The first command that starts in a whole frame after the cut, and every one after it, reads as in the full run.
    const firstCommand = rest.find((s) => s.dstPort === 3306 && compressedHead(s.payload) !== null);
    const expected = full.filter((r) => firstCommand && (r.requestFrame ?? 0) >= firstCommand.frame).map(outcome);
    const got = records.filter((r) => r.request !== null).map(outcome);
    assert.deepEqual(got, expected, `cut before frame ${rest[0].frame}`);
    // Nothing is made up: replies whose command was cut off are said to be so.
    for (const r of records) if (r.request === null) assert.ok(!byFrame.has(r.requestFrame) || r.response === null);
    cuts++;
  }
  assert.ok(cuts > 20, String(cuts));
});

test('MySQL compressed protocol mid-way through the engine: the probe names it from its frames', async () => {
  const segments = session(tcpSegments(CAPTURE, { fields: FIELDS }));
  const firstQuery = segments.find((s) => s.extra[0] !== '' && /select 1/.test(s.extra[0]))!;
  const secondQuery = segments.filter((s) => s.extra[0] !== '')[1];
  assert.equal(probeMysql(firstQuery.payload, false), 'request');
  assert.equal(probeMysql(secondQuery.payload, false), 'request');
  const dir = mkdtempSync(join(tmpdir(), 'shark-mycomp-'));
  try {
    const cut = join(dir, 'midway.pcap');
    // From the first query on: no greeting, no login (the first connection has ended by then).
    execFileSync('editcap', ['-r', CAPTURE, cut, `${firstQuery.frame}-100000`]);
    const { entries, error } = await dissectFile(cut);
    assert.equal(error, undefined);
    const queries = entries.map((e) => e.request?.query ?? e.request?.command);
    const full = feedConnections(mysql, segments).records.slice(1);
    assert.deepEqual(queries, full.map((r) => r.request?.query ?? r.request?.command));
    assert.ok(entries.every((e) => e.protocol === 'mysql'));
    assert.equal(entries.find((e) => /seq_1_to_3000/.test(String(e.request?.query)))!.response!.rows, 3000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A MySQL packet, and a compressed frame around packets (`packed`: zlib, else sent as is). */
function packet(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, payload]);
}
function frame(seq: number, inner: Buffer, body?: Buffer, unpacked?: number): Buffer {
  const packed = body ?? inner;
  const h = Buffer.alloc(7);
  h.writeUIntLE(packed.length, 0, 3);
  h[3] = seq;
  h.writeUIntLE(unpacked ?? (body ? inner.length : 0), 4, 3);
  return Buffer.concat([h, packed]);
}

test('MySQL compressed frames that do not unpack: counted, the connection stops, nothing made up', () => {
  const query = packet(0, Buffer.concat([Buffer.from([3]), Buffer.from('select * from t where id = 1')]));
  const ok = packet(1, Buffer.from('00000002000000', 'hex'));
  const run = (frames: Array<[Direction, Buffer]>): { records: CallRecord[]; counters: Record<string, number> } => {
    const records: CallRecord[] = [];
    const counters: Record<string, number> = {};
    const parser = mysql.createTcpParser!(makeContext(records, counters));
    for (const [d, b] of frames) parser.onData(d, b);
    parser.onEnd('eof');
    return { records, counters };
  };
  // The baseline: a packed query and a reply sent as is pair up.
  const good = run([['c2s', frame(0, query, deflateSync(query))], ['s2c', frame(1, ok)]]);
  assert.deepEqual(good.records.map((r) => [r.request?.query, r.response?.type]), [['select * from t where id = 1', 'ok']]);
  // A corrupt zlib stream in the reply.
  const corrupt = deflateSync(ok);
  corrupt[corrupt.length - 1] ^= 0xff;
  const bad = run([['c2s', frame(0, query, deflateSync(query))], ['s2c', frame(1, ok, corrupt)]]);
  assert.equal(bad.counters['mysql.compressed_malformed'], 1);
  assert.deepEqual(bad.records.map((r) => [r.request?.query, r.response]), [['select * from t where id = 1', null]]);
  // A frame that unpacks to more than its header says: a bomb is cut at the header's length, and refused.
  const bomb = run([['c2s', frame(0, query, deflateSync(query))], ['s2c', frame(1, ok, deflateSync(Buffer.alloc(1 << 20)), 11)]]);
  assert.equal(bomb.counters['mysql.compressed_malformed'], 1);
  // zstd (MySQL 8.0.18+, --compression-algorithms=zstd): frames packed by the zstd command unpack, recognised
  // mid-connection as zlib frames are; a damaged one is counted.
  const zstd = (b: Buffer): Buffer => execFileSync('zstd', ['-q', '-c'], { input: b });
  const z = run([['c2s', frame(0, query, zstd(query))], ['s2c', frame(1, ok, zstd(ok))]]);
  assert.deepEqual(z.records.map((r) => [r.request?.query, r.response?.type]), [['select * from t where id = 1', 'ok']]);
  assert.deepEqual(z.counters, { 'mysql.compressed_midway': 1 }); // no login in this capture: recognised from its frames
  const zBad = run([['c2s', frame(0, query, deflateSync(query))], ['s2c', frame(1, ok, Buffer.concat([Buffer.from('28b52ffd', 'hex'), Buffer.alloc(20, 1)]), 11)]]);
  assert.equal(zBad.counters['mysql.compressed_malformed'], 1);
  // A frame header claiming 16 MB is refused at once, not waited for.
  const huge = Buffer.from('ffffff01ffffff', 'hex');
  const h = run([['c2s', frame(0, query, deflateSync(query))], ['s2c', huge]]);
  assert.equal(h.counters['mysql.huge_packet_dropped'], 1);
  // Uncompressed packets that merely start with three zero bytes are not frames.
  assert.equal(compressedHead(packet(2, Buffer.from('00000002000000', 'hex'))), null);
  assert.equal(compressedHead(packet(2, Buffer.from('0000000000000000', 'hex'))), null);
});

test('MySQL packets over 1 MB (real MariaDB, plain and compressed): their heads are read, the rest skipped, the connection goes on', () => {
  const big = join(repoRoot, 'test', 'fixtures', 'captures', 'lab-mysql-big.pcap.gz');
  for (const file of [big, CAPTURE]) {
    const segments = tcpSegments(file, { fields: ['mysql.query'] });
    const { records, counters } = feedConnections(mysql, segments);
    // The 2 MB INSERT and the 2 MB row read back: one cut each, nothing lost.
    assert.deepEqual(counters, { 'mysql.huge_packets_cut': 2 }, file);
    // Every statement tshark reads starts one of our calls; a long one shows its first 16 KB.
    const theirs = segments.flatMap((s) => (s.extra[0] ? s.extra[0].split(AGG).map((q) => ({ frame: s.frame, q })) : []));
    assert.ok(theirs.length >= 5);
    // (tshark names the frame that completed a statement, ours is the one that began it.)
    for (const { frame, q } of theirs) {
      const shown = q.length <= 16 * 1024 ? q : `${q.slice(0, 16 * 1024 - 1)}…`;
      const ours = records.filter((r) => r.request?.query === shown && (r.requestFrame ?? 0) <= frame);
      assert.equal(ours.length, 1, `${file}: frame ${frame}: ${shown.slice(0, 40)}`);
    }
    const insert = records.find((r) => /^insert into docs/.test(r.request?.query ?? ''))!;
    assert.equal(insert.response!.affectedRows, 1);
    assert.ok(insert.requestSize > 2_000_000, String(insert.requestSize));
    const read = records.find((r) => r.request?.query === 'select id, v from docs')!;
    assert.equal(read.response!.rows, 1);
    assert.deepEqual(read.response!.columns, ['id', 'v']);
    assert.ok(read.responseSize > 2_000_000, String(read.responseSize));
    assert.equal(records.find((r) => r.request?.query === "select 'after' as small")!.response!.rows, 1);
  }
});

test('MySQL packets of 16 MB and more (split at 0xffffff): one call, its size all of them, held by its head only', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const parser = mysql.createTcpParser!(makeContext(records, counters));
  const text = `insert into t values ('${'y'.repeat(0xffffff + 300_000)}')`;
  const payload = Buffer.concat([Buffer.from([3]), Buffer.from(text)]);
  // 0xffffff bytes, then the rest, in 64 KB segments.
  const first = packet(0, payload.subarray(0, 0xffffff));
  const second = packet(1, payload.subarray(0xffffff));
  const wire = Buffer.concat([first, second]);
  for (let i = 0; i < wire.length; i += 65536) parser.onData('c2s', wire.subarray(i, i + 65536));
  parser.onData('s2c', packet(1, Buffer.from('00010002000000', 'hex')));
  parser.onData('c2s', packet(0, Buffer.from('\x03select 2')));
  parser.onData('s2c', packet(1, Buffer.from('00000002000000', 'hex')));
  parser.onEnd('eof');
  assert.deepEqual(records.map((r) => [r.request!.query.slice(0, 30), r.response!.type, r.requestSize]), [
    ["insert into t values ('yyyyyyy", 'ok', wire.length],
    ['select 2', 'ok', 13],
  ]);
  assert.equal(counters['mysql.huge_packets_cut'], 1); // the first packet; the 300 KB rest is read whole
});

test('MySQL after a lost segment (plain and compressed): calls from the next whole command on read as without the loss', () => {
  const plain = tcpSegments(join(repoRoot, 'test', 'fixtures', 'captures', 'lab-mysql.pcap'), { fields: FIELDS }).filter((s) => s.payload.length > 0);
  const compressed = session(tcpSegments(CAPTURE, { fields: FIELDS })).filter((s) => s.payload.length > 0);
  let gaps = 0;
  for (const [name, segments, startsCommand] of [
    ['plain', plain, (s: Segment) => probeMysql(s.payload, true) === 'request'],
    ['compressed', compressed, (s: Segment) => compressedHead(s.payload) !== null],
  ] as const) {
    for (const stream of new Set(segments.map((s) => s.stream))) {
      const list = segments.filter((s) => s.stream === stream);
      const full = feedWithGap(mysql, list, 3306);
      const loginEnd = full.find((r) => r.request?.command === 'handshake')?.responseFrame ?? 0;
      for (let lost = list.findIndex((s) => s.frame > loginEnd); lost >= 0 && lost < list.length; lost++) {
        const records = feedWithGap(mysql, list, 3306, lost);
        const frame = list[lost].frame;
        const resume = list.slice(lost + 1).find((s) => s.dstPort === 3306 && startsCommand(s));
        // Calls that ended before the loss, and calls from the next whole command on, are as without it.
        const before = full.filter((r) => (r.responseFrame ?? r.requestFrame ?? 0) < frame).map(outcome);
        const after = full.filter((r) => resume && (r.requestFrame ?? 0) >= resume.frame).map(outcome);
        const got = records.map(outcome);
        assert.deepEqual(got.slice(0, before.length), before, `${name}: lost frame ${frame}`);
        assert.deepEqual(got.slice(got.length - after.length), after, `${name}: lost frame ${frame}`);
        // What lies between is said to be damaged, never paired with another call's reply.
        for (const r of records.slice(before.length, records.length - after.length)) {
          assert.ok(r.warnings?.includes('gap') || r.response === null, `${name}: lost frame ${frame}: ${outcome(r)}`);
        }
        gaps++;
      }
    }
  }
  assert.ok(gaps > 40, String(gaps));
});
