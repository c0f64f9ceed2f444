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
