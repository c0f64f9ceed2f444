// A body whose compression does not unpack (damaged, or a bomb past the 8 MB bound) is not shown:
// besides the warning on its entry, the run counts it, and the stderr summary says how many
// (every bound hit is counted on stderr). HTTP/1 bodies, gRPC messages and the loss line itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { http1 } from '../../src/dissect/protocols/http1.js';
import { annotateGrpc } from '../../src/dissect/protocols/grpc.js';
import type { CallRecord } from '../../src/dissect/api.js';
import { describeLosses } from '../../src/input/dissect-summary.js';
import { fakeContext, feed } from '../protocols/helpers.js';

/** 9 MB of zeros: past the 8 MB a body may decode to, in a few KB on the wire. */
const BOMB = Buffer.alloc(9 << 20);

function respond(coding: string, body: Buffer) {
  const ctx = fakeContext();
  const head = `HTTP/1.1 200 OK\r\nContent-Encoding: ${coding}\r\nContent-Length: ${body.length}\r\n\r\n`;
  feed(http1.createTcpParser!(ctx), ctx, [
    { dir: 'c2s', data: Buffer.from('GET /x HTTP/1.1\r\nHost: api\r\n\r\n') },
    { dir: 's2c', data: Buffer.concat([Buffer.from(head), body]) },
  ], 'whole');
  assert.equal(ctx.calls.length, 1);
  return { call: ctx.calls[0], counters: ctx.counters };
}

test('HTTP bodies that do not decode (bombs, damaged, unknown binary codings) are counted as well as warned', () => {
  const cases: [string, Buffer][] = [
    ['gzip', gzipSync(BOMB, { level: 1 })],
    ['br', brotliCompressSync(BOMB, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } })],
    ['gzip', Buffer.from('not gzip at all')],
    ['x-acme', Buffer.from([0, 1, 2, 3, 0xff])],
  ];
  for (const [coding, body] of cases) {
    const { call, counters } = respond(coding, body);
    assert.equal(call.response!.body, undefined, coding);
    assert.deepEqual(call.warnings, [`body: cannot decode content-encoding ${coding} (not shown)`]);
    assert.equal(counters['body.undecodable'], 1, coding);
  }
  // A body that decodes is not counted.
  const fine = respond('gzip', gzipSync(Buffer.from('{"ok":true}')));
  assert.equal(fine.call.response!.body, '{"ok":true}');
  assert.equal(fine.counters['body.undecodable'], undefined);
});

test('gRPC messages whose grpc-encoding does not unpack are counted', () => {
  // A gRPC message with its compressed flag set.
  const frame = (payload: Buffer) => Buffer.concat([Buffer.from([1, ...u32(payload.length)]), payload]);
  const counters: Record<string, number> = {};
  const record: CallRecord = {
    protocol: 'http2',
    request: { path: '/svc.Api/Put', method: 'POST', headers: { 'content-type': 'application/grpc', 'grpc-encoding': 'gzip' } },
    response: { status: 200, headers: { 'content-type': 'application/grpc', 'grpc-encoding': 'gzip' }, trailers: { 'grpc-status': '0' } },
  } as unknown as CallRecord;
  annotateGrpc(record, Buffer.concat([frame(gzipSync(BOMB)), frame(gzipSync(Buffer.from('\n\x02ok')))]), frame(Buffer.from('damaged')), {
    requestTruncated: false,
    responseTruncated: false,
    noBodies: false,
    count: (c, n = 1) => (counters[c] = (counters[c] ?? 0) + n),
  });
  const req = record.request as { messages: { undecodable?: string }[] };
  assert.deepEqual(req.messages.map((m) => m.undecodable), ['gzip', undefined]);
  assert.equal(counters['grpc.undecodable'], 2, 'the bomb in the request and the damaged answer');
});

test('the loss line on stderr names bodies, messages and batches that did not unpack', () => {
  const line = describeLosses({ 'body.undecodable': 2, 'grpc.undecodable': 1, 'ws.inflate_failed': 3, 'kafka.records_not_unpacked': 1, 'mongodb.undecodable_compression': 1, 'http.interim': 5 });
  assert.equal(line, 'body.undecodable=2 grpc.undecodable=1 kafka.records_not_unpacked=1 mongodb.undecodable_compression=1 ws.inflate_failed=3');
});

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}
