// gRPC-Web (grpc/grpc doc/PROTOCOL-WEB.md) as browsers send it through Envoy: over HTTP/1.1 and
// HTTP/2, binary (`application/grpc-web+proto`) and base64 text (`application/grpc-web-text`, the
// body a stream of separately padded chunks), the trailers in the body's last frame (flag 0x80),
// or in the headers when there is no message (trailers-only). Captures are built byte by byte and
// read by tshark too, which decodes gRPC-Web: the calls, their messages and their grpc-status agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { dissectFile } from '../helpers/dissect.js';
import { repoRoot } from '../helpers/paths.js';
import { Flags, FrameType, grpcMessage, h2frame, hpack, settings } from '../helpers/http2-wire.js';
import { tsharkFields } from '../protocols/helpers.js';
import type { Entry } from '../../src/model/entry.js';

const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(repoRoot, 'docs', 'entry.schema.json'), 'utf8')));

/** A gRPC-Web trailer frame: flag 0x80, then `name:value\r\n` lines. */
function trailerFrame(lines: string): Buffer {
  const body = Buffer.from(lines);
  const prefix = Buffer.alloc(5);
  prefix[0] = 0x80;
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

async function dissect(wire: Wire): Promise<{ file: string; entries: Entry[]; done: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'grpc-web-'));
  const file = join(dir, 'c.pcap');
  writeRawPcap(file, wire.packets);
  const { entries } = await dissectFile(file);
  for (const e of entries) assert.ok(validate(e), JSON.stringify(validate.errors));
  return { file, entries: entries.filter((e) => e.protocol !== 'tcp'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

function h1(wire: Wire, port: number, at: number, contentType: string, path: string, request: Buffer, status: string, response: Buffer, extra = ''): void {
  wire.send(at, 1, port, 8080, Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: api\r\nContent-Type: ${contentType}\r\nX-Grpc-Web: 1\r\nContent-Length: ${request.length}\r\n\r\n`), request]));
  wire.send(at + 1, 2, 8080, port, Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\nContent-Type: ${contentType}\r\n${extra}Content-Length: ${response.length}\r\n\r\n`), response]));
}

test('gRPC-Web over HTTP/1.1, binary and text: grpc calls with their messages and the grpc-status of the trailer frame, as tshark reads them', async () => {
  const wire = new Wire();
  const ok = Buffer.concat([grpcMessage('hello world'), trailerFrame('grpc-status:0\r\ngrpc-message:\r\n')]);
  const notFound = Buffer.concat([grpcMessage('nobody'), trailerFrame('grpc-status:5\r\ngrpc-message:no%20such%20user\r\n')]);
  h1(wire, 40001, 0, 'application/grpc-web+proto', '/users.Users/Get', grpcMessage('alice'), '200 OK', ok);
  h1(wire, 40002, 10, 'application/grpc-web+proto', '/users.Users/Get', grpcMessage('bob'), '200 OK', notFound);
  // -text: each frame base64-encoded on its own, so the body is two padded chunks.
  const text = Buffer.from(grpcMessage('carol!').toString('base64') + trailerFrame('grpc-status:7\r\n').toString('base64'));
  assert.match(text.toString(), /=[A-Za-z]/, 'a padded chunk followed by another');
  h1(wire, 40003, 20, 'application/grpc-web-text', '/users.Users/Delete', Buffer.from(grpcMessage('carol').toString('base64')), '200 OK', text);
  // Trailers-only: no message, grpc-status in the HTTP headers.
  h1(wire, 40004, 30, 'application/grpc-web+proto', '/users.Users/Get', grpcMessage('dave'), '200 OK', Buffer.alloc(0), 'grpc-status: 16\r\ngrpc-message: token%20expired\r\n');
  const { file, entries, done } = await dissect(wire);
  try {
    assert.deepEqual(entries.map((e) => [e.protocol, e.summary, e.error]), [
      ['grpc', 'users.Users/Get → OK', false],
      ['grpc', 'users.Users/Get → NOT_FOUND (5)', true],
      ['grpc', 'users.Users/Delete → PERMISSION_DENIED (7)', true],
      ['grpc', 'users.Users/Get → UNAUTHENTICATED (16)', true],
    ]);
    assert.deepEqual(entries.map((e) => (e.request as any).grpcWeb), ['grpc-web', 'grpc-web', 'grpc-web-text', 'grpc-web']);
    assert.deepEqual(entries.map((e) => [(e.request as any).messages?.[0]?.fields?.[0]?.value, (e.response as any).messages?.[0]?.fields?.[0]?.value]),
      [['alice', 'hello world'], ['bob', 'nobody'], ['carol', 'carol!'], ['dave', undefined]]);
    assert.equal((entries[1].response as any).grpcMessage, 'no such user');
    assert.equal((entries[3].response as any).grpcMessage, 'token expired');
    assert.equal((entries[0].response as any).body, undefined, 'the messages replace the raw body');
    // tshark: one gRPC-Web request and response per call, the same message lengths and statuses.
    const theirs = tsharkFields(file, 'grpc', ['frame.number', 'grpc.message_length']);
    const lengths = (frame: number) => theirs.find((r) => Number(r[0]) === frame)?.[1].split('|').map(Number);
    for (const e of entries) {
      assert.deepEqual(lengths(e.frames!.request), (e.request as any).messages.map((m: any) => m.length), e.summary);
      const shown = (e.response as any).messages?.map((m: any) => m.length) ?? [];
      const trailer = e.summary.includes('UNAUTHENTICATED') ? [] : [Number.NaN];
      const theirLengths = lengths(e.frames!.response!) ?? [];
      assert.deepEqual(theirLengths.slice(0, shown.length), shown, e.summary);
      assert.equal(theirLengths.length, shown.length + trailer.length, `${e.summary}: the trailer frame tshark counts too`);
    }
  } finally {
    done();
  }
});

test('gRPC-Web over HTTP/1.1 past --max-body: the trailer frame after the cut still gives the grpc-status, binary and text, also chunked and with --no-bodies', async () => {
  const wire = new Wire();
  const send = (port: number, at: number, contentType: string, response: Buffer, framing: 'length' | 'chunked') => {
    const request = grpcMessage('who');
    wire.send(at, 1, port, 8080, Buffer.concat([Buffer.from(`POST /users.Users/Find HTTP/1.1\r\nHost: api\r\nContent-Type: ${contentType}\r\nContent-Length: ${request.length}\r\n\r\n`), request]));
    const body = framing === 'length' ? response : Buffer.concat([Buffer.from(`${response.length.toString(16)}\r\n`), response, Buffer.from('\r\n0\r\n\r\n')]);
    const head = `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n${framing === 'length' ? `Content-Length: ${body.length}` : 'Transfer-Encoding: chunked'}\r\n\r\n`;
    const all = Buffer.concat([Buffer.from(head), body]);
    // In 1000-byte segments, so a frame prefix and the trailer frame straddle segments.
    for (let i = 0; i < all.length; i += 1000) wire.send(at + 1 + i / 1e4, 2, 8080, port, all.subarray(i, i + 1000));
  };
  const binary = Buffer.concat([grpcMessage('a'.repeat(5000)), grpcMessage('b'.repeat(3001)), trailerFrame('grpc-status:5\r\ngrpc-message:no%20match\r\n')]);
  const text = Buffer.from(grpcMessage('c'.repeat(5000)).toString('base64') + grpcMessage('d').toString('base64') + trailerFrame('grpc-status:8\r\n').toString('base64'));
  send(40020, 0, 'application/grpc-web+proto', binary, 'length');
  send(40021, 100, 'application/grpc-web-text', text, 'length');
  send(40022, 200, 'application/grpc-web+proto', binary, 'chunked');
  send(40023, 300, 'application/grpc-web-text', text, 'chunked');
  const dir = mkdtempSync(join(tmpdir(), 'grpc-web-cut-'));
  try {
    const file = join(dir, 'c.pcap');
    writeRawPcap(file, wire.packets);
    // tshark 4.0 reads no grpc-status from a gRPC-Web trailer frame: the statuses are the ones written above.
    const theirs = [5, 8, 5, 8];
    for (const opts of [{ maxBody: 1024 }, { noBodies: true }]) {
      const entries = (await dissectFile(file, opts)).entries.filter((e) => e.protocol !== 'tcp');
      const what = JSON.stringify(opts);
      assert.deepEqual(entries.map((e) => [e.summary, e.error, e.warnings]), [
        ['users.Users/Find → NOT_FOUND (5)', true, undefined],
        ['users.Users/Find → RESOURCE_EXHAUSTED (8)', true, undefined],
        ['users.Users/Find → NOT_FOUND (5)', true, undefined],
        ['users.Users/Find → RESOURCE_EXHAUSTED (8)', true, undefined],
      ], what);
      assert.deepEqual(entries.map((e) => (e.response as any).grpcStatus), theirs, what);
      assert.equal((entries[0].response as any).grpcMessage, 'no match', what);
      assert.ok(entries.every((e) => e.response!.bodySize > 1024), what);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gRPC-Web over HTTP/2: the trailer frame in the DATA is read as HTTP/2 trailers are', async () => {
  const wire = new Wire();
  const port = 40010;
  const req = Buffer.concat([hpack.indexed(3), hpack.indexed(6), hpack.literalNamed(4, '/users.Users/List'), hpack.literalNamed(1, 'svc'), hpack.literalNamed(31, 'application/grpc-web+proto')]);
  wire.send(0, 1, port, 8080, Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), settings(),
    h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, req), h2frame(FrameType.DATA, Flags.END_STREAM, 1, grpcMessage('all'))]));
  const res = Buffer.concat([hpack.indexed(8), hpack.literalNamed(31, 'application/grpc-web+proto')]);
  wire.send(1, 2, 8080, port, Buffer.concat([settings(), h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, res),
    h2frame(FrameType.DATA, Flags.END_STREAM, 1, Buffer.concat([grpcMessage('alice'), grpcMessage('bob'), trailerFrame('grpc-status:14\r\ngrpc-message:backend%20down\r\n')]))]));
  const { entries, done } = await dissect(wire);
  try {
    assert.deepEqual(entries.map((e) => [e.protocol, e.summary, e.error]), [['grpc', 'users.Users/List → UNAVAILABLE (14)', true]]);
    assert.deepEqual((entries[0].response as any).messages.map((m: any) => m.fields[0].value), ['alice', 'bob']);
    assert.equal((entries[0].response as any).grpcMessage, 'backend down');
  } finally {
    done();
  }
});

test('gRPC-Web over HTTP/2 past --max-body: the trailer frame after the cut still gives the grpc-status', async () => {
  const wire = new Wire();
  const port = 40030;
  const req = Buffer.concat([hpack.indexed(3), hpack.indexed(6), hpack.literalNamed(4, '/users.Users/List'), hpack.literalNamed(1, 'svc'), hpack.literalNamed(31, 'application/grpc-web-text')]);
  wire.send(0, 1, port, 8080, Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), settings(),
    h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, req), h2frame(FrameType.DATA, Flags.END_STREAM, 1, Buffer.from(grpcMessage('all').toString('base64')))]));
  const res = Buffer.concat([hpack.indexed(8), hpack.literalNamed(31, 'application/grpc-web-text')]);
  const body = Buffer.from(grpcMessage('e'.repeat(6000)).toString('base64') + trailerFrame('grpc-status:14\r\ngrpc-message:backend%20down\r\n').toString('base64'));
  wire.send(1, 2, 8080, port, Buffer.concat([settings(), h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, res),
    h2frame(FrameType.DATA, 0, 1, body.subarray(0, 5003)), h2frame(FrameType.DATA, Flags.END_STREAM, 1, body.subarray(5003))]));
  const dir = mkdtempSync(join(tmpdir(), 'grpc-web-h2-cut-'));
  try {
    const file = join(dir, 'c.pcap');
    writeRawPcap(file, wire.packets);
    for (const opts of [{ maxBody: 1024 }, { noBodies: true }]) {
      const entries = (await dissectFile(file, opts)).entries.filter((e) => e.protocol !== 'tcp');
      assert.deepEqual(entries.map((e) => [e.protocol, e.summary, e.error, e.warnings]), [['grpc', 'users.Users/List → UNAVAILABLE (14)', true, undefined]], JSON.stringify(opts));
      assert.equal((entries[0].response as any).grpcMessage, 'backend down');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
