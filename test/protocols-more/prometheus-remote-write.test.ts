// Prometheus remote write, recorded from Debian's prometheus (2.42) writing to a receiver built on
// python3-snappy (scripts/lab/record-more.sh prometheus): one endpoint takes every batch (204), one
// refuses it (400). The oracle is independent of shark at every step: tshark reassembles the TCP
// streams, python-snappy (Google's library) unpacks the bodies, and a few lines of python count the
// WriteRequest's series, samples, metadata and metric names.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';
import { followTcp, tcpStreamCount } from '../protocols/helpers.js';
import { readWriteRequest } from '../../src/dissect/protocols/prometheus-remote-write.js';
import { http1 } from '../../src/dissect/protocols/http1.js';
import { http2 } from '../../src/dissect/protocols/http2.js';
import { snappyBlock } from '../helpers/snappy-block.js';
import { len, varint } from '../helpers/protobuf-wire.js';
import { Flags, FrameType, h2frame, hpack, preface, settings } from '../helpers/http2-wire.js';
import { fakeContext, feed } from '../protocols/helpers.js';

const capture = join(repoRoot, 'test', 'fixtures', 'captures', 'lab-prometheus-remote-write.pcap');

/** Every HTTP/1 request body in the capture's client bytes, by tshark's reassembly (Content-Length framed). */
function requestBodies(): Array<{ path: string; body: Buffer }> {
  const out: Array<{ path: string; body: Buffer }> = [];
  for (let stream = 0; stream < tcpStreamCount(capture); stream++) {
    let bytes = Buffer.concat(followTcp(capture, stream).filter((s) => s.dir === 'c2s').map((s) => s.data));
    while (bytes.length > 0) {
      const headEnd = bytes.indexOf('\r\n\r\n');
      if (headEnd < 0) break;
      const head = bytes.subarray(0, headEnd).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      out.push({ path: head.split(' ')[1], body: bytes.subarray(headEnd + 4, headEnd + 4 + length) });
      bytes = bytes.subarray(headEnd + 4 + length);
    }
  }
  return out;
}

/** python-snappy's unpacking, and a count of the WriteRequest written from the proto definitions. */
const ORACLE = `
import json, sys, snappy
def varint(b, p):
    v = s = 0
    while True:
        c = b[p]; p += 1; v |= (c & 0x7f) << s; s += 7
        if c < 0x80: return v, p
def fields(b):
    p = 0
    while p < len(b):
        k, p = varint(b, p); w = k & 7
        if w == 0: _, p = varint(b, p); yield k >> 3, None
        elif w == 1: p += 8; yield k >> 3, None
        elif w == 5: p += 4; yield k >> 3, None
        elif w == 2:
            n, p = varint(b, p); yield k >> 3, b[p:p + n]; p += n
        else: raise ValueError(w)
out = []
for hexbody in json.load(sys.stdin):
    raw = snappy.uncompress(bytes.fromhex(hexbody))
    r = {"raw": raw.hex(), "series": 0, "samples": 0, "metadata": 0, "metrics": []}
    for f, v in fields(raw):
        if f == 3: r["metadata"] += 1
        if f != 1: continue
        r["series"] += 1
        for g, w in fields(v):
            if g == 2: r["samples"] += 1
            if g == 1:
                label = dict(fields(w))
                if label.get(1) == b"__name__" and label[2].decode() not in r["metrics"]: r["metrics"].append(label[2].decode())
    out.append(r)
json.dump(out, sys.stdout)
`;

test('remote write from a real Prometheus: every batch unpacked as python-snappy unpacks it, its series, samples and metrics counted', async () => {
  const bodies = requestBodies();
  assert.ok(bodies.length >= 5, `${bodies.length} writes recorded`);
  const py = spawnSync('/usr/bin/python3', ['-c', ORACLE], { input: JSON.stringify(bodies.map((b) => b.body.toString('hex'))), maxBuffer: 64 << 20 });
  assert.equal(py.status, 0, py.stderr.toString());
  const expected = JSON.parse(py.stdout.toString()) as Array<{ raw: string; series: number; samples: number; metadata: number; metrics: string[] }>;

  const r = await runCli(['dissect', '--max-body', '1MB', capture]);
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(entries.length, bodies.length, 'one entry a write');
  // Entries come in request order, the bodies stream by stream: each entry is matched by its path and unpacked body.
  const unmatched = new Map<string, number>();
  bodies.forEach((b, i) => unmatched.set(`${b.path} ${expected[i].raw}`, i));
  for (const e of entries) {
    assert.equal(e.request.headers['content-encoding'], 'snappy');
    const key = `${e.request.path} ${Buffer.from(e.request.body, 'base64').toString('hex')}`;
    const i = unmatched.get(key);
    assert.ok(i !== undefined, `${e.summary}: its body is a WriteRequest python-snappy unpacked from the same path`);
    unmatched.delete(key);
    const want = expected[i];
    const rw = e.request.remoteWrite;
    assert.deepEqual(
      { series: rw.series, samples: rw.samples, metadata: rw.metadata, metrics: rw.metrics },
      { series: want.series, samples: want.samples, metadata: want.metadata, metrics: want.metrics.slice(0, 50) },
      `write ${i}`,
    );
    assert.equal(rw.metricsTruncated, want.metrics.length > 50 ? true : undefined);
    assert.equal(rw.version, '1.0');
    assert.equal(rw.incomplete, undefined);
    const status = bodies[i].path === '/api/v1/reject' ? 400 : 204;
    assert.equal(e.response.status, status);
    const counts = want.series > 0 ? `${want.series} series, ${want.samples} samples` : `0 series, 0 samples, ${want.metadata} metadata`;
    assert.equal(e.summary, `POST ${bodies[i].path} (${counts}) → ${status}`);
  }
  assert.equal(unmatched.size, 0);
  assert.ok(expected.some((w) => w.metadata > 0), 'a metadata batch was recorded');
  assert.ok(entries.some((e) => e.response.status === 400 && /out of order/.test(e.response.body)), "the refusal's text is shown");
  // The bearer token and the basic-auth password Prometheus was given are credentials.
  assert.ok(!r.stdout.includes('lab-remote-write-token') && !r.stdout.includes('bGFiOmxhYi1yZW1vdGUtd3JpdGUtcGFzc3dvcmQ'), 'credentials redacted');

  // At the default --max-body (16 KB) the bodies are cut where they are kept, but the counts are the whole batch's.
  const small = await runCli(['dissect', capture]);
  const cut = small.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(cut.some((e) => e.request.bodyTruncated), 'some batch is past 16 KB unpacked');
  assert.deepEqual(
    cut.map((e) => [e.request.remoteWrite.series, e.request.remoteWrite.samples]),
    entries.map((e) => [e.request.remoteWrite.series, e.request.remoteWrite.samples]),
  );
});

/** Builders for the cases the recorded Prometheus does not send. */
const sample = (value: number, ts: number): Buffer => {
  const v = Buffer.alloc(9);
  v[0] = (1 << 3) | 1;
  v.writeDoubleLE(value, 1);
  return Buffer.concat([v, Buffer.from([(2 << 3) | 0, ...varint(ts)])]);
};

test('remote write 2.0: metric names through the symbol table; histograms, exemplars and metadata counted', () => {
  const symbols = ['', '__name__', 'http_requests_total', 'job', 'api', 'latency_seconds'];
  const refs = (pairs: number[]): Buffer => len(1, Buffer.from(pairs.flatMap(varint)));
  const series1 = Buffer.concat([refs([1, 2, 3, 4]), len(2, sample(1, 1_700_000_000_000)), len(2, sample(2, 1_700_000_001_000)), len(4, Buffer.alloc(0)), len(5, Buffer.from([8, 1]))]);
  const series2 = Buffer.concat([refs([1, 5, 3, 4]), len(3, Buffer.from([8, 1])), (() => Buffer.from([(6 << 3) | 0, ...Array(9).fill(0xff), 0x01]))()]);
  const body = Buffer.concat([...symbols.map((s) => len(4, s)), len(5, series1), len(5, series2)]);
  assert.deepEqual(readWriteRequest(body, '2.0'), {
    version: '2.0',
    series: 2,
    samples: 2,
    histograms: 1,
    exemplars: 1,
    metadata: 1,
    metrics: ['http_requests_total', 'latency_seconds'],
  });
});

test('a malformed or cut WriteRequest gives what was read, marked incomplete, and never throws', () => {
  const series = len(1, Buffer.concat([len(1, Buffer.concat([len(1, '__name__'), len(2, 'up')])), len(2, sample(1, 1))]));
  const whole = Buffer.concat([series, series]);
  for (let cut = 0; cut < whole.length; cut++) {
    const r = readWriteRequest(whole.subarray(0, cut), '1.0');
    assert.ok(r.series <= 2);
    if (cut < whole.length && cut !== series.length && cut !== 0) assert.equal(r.incomplete, true, `cut at ${cut}`);
  }
  assert.deepEqual(readWriteRequest(whole, '1.0').metrics, ['up']);
  // A group wire type, a length past the end, a varint that never ends.
  for (const bad of [Buffer.from([0x0b]), Buffer.from([0x0a, 0x7f, 0x01]), Buffer.alloc(20, 0xff)]) {
    assert.equal(readWriteRequest(bad, '1.0').incomplete, true);
    assert.equal(readWriteRequest(bad, '2.0').incomplete, true);
  }
});

test('remote write over HTTP/2 (a receiver behind an h2 proxy): counted from the unpacked DATA frames', () => {
  const series = (name: string) => len(1, Buffer.concat([len(1, Buffer.concat([len(1, '__name__'), len(2, name)])), len(2, sample(1, 1)), len(2, sample(2, 2))]));
  const write = Buffer.concat([series('up'), series('scrape_duration_seconds')]);
  const block = snappyBlock(write);
  const headers = Buffer.concat([
    hpack.indexed(3), hpack.indexed(6), hpack.literalNamed(4, '/api/v1/push'), hpack.literalNamed(1, 'mimir'),
    hpack.literalNamed(31, 'application/x-protobuf'), hpack.literal('content-encoding', 'snappy'), hpack.literal('x-prometheus-remote-write-version', '0.1.0'),
  ]);
  const ctx = fakeContext();
  feed(http2.createTcpParser!(ctx), ctx, [
    { dir: 'c2s', data: Buffer.concat([preface(), h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, headers), h2frame(FrameType.DATA, Flags.END_STREAM, 1, block)]) },
    { dir: 's2c', data: Buffer.concat([settings(), h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, hpack.literalNamed(8, '204'))]) },
  ], 'random');
  assert.equal(ctx.calls.length, 1);
  const call = ctx.calls[0];
  assert.deepEqual(call.request!.remoteWrite, { version: '1.0', series: 2, samples: 4, histograms: 0, exemplars: 0, metadata: 0, metrics: ['up', 'scrape_duration_seconds'] });
  assert.equal(Buffer.from(call.request!.body, 'base64').toString('hex'), write.toString('hex'));
  assert.match(call.summary, /^POST \/api\/v1\/push \(2 series, 4 samples\) → 204$/);
});

test('a batch past --max-body is counted whole (HTTP/1 and HTTP/2); the body shown is still cut, and other bodies are kept only to --max-body', () => {
  // 400 series of distinct names, random enough that the snappy block stays far past 16 KB.
  let seed = 7;
  const word = () => Array.from({ length: 24 }, () => ((seed = (seed * 48271) % 2147483647), 'abcdefghijklmnopqrstuvwxyz_'[seed % 27])).join('');
  const names = Array.from({ length: 400 }, (_, i) => `m${i}_${word()}${word()}`);
  const write = Buffer.concat(names.map((name, i) => len(1, Buffer.concat([len(1, Buffer.concat([len(1, '__name__'), len(2, name)])), len(2, sample(i, 1_700_000_000_000 + i))]))));
  const block = snappyBlock(write);
  const maxBody = 16 * 1024;
  assert.ok(block.length > 2 * maxBody, `the batch is ${block.length} bytes packed`);
  const expected = { version: '1.0', series: 400, samples: 400, histograms: 0, exemplars: 0, metadata: 0 };

  const ctx = fakeContext({ maxBody });
  const head = `POST /api/v1/write HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: ${block.length}\r\n\r\n`;
  const other = Buffer.alloc(3 * maxBody, 'x');
  const otherHead = `POST /upload HTTP/1.1\r\nHost: receiver\r\nContent-Type: text/plain\r\nContent-Length: ${other.length}\r\n\r\n`;
  feed(http1.createTcpParser!(ctx), ctx, [
    { dir: 'c2s', data: Buffer.concat([Buffer.from(head), block]) },
    { dir: 's2c', data: Buffer.from('HTTP/1.1 204 No Content\r\n\r\n') },
    { dir: 'c2s', data: Buffer.concat([Buffer.from(otherHead), other]) },
    { dir: 's2c', data: Buffer.from('HTTP/1.1 204 No Content\r\n\r\n') },
  ], 'random');
  assert.equal(ctx.calls.length, 2);
  const [batch, upload] = ctx.calls;
  const { metrics, metricsTruncated, ...counts } = batch.request!.remoteWrite;
  assert.deepEqual(counts, expected, 'counted whole, not marked incomplete');
  assert.equal(metrics.length, 50);
  assert.equal(metricsTruncated, true);
  assert.equal(batch.summary, 'POST /api/v1/write (400 series, 400 samples) → 204');
  assert.equal(Buffer.from(batch.request!.body, 'base64').length, maxBody, 'the body shown is cut at --max-body');
  assert.equal(batch.request!.bodyTruncated, true);
  assert.equal(batch.request!.bodySize, block.length);
  assert.equal(upload.request!.body.length, maxBody);
  assert.equal(upload.request!.bodySize, other.length);

  const headers = Buffer.concat([
    hpack.indexed(3), hpack.indexed(6), hpack.literalNamed(4, '/api/v1/write'), hpack.literalNamed(1, 'receiver'),
    hpack.literalNamed(31, 'application/x-protobuf'), hpack.literal('content-encoding', 'snappy'), hpack.literal('x-prometheus-remote-write-version', '0.1.0'),
  ]);
  const frames: Buffer[] = [];
  for (let at = 0; at < block.length; at += 16_000) frames.push(h2frame(FrameType.DATA, at + 16_000 >= block.length ? Flags.END_STREAM : 0, 1, block.subarray(at, at + 16_000)));
  const h2 = fakeContext({ maxBody });
  feed(http2.createTcpParser!(h2), h2, [
    { dir: 'c2s', data: Buffer.concat([preface(), h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, headers), ...frames]) },
    { dir: 's2c', data: Buffer.concat([settings(), h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, hpack.literalNamed(8, '204'))]) },
  ], 'random');
  assert.equal(h2.calls.length, 1);
  assert.equal(h2.calls[0].request!.remoteWrite.series, 400);
  assert.equal(h2.calls[0].request!.remoteWrite.incomplete, undefined);
});

// Loki pushes: the protobuf form is snappy-packed with no Content-Encoding (Promtail's client sends it so).

function lokiPost(path: string, contentType: string, body: Buffer) {
  const ctx = fakeContext({ maxBody: 1 << 20 });
  const head = `POST ${path} HTTP/1.1\r\nHost: loki\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`;
  feed(http1.createTcpParser!(ctx), ctx, [
    { dir: 'c2s', data: Buffer.concat([Buffer.from(head), body]) },
    { dir: 's2c', data: Buffer.from('HTTP/1.1 204 No Content\r\n\r\n') },
  ], 'random');
  assert.equal(ctx.calls.length, 1);
  return ctx.calls[0];
}

test('Loki pushes, protobuf (snappy without Content-Encoding) and JSON: streams, lines, bytes and labels', () => {
  const entry = (line: string) => len(2, Buffer.concat([len(1, Buffer.from([0x08, ...varint(1_700_000_000)])), len(2, line)]));
  const lines = ['level=info msg="started"', 'level=warn msg="slow query" ms=812', 'GET /healthz 200'];
  const push = Buffer.concat([
    len(1, Buffer.concat([len(1, '{job="api", namespace="shop"}'), entry(lines[0]), entry(lines[1])])),
    len(1, Buffer.concat([len(1, '{job="ingress"}'), entry(lines[2])])),
  ]);
  const call = lokiPost('/loki/api/v1/push', 'application/x-protobuf', snappyBlock(push));
  assert.deepEqual(call.request!.lokiPush, {
    format: 'protobuf', streams: 2, entries: 3, bytes: lines.join('').length, labels: ['{job="api", namespace="shop"}', '{job="ingress"}'],
  });
  assert.equal(Buffer.from(call.request!.body, 'base64').toString('hex'), push.toString('hex'), 'the body is the unpacked PushRequest');
  assert.equal(call.summary, 'POST /loki/api/v1/push (2 streams, 3 lines) → 204');

  const json = { streams: [{ stream: { job: 'api' }, values: [['1700000000000000000', 'one'], ['1700000000000000001', 'two']] }] };
  const jsonCall = lokiPost('/loki/api/v1/push', 'application/json', Buffer.from(JSON.stringify(json)));
  assert.deepEqual(jsonCall.request!.lokiPush, { format: 'json', streams: 1, entries: 2, bytes: 6, labels: ['{job="api"}'] });

  // Not Loki's path, or a body that is not snappy: left as it came.
  assert.equal(lokiPost('/other', 'application/x-protobuf', snappyBlock(push)).request!.lokiPush, undefined);
  const notSnappy = lokiPost('/loki/api/v1/push', 'application/x-protobuf', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
  assert.equal(notSnappy.request!.lokiPush, undefined);
  assert.equal(notSnappy.request!.body, undefined, 'bytes claimed to be snappy that do not unpack are not shown');
});
