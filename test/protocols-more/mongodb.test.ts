// MongoDB against tshark on the shared captures (OP_QUERY/OP_REPLY, OP_MSG
// with CRC-32C checksums and SCRAM, snappy OP_COMPRESSED around OP_COMMAND),
// plus a byte-level client for what the captures lack: document sequences,
// zlib, zstd where Node cannot, moreToCome, write errors, tiny segments, gaps.
// MongoDB is not in Debian, so there is no lab server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { mongodb, probeMongo } from '../../src/dissect/protocols/mongodb.js';
import { createRedactor } from '../../src/redact/entry.js';
import { sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import { tsharkFields } from '../protocols/helpers.js';
import { makeContext } from './helpers.js';
import type { CallRecord } from '../../src/dissect/api.js';

const MONGO_FIELDS = ['frame.number', 'mongo.opcode', 'mongo.request_id', 'mongo.response_to', 'mongo.commandname', 'mongo.database', 'mongo.full_collection_name', 'mongo.element.name', 'mongo.compression.compressor', 'mongo.msg.flags.checksumpresent'];

/** tshark's view of every MongoDB message, keyed by frame. */
function tsharkMongo(file: string, ports: number[]): Map<number, string[]> {
  const decodeAs = ports.flatMap((p) => ['-d', `tcp.port==${p},mongo`]);
  return new Map(tsharkFields(file, 'mongo', MONGO_FIELDS, decodeAs).map((r) => [Number(r[0]), r]));
}

const hex = (s: string): number => Number.parseInt(s, 16);

async function compare(file: string, ports: number[]): Promise<Array<Record<string, any>>> {
  const theirs = tsharkMongo(sharedCapture(file), ports);
  assert.ok(theirs.size > 0);
  const { entries, error } = await dissectFile(sharedCapture(file));
  assert.equal(error, undefined);
  const ours = entries.filter((e) => e.protocol === 'mongodb');
  const seen = new Set<number>();
  for (const e of ours) {
    for (const [side, frame] of [['request', e.frames?.request], ['response', e.frames?.response]] as const) {
      const obj = e[side];
      if (!obj || frame === undefined) continue;
      const t = theirs.get(frame);
      assert.ok(t, `frame ${frame}: tshark sees no MongoDB message`);
      seen.add(frame);
      const [, opcode, requestId, responseTo, commandName, database, fullName, elements, compressor, checksum] = t;
      if (side === 'request') {
        assert.equal(obj.requestId, hex(requestId), `frame ${frame} requestID`);
        if (fullName) assert.equal(obj.fullCollectionName, fullName);
        // The command is the first element of the command document (tshark names OP_COMMAND's separately).
        const expected = commandName || (elements.split('|')[0] ?? '');
        assert.equal(obj.command, expected, `frame ${frame} command`);
        if (database) assert.equal(obj.database, database);
      } else assert.equal(obj.responseTo, hex(responseTo), `frame ${frame} responseTo`);
      if (opcode === '2012') assert.equal(obj.compressor, compressor === '1' ? 'snappy' : compressor === '2' ? 'zlib' : 'noop');
      if (checksum === '1') assert.match(obj.checksum, /^[0-9a-f]{8}$/);
    }
    // Pairing: the response answers the request it follows.
    if (e.request && e.response) assert.equal(e.response.responseTo, e.request.requestId);
  }
  assert.deepEqual([...seen].sort((a, b) => a - b), [...theirs.keys()].sort((a, b) => a - b), 'every message tshark sees is in an entry');
  return ours as Array<Record<string, any>>;
}

test('MongoDB OP_QUERY handshake, OP_MSG with checksums and SCRAM: tshark agrees, SASL payloads never shown', async () => {
  const ours = await compare('deepflow-mongo-scram-opmsg-checksum.pcap', [27017]);
  assert.equal(ours.length, 15);
  const text = JSON.stringify(ours);
  // SCRAM client-first message "n,,n=admin,r=…" in base64; the salted proofs follow it.
  assert.ok(!text.includes('biwsbj1hZG1pbi'), 'SCRAM payload leaked');
  assert.ok(ours.filter((e) => e.request.command === 'saslContinue').every((e) => JSON.parse(e.request.body).payload === '[REDACTED]'));
  const failed = ours.filter((e) => e.error);
  assert.deepEqual(failed.map((e) => [e.request.command, e.response.code, e.response.codeName]), [['replSetGetStatus', 76, 'NoReplicationEnabled']]);
  const log = ours.find((e) => e.request.command === 'getLog')!;
  assert.equal(log.response.ok, 1);
});

test('MongoDB OP_COMPRESSED (snappy) around OP_COMMAND/OP_REPLY: decompressed and paired', async () => {
  const ours = await compare('mongotools-op-compressed.pcap', [27017]);
  assert.deepEqual(ours.map((e) => e.request.command), ['isMaster', 'whatsmyuri', 'buildinfo', 'insert', 'count', 'update']);
  const insert = ours.find((e) => e.request.command === 'insert')!;
  assert.equal(insert.request.database, 'mongotape');
  assert.equal(insert.request.collection, 'test');
  assert.equal(insert.response.ok, 1);
});

test('MongoDB legacy OP_QUERY on 27017 and on port 30000 found by content; unanswered requests flagged', async () => {
  const ours = await compare('arkime-mongo-op-query.pcap', [27017, 30000]);
  assert.ok(ours.some((e) => e.dst.port === 30000));
  assert.ok(ours.every((e) => e.response === null && e.error && e.warnings.includes('unanswered')));
});

// ---------------------------------------------------------------- byte-level client

function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s), Buffer.from([0])]);
}

/** A BSON document of strings, int32s and nested documents. */
function bson(doc: Record<string, unknown>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(doc)) {
    if (typeof v === 'string') {
      const s = Buffer.from(v);
      const len = Buffer.alloc(4);
      len.writeInt32LE(s.length + 1);
      parts.push(Buffer.from([0x02]), cstr(k), len, s, Buffer.from([0]));
    } else if (typeof v === 'number') {
      const n = Buffer.alloc(4);
      n.writeInt32LE(v);
      parts.push(Buffer.from([0x10]), cstr(k), n);
    } else if (Array.isArray(v)) {
      parts.push(Buffer.from([0x04]), cstr(k), bson(Object.fromEntries(v.map((x, i) => [String(i), x]))));
    } else parts.push(Buffer.from([0x03]), cstr(k), bson(v as Record<string, unknown>));
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(4);
  head.writeInt32LE(body.length + 5);
  return Buffer.concat([head, body, Buffer.from([0])]);
}

function message(op: number, requestId: number, responseTo: number, body: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(16 + body.length, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(op, 12);
  return Buffer.concat([h, body]);
}

function opMsg(requestId: number, responseTo: number, doc: Record<string, unknown>, flags = 0, sequence?: { id: string; docs: Buffer[] }): Buffer {
  const f = Buffer.alloc(4);
  f.writeUInt32LE(flags);
  const parts = [f, Buffer.from([0]), bson(doc)];
  if (sequence) {
    const payload = Buffer.concat([cstr(sequence.id), ...sequence.docs]);
    const size = Buffer.alloc(4);
    size.writeInt32LE(payload.length + 4);
    parts.push(Buffer.from([1]), size, payload);
  }
  return message(2013, requestId, responseTo, Buffer.concat(parts));
}

function compressed(inner: Buffer, compressor: number, data: Buffer): Buffer {
  const b = Buffer.alloc(9);
  b.writeInt32LE(inner.readInt32LE(12), 0);
  b.writeInt32LE(inner.length - 16, 4);
  b[8] = compressor;
  return message(2012, inner.readInt32LE(4), inner.readInt32LE(8), Buffer.concat([b, data]));
}

function run(conv: Array<['c2s' | 's2c', Buffer]>, piece = 0): { records: CallRecord[]; counters: Record<string, number> } {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters);
  const parser = mongodb.createTcpParser!(ctx);
  for (const [dir, data] of conv) {
    ctx.now += 1;
    ctx.frame += 1;
    if (piece === 0) parser.onData(dir, data);
    else for (let i = 0; i < data.length; i += piece) parser.onData(dir, data.subarray(i, i + piece));
  }
  parser.onEnd('eof');
  return { records, counters };
}

test('MongoDB byte-level client: document sequences, zlib, write errors, moreToCome, 1-byte segments', () => {
  const insert = opMsg(7, 0, { insert: 'pets', ordered: 1, $db: 'zoo' }, 0, { id: 'documents', docs: [bson({ name: 'cat' }), bson({ name: 'dog' })] });
  const insertReply = opMsg(100, 7, { n: 1, writeErrors: [{ index: 1, code: 11000, errmsg: 'E11000 duplicate key' }], ok: 1 });
  const find = opMsg(8, 0, { find: 'pets', filter: { name: 'cat' }, $db: 'zoo' });
  const findReply = opMsg(101, 8, { cursor: { firstBatch: [{ name: 'cat' }], id: 0, ns: 'zoo.pets' }, ok: 1 });
  const zFind = compressed(find, 2, zlib.deflateSync(find.subarray(16)));
  const zReply = compressed(findReply, 2, zlib.deflateSync(findReply.subarray(16)));
  const fireAndForget = opMsg(9, 0, { insert: 'log', $db: 'zoo' }, 2);
  const zstd = compressed(find, 3, Buffer.from('not really zstd'));
  const createUser = opMsg(10, 0, { createUser: 'bob', pwd: 'hunter2-secret', roles: [], $db: 'admin' });
  const denied = opMsg(102, 10, { ok: 0, errmsg: 'not authorized on admin', code: 13, codeName: 'Unauthorized' });
  const conv: Array<['c2s' | 's2c', Buffer]> = [
    ['c2s', insert], ['s2c', insertReply], ['c2s', zFind], ['s2c', zReply], ['c2s', fireAndForget], ['c2s', createUser], ['s2c', denied], ['c2s', zstd],
  ];
  for (const piece of [0, 1, 7]) {
    const { records, counters } = run(conv, piece);
    assert.equal(records.length, 5, `piece ${piece}`);
    const [ins, fnd, ff, cu, z] = [records[0], records[1], records[2], records[3], records[4]];
    assert.deepEqual(ins.request!.documents, { documents: 2 });
    assert.equal(ins.request!.collection, 'pets');
    assert.equal(ins.error, true);
    assert.equal(ins.response!.code, 11000);
    assert.equal(fnd.request!.compressor, 'zlib');
    assert.equal(fnd.request!.command, 'find');
    assert.equal(fnd.error, false);
    assert.match(fnd.response!.body, /firstBatch/);
    assert.equal(ff.response, null);
    assert.equal(ff.error, false, 'moreToCome expects no reply');
    assert.equal(cu.error, true);
    assert.equal(cu.response!.codeName, 'Unauthorized');
    assert.match(cu.summary, /createUser admin → error 13 Unauthorized/);
    // The password is in the body until the one redactor every writer uses takes it out.
    const redacted = createRedactor()({ ...cu, id: '1', timestamp: 0, transport: 'tcp', elapsedTime: 0, src: {} as any, dst: {} as any } as any);
    assert.ok(!JSON.stringify(redacted).includes('hunter2'));
    assert.equal(z.request!.compressor, 'zstd');
    assert.ok(z.warnings!.some((w) => w.includes('cannot decompress zstd')));
    assert.equal(counters['mongodb.undecodable_compression'], 1);
  }
});

test('MongoDB: after a gap, reading resumes at the next whole message; probes accept MongoDB and refuse others', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters);
  const parser = mongodb.createTcpParser!(ctx);
  parser.onData('c2s', opMsg(1, 0, { ping: 1, $db: 'admin' }));
  assert.equal(parser.pendingSince?.(), 0);
  parser.onGap('s2c', 100);
  parser.onData('s2c', Buffer.alloc(40, 0x41)); // the rest of a lost message
  parser.onData('s2c', opMsg(2, 1, { ok: 1 }));
  parser.onEnd('eof');
  assert.equal(records.length, 1);
  // The reply pairs by responseTo: the call is whole, and says a gap came while it waited.
  assert.deepEqual(records[0].warnings, ['gap']);
  assert.equal(records[0].response!.ok, 1);
  assert.equal(counters['mongodb.gap_dropped'], 40);
  assert.equal(counters['mongodb.gap'], 100);
  assert.equal(probeMongo(opMsg(1, 0, { ping: 1, $db: 'admin' }), false), 'request');
  assert.equal(probeMongo(opMsg(2, 1, { ok: 1 }), false), 'response');
  assert.equal(probeMongo(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), false), false);
  assert.equal(probeMongo(Buffer.from('*1\r\n$4\r\nPING\r\n'), true), false);
});
