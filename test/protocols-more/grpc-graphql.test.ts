// gRPC (messages, status, streaming, compression) and GraphQL on lab
// recordings, checked against tshark's gRPC dissector and by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { http2 } from '../../src/dissect/protocols/http2.js';
import { decodeProtobuf } from '../../src/dissect/protocols/protobuf.js';
import { parseGrpcPath, splitGrpcMessages } from '../../src/dissect/protocols/grpc.js';
import { annotateGraphql, applyGraphql, parseOperations } from '../../src/dissect/protocols/graphql.js';
import type { CallRecord } from '../../src/dissect/api.js';
import type { Entry } from '../../src/model/entry.js';
import { createRedactor } from '../../src/redact/entry.js';
import { repoRoot, sharedCapture } from '../helpers/paths.js';
import { AGG, feedConnections, tcpSegments } from './helpers.js';

const fixture = (name: string): string => join(repoRoot, 'test', 'fixtures', 'captures', name);

test('gRPC lab: unary, server/client streaming, error status, gzip; message lengths as tshark', () => {
  const segments = tcpSegments(fixture('lab-grpc.pcap'), { decodeAs: ['tcp.port==50051,http2'], fields: ['grpc.message_length'] });
  const { records } = feedConnections(http2, segments);
  assert.deepEqual(
    records.map((r) => `${r.request!.service}/${r.request!.method} ${r.response?.grpcStatus}`),
    ['shark.Pets/Say 0', 'shark.Pets/List 0', 'shark.Pets/Find 5', 'shark.Pets/Upload 0', 'shark.Pets/Say 0'],
  );
  assert.ok(records.every((r) => r.protocol === 'grpc'));
  const lengths = segments.flatMap((s) => (s.extra[0] ?? '').split(AGG).filter(Boolean).map(Number)).sort((a, b) => a - b);
  const ours = records
    .flatMap((r) => [...(r.request!.messages ?? []), ...(r.response!.messages ?? [])])
    .map((m: { length: number }) => m.length)
    .sort((a: number, b: number) => a - b);
  assert.deepEqual(ours, lengths);
  const [say, list, find, upload, zipped] = records;
  assert.deepEqual(say.request!.messages[0].fields, [{ field: 1, wireType: 'len', value: 'shark' }]);
  assert.deepEqual(say.response!.messages[0].fields, [
    { field: 1, wireType: 'len', value: 'hello' },
    { field: 2, wireType: 'varint', value: 42 },
  ]);
  assert.equal(list.response!.messages.length, 3);
  assert.deepEqual(list.response!.messages[1].fields[2], { field: 3, wireType: 'len', message: [{ field: 1, wireType: 'len', value: 'ann' }] });
  assert.equal(find.error, true);
  assert.equal(find.response!.grpcStatusName, 'NOT_FOUND');
  assert.equal(find.response!.grpcMessage, 'no such pet: 7');
  assert.equal(upload.request!.messages.length, 2);
  assert.equal(zipped.request!.messages[0].compressed, true);
  assert.equal(zipped.request!.messages[0].fields[0].value, 'zipped'.repeat(20));
});

test('gRPC compressed messages: zstd unpacks (the zstd command packed it); one that does not unpack is not shown', () => {
  const proto = Buffer.from([0x0a, 0x06, ...Buffer.from('zipped'), 0x10, 0x2a]);
  const framed = (flag: number, payload: Buffer): Buffer => {
    const prefix = Buffer.alloc(5);
    prefix[0] = flag;
    prefix.writeUInt32BE(payload.length, 1);
    return Buffer.concat([prefix, payload]);
  };
  const zstd = execFileSync('zstd', ['-q', '-c'], { input: proto });
  const [unpacked] = splitGrpcMessages(framed(1, zstd), 'zstd', false);
  assert.deepEqual(unpacked.fields, [{ field: 1, wireType: 'len', value: 'zipped' }, { field: 2, wireType: 'varint', value: 42 }]);
  // A gzip bomb (a secret, then 20 MB of padding): past the bound it does not unpack, and its bytes are not shown.
  const bomb = gzipSync(Buffer.concat([Buffer.from('password=grpc-bomb-secret'), Buffer.alloc(20 * 1024 * 1024)]));
  const [refused, after] = splitGrpcMessages(Buffer.concat([framed(1, bomb), framed(0, proto)]), 'gzip', false);
  assert.deepEqual(refused, { compressed: true, length: bomb.length, undecodable: 'gzip' });
  assert.equal(after.fields?.[0].value, 'zipped', 'the next message is read');
});

test('gRPC messages that are not protobuf (JSON over gRPC, text, bytes) are bodies: readable, and searched by the redactor', () => {
  const framed = (payload: Buffer): Buffer => {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(payload.length, 1);
    return Buffer.concat([prefix, payload]);
  };
  const json = Buffer.from('{"user":"ann","password":"grpc-json-secret"}');
  const binary = Buffer.from([0xff, 0xfe, 0x00, 0x07]);
  const [asJson, asBytes] = splitGrpcMessages(Buffer.concat([framed(json), framed(binary)]), undefined, false);
  assert.deepEqual(asJson, { compressed: false, length: json.length, body: json.toString() });
  assert.deepEqual(asBytes, { compressed: false, length: 4, body: binary.toString('base64'), bodyEncoding: 'base64' });
  const entry = { id: '1', timestamp: 0, protocol: 'grpc', transport: 'tcp', elapsedTime: 0, src: {}, dst: {}, summary: 's/m', error: false, requestSize: 0, responseSize: 0, request: { service: 's', method: 'm', messages: [asJson] }, response: null };
  const redacted = createRedactor()(entry as unknown as Entry);
  assert.equal(JSON.parse(redacted.request!.messages[0].body).password, '[REDACTED]');
});

test('gRPC lab-bookinfo-mix: statuses as in the trailers tshark decodes', () => {
  const segments = tcpSegments(sharedCapture('lab-bookinfo-mix.pcap'), {
    decodeAs: ['tcp.port==50051,http2'],
    fields: ['http2.header.name', 'http2.header.value'],
    bpf: 'tcp port 50051',
  });
  const statuses: string[] = [];
  for (const s of segments) {
    const names = (s.extra[0] ?? '').split(AGG);
    const values = (s.extra[1] ?? '').split(AGG);
    names.forEach((n, i) => n === 'grpc-status' && statuses.push(values[i]));
  }
  const { records } = feedConnections(http2, segments);
  assert.deepEqual(records.map((r) => String(r.response!.grpcStatus)).sort(), statuses.sort());
  assert.equal(records.filter((r) => r.error).length, statuses.filter((s) => s !== '0').length);
});

test('protobuf: schema-less decoding of varint, fixed, nested and packed-looking fields; garbage is null', () => {
  // field 1 varint 150, field 2 "testing", field 3 nested {1: 150}, field 4 fixed32, field 5 fixed64
  const msg = Buffer.from('089601' + '120774657374696e67' + '1a03089601' + '2500002041' + '290000000000001440', 'hex');
  const fields = decodeProtobuf(msg)!;
  assert.deepEqual(fields.slice(0, 3), [
    { field: 1, wireType: 'varint', value: 150 },
    { field: 2, wireType: 'len', value: 'testing' },
    { field: 3, wireType: 'len', message: [{ field: 1, wireType: 'varint', value: 150 }] },
  ]);
  assert.equal(fields[3].float, 10);
  assert.equal(fields[4].float, 5);
  assert.equal(decodeProtobuf(Buffer.from('ffffffffffffffffffffff', 'hex')), null);
  assert.equal(decodeProtobuf(Buffer.from('0f', 'hex')), null); // wire type 7
  assert.deepEqual(parseGrpcPath('/a.b.Svc/Do'), { service: 'a.b.Svc', method: 'Do' });
});

test('GraphQL over h2c (lab): operation, type and top-level fields', () => {
  const { records } = feedConnections(http2, tcpSegments(fixture('lab-h2c.pcap')));
  const gql = records.filter((r) => r.protocol === 'graphql');
  assert.equal(gql.length, 1);
  assert.deepEqual(gql[0].request!.graphql, { operationName: 'Pets', operationType: 'query', fields: ['pets', 'owner'] });
  assert.equal(records.filter((r) => r.protocol === 'http2').length, 2);
});

function httpRecord(request: Record<string, any>, response: Record<string, any> | null): CallRecord {
  return { protocol: 'http', request, response, requestTime: 0, requestSize: 0, responseSize: 0, error: false, summary: '' };
}

test('GraphQL: a large JSON body is not parsed to look for an operation; past 1 MB it is counted, not read', () => {
  // A JSON upload of 2M keys was parsed whole on every call (9 s and 470 MB for 24 MB with --max-body 64MB).
  const parse = JSON.parse;
  const parsed: number[] = [];
  JSON.parse = ((text: string, reviver?: (this: any, key: string, value: any) => any) => {
    parsed.push(text.length);
    return parse(text, reviver);
  }) as typeof JSON.parse;
  const counted: string[] = [];
  const count = (c: string) => counted.push(c);
  const keys = (n: number) => Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',');
  let upload: CallRecord, big: CallRecord, bigErrors: CallRecord;
  try {
    upload = httpRecord({ method: 'POST', path: '/api', headers: { 'content-type': 'application/json' }, body: `{${keys(200_000)}}` }, { status: 200, body: `{${keys(200_000)}}` });
    assert.equal(applyGraphql(upload, undefined, count), false);
    big = httpRecord({ method: 'POST', path: '/graphql', body: `{"query":"{ a }","variables":{${keys(120_000)}}}` }, { status: 200, body: '{"data":{"a":1}}' });
    assert.equal(applyGraphql(big, undefined, count), false);
    bigErrors = httpRecord({ method: 'POST', path: '/graphql', body: '{"query":"{ a }"}' }, { status: 200, body: `{"errors":[{"message":"boom"}],"data":{${keys(120_000)}}}` });
    assert.equal(applyGraphql(bigErrors, undefined, count), true);
  } finally {
    JSON.parse = parse;
  }
  assert.deepEqual(parsed, [17], 'only the small request was parsed');
  assert.equal(upload.protocol, 'http');
  assert.equal(big.protocol, 'http');
  assert.equal(bigErrors.protocol, 'graphql');
  assert.equal(bigErrors.error, false, 'errors in an answer past the limit are not looked for');
  assert.deepEqual(counted, ['graphql.large_body_dropped', 'graphql.large_body_dropped']);
});

test('GraphQL: GET ?query=, mutations with aliases/fragments, batches, errors mark the call', () => {
  const ops = parseOperations(`
    fragment F on Pet { name }
    # a comment { not: a field }
    mutation AddPet($n: String = "x{") { first: addPet(name: $n) { ...F id } removePet(id: 2) @include(if: true) }
    subscription S { petAdded { id } }`);
  assert.deepEqual(ops, [
    { type: 'mutation', name: 'AddPet', fields: ['addPet', 'removePet'] },
    { type: 'subscription', name: 'S', fields: ['petAdded'] },
  ]);
  const get = httpRecord({ method: 'GET', path: '/api/graphql?query=%7Bme%7Bid%7D%7D', query: { query: '{me{id}}' } }, { status: 200, body: '{"data":{"me":{"id":1}}}' });
  assert.equal(applyGraphql(get), true);
  assert.deepEqual(get.request!.graphql, { operationName: '', operationType: 'query', fields: ['me'] });
  assert.equal(get.error, false);
  const failing = httpRecord(
    { method: 'POST', path: '/graphql', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'query A { a } query B { b }', operationName: 'B' }) },
    { status: 200, body: JSON.stringify({ errors: [{ message: 'boom' }], data: null }) },
  );
  assert.equal(applyGraphql(failing), true);
  assert.equal(failing.protocol, 'graphql');
  assert.equal(failing.error, true);
  assert.deepEqual(failing.request!.graphql.fields, ['b']);
  assert.deepEqual(failing.response!.graphqlErrors, ['boom']);
  const batch = annotateGraphql({ method: 'POST', path: '/graphql', body: JSON.stringify([{ query: '{x}' }, { query: '{y}' }]) }, null);
  assert.equal(batch!.info.batch, 2);
  assert.equal(annotateGraphql({ method: 'POST', path: '/graphql', body: 'not json' }, null), null);
  assert.equal(annotateGraphql({ method: 'GET', path: '/users?query=x', query: { query: 'x' } }, null), null);
  assert.equal(annotateGraphql({ method: 'GET', path: '/query?query=select', query: { query: 'select' } }, null), null);
  // gqlgen's default endpoint, and any endpoint with a GraphQL document in JSON.
  assert.deepEqual(annotateGraphql({ method: 'POST', path: '/query', body: '{"query":"{ todos { id } }"}' }, null)!.info.fields, ['todos']);
  assert.equal(annotateGraphql({ method: 'POST', path: '/api', body: '{"query":"mutation M { add(x: 1) }"}' }, null)!.info.operationType, 'mutation');
  assert.equal(annotateGraphql({ method: 'POST', path: '/search', body: '{"query":"cats and dogs"}' }, null), null);
});
