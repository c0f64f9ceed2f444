// Cassandra CQL compression, which STARTUP agrees: v4 frames compressed with
// LZ4 (by the lz4 command: its frame's one block) or Snappy, and v5 segments
// compressed with LZ4. Cassandra is not in Debian, so a synthetic session is
// written to a capture and tshark reads the same file: the statements, row
// counts and errors must agree. Then bodies that do not unpack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cql } from '../../src/dissect/protocols/cql.js';
import type { CallRecord } from '../../src/dissect/api.js';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { tsharkFields } from '../protocols/helpers.js';
import { feedConnections, makeContext, tcpSegments } from './helpers.js';
import { frame, int, map, query, rowsResult, syntaxError } from './cql-wire.js';
import { snappyLiterals } from '../helpers/compress.js';

/**
 * A raw LZ4 block, as the lz4 command compresses it (the one block of its
 * frame). Bytes it would not compress (it stores those as they are) become
 * one literal run, which is what an LZ4 compressor makes of them.
 */
function lz4Block(data: Buffer): Buffer {
  const framed = execFileSync('lz4', ['-q', '-c', '--no-frame-crc'], { input: data });
  const flags = framed[4];
  const at = 4 + 2 + (flags & 0x08 ? 8 : 0) + 1;
  const word = framed.readUInt32LE(at);
  if (word < 0x80000000) return framed.subarray(at + 4, at + 4 + word);
  const extra: number[] = [];
  for (let n = data.length - 15; n >= 0; n -= 255) extra.push(Math.min(n, 255));
  if (data.length >= 15 && (data.length - 15) % 255 === 0) extra.push(0);
  return Buffer.concat([Buffer.from([Math.min(data.length, 15) << 4, ...extra.slice(0, data.length >= 15 ? undefined : 0)]), data]);
}
/** v4 LZ4 body: the length unpacked, then the block. */
const lz4Body = (body: Buffer): Buffer => Buffer.concat([int(body.length), lz4Block(body)]);
/** A v5 segment compressed with LZ4: both lengths and the flag in 5 bytes, a CRC24 (zeros: not checked), payload, CRC32. */
function lz4Segment(payload: Buffer): Buffer {
  const packed = lz4Block(payload);
  const h = Buffer.alloc(8);
  h.writeUIntLE(packed.length + payload.length * 2 ** 17 + 2 ** 34, 0, 5);
  return Buffer.concat([h, packed, Buffer.alloc(4)]);
}

const LONG = `SELECT id, name, owner, created, updated FROM shop.orders WHERE owner = 'ann' AND name = '${'x'.repeat(200)}' ALLOW FILTERING`;

/** Two connections: v4 with LZ4, v4 with Snappy. */
function session(): Array<{ port: number; frames: Array<[1 | 2, Buffer]> }> {
  const v4 = (compression: string, pack: (b: Buffer) => Buffer): Array<[1 | 2, Buffer]> => [
    [1, frame(4, 0, 1, map({ CQL_VERSION: '3.0.0', COMPRESSION: compression }))],
    [2, frame(0x84, 0, 2, Buffer.alloc(0))],
    [1, frame(4, 1, 7, pack(query(LONG, 4)), 0x01)],
    [2, frame(0x84, 1, 8, pack(rowsResult(42)), 0x01)],
    [1, frame(4, 2, 7, pack(query(`SELECT nope ${'y'.repeat(100)}`, 4)), 0x01)],
    [2, frame(0x84, 2, 0, pack(syntaxError(`line 1:7 no viable alternative ${'z'.repeat(100)}`)), 0x01)],
  ];
  return [
    { port: 40001, frames: v4('lz4', lz4Body) },
    { port: 40002, frames: v4('snappy', snappyLiterals) },
  ];
}

test('CQL v4 frames compressed with LZ4 and Snappy: statements, rows and errors agree with tshark', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-cql-'));
  try {
    const wire = new Wire();
    let t = 1_700_000_000_000;
    for (const c of session()) for (const [from, data] of c.frames) wire.send((t += 5), from, from === 1 ? c.port : 9042, from === 1 ? 9042 : c.port, data);
    const file = join(dir, 'cql-compressed.pcap');
    writeRawPcap(file, wire.packets);
    const { records, counters } = feedConnections(cql, tcpSegments(file));
    assert.deepEqual(counters, {});
    // tshark's statements and row counts, by frame.
    const texts = tsharkFields(file, 'cql.opcode == 7', ['frame.number', 'cql.string']).map(([f, s]) => `${f} ${s}`);
    assert.deepEqual(records.filter((r) => r.request?.query).map((r) => `${r.requestFrame} ${r.request!.query}`), texts);
    assert.equal(texts.length, 4);
    const rows = tsharkFields(file, 'cql.result.rows.row_count', ['frame.number', 'cql.result.rows.row_count']).map(([f, n]) => `${f} ${n}`);
    assert.deepEqual(records.filter((r) => r.response?.rows !== undefined).map((r) => `${r.responseFrame} ${r.response!.rows}`), rows);
    const errors = tsharkFields(file, 'cql.error_code', ['frame.number', 'cql.error_code']).map(([f, c]) => `${f} ${Number(c)}`);
    assert.deepEqual(records.filter((r) => r.error).map((r) => `${r.responseFrame} ${r.response!.errorCode}`), errors);
    assert.equal(errors.length, 2);
    for (const r of records.filter((x) => x.request?.opcode === 'QUERY')) assert.equal(r.warnings, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// tshark 4.0 has no CQL v5 (it does not read the v5 STARTUP either): the values written are the oracle.
test('CQL v5 segments compressed with LZ4: the frames inside, whole and byte by byte', () => {
  const conv: Array<['c2s' | 's2c', Buffer]> = [
    ['c2s', frame(5, 0, 1, map({ CQL_VERSION: '3.0.0', COMPRESSION: 'lz4' }))],
    ['s2c', frame(0x85, 0, 2, Buffer.alloc(0))],
    ['c2s', lz4Segment(Buffer.concat([frame(5, 1, 7, query(LONG, 5)), frame(5, 2, 7, query('SELECT 1', 5))]))],
    ['s2c', lz4Segment(Buffer.concat([frame(0x85, 2, 8, rowsResult(1)), frame(0x85, 1, 8, rowsResult(7))]))],
  ];
  for (const piece of [0, 1, 7]) {
    const records: CallRecord[] = [];
    const counters: Record<string, number> = {};
    const parser = cql.createTcpParser!(makeContext(records, counters));
    for (const [dir, data] of conv) {
      if (piece === 0) parser.onData(dir, data);
      else for (let i = 0; i < data.length; i += piece) parser.onData(dir, data.subarray(i, i + piece));
    }
    parser.onEnd('eof');
    assert.deepEqual(counters, {}, `piece ${piece}`);
    assert.deepEqual(records.map((r) => `${r.request?.query ?? r.request?.opcode} → ${r.response?.rows ?? r.response?.opcode}`).sort(), [
      `${LONG} → 7`,
      'SELECT 1 → 1',
      'STARTUP → READY',
    ].sort());
  }
});

test('CQL compressed bodies that do not unpack: said in the entry, counted, the connection goes on', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const parser = cql.createTcpParser!(makeContext(records, counters));
  parser.onData('c2s', frame(4, 0, 1, map({ CQL_VERSION: '3.0.0', COMPRESSION: 'lz4' })));
  parser.onData('s2c', frame(0x84, 0, 2, Buffer.alloc(0)));
  // A block whose match reaches before the output, and a length that lies.
  parser.onData('c2s', frame(4, 1, 7, Buffer.concat([int(100), Buffer.from([0x0f, 0xff, 0xff])]), 0x01));
  parser.onData('s2c', frame(0x84, 1, 8, Buffer.concat([int(1 << 30), lz4Block(rowsResult(1))]), 0x01));
  parser.onData('c2s', frame(4, 2, 7, lz4Body(query(LONG, 4)), 0x01));
  parser.onData('s2c', frame(0x84, 2, 8, lz4Body(rowsResult(3)), 0x01));
  parser.onEnd('eof');
  assert.equal(counters['cql.compressed_frames_not_read'], 2);
  assert.deepEqual(records[1].warnings, ['body not read: does not unpack']);
  assert.equal(records[2].request!.query, LONG);
  assert.equal(records[2].response!.rows, 3);
});
