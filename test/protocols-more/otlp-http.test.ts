// OTLP/HTTP exports (traces, metrics, logs; protobuf and JSON; gzip'd or not), and OTLP and Loki over gRPC. No OpenTelemetry SDK or
// Collector is in Debian, so the messages are built field by field from opentelemetry-proto's
// definitions (collector/*/v1, trace/v1, metrics/v1, logs/v1, common/v1, resource/v1).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { http1 } from '../../src/dissect/protocols/http1.js';
import { http2 } from '../../src/dissect/protocols/http2.js';
import { Flags, FrameType, grpcFrame, grpcRequest, grpcResponseHeaders, grpcTrailers, h2frame, preface, settings } from '../helpers/http2-wire.js';
import { readProtobuf } from '../../src/dissect/protocols/otlp-http.js';
import { fakeContext, feed } from '../protocols/helpers.js';
import { len, uint } from '../helpers/protobuf-wire.js';
import { enterMeter, MemoryBudget, Meter } from '../../src/dissect/memory-budget.js';

/** An OTLP/HTTP export over HTTP/1 and the receiver's answer (`status`, and `answer` as the body, in the request's type). */
function post(path: string, contentType: string, body: Buffer, gzip = false, status = '200 OK', answer: Buffer = Buffer.alloc(0)) {
  const ctx = fakeContext({ maxBody: 1 << 20 });
  const sent = gzip ? gzipSync(body) : body;
  const head = `POST ${path} HTTP/1.1\r\nHost: otel-collector:4318\r\nContent-Type: ${contentType}\r\n${gzip ? 'Content-Encoding: gzip\r\n' : ''}Content-Length: ${sent.length}\r\n\r\n`;
  feed(http1.createTcpParser!(ctx), ctx, [
    { dir: 'c2s', data: Buffer.concat([Buffer.from(head), sent]) },
    { dir: 's2c', data: Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\nContent-Type: ${contentType}\r\nContent-Length: ${answer.length}\r\n\r\n`), answer]) },
  ], 'random');
  assert.equal(ctx.calls.length, 1);
  return ctx.calls[0];
}

/**
 * A gRPC call over HTTP/2: `messages` sent (in DATA frames of at most 16,000 bytes), `answers` back,
 * status OK; run with `meter` current, as the engine runs a flow's parser.
 */
function grpcCall(path: string, messages: Buffer[], answers: Buffer[] = [], options: { maxBody?: number; meter?: Meter } = {}) {
  const ctx = fakeContext(options.maxBody === undefined ? {} : { maxBody: options.maxBody });
  const body = Buffer.concat(messages.map(grpcFrame));
  const data: Buffer[] = [];
  for (let at = 0; at < body.length; at += 16_000) data.push(h2frame(FrameType.DATA, at + 16_000 >= body.length ? Flags.END_STREAM : 0, 1, body.subarray(at, at + 16_000)));
  const before = enterMeter(options.meter);
  feed(http2.createTcpParser!(ctx), ctx, [
    { dir: 'c2s', data: Buffer.concat([preface(), h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcRequest(path)), ...data]) },
    { dir: 's2c', data: Buffer.concat([settings(), h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcResponseHeaders()), ...answers.map((a) => h2frame(FrameType.DATA, 0, 1, grpcFrame(a))), h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, grpcTrailers(0))]) },
  ], 'random');
  enterMeter(before);
  assert.equal(ctx.calls.length, 1, path);
  return ctx.calls[0];
}

/** Resource{attributes: [service.name, k8s.pod.name]}. */
const resource = (service: string) =>
  len(1, Buffer.concat([
    len(1, Buffer.concat([len(1, 'k8s.pod.name'), len(2, len(1, 'api-7d9f'))])),
    len(1, Buffer.concat([len(1, 'service.name'), len(2, len(1, service))])),
  ]));
/** Span{name (5), status (15){code (3)}}. */
const span = (name: string, code = 0) => len(2, Buffer.concat([len(5, name), ...(code ? [len(15, uint(3, code))] : [])]));

test('OTLP traces (protobuf, gzip): resources, services, spans and failed spans', () => {
  const request = Buffer.concat([
    len(1, Buffer.concat([resource('checkout'), len(2, Buffer.concat([len(1, len(1, 'io.opentelemetry.http')), span('GET /cart'), span('charge', 2), span('SELECT', 1)]))])),
    len(1, Buffer.concat([resource('payments'), len(2, span('authorize', 2))])),
  ]);
  const call = post('/v1/traces', 'application/x-protobuf', request, true);
  assert.deepEqual(call.request!.otlp, { signal: 'traces', format: 'protobuf', resources: 2, services: ['checkout', 'payments'], spans: 4, errorSpans: 2 });
  assert.equal(call.summary, 'POST /v1/traces (2 services, 4 spans, 2 failed) → 200');
});

test('OTLP metrics: metric names and data points over gauge, sum, histogram, exponential histogram and summary', () => {
  const point = len(1, Buffer.alloc(0));
  const metric = (name: string, dataField: number, points: number) => len(2, Buffer.concat([len(1, name), len(dataField, Buffer.concat(Array(points).fill(point)))]));
  const request = len(1, Buffer.concat([resource('gateway'), len(2, Buffer.concat([metric('http.server.duration', 9, 3), metric('queue.depth', 5, 1), metric('requests', 7, 2), metric('latency', 10, 1), metric('rpc', 11, 1)]))]));
  const call = post('/otlp/v1/metrics', 'application/x-protobuf', request);
  assert.deepEqual(call.request!.otlp, {
    signal: 'metrics', format: 'protobuf', resources: 1, services: ['gateway'], metrics: 5, dataPoints: 8,
    metricNames: ['http.server.duration', 'queue.depth', 'requests', 'latency', 'rpc'],
  });
  assert.equal(call.summary, 'POST /otlp/v1/metrics (1 service, 5 metrics, 8 points) → 200');
});

test('OTLP logs, protobuf and JSON; the log bodies stay in the body, where the redactor searches them', () => {
  const record = (text: string) => len(2, Buffer.concat([uint(2, 9), len(3, 'INFO'), len(5, len(1, text))]));
  const request = len(1, Buffer.concat([resource('api'), len(2, Buffer.concat([record('started'), record('ready')]))]));
  const call = post('/v1/logs', 'application/x-protobuf', request);
  assert.deepEqual(call.request!.otlp, { signal: 'logs', format: 'protobuf', resources: 1, services: ['api'], logRecords: 2 });
  assert.equal(call.summary, 'POST /v1/logs (1 service, 2 log records) → 200');

  const json = {
    resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'web' } }] }, scopeLogs: [{ logRecords: [{ body: { stringValue: 'a' } }] }] }],
  };
  assert.deepEqual(post('/v1/logs', 'application/json', Buffer.from(JSON.stringify(json))).request!.otlp, { signal: 'logs', format: 'json', resources: 1, services: ['web'], logRecords: 1 });
  const traces = { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [{ name: 'x', status: { code: 2 } }, { name: 'y' }] }] }] };
  assert.deepEqual(post('/v1/traces', 'application/json', Buffer.from(JSON.stringify(traces))).request!.otlp, { signal: 'traces', format: 'json', resources: 1, services: [], spans: 2, errorSpans: 1 });
});

test('not OTLP, or malformed: nothing claimed, nothing thrown', () => {
  assert.equal(post('/v1/traces/extra', 'application/x-protobuf', Buffer.from([0x0a, 0x00])).request!.otlp, undefined);
  assert.equal(post('/v1/traces', 'text/plain', Buffer.from('x')).request!.otlp, undefined);
  const cut = readProtobuf(Buffer.from([0x0a, 0x7f, 0x0a]), 'traces');
  assert.equal(cut.incomplete, true);
  for (let i = 0; i < 2000; i++) {
    const junk = Buffer.from(Array.from({ length: 1 + (i % 64) }, (_, k) => (i * 131 + k * 17) & 0xff));
    for (const signal of ['traces', 'metrics', 'logs'] as const) readProtobuf(junk, signal);
  }
});

test('OTLP over gRPC (port 4317) and Loki over gRPC: the Export and Push messages counted as their HTTP forms', () => {
  const call = (path: string, message: Buffer) => grpcCall(path, [message]);
  const traces = len(1, Buffer.concat([resource('checkout'), len(2, Buffer.concat([span('a'), span('b', 2)]))]));
  const otlp = call('/opentelemetry.proto.collector.trace.v1.TraceService/Export', traces);
  assert.equal(otlp.protocol, 'grpc');
  assert.deepEqual(otlp.request!.otlp, { signal: 'traces', format: 'protobuf', resources: 1, services: ['checkout'], spans: 2, errorSpans: 1 });
  assert.equal(otlp.summary, 'opentelemetry.proto.collector.trace.v1.TraceService/Export (1 service, 2 spans, 1 failed) → OK');
  assert.ok(Array.isArray(otlp.request!.messages[0].fields), 'the message is still shown');

  const entry = len(2, Buffer.concat([len(1, Buffer.from([0x08, 1])), len(2, 'GET /healthz 200')]));
  const loki = call('/logproto.Pusher/Push', len(1, Buffer.concat([len(1, '{app="web"}'), entry, entry])));
  assert.deepEqual(loki.request!.lokiPush, { format: 'protobuf', streams: 1, entries: 2, bytes: 32, labels: ['{app="web"}'] });
  assert.equal(loki.summary, 'logproto.Pusher/Push (1 stream, 2 lines) → OK');
});

test('the answer to an export: the items a receiver rejected (partial success) and why, over HTTP/1 (protobuf, JSON), HTTP/2 and gRPC', () => {
  const exchange = (path: string, type: string, request: Buffer, status: string, answer: Buffer) => post(path, type, request, false, status, answer);
  const traces = len(1, Buffer.concat([resource('checkout'), len(2, Buffer.concat([span('a'), span('b'), span('c')]))]));
  // ExportTraceServiceResponse{partial_success (1){rejected_spans (1), error_message (2)}}.
  const partial = len(1, Buffer.concat([uint(1, 2), len(2, 'attribute value too long')]));
  const rejected = exchange('/v1/traces', 'application/x-protobuf', traces, '200 OK', partial);
  assert.deepEqual(rejected.response!.otlp, { rejected: 2, errorMessage: 'attribute value too long' });
  assert.equal(rejected.summary, 'POST /v1/traces (1 service, 3 spans) → 200 (2 spans rejected)');
  // An empty answer, or an empty partial_success, rejected nothing: nothing is said.
  for (const answer of [Buffer.alloc(0), len(1, Buffer.alloc(0))]) {
    const taken = exchange('/v1/traces', 'application/x-protobuf', traces, '200 OK', answer);
    assert.equal(taken.response!.otlp, undefined);
    assert.equal(taken.summary, 'POST /v1/traces (1 service, 3 spans) → 200');
  }
  // A refusal is a google.rpc.Status (field 1 a code, not a message): not a partial success.
  const refused = exchange('/v1/traces', 'application/x-protobuf', traces, '400 Bad Request', Buffer.concat([uint(1, 3), len(2, 'bad request')]));
  assert.equal(refused.response!.otlp, undefined);

  const metrics = Buffer.from(JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'up', gauge: { dataPoints: [{}, {}] } }] }] }] }));
  const jsonAnswer = Buffer.from(JSON.stringify({ partialSuccess: { rejectedDataPoints: '1', errorMessage: 'out of order sample' } }));
  const json = exchange('/v1/metrics', 'application/json', metrics, '200 OK', jsonAnswer);
  assert.deepEqual(json.response!.otlp, { rejected: 1, errorMessage: 'out of order sample' });
  assert.equal(json.summary, 'POST /v1/metrics (0 services, 1 metric, 2 points) → 200 (1 point rejected)');

  const overGrpc = grpcCall('/opentelemetry.proto.collector.trace.v1.TraceService/Export', [traces], [partial]);
  assert.deepEqual(overGrpc.response!.otlp, { rejected: 2, errorMessage: 'attribute value too long' });
  assert.equal(overGrpc.summary, 'opentelemetry.proto.collector.trace.v1.TraceService/Export (1 service, 3 spans) → OK (2 spans rejected)');
});

test('an OTLP gRPC export past --max-body is counted whole; the messages shown stop where --max-body does, as before', () => {
  const spans = (n: number, service: string) => len(1, Buffer.concat([resource(service), len(2, Buffer.concat(Array.from({ length: n }, (_, i) => span(`span-${i}-${'x'.repeat(40)}`, i % 10 === 0 ? 2 : 0))))]));
  const small = spans(10, 'cart');
  const big = spans(600, 'checkout'); // ~36 KB: one export a BatchSpanProcessor sends
  const maxBody = 16 * 1024;
  const run = (options: { maxBody: number }) => {
    // The flow's meter, as the engine makes it current around its parser.
    const meter = new Meter(new MemoryBudget(1 << 30));
    const call = grpcCall('/opentelemetry.proto.collector.trace.v1.TraceService/Export', [small, big], [], { maxBody: options.maxBody, meter });
    assert.equal(meter.bytes, 0, 'what was kept past --max-body is given back once the call is made');
    return call;
  };
  const call = run({ maxBody });
  assert.deepEqual(call.request!.otlp, { signal: 'traces', format: 'protobuf', resources: 2, services: ['cart', 'checkout'], spans: 610, errorSpans: 61 });
  assert.equal(call.summary, 'opentelemetry.proto.collector.trace.v1.TraceService/Export (2 services, 610 spans, 61 failed) → OK');
  const messages = call.request!.messages;
  assert.equal(messages.length, 2);
  assert.ok(Array.isArray(messages[0].fields), 'the first message, inside --max-body, is shown');
  assert.deepEqual(messages[1], { compressed: false, length: big.length, truncated: true }, 'the second is said as a body cut at --max-body says it');
  // With all of it shown, the same counts and both messages whole.
  const whole = run({ maxBody: 1 << 20 });
  assert.deepEqual(whole.request!.otlp, call.request!.otlp);
  assert.ok(Array.isArray(whole.request!.messages[1].fields));
});

test('a gRPC path named like the members of every object (__proto__, constructor, toString) is read by no reader, as any call is, nothing thrown', () => {
  for (const path of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    const call = grpcCall(path, [len(1, 'x')], [len(1, 'y')]);
    assert.equal(call.protocol, 'grpc');
    assert.equal(call.request!.otlp, undefined);
    assert.equal(call.response!.otlp, undefined);
  }
});

test('the listed services, metric names and Loki label sets are bounded, and a list cut by its bound says so', async () => {
  const { readProtobufPush } = await import('../../src/dissect/protocols/loki-push.js');
  const resources = Array.from({ length: 25 }, (_, i) => len(1, Buffer.concat([resource(`svc-${i}`), len(2, span('s'))])));
  const traces = readProtobuf(Buffer.concat(resources), 'traces');
  assert.equal(traces.services.length, 20);
  assert.equal(traces.servicesTruncated, true);
  assert.equal(traces.spans, 25, 'the counts are whole');
  const streams = Array.from({ length: 21 }, (_, i) => len(1, len(1, `{i="${i}"}`)));
  const loki = readProtobufPush(Buffer.concat(streams));
  assert.equal(loki.labels.length, 20);
  assert.equal(loki.labelsTruncated, true);
  assert.equal(loki.streams, 21);
});
