// Content codings beyond gzip, deflate, br and zstd: snappy (Prometheus remote write, Loki, Mimir),
// Snappy's framing format, and S3's aws-chunked uploads. Snappy blocks are made by python-snappy
// (Google's library); the framing and the chunk signatures are built from their specifications. A
// coding shark does not know keeps a text body as it came and withholds a binary one: a reader could
// unpack what the redactor never saw.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { http1 } from '../../src/dissect/protocols/http1.js';
import { fakeContext, feed, chunkings } from './helpers.js';

/** python-snappy's raw block for each input. */
function snappyBlocks(inputs: Buffer[]): Buffer[] {
  const py = spawnSync('/usr/bin/python3', ['-c', 'import json,sys,snappy; print(json.dumps([snappy.compress(bytes.fromhex(h)).hex() for h in json.load(sys.stdin)]))'], {
    input: JSON.stringify(inputs.map((b) => b.toString('hex'))),
    maxBuffer: 64 << 20,
  });
  assert.equal(py.status, 0, py.stderr.toString());
  return (JSON.parse(py.stdout.toString()) as string[]).map((h) => Buffer.from(h, 'hex'));
}

function post(coding: string, body: Buffer, maxBody = 64 * 1024, how: (typeof chunkings)[number] = 'whole') {
  const ctx = fakeContext({ maxBody });
  const head = `POST /push HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Encoding: ${coding}\r\nContent-Length: ${body.length}\r\n\r\n`;
  feed(http1.createTcpParser!(ctx), ctx, [
    { dir: 'c2s', data: Buffer.concat([Buffer.from(head), body]) },
    { dir: 's2c', data: Buffer.from('HTTP/1.1 204 No Content\r\n\r\n') },
  ], how);
  assert.equal(ctx.calls.length, 1);
  return ctx.calls[0];
}

const doc = Buffer.from(JSON.stringify({ items: Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `item-${i % 17}` })) }));

test('snappy bodies (the block format) are unpacked as python-snappy packed them, in any segmentation', () => {
  const [block] = snappyBlocks([doc]);
  assert.ok(block.length < doc.length / 2, 'the document compresses');
  for (const how of chunkings) {
    const call = post('snappy', block, 1 << 20, how);
    assert.equal(call.request!.body, doc.toString(), how);
    assert.equal(call.request!.bodySize, block.length);
    assert.equal(call.warnings, undefined);
  }
});

test('a snappy body cut at --max-body shows its unpacked start', () => {
  const [block] = snappyBlocks([doc]);
  const call = post('snappy', block, 4096);
  const body = call.request!.body as string;
  assert.ok(body.length >= 4096 && doc.toString().startsWith(body.slice(0, 4096)), 'the start of the document');
  assert.equal(call.request!.bodyTruncated, true);
});

/** Snappy's framing format: the stream identifier, then a compressed chunk for each block (checksums are not checked by readers of captures). */
function framed(blocks: Buffer[]): Buffer {
  const chunk = (type: number, data: Buffer) => Buffer.concat([Buffer.from([type, data.length + 4 & 0xff, (data.length + 4) >> 8 & 0xff, (data.length + 4) >> 16]), Buffer.alloc(4), data]);
  return Buffer.concat([Buffer.from([0xff, 6, 0, 0]), Buffer.from('sNaPpY'), ...blocks.map((b) => chunk(0x00, b)), Buffer.from([0xfe, 2, 0, 0, 0, 0])]);
}

test('x-snappy-framed bodies: compressed and padding chunks; a reserved chunk type is a coding error, not a crash', () => {
  const parts = [doc.subarray(0, 60_000), doc.subarray(60_000)];
  const call = post('x-snappy-framed', framed(snappyBlocks(parts)), 1 << 20);
  assert.equal(call.request!.body, doc.toString());
  const bad = Buffer.concat([framed(snappyBlocks([Buffer.from('{"a":1}')])), Buffer.from([0x05, 1, 0, 0, 0])]);
  const refused = post('x-snappy-framed', bad);
  assert.equal(refused.request!.body, undefined);
  assert.deepEqual(refused.warnings, ['body: cannot decode content-encoding x-snappy-framed (not shown)']);
});

/** An aws-chunked body: SigV4 streaming (signed chunks), or the unsigned variant with a trailing checksum. */
function awsChunked(data: Buffer, size: number, signed: boolean): Buffer {
  const sig = signed ? `;chunk-signature=${'0a'.repeat(32)}` : '';
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) {
    const piece = data.subarray(at, at + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}${sig}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0${sig}\r\n${signed ? '' : 'x-amz-checksum-crc32:AAAAAA==\r\n'}\r\n`));
  return Buffer.concat(parts);
}

test('aws-chunked uploads (S3 SigV4 streaming, signed or with trailing checksums) show the object, not the framing', () => {
  for (const signed of [true, false]) {
    const call = post('aws-chunked', awsChunked(doc, 8192, signed), 1 << 20);
    assert.equal(call.request!.body, doc.toString(), `signed: ${signed}`);
    assert.ok(!String(call.request!.body).includes('chunk-signature'));
  }
  // AWS names the object's own coding after aws-chunked, though the chunks wrap the gzip'd bytes.
  const gz = post('aws-chunked,gzip', awsChunked(gzipSync(doc), 1000, true), 1 << 20);
  assert.equal(gz.request!.body, doc.toString());
  // Cut at --max-body: the whole chunks and the start of the cut one.
  const cut = post('aws-chunked', awsChunked(doc, 3000, true), 10_000);
  assert.ok(doc.toString().startsWith(cut.request!.body as string) && (cut.request!.body as string).length > 6000);
  assert.equal(cut.request!.bodyTruncated, true);
});

test('a coding shark does not know: text stays (with a warning), binary is withheld; a charset named as a coding is no coding', () => {
  const text = post('x-acme', Buffer.from('{"visible":"text"}'));
  assert.equal(text.request!.body, '{"visible":"text"}');
  assert.deepEqual(text.warnings, ['body: cannot decode content-encoding x-acme']);
  const binary = post('x-acme', gzipSync('{"a":1}').subarray(10));
  assert.equal(binary.request!.body, undefined);
  assert.equal(binary.request!.bodySize, gzipSync('{"a":1}').length - 10);
  assert.deepEqual(binary.warnings, ['body: cannot decode content-encoding x-acme (not shown)']);
  const charset = post('UTF-8', Buffer.from([0xc3, 0xa9, 0x01, 0x02]));
  assert.equal(charset.request!.bodyEncoding, 'base64');
  assert.equal(charset.warnings, undefined);
});

/** A chunked response (`headers` name its Transfer-Encoding) cut in `size`-byte chunks, with trailer lines after the last chunk. */
function chunkedResponse(headers: string, body: Buffer, trailers: string, size = 50): Buffer {
  const parts: Buffer[] = [Buffer.from(`HTTP/1.1 200 OK\r\n${headers}\r\n`)];
  for (let at = 0; at < body.length; at += size) {
    const piece = body.subarray(at, at + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0\r\n${trailers}\r\n`));
  return Buffer.concat(parts);
}

function get(response: Buffer, how: (typeof chunkings)[number] = 'whole') {
  const ctx = fakeContext({ maxBody: 64 * 1024 });
  feed(http1.createTcpParser!(ctx), ctx, [
    { dir: 'c2s', data: Buffer.from('GET /x HTTP/1.1\r\nHost: api\r\n\r\n') },
    { dir: 's2c', data: response },
  ], how);
  assert.equal(ctx.calls.length, 1);
  return ctx.calls[0];
}

test('a chunked body s trailer fields are kept as trailers (lower-case names), in any segmentation', () => {
  const body = Buffer.from('abc'.repeat(30));
  for (const how of chunkings) {
    const call = get(chunkedResponse('Trailer: X-Checksum, Grpc-Status\r\nTransfer-Encoding: chunked\r\n', body, 'X-Checksum: 1234\r\nGrpc-Status: 0\r\nX-Checksum: 5678\r\n'), how);
    assert.equal(call.response!.body, body.toString(), how);
    assert.deepEqual(call.response!.trailers, { 'x-checksum': '1234, 5678', 'grpc-status': '0' }, how);
    assert.equal(call.response!.headers['x-checksum'], undefined, 'trailers are not headers');
    assert.equal(call.warnings, undefined, how);
  }
  assert.equal(get(chunkedResponse('Transfer-Encoding: chunked\r\n', body, '')).response!.trailers, undefined, 'no trailer section, no trailers field');
});

test('Transfer-Encoding gzip, chunked: the transfer coding is undone as a content coding would be', () => {
  const text = Buffer.from('hello world '.repeat(40));
  for (const how of chunkings) {
    const call = get(chunkedResponse('Content-Type: text/plain\r\nTransfer-Encoding: gzip, chunked\r\n', gzipSync(text), ''), how);
    assert.equal(call.response!.body, text.toString(), how);
    assert.equal(call.response!.bodyEncoding, undefined, how);
  }
  // Content coding applied first, transfer coding after it: undone in the reverse order.
  const twice = get(chunkedResponse('Content-Encoding: gzip\r\nTransfer-Encoding: gzip, chunked\r\n', gzipSync(gzipSync(text)), ''));
  assert.equal(twice.response!.body, text.toString());
});

test('the chunked trailers of a real capture read as tshark reads them (bare-LF lines, chunk extensions)', async () => {
  const { sharedCapture } = await import('../helpers/paths.js');
  const { dissectFile } = await import('../helpers/dissect.js');
  const { tsharkFields } = await import('./helpers.js');
  const capture = sharedCapture('suricata-http-chunked-trailers-lf.pcap');
  const rows = tsharkFields(capture, 'http.chunked_trailer_part', ['frame.number', 'http.chunked_trailer_part']);
  assert.equal(rows.length, 1, 'tshark finds one trailer part');
  const expected: Record<string, string> = {};
  for (const line of rows[0][1].split('\\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !/^[0-9a-f]+\s*;/i.test(line)) expected[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  assert.ok(Object.keys(expected).length >= 2, JSON.stringify(rows));
  const { entries } = await dissectFile(capture);
  const call = entries.find((e) => e.frames?.request === Number(rows[0][0]));
  assert.ok(call, 'the request tshark reads');
  assert.deepEqual(call.request!.trailers, expected);
});
