// HTTP/1.x parser on hand-built messages (every chunking) and on real streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync, deflateSync, brotliCompressSync } from 'node:zlib';
import { http1, probeHttp1, splitTarget, type Http1Parser } from '../../src/dissect/protocols/http1.js';
import { chunkings, fakeContext, feed, tcpCapture, type Segment } from './helpers.js';
import { sharedCapture } from '../helpers/paths.js';

const c2s = (s: string | Buffer): Segment => ({ dir: 'c2s', data: Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1') });
const s2c = (s: string | Buffer): Segment => ({ dir: 's2c', data: Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1') });

function run(segments: Segment[], opts: Parameters<typeof fakeContext>[0] = {}, how: (typeof chunkings)[number] = 'whole') {
  const ctx = fakeContext(opts);
  const parser = http1.createTcpParser!(ctx);
  feed(parser, ctx, segments, how);
  parser.onEnd('eof');
  return ctx;
}

for (const how of chunkings) {
  test(`keep-alive, pipelining, chunked, Content-Length, HEAD/204/304 (${how})`, () => {
    const ctx = run(
      [
        c2s('GET /details/0?x=1&y=a%20b&x=2 HTTP/1.1\r\nHost: details:9080\r\nAccept: a\r\nAccept: b\r\n\r\nHEAD /h HTTP/1.1\r\nHost: h\r\n\r\n'),
        c2s('POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello'),
        s2c('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 9\r\n\r\n{"id":0}\n'),
        s2c('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n'), // HEAD: no body despite the length
        s2c('HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n'),
        c2s('GET /nc HTTP/1.1\r\n\r\nGET /nm HTTP/1.1\r\n\r\n'),
        s2c('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'),
      ],
      {},
      how,
    );
    assert.deepEqual(
      ctx.calls.map((c) => c.summary),
      ['GET /details/0 → 200', 'HEAD /h → 200', 'POST /p → 201', 'GET /nc → 204', 'GET /nm → 304'],
    );
    const [get, head, post] = ctx.calls;
    assert.equal(get.request!.url, '/details/0?x=1&y=a%20b&x=2');
    assert.deepEqual(get.request!.query, { x: ['1', '2'], y: 'a b' });
    assert.equal(get.request!.headers.accept, 'a, b');
    assert.equal(get.request!.host, 'details:9080');
    assert.equal(get.request!.httpVersion, 'HTTP/1.1');
    assert.deepEqual(get.response!.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(get.response!.body, '{"id":0}\n');
    assert.equal(get.response!.contentType, 'application/json');
    assert.equal(get.response!.statusText, 'OK');
    assert.equal(head.response!.bodySize, 0);
    assert.equal(post.request!.body, 'hello');
    assert.equal(post.response!.body, 'Wikipedia');
    assert.equal(post.response!.bodySize, 9);
    assert.ok(ctx.calls.every((c) => c.error === false && c.warnings === undefined), JSON.stringify(ctx.calls.map((c) => c.warnings)));
    // Sizes are wire bytes of each message (head + framing + body).
    assert.equal(post.requestSize, 'POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello'.length);
  });
}

test('100-continue is skipped, 5xx is an error, unanswered requests are emitted at the end', () => {
  const ctx = run([
    c2s('PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n'),
    s2c('HTTP/1.1 100 Continue\r\n\r\n'),
    c2s('ok'),
    s2c('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n'),
    c2s('GET /lost HTTP/1.1\r\n\r\n'),
  ]);
  assert.equal(ctx.calls.length, 2);
  assert.equal(ctx.calls[0].summary, 'PUT /u → 503');
  assert.equal(ctx.calls[0].error, true);
  assert.equal(ctx.calls[0].request!.body, 'ok');
  assert.equal(ctx.calls[1].response, null);
  assert.equal(ctx.calls[1].error, true);
  assert.deepEqual(ctx.calls[1].warnings, ['unanswered']);
});

for (const how of chunkings) {
  test(`Expect: 100-continue answered with a final status: the body never sent, the next request read (${how})`, () => {
    // curl sends a big upload with Expect: 100-continue; the server asks for credentials first, and the
    // client sends the request again on the same connection instead of the body (RFC 9110 §10.1.1).
    const ctx = run([
      c2s('POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 20000\r\n\r\n'),
      s2c('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'),
      c2s('POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eA==\r\nExpect: 100-continue\r\nContent-Length: 20\r\n\r\n'),
      s2c('HTTP/1.1 100 Continue\r\n\r\n'),
      c2s('01234567890123456789'),
      s2c('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n'),
      c2s('PUT /chunked HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n'),
      s2c('HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n'),
      c2s('GET /done HTTP/1.1\r\nHost: x\r\n\r\n'),
      s2c('HTTP/1.1 204 No Content\r\n\r\n'),
    ], {}, how);
    assert.deepEqual(ctx.calls.map((c) => c.summary), ['POST /upload → 401', 'POST /upload → 201', 'PUT /chunked → 413', 'GET /done → 204']);
    assert.deepEqual(ctx.calls.map((c) => c.request!.bodySize), [0, 20, 0, 0]);
    assert.ok(ctx.calls.every((c) => c.warnings === undefined), JSON.stringify(ctx.calls.map((c) => c.warnings)));
  });
}

test('onTick emits requests pending longer than the timeout', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from('GET /slow HTTP/1.1\r\n\r\n'));
  p.onTick!(ctx.now + 500, 1000);
  assert.equal(ctx.calls.length, 0);
  p.onTick!(ctx.now + 5000, 1000);
  assert.equal(ctx.calls.length, 1);
  assert.equal(ctx.calls[0].summary, 'GET /slow → unanswered');
  // Its response, arriving after all, is not paired with the next request.
  p.onData('c2s', Buffer.from('GET /next HTTP/1.1\r\n\r\n'));
  p.onData('s2c', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'));
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['GET /slow → unanswered', '(no request) → 200', 'GET /next → 204']);
  assert.deepEqual(ctx.calls[1].warnings, ['late response']);
});

test('read-until-close bodies and gzip/deflate/br decoding', () => {
  const text = 'x'.repeat(3000) + 'END';
  for (const [enc, data] of [
    ['gzip', gzipSync(text)],
    ['deflate', deflateSync(text)],
    ['br', brotliCompressSync(text)],
  ] as const) {
    const ctx = run([c2s('GET / HTTP/1.0\r\n\r\n'), s2c(Buffer.concat([Buffer.from(`HTTP/1.0 200 OK\r\nContent-Encoding: ${enc}\r\n\r\n`), data]))]);
    assert.equal(ctx.calls.length, 1, enc);
    assert.equal(ctx.calls[0].response!.body, text, enc);
    assert.equal(ctx.calls[0].response!.bodySize, data.length, enc);
  }
});

test('maxBody truncates (counting all bytes), binary is base64, noBodies drops bodies', () => {
  const bin = Buffer.from([0, 1, 2, 3, 255, 254, 0, 7]);
  let ctx = run([c2s('GET /b HTTP/1.1\r\n\r\n'), s2c(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n'), bin]))], { maxBody: 4 });
  assert.equal(ctx.calls[0].response!.bodyEncoding, 'base64');
  assert.deepEqual(Buffer.from(ctx.calls[0].response!.body, 'base64'), bin.subarray(0, 4));
  assert.equal(ctx.calls[0].response!.bodyTruncated, true);
  assert.equal(ctx.calls[0].response!.bodySize, 8);
  ctx = run([c2s('POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc'), s2c('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi')], { noBodies: true });
  assert.equal(ctx.calls[0].request!.body, undefined);
  assert.equal(ctx.calls[0].response!.body, undefined);
  assert.equal(ctx.calls[0].response!.bodySize, 2);
});

test('101 Upgrade: h2c is reported and the connection carries on as HTTP/2 (stream 1 = the upgrade request)', () => {
  const settings = Buffer.from('000000040000000000', 'hex'); // empty SETTINGS
  const headers200 = Buffer.from('00000101050000000188', 'hex'); // HEADERS stream 1, END_STREAM|END_HEADERS, ":status: 200"
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx) as Http1Parser;
  feed(p, ctx, [
    c2s('GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n'),
    s2c(Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'), settings])),
    c2s(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), settings])),
    s2c(headers200),
  ], 'whole');
  p.onEnd('eof');
  assert.equal(p.upgradedTo, 'h2c');
  assert.deepEqual(ctx.calls.map((c) => `${c.protocol} ${c.summary}`), ['http GET /up → 101', 'http2 GET /up → 200']);
  assert.equal(ctx.calls[0].response!.upgrade, 'h2c');
});

test('junk request lines become marked calls, not exceptions; the 400 still pairs', () => {
  const ctx = run([c2s('OPTIONSHTTP/1.1\r\nHost: x\r\n\r\n'), s2c('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')]);
  assert.equal(ctx.calls.length, 1);
  assert.equal(ctx.calls[0].response!.status, 400);
  assert.match(ctx.calls[0].warnings![0], /^malformed: request line/);
  assert.equal(ctx.counters['http.malformed'], 1);
});

test('a gap inside a Content-Length body keeps the framing; a gap in a head resynchronises', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from('GET /a HTTP/1.1\r\n\r\n'));
  p.onData('s2c', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab'));
  p.onGap('s2c', 5);
  p.onData('s2c', Buffer.from('xyz'));
  p.onData('c2s', Buffer.from('GET /b HTTP/1.1\r\nHo'));
  p.onGap('c2s', 100);
  p.onData('c2s', Buffer.from('junk\r\nmore junk\r\nGET /c HTTP/1.1\r\n\r\n'));
  p.onData('s2c', Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'));
  p.onEnd('eof');
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['GET /a → 200', 'GET /b → 404', 'GET /c → unanswered']);
  assert.ok(ctx.calls[0].warnings!.includes('gap'));
  assert.equal(ctx.calls[0].response!.bodySize, 10);
});

test('a response sent first on the "client" side reverses the connection', () => {
  const ctx = run([s2c('GET /r HTTP/1.1\r\n\r\n'), c2s('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')]);
  assert.equal(ctx.calls.length, 1);
  assert.equal(ctx.calls[0].summary, 'GET /r → 200');
  assert.equal(ctx.calls[0].reversed, true);
});

test('an endless head is cut at the cap: a truncated entry and a counter (bounded memory)', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from('GET / HTTP/1.1\r\n'));
  const line = Buffer.from('X-Long: ' + 'a'.repeat(8000) + '\r\n');
  for (let i = 0; i < 100; i++) p.onData('c2s', line);
  p.onEnd('eof');
  assert.equal(ctx.counters['http.head_truncated'], 1);
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['GET / → unanswered']);
});

test('probe: requests, responses, need-more, and non-HTTP', () => {
  assert.equal(probeHttp1(Buffer.from('GET / HTTP/1.1\r\n'), false), 'request');
  assert.equal(probeHttp1(Buffer.from('PROPFIND /x HTTP/1.1\r\n'), false), 'request');
  assert.equal(probeHttp1(Buffer.from('BREW /pot HTTP/1.1\r\n'), false), false);
  assert.equal(probeHttp1(Buffer.from('BREW /pot HTTP/1.1\r\n'), true), 'request');
  assert.equal(probeHttp1(Buffer.from('HTTP/1.1 200 OK\r\n'), false), 'response');
  assert.equal(probeHttp1(Buffer.from('GE'), false), 'need-more');
  assert.equal(probeHttp1(Buffer.from('GET /long/path'), false), 'need-more');
  assert.equal(probeHttp1(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), false), false);
  assert.equal(probeHttp1(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10]), false), false);
  assert.equal(probeHttp1(Buffer.from('*3\r\n$3\r\nSET\r\n'), false), false);
  assert.deepEqual(splitTarget('http://h:1/a/b?q=1#f'), { path: '/a/b', query: { q: '1' } });
});

// Real traffic: the same methods, URIs and status codes tshark finds.
for (const name of ['zeek-http-pipelined-requests.pcap', 'tcpdump-ipv4_tcp_http_xml.pcap']) {
  test(`${name}: requests and responses agree with tshark (every chunking)`, () => {
    const capture = sharedCapture(name);
    const { streams, rows } = tcpCapture(capture, 'tcp', ['http.request.method', 'http.request.uri', 'http.response.code']);
    const expectReq = rows.filter((r) => r[0]).map((r) => `${r[0]} ${r[1]}`);
    const expectRes = rows.filter((r) => r[2]).map((r) => r[2]);
    for (const how of chunkings) {
      const reqs: string[] = [];
      const codes: string[] = [];
      for (const segments of streams.values()) {
        const ctx = fakeContext();
        const p = http1.createTcpParser!(ctx);
        feed(p, ctx, segments, how);
        p.onEnd('eof');
        for (const c of ctx.calls) {
          if (c.request) reqs.push(`${c.request.method} ${c.request.url}`);
          if (c.response) codes.push(String(c.response.status));
          assert.equal(c.warnings, undefined, `${how}: ${c.summary} ${c.warnings}`);
        }
      }
      assert.deepEqual(reqs, expectReq, how);
      assert.deepEqual(codes, expectRes, how);
    }
  });
}

test('GraphQL over HTTP/1: a POST /graphql becomes a graphql entry; errors in the response mark it', () => {
  const query = JSON.stringify({ query: 'query Hero { hero { name } droid { id } }', operationName: 'Hero' });
  const answer = JSON.stringify({ data: null, errors: [{ message: 'boom' }] });
  const ctx = run([
    c2s(`POST /graphql HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: ${query.length}\r\n\r\n${query}`),
    s2c(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`),
  ]);
  assert.equal(ctx.calls.length, 1);
  const call = ctx.calls[0];
  assert.equal(call.protocol, 'graphql');
  assert.equal(call.request!.graphql.operationName, 'Hero');
  assert.equal(call.request!.graphql.operationType, 'query');
  assert.deepEqual(call.request!.graphql.fields, ['hero', 'droid']);
  assert.equal(call.error, true);
  assert.equal(call.response!.status, 200);
});

test('head lines: LF or CRLF, names trimmed and lower-cased, values trimmed of JavaScript whitespace (NBSP too), folding and colon-less lines as before', async () => {
  const { parseHead } = await import('../../src/dissect/protocols/http1.js');
  const head = parseHead(Buffer.from('GET /a HTTP/1.1\r\n X-Early: folded first\r\nHost:  h:80 \r\nX-Tab:\tv\t\nX-NBSP: \xa0v\xa0\r\n  more folding\r\nno colon here\r\n: empty name\r\nX-Colon-Later\r\nnext: a:b\r\nX-Cr: a\rb\r\n\r\n', 'latin1'), true);
  assert.equal(head.method, 'GET');
  // A line that starts with a space before any header is a header (nothing to fold into); later ones are folding, dropped.
  assert.deepEqual(head.headers, { 'x-early': 'folded first', host: 'h:80', 'x-tab': 'v', 'x-nbsp': 'v', next: 'a:b', 'x-cr': 'a\rb' });
  assert.deepEqual(head.warnings, ['malformed: header line'], 'colon-less lines (the next line\'s colon does not count) and an empty name: one warning');
  const bare = parseHead(Buffer.from('HTTP/1.1 204 No Content\r', 'latin1'), false);
  assert.equal(bare.status, 204);
  assert.equal(bare.statusText, 'No Content', 'the start line loses its CR even without an LF');
  assert.deepEqual(bare.headers, {});
});

test('a final response that comes while its request\'s body is still coming (an upload answered early) answers that request', () => {
  const ctx = run([
    c2s('POST /upload HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc'),
    s2c('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n'),
    c2s('defghij'),
    c2s('GET /next HTTP/1.1\r\n\r\n'),
    s2c('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
  ]);
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['POST /upload → 413', 'GET /next → 200']);
  assert.equal(ctx.calls[0].request!.body, 'abcdefghij');
  assert.equal(ctx.calls[0].warnings, undefined);
  assert.equal(ctx.counters['http.early_response'], 1);
});

test('an early response whose request never ends goes out with it, cut short, when the connection ends', () => {
  const ctx = run([
    c2s('PUT /big HTTP/1.1\r\nContent-Length: 1000\r\n\r\nxyz'),
    s2c('HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'),
  ]);
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['PUT /big → 413']);
  assert.deepEqual(ctx.calls[0].warnings, ['truncated']);
});

/** An HTTP/1 parser fed packet by packet: `at(frame, dir, data)` sets the frame and its time (1000 + frame) first. */
function framedParser() {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  const at = (frame: number, dir: 'c2s' | 's2c', data: string): void => {
    ctx.frame = frame;
    ctx.now = 1000 + frame;
    p.onData(dir, Buffer.from(data, 'latin1'));
  };
  return { ctx, p, at };
}

test('an early response keeps its own frame and time; an Expect: 100-continue request whose client closes after a final answer sent no body (nginx: 100 then 201, then 405 and FIN)', () => {
  const { ctx, p, at } = framedParser();
  at(60, 'c2s', 'POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n');
  at(62, 's2c', 'HTTP/1.1 100 Continue\r\n\r\n');
  at(64, 's2c', 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n');
  at(69, 'c2s', 'abcdef');
  at(70, 'c2s', 'POST /index.html HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3000\r\n\r\n');
  at(72, 's2c', 'HTTP/1.1 405 Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  ctx.frame = 73;
  ctx.now = 1073;
  p.onFin!('c2s');
  ctx.frame = 75;
  ctx.now = 1075;
  p.onEnd('fin');
  assert.deepEqual(ctx.calls.map((c) => [c.summary, c.requestFrame, c.responseFrame, c.responseTime! - c.requestTime, c.request!.bodySize, c.warnings]), [
    ['POST /upload → 201', 60, 64, 4, 6, undefined],
    ['POST /index.html → 405', 70, 72, 2, 0, undefined],
  ]);
  assert.equal(ctx.counters['http.expect_body_not_sent'], 1);
});

test('a first request line split over packets is stamped with its first packet, as any later head is (docs/entry.md: frames.request)', () => {
  const { ctx, p, at } = framedParser();
  at(4, 'c2s', 'GET /sp');
  at(5, 'c2s', 'lit HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHo');
  at(6, 'c2s', 'st: x\r\n\r\n');
  at(7, 's2c', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n');
  p.onEnd('eof');
  assert.deepEqual(ctx.calls.map((c) => [c.summary, c.requestFrame, c.requestTime]), [['GET /split → 200', 4, 1004], ['GET /next → 204', 5, 1005]]);
});

test('an early response waits no longer than the request timeout for its request', () => {
  const ctx = fakeContext();
  const p = http1.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from('PUT /slow HTTP/1.1\r\nContent-Length: 100\r\n\r\nab'));
  p.onData('s2c', Buffer.from('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'));
  p.onTick!(ctx.now + 500, 1000);
  assert.equal(ctx.calls.length, 0, 'held for its request');
  assert.ok(p.pendingSince!()! <= ctx.now, 'and the engine knows an entry is still to come');
  p.onTick!(ctx.now + 5000, 1000);
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['(no request) → 401']);
});

test('a response read until the connection closes ends at the server FIN, the frame tshark gives as response_in (not the last ACK)', async () => {
  const { sharedCapture } = await import('../helpers/paths.js');
  const { dissectFile } = await import('../helpers/dissect.js');
  const { parseDecodeAs } = await import('../../src/dissect/decode-as.js');
  const { tsharkFields } = await import('./helpers.js');
  for (const [file, port] of [['zeek-http-port-22.pcap', 22], ['suricata-http-chunked-trailers-lf.pcap', 8008]] as const) {
    const capture = sharedCapture(file);
    const theirs = tsharkFields(capture, 'http.request', ['frame.number', 'http.response_in'], ['-2', '-d', `tcp.port==${port},http`]);
    assert.equal(theirs.length, 1, file);
    const fin = tsharkFields(capture, `tcp.srcport == ${port} && tcp.flags.fin == 1`, ['frame.number']);
    assert.equal(theirs[0][1], fin[0][0], `${file}: tshark ends the body at the FIN`);
    const { entries } = await dissectFile(capture, { decodeAs: [parseDecodeAs(`tcp.port==${port},http`)] });
    const calls = entries.filter((e) => e.protocol === 'http');
    assert.deepEqual(calls.map((e) => [e.frames!.request, e.frames!.response]), [[Number(theirs[0][0]), Number(theirs[0][1])]], file);
  }
});
