import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { runCli, runShell } from '../helpers/cli.js';
import { examplesDir, sharedCapture } from '../helpers/paths.js';
import { harEntry } from '../../src/catalog/har.js';
import { httpCall } from './entries.js';

const require = createRequire(import.meta.url);
// ajv-formats is CommonJS with a default export.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

/** The HAR 1.2 JSON Schema (har-schema, draft-06, the one har-validator uses), with formats checked. */
function harValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
  addFormats(ajv);
  const schemas = require('har-schema') as Record<string, object>;
  for (const [name, schema] of Object.entries(schemas)) if (name !== 'har') ajv.addSchema(schema);
  // Not a type guard: narrowing `any` to `unknown` would only get in the way.
  return ajv.compile(schemas.har) as unknown as ((data: unknown) => boolean) & { errors?: unknown[] | null };
}

async function exportHar(file: string): Promise<{ har: any; stderr: string }> {
  const r = await runCli(['export', '--har', file]);
  assert.equal(r.code, 0, r.stderr);
  return { har: JSON.parse(r.stdout) as any, stderr: r.stderr };
}

async function dissectHttp(file: string): Promise<any[]> {
  const r = await runCli(['dissect', file]);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => ['http', 'http2', 'grpc', 'graphql'].includes(e.protocol) && e.request);
}

test('HAR of examples/bookinfo-mix.pcap is valid HAR 1.2 with capture times', async () => {
  const validate = harValidator();
  const { har, stderr } = await exportHar(join(examplesDir, 'bookinfo-mix.pcap'));
  assert.ok(validate(har), JSON.stringify(validate.errors?.slice(0, 3)));
  const entries = await dissectHttp(join(examplesDir, 'bookinfo-mix.pcap'));
  assert.equal(har.log.entries.length, entries.length);
  assert.match(stderr, /entries of other protocols .* skipped/);
  for (let i = 0; i < entries.length; i++) {
    const h = har.log.entries[i];
    const e = entries[i];
    assert.equal(h.startedDateTime, new Date(e.timestamp).toISOString());
    assert.equal(h.time, e.response ? e.elapsedTime : 0);
    assert.equal(h.request.method, e.request.method);
    assert.ok(h.request.url.endsWith(e.request.url), `${h.request.url} vs ${e.request.url}`);
    assert.equal(h.response.status, e.response?.status ?? 0);
    assert.equal(h.serverIPAddress, e.dst.ip);
  }
  const details = har.log.entries.find((h: any) => h.request.url.endsWith('/details/0'));
  assert.equal(details.response.content.mimeType, 'application/json');
  assert.equal(JSON.parse(details.response.content.text).author, 'William Shakespeare');
});

for (const name of ['arkime-http2-nghttp2.pcap', 'deepflow-grpc-service-name.pcap', 'suricata-http2-range.pcap', 'arkime-wireshark-retrans.pcap']) {
  test(`HAR of the shared capture ${name} (HTTP/2, gRPC, retransmissions) validates`, async () => {
    const validate = harValidator();
    const { har } = await exportHar(sharedCapture(name));
    assert.ok(har.log.entries.length > 0);
    assert.ok(validate(har), JSON.stringify(validate.errors?.slice(0, 3)));
    const entries = await dissectHttp(sharedCapture(name));
    assert.equal(har.log.entries.length, entries.length);
    if (name.includes('grpc')) assert.ok(har.log.entries.every((h: any) => h.request.method === 'POST' && h.request.httpVersion === 'HTTP/2.0'));
  });
}

test('unanswered calls, bodies over --max-body and query strings are valid HAR too', () => {
  const validate = harValidator();
  const entries = [
    harEntry(httpCall({ path: '/a', query: { q: 'x y', page: '2' }, i: 1 }), { maxBody: 10, creatorVersion: 't' }),
    harEntry(httpCall({ path: '/b', unanswered: true, i: 2 }), { maxBody: 10, creatorVersion: 't' }),
    harEntry(httpCall({ method: 'POST', path: '/c', requestBody: { long: 'x'.repeat(100) }, responseBody: { ok: true }, i: 3 }), { maxBody: 10, creatorVersion: 't' }),
  ];
  const har = { log: { version: '1.2', creator: { name: 'shark', version: 't' }, pages: [], entries } };
  assert.ok(validate(har), JSON.stringify(validate.errors?.slice(0, 3)));
  // The validator does reject what is not HAR: an entry without its timings, a date that is not one.
  assert.ok(!validate({ log: { ...har.log, entries: [{ ...entries[0], timings: undefined }] } }));
  assert.ok(!validate({ log: { ...har.log, entries: [{ ...entries[0], startedDateTime: 'yesterday' }] } }));
  assert.deepEqual(entries[0]!.request, { ...(entries[0]!.request as object), queryString: [{ name: 'q', value: 'x y' }, { name: 'page', value: '2' }] });
  assert.equal((entries[1]!.response as any).status, 0);
  const post = entries[2]!.request as any;
  assert.equal(post.postData.text.length, 10);
  assert.equal(post.postData._truncated, true);
});

test('damaged or hostile targets, Host headers and statuses still make valid HAR: URLs percent-encoded, statuses whole numbers', () => {
  const validate = harValidator();
  const opts = { maxBody: 10, creatorVersion: 't' };
  const call = (i: number, request: Record<string, unknown>, status: unknown = 200) => {
    const e = httpCall({ path: '/', i });
    Object.assign(e.request!, request);
    (e.response as any).status = status;
    return harEntry(e, opts)!;
  };
  const cases: [Record<string, unknown>, string][] = [
    // What editcap -E made of real captures' Host headers and targets.
    [{ url: '/missing', headers: { host: '198.18.0%\u00000' } }, 'http://10.1.0.2:8080/missing'],
    [{ url: '/HTTP/1.1\\x\u00daHost:\n', headers: { host: 'www.google.com' } }, 'http://www.google.com/HTTP/1.1%5Cx%C3%9AHost:%0A'],
    [{ url: '/a b/%zz?q=1 2#frag', headers: { host: 'w\ufffdw.example.com' } }, 'http://10.1.0.2:8080/a%20b/%25zz?q=1%202%23frag'],
    // A Host that is no host name gives way to the server's address; an IPv6 literal is kept; an absolute-form target re-encoded.
    [{ url: '/', headers: { host: 'a:b:c' } }, 'http://10.1.0.2:8080/'],
    // A name that ends in a number is an IPv4 address to a URL parser: this one is none.
    [{ url: '/', headers: { host: '198.18.0.1000' } }, 'http://10.1.0.2:8080/'],
    [{ url: '/', headers: { host: 'orders.shop.svc:8080' } }, 'http://orders.shop.svc:8080/'],
    [{ url: '/', headers: { host: '[2001:db8::1]:8080' } }, 'http://[2001:db8::1]:8080/'],
    [{ url: 'http://proxy user:[REDACTED]@h x:80/p q', headers: { host: 'ignored' } }, 'http://proxy%20user:%5BREDACTED%5D@10.1.0.2:8080/p%20q'],
    [{ url: '/\ud83d\ude00\ud800', headers: { host: 'h' } }, 'http://h/%F0%9F%98%80%EF%BF%BD'],
    // CONNECT's authority-form target is the URL (no path under the proxy's Host).
    [{ method: 'CONNECT', url: 'api.example:443', headers: { host: 'proxy:3128' } }, 'http://api.example:443'],
  ];
  const entries = cases.map(([request], i) => call(i, { ...request, host: undefined }));
  for (const [i, [, url]] of cases.entries()) assert.equal((entries[i].request as any).url, url, `case ${i}`);
  // Statuses the dissectors could not read: NaN (once, from a damaged HTTP/2 :status), a string, a fraction.
  entries.push(call(90, {}, NaN), call(91, {}, '2x0'), call(92, {}, 200.5), call(93, {}, '404'));
  assert.deepEqual(entries.slice(-4).map((e) => (e.response as any).status), [0, 0, 0, 404]);
  const har = { log: { version: '1.2', creator: { name: 'shark', version: 't' }, pages: [], entries } };
  assert.ok(validate(har), JSON.stringify(validate.errors?.slice(0, 3)));
  for (const e of entries) assert.doesNotThrow(() => new URL((e.request as any).url));
});

test('HAR of captures with damaged bytes (editcap -E) validates', async () => {
  const validate = harValidator();
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { execFileSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'shark-har-damaged-'));
  try {
    let entries = 0;
    for (const [name, seed] of [['zeek-http-methods.pcap', '11'], ['lab-bookinfo-mix.pcap', '3']]) {
      const damaged = join(dir, `${seed}-${name}ng`);
      execFileSync('editcap', ['-E', '0.01', '--seed', seed, sharedCapture(name), damaged], { stdio: 'ignore' });
      const { har } = await exportHar(damaged);
      entries += har.log.entries.length;
      assert.ok(validate(har), `${name} -E seed ${seed}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
    }
    assert.ok(entries > 100, `entries were exported (${entries})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export without --har is a usage error', async () => {
  const r = await runCli(['export', join(examplesDir, 'bookinfo-mix.pcap')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--har/);
});

test('export --har 2>&1 | head: a reader that leaves ends the export quietly (exit 0), also when stderr went with stdout', async () => {
  // 2>&1: the summary written to stderr at the end meets the closed pipe too (it ended the process with status 1).
  const r = await runShell(`node bin/run.js export --har ${sharedCapture('lab-bookinfo-mix.pcap')} 2>&1 | head -c 200 > /dev/null; echo "status=\${PIPESTATUS[0]}"`);
  assert.match(r.stdout, /status=0/);
});

test('a body given as JSON nested 5000 levels deep is cut whole, not a crash', () => {
  const e = httpCall({ method: 'POST', path: '/c', responseBody: { ok: true }, i: 4 });
  (e.request as Record<string, unknown>).body = JSON.parse('['.repeat(5000) + ']'.repeat(5000));
  const har = harEntry(e, { maxBody: 1 << 20, creatorVersion: 't' }) as any;
  assert.deepEqual({ ...har.request.postData, mimeType: undefined }, { mimeType: undefined, text: '', _truncated: true });
  // A shallow one is written as JSON.
  (e.request as Record<string, unknown>).body = [[1]];
  assert.equal((harEntry(e, { maxBody: 1 << 20, creatorVersion: 't' }) as any).request.postData.text, '[[1]]');
});

test('a gzip response: content.size is the decoded length tshark finds, bodySize the bytes on the wire, compression the difference', async () => {
  const { execFileSync } = await import('node:child_process');
  const capture = join(examplesDir, 'bookinfo-mix.pcap');
  // tshark's de-chunked, decompressed body per response (its text output escapes \n, \r, \t and \\).
  const decoded = new Map<string, number>();
  const fields = execFileSync('tshark', ['-r', capture, '-Y', 'http.response and http.content_encoding == "gzip"', '-T', 'fields', '-e', 'http.response_for.uri', '-e', 'http.file_data'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  for (const line of fields.split('\n').filter(Boolean)) {
    const [uri, text] = line.split('\t');
    const raw = text.replace(/\\(.)/g, (_m, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c);
    decoded.set(new URL(uri).pathname, Buffer.byteLength(raw, 'utf8'));
  }
  assert.ok(decoded.size >= 3, `tshark found gzip responses: ${[...decoded.keys()].join(', ')}`);
  const { har } = await exportHar(capture);
  const gzip = har.log.entries.filter((h: any) => h.response.headers.some((x: any) => x.name === 'content-encoding' && x.value === 'gzip'));
  assert.ok(gzip.length >= 3);
  for (const h of gzip) {
    const size: number = h.response.content.size;
    const compression: number = h.response.content.compression;
    const path = new URL(h.request.url).pathname;
    assert.equal(size, decoded.get(path), `${path}: content.size is the decoded length`);
    assert.ok(h.response.bodySize > 0 && h.response.bodySize < size, `${path}: bodySize ${h.response.bodySize} is the smaller wire size`);
    assert.equal(compression, size - h.response.bodySize, path);
  }
  // A response without a content-encoding: size is bodySize and nothing was saved.
  const plain = har.log.entries.find((h: any) => h.request.url.endsWith('/details/0'));
  assert.equal(plain.response.content.size, plain.response.bodySize);
  assert.equal(plain.response.content.compression, undefined);
});

test('a binary request body is base64 and postData says so, as content does; cut, it still decodes', () => {
  const validate = harValidator();
  const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]);
  const e = httpCall({ method: 'POST', path: '/upload', responseBody: { ok: true }, i: 5 });
  Object.assign(e.request!, { body: bytes.toString('base64'), bodyEncoding: 'base64', bodySize: bytes.length, headers: { host: 'orders:8080', 'content-type': 'application/octet-stream' } });
  const whole = harEntry(e, { maxBody: 1 << 20, creatorVersion: 't' }) as any;
  assert.equal(whole.request.postData.encoding, 'base64');
  assert.deepEqual(Buffer.from(whole.request.postData.text, 'base64'), bytes);
  const cut = harEntry(e, { maxBody: 10, creatorVersion: 't' }) as any;
  assert.equal(cut.request.postData.encoding, 'base64');
  assert.equal(cut.request.postData._truncated, true);
  assert.equal(cut.request.postData.text.length % 4, 0);
  assert.deepEqual(Buffer.from(cut.request.postData.text, 'base64'), bytes.subarray(0, 6));
  // A text body says nothing of an encoding.
  const text = harEntry(httpCall({ method: 'POST', path: '/c', requestBody: { a: 1 }, i: 6 }), { maxBody: 1 << 20, creatorVersion: 't' }) as any;
  assert.equal(text.request.postData.encoding, undefined);
  const har = { log: { version: '1.2', creator: { name: 'shark', version: 't' }, pages: [], entries: [whole, cut, text] } };
  assert.ok(validate(har), JSON.stringify(validate.errors?.slice(0, 3)));
});

test('a gRPC call: postData and content hold its decoded messages as JSON, with a comment saying so, not an empty text', async () => {
  const validate = harValidator();
  const capture = sharedCapture('deepflow-grpc-service-name.pcap');
  const r = await runCli(['export', '--har', '-d', 'tcp.port==38888,http2', capture]);
  assert.equal(r.code, 0, r.stderr);
  const har = JSON.parse(r.stdout);
  assert.ok(validate(har), JSON.stringify(validate.errors?.slice(0, 3)));
  const [entry] = await (async () => {
    const d = await runCli(['dissect', '-d', 'tcp.port==38888,http2', capture]);
    return d.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.protocol === 'grpc');
  })();
  const h = har.log.entries.find((x: any) => x._shark.id === entry.id);
  assert.equal(h.request.postData.mimeType, 'application/grpc', 'the wire type stays');
  assert.deepEqual(JSON.parse(h.request.postData.text), entry.request.messages);
  assert.match(h.request.postData.comment, /gRPC messages as shark decoded them/);
  assert.ok(h.request.postData.text.includes('Client Stream Message 0'));
  assert.deepEqual(JSON.parse(h.response.content.text), entry.response.messages);
  assert.match(h.response.content.comment, /gRPC messages/);
  assert.equal(h.response.content.encoding, undefined);
  assert.equal(h.response.content.size, entry.response.bodySize, 'size: the bytes on the wire');
});

test('HTTP/2 requests list their pseudo-headers first (:method, :authority, :scheme, :path) and responses :status, as browsers write them; HTTP/1 ones none', async () => {
  const validate = harValidator();
  const { har } = await exportHar(sharedCapture('arkime-http2-nghttp2.pcap'));
  assert.ok(validate(har), JSON.stringify(validate.errors?.slice(0, 3)));
  const h = har.log.entries.find((x: any) => x.request.url === 'http://nghttp2.org/');
  assert.deepEqual(h.request.headers.slice(0, 4), [
    { name: ':method', value: 'GET' },
    { name: ':authority', value: 'nghttp2.org' },
    { name: ':scheme', value: 'http' },
    { name: ':path', value: '/' },
  ]);
  assert.deepEqual(h.response.headers[0], { name: ':status', value: String(h.response.status) });
  const grpc = harEntry({ ...httpCall({ path: '/shop.Orders/Get', i: 7 }), protocol: 'grpc', request: { ...httpCall({ path: '/shop.Orders/Get', i: 7 }).request, method: 'Get', httpMethod: 'POST', httpVersion: 'HTTP/2.0' } } as any, { maxBody: 100, creatorVersion: 't' }) as any;
  assert.deepEqual(grpc.request.headers[0], { name: ':method', value: 'POST' });
  const http1 = harEntry(httpCall({ path: '/a', i: 8 }), { maxBody: 100, creatorVersion: 't' }) as any;
  assert.ok(http1.request.headers.every((x: any) => !x.name.startsWith(':')));
  assert.ok(http1.response.headers.every((x: any) => !x.name.startsWith(':')));
});
