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

test('export --har | head: a reader that leaves ends the export quietly (exit 0)', async () => {
  const r = await runShell(`node bin/run.js export --har ${sharedCapture('lab-bookinfo-mix.pcap')} | head -c 200 > /dev/null; echo "status=\${PIPESTATUS[0]}"`);
  assert.match(r.stdout, /status=0/);
  assert.doesNotMatch(r.stderr, /EPIPE|Error/);
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
