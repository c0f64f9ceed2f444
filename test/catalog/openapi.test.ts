import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Catalog } from '../../src/catalog/endpoints.js';
import { openApiDocument, httpServices } from '../../src/catalog/openapi.js';
import { runCli } from '../helpers/cli.js';
import { examplesDir, repoRoot, sharedCapture } from '../helpers/paths.js';
import { httpCall } from './entries.js';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';

/** Validate with a real OpenAPI 3.1 validator (schema of the spec + semantic checks); it mutates, so a copy. */
async function validate(doc: unknown): Promise<void> {
  await SwaggerParser.validate(structuredClone(doc) as never);
}

/** Redocly's linter with its recommended rules: errors fail (warnings such as "no 4XX response" describe the traffic). */
function redoclyLint(doc: unknown): void {
  const dir = mkdtempSync(join(tmpdir(), 's4k-redocly-'));
  try {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = spawnSync(join(repoRoot, 'node_modules', '.bin', 'redocly'), ['lint', '--format', 'json', file], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } });
    const report = JSON.parse(r.stdout) as { totals: { errors: number; warnings: number }; problems: Array<{ ruleId: string; severity: string; message: string }> };
    const errors = report.problems.filter((p) => p.severity === 'error');
    assert.equal(report.totals.errors, 0, errors.map((p) => `${p.ruleId}: ${p.message}`).join('\n'));
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function documentsOf(capture: string): Promise<Record<string, any>[]> {
  const dir = mkdtempSync(join(tmpdir(), 's4k-openapi-'));
  try {
    const r = await runCli(['catalog', '--openapi', '--out', dir, capture]);
    assert.equal(r.code, 0, r.stderr);
    return readdirSync(dir).sort().map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, any>);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('OpenAPI of examples/bookinfo-mix.pcap validates and describes what nginx answered', async () => {
  const docs = await documentsOf(join(examplesDir, 'bookinfo-mix.pcap'));
  assert.equal(docs.length, 2);
  for (const d of docs) {
    await validate(d);
    redoclyLint(d);
  }
  const main = docs.find((d) => d.paths['/productpage'])!;
  assert.equal(main.openapi, '3.1.0');
  const details = main.paths['/details/{id}'].get;
  assert.deepEqual(details.parameters[0], { name: 'id', in: 'path', required: true, schema: { type: 'integer' }, example: 0 });
  const body = details.responses['200'].content['application/json'];
  assert.equal(body.schema.properties.author.type, 'string');
  assert.equal(body.schema.properties.year.type, 'integer');
  assert.ok(body.schema.required.includes('author'));
  assert.equal(typeof body.example.author, 'string');
  assert.ok(main.paths['/ratings/{id}'].get.responses['500']);
  // The login's password and token come out redacted, and not as an enum of "[REDACTED]".
  const login = main.paths['/api/login'].post;
  assert.equal(login.requestBody.content['application/json'].example.password, '[REDACTED]');
  assert.equal(login.requestBody.content['application/json'].schema.properties.password.enum, undefined);
  // Its calls carried "Authorization: Bearer …": the scheme is named, the credential never.
  assert.deepEqual(main.components.securitySchemes, { bearerAuth: { type: 'http', scheme: 'bearer' } });
  assert.deepEqual(login.security, [{ bearerAuth: [] }]);
  assert.deepEqual(main.paths['/productpage'].get.security, []);
});

test('OpenAPI of the shared lab recording (HTTP/1 and HTTP/2 services) validates', async () => {
  const docs = await documentsOf(sharedCapture('lab-bookinfo-mix.pcap'));
  assert.ok(docs.length >= 2, `${docs.length} documents`);
  for (const d of docs) await validate(d);
  const paths = docs.flatMap((d) => Object.keys(d.paths));
  assert.ok(paths.includes('/details/{id}'));
  assert.ok(paths.includes('/login'));
});

test('parameters (path, query, header), request bodies, status codes; required from presence', async () => {
  const c = new Catalog({ details: true });
  const calls = [];
  for (let i = 0; i < 20; i++) {
    calls.push(
      httpCall({
        method: 'POST',
        path: `/api/v1/users/${1000 + i}/orders/7f3c2a10-5b4e-4c1d-9a8e-0d2f6b1c3e5${i % 10}`,
        query: { page: String(i % 3), ...(i % 2 ? { sort: 'asc' } : {}) },
        headers: { 'x-tenant': 'acme', 'content-type': 'application/json', authorization: 'Bearer [REDACTED]' },
        requestBody: { items: [{ sku: `sku-${i}`, qty: i + 1 }], coupon: i % 4 === 0 ? 'WELCOME' : undefined },
        status: i === 7 ? 409 : 201,
        responseBody: i === 7 ? { error: 'conflict' } : { id: `7f3c2a10-5b4e-4c1d-9a8e-0d2f6b1c3e5${i % 10}`, created: '2026-11-23T03:49:35Z', total: 9.5 },
        i,
      }),
    );
  }
  c.addBatch(calls);
  const [service] = httpServices(c.list());
  const doc = openApiDocument(service, c.list());
  await validate(doc);
  const op = doc.paths['/api/v1/users/{id}/orders/{uuid}'].post;
  const param = (name: string) => op.parameters.find((p: any) => p.name === name);
  assert.deepEqual(param('id').schema, { type: 'integer' });
  assert.deepEqual(param('uuid').schema, { type: 'string', format: 'uuid' });
  assert.equal(param('page').in, 'query');
  assert.equal(param('page').required, true);
  assert.equal(param('sort').required, false);
  assert.equal(param('x-tenant').in, 'header');
  // Authorization and Content-Type are described by OpenAPI otherwise: never header parameters.
  assert.equal(param('authorization'), undefined);
  assert.equal(param('content-type'), undefined);
  const req = op.requestBody.content['application/json'].schema;
  assert.deepEqual(req.required, ['items']);
  assert.equal(req.properties.items.items.properties.qty.type, 'integer');
  const created = op.responses['201'].content['application/json'].schema;
  assert.equal(created.properties.created.format, 'date-time');
  assert.equal(created.properties.total.type, 'number');
  assert.deepEqual(op.responses['409'].content['application/json'].example, { error: 'conflict' });
  assert.equal(op['x-shark-observed'].calls, 20);
  redoclyLint(doc);
});

test('--openapi with several services and no --out or --service is a usage error naming them', async () => {
  const r = await runCli(['catalog', '--openapi', join(examplesDir, 'bookinfo-mix.pcap')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /2 HTTP services .*--service/);
});

test('a request body nested 5000 levels deep (10 KB of brackets): catalog --openapi and diff describe it to depth 10 and say so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-deep-'));
  try {
    const w = new Wire();
    const body = '['.repeat(5000) + ']'.repeat(5000);
    w.send(1_700_000_000_000, 1, 40000, 80, `POST /api/items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    w.send(1_700_000_000_001, 2, 80, 40000, 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"ok":[1]}');
    const capture = join(dir, 'deep.pcap');
    writeRawPcap(capture, w.packets);
    const out = join(dir, 'out');
    const r = await runCli(['catalog', '--openapi', '--out', out, capture]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /catalog: 1 body nested deeper than 10 levels: described to depth 10, no example kept/);
    const [file] = readdirSync(out);
    const doc = JSON.parse(readFileSync(join(out, file), 'utf8'));
    const media = doc.paths['/api/items'].post.requestBody.content['application/json'];
    let schema = media.schema;
    let levels = 0;
    for (; schema.items; schema = schema.items) levels++;
    assert.equal(levels, 10);
    assert.equal(media.example, undefined);
    // The shallow response keeps its example.
    assert.deepEqual(doc.paths['/api/items'].post.responses['200'].content['application/json'].example, { ok: [1] });
    await validate(doc);
    const d = await runCli(['diff', capture, capture]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /no API changes/);
    assert.equal(d.stderr.match(/1 body nested deeper than 10 levels/g)?.length, 2, d.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a JSON body over 1 MB is not parsed for its schema: catalog --openapi and diff say how many, the small bodies are described', async () => {
  // One entry with a 59 MB body of 4M keys took catalog --openapi 59 s and 1.4 GB, ignoring SIGTERM.
  const dir = mkdtempSync(join(tmpdir(), 's4k-large-body-'));
  try {
    const large: Record<string, number> = {};
    for (let i = 0; i < 120_000; i++) large[`k${i}`] = i;
    const lines = [
      httpCall({ i: 0, path: '/api/export', responseBody: large }),
      httpCall({ i: 1, path: '/api/items', responseBody: { id: 7, name: 'x' } }),
    ].map((e) => JSON.stringify(e));
    assert.ok(lines[0].length > 1024 * 1024);
    const entries = join(dir, 'entries.ndjson');
    writeFileSync(entries, lines.join('\n') + '\n');
    const out = join(dir, 'out');
    const r = await runCli(['catalog', '--openapi', '--out', out, entries]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /catalog: 1 JSON body over 1 MB not read: no schema, no example/);
    const doc = JSON.parse(readFileSync(join(out, readdirSync(out)[0]), 'utf8'));
    const exported = doc.paths['/api/export'].get.responses['200'].content?.['application/json'];
    assert.equal(exported?.schema?.properties, undefined, 'the large body is not described');
    assert.equal(exported?.example, undefined);
    assert.deepEqual(doc.paths['/api/items'].get.responses['200'].content['application/json'].example, { id: 7, name: 'x' });
    await validate(doc);
    const d = await runCli(['diff', entries, entries]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stderr.match(/1 JSON body over 1 MB not read/g)?.length, 2, d.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('literal braces, odd methods and non-path targets from the wire: a valid document, no invented parameters, omissions said on stderr', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-odd-paths-'));
  try {
    const calls = [
      httpCall({ path: '/a/{b}/c', i: 1 }),
      httpCall({ path: '/{}', i: 2 }),
      httpCall({ path: '/x}y{z', i: 3 }),
      httpCall({ path: '/users/7/orders', i: 4 }),
      httpCall({ method: 'PROPFIND', path: '/dav', i: 5 }),
      httpCall({ method: 'OPTIONS', path: '*', i: 6 }),
    ];
    const file = join(dir, 'odd.ndjson');
    writeFileSync(file, calls.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const r = await runCli(['catalog', '--openapi', file]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    await validate(doc);
    redoclyLint(doc);
    assert.deepEqual(Object.keys(doc.paths).sort(), ['/%7B%7D', '/a/%7Bb%7D/c', '/users/{id}/orders', '/x%7Dy%7Bz']);
    // A literal segment is no parameter: only /users/{id}/orders has one.
    const pathParams = Object.values(doc.paths).flatMap((item: any) => (item.get.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name));
    assert.deepEqual(pathParams, ['id']);
    assert.match(r.stderr, /catalog: 2 endpoint\(s\) left out of OpenAPI .*PROPFIND \/dav/);
    assert.match(r.stderr, /OPTIONS \*/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a body holding a "$ref" member (a MongoDB DBRef) keeps its schema, loses its example, and the document validates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-ref-body-'));
  try {
    const calls = [0, 1].map((i) =>
      httpCall({ path: '/orders/latest', responseBody: { id: i, customer: { $ref: 'customers', $id: `c${i}` }, tags: [{ $ref: '#/definitions/none' }] }, i }),
    );
    calls.push(httpCall({ path: '/plain', responseBody: { ok: true }, i: 3 }));
    const file = join(dir, 'dbref.ndjson');
    writeFileSync(file, calls.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const r = await runCli(['catalog', '--openapi', file]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    await validate(doc);
    redoclyLint(doc);
    const media = doc.paths['/orders/latest'].get.responses['200'].content['application/json'];
    assert.equal(media.example, undefined);
    assert.deepEqual(Object.keys(media.schema.properties.customer.properties).sort(), ['$id', '$ref']);
    assert.deepEqual(doc.paths['/plain'].get.responses['200'].content['application/json'].example, { ok: true });
    assert.match(r.stderr, /catalog: 1 body example\(s\) left out of OpenAPI: they hold a "\$ref" member.*GET \/orders\/latest/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a service named by a client-written Host header ("a{b}c", spaces, quotes) gives a server URL with no undefined variable', async () => {
  const c = new Catalog({ details: true });
  const calls = ['a{b}c', 'evil host', 'x"y<z>'].map((host, i) => {
    const e = httpCall({ path: '/p', i });
    e.dst = { ip: `10.9.0.${i + 1}`, port: 80, name: '', namespace: '', pod: '', service: '', node: '' };
    e.request!.headers = { host };
    e.request!.host = host;
    return e;
  });
  c.addBatch(calls);
  const services = httpServices(c.list());
  assert.deepEqual(services, ['a{b}c:80', 'evil host:80', 'x"y<z>:80']);
  const urls = [];
  for (const s of services) {
    const doc = openApiDocument(s, c.list());
    urls.push(doc.servers[0].url);
    await validate(doc);
    redoclyLint(doc);
  }
  assert.deepEqual(urls, ['http://a%7Bb%7Dc:80', 'http://evil%20host:80', 'http://x%22y%3Cz%3E:80']);
});

test('templates that differ only in their placeholders (ids, UUIDs, dates under one route) are one operation holding every call', async () => {
  const c = new Catalog({ details: true });
  const calls = [];
  for (let i = 0; i < 3; i++) calls.push(httpCall({ path: `/items/${i + 1}`, responseBody: { id: i + 1 }, i }));
  for (let i = 0; i < 3; i++) calls.push(httpCall({ path: `/items/7f3c2a10-5b4e-4c1d-9a8e-0d2f6b1c3e5${i}`, status: 404, responseBody: { error: 'not found' }, i: 10 + i }));
  for (let i = 0; i < 2; i++) calls.push(httpCall({ path: `/items/2024-01-0${i + 1}`, responseBody: { day: 'x' }, i: 20 + i }));
  calls.push(httpCall({ method: 'DELETE', path: '/items/4', status: 204, i: 30 }));
  c.addBatch(calls);
  // The catalogue keeps them apart ...
  assert.deepEqual(c.list().map((e) => e.name).sort(), ['DELETE /items/{id}', 'GET /items/{date}', 'GET /items/{id}', 'GET /items/{uuid}']);
  const [service] = httpServices(c.list());
  const doc = openApiDocument(service, c.list());
  await validate(doc);
  // ... OpenAPI has one path for them, and its GET holds all 8 calls, the 404s included.
  assert.deepEqual(Object.keys(doc.paths), ['/items/{param}']);
  const get = doc.paths['/items/{param}'].get;
  assert.equal(get['x-shark-observed'].calls, 8);
  assert.deepEqual(Object.keys(get.responses).sort(), ['200', '404']);
  assert.deepEqual(get.responses['404'].content['application/json'].example, { error: 'not found' });
  const [param] = get.parameters.filter((p: any) => p.in === 'path');
  assert.equal(param.name, 'param');
  assert.deepEqual(param.schema.type, ['integer', 'string'], 'not only integer, nor uuid: both were seen');
  assert.equal(param.schema.format, undefined);
  // DELETE was only ever called with ids: its own kind, under the path's name.
  const del = doc.paths['/items/{param}'].delete;
  assert.deepEqual(del.parameters.filter((p: any) => p.in === 'path').map((p: any) => [p.name, p.schema.type]), [['param', 'integer']]);
  assert.match(doc.info.description, /from 9 observed calls/);
  redoclyLint(doc);
});

test('a service read inside TLS (--tls-keylog) is served over https in servers; one seen both ways lists both', async () => {
  const capture = sharedCapture('scapy-tls12-tls13-aes256gcm-http.pcap');
  const r = await runCli(['catalog', '--openapi', '--tls-keylog', capture.replace(/\.pcap$/, '.keys'), capture]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  await validate(doc);
  assert.deepEqual(doc.servers, [{ url: 'https://127.0.0.1:443' }]);
  // From NDJSON too (the catalogue reads `tls` with the fields it projects), and mixed.
  const c = new Catalog({ details: true });
  const plain = httpCall({ path: '/a', i: 1 });
  const inside = { ...httpCall({ path: '/b', i: 2 }), tls: true };
  c.addBatch([plain, inside]);
  const [service] = httpServices(c.list());
  assert.deepEqual(openApiDocument(service, c.list()).servers, [{ url: 'https://orders.shop' }, { url: 'http://orders.shop' }]);
});

test('paths in other scripts get distinct URL-safe operationIds that do not depend on traffic order; a query parameter with no name is left out and said', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-opids-'));
  try {
    const calls = [
      httpCall({ path: '/книги', i: 1 }),
      httpCall({ path: '/日本', i: 2 }),
      httpCall({ path: '/héllo', i: 3 }),
      httpCall({ path: '/search', query: { '': 'x', q: 'y' }, i: 4 }),
    ];
    const ids = async (order: typeof calls) => {
      const file = join(dir, 'calls.ndjson');
      writeFileSync(file, order.map((c) => JSON.stringify(c)).join('\n') + '\n');
      const r = await runCli(['catalog', '--openapi', file]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      await validate(doc);
      redoclyLint(doc);
      return { doc, stderr: r.stderr, ids: Object.fromEntries(Object.entries(doc.paths).map(([path, item]: [string, any]) => [path, item.get.operationId])) };
    };
    const first = await ids(calls);
    assert.equal(first.ids['/héllo'], 'getHello');
    assert.match(first.ids['/книги'], /^getXn[a-z0-9]+$/);
    assert.match(first.ids['/日本'], /^getXn[a-z0-9]+$/);
    assert.equal(new Set(Object.values(first.ids)).size, 4);
    // The same calls in another order: the same names (get, get2 swapped places before).
    assert.deepEqual((await ids([...calls].reverse())).ids, first.ids);
    assert.deepEqual(
      first.doc.paths['/search'].get.parameters.map((p: any) => p.name),
      ['q'],
    );
    assert.match(first.stderr, /catalog: 1 parameter\(s\) with an empty name left out of OpenAPI .*GET \/search/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--out: services whose names differ only in characters a file name cannot hold get a file each; no destination address is service (none)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-out-names-'));
  try {
    const calls = ['日本', '中国'].map((host, i) => {
      const e = httpCall({ path: `/p${i}`, i });
      e.dst = { ip: `10.9.0.${i + 1}`, port: 80, name: '', namespace: '', pod: '', service: '', node: '' };
      e.request!.headers = { host };
      e.request!.host = host;
      return e;
    });
    const nowhere = httpCall({ path: '/q', i: 3 });
    delete (nowhere as any).dst;
    calls.push(nowhere);
    // A pod name from the traffic with a bidi override and a line break: the stderr lines naming files show it escaped.
    const hostile = httpCall({ path: '/h', i: 4 });
    hostile.dst = { ip: '10.9.0.9', port: 80, name: '', namespace: 'ns', pod: 'p\u202e\nforged', service: '', node: '' };
    calls.push(hostile);
    const file = join(dir, 'calls.ndjson');
    writeFileSync(file, calls.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const out = join(dir, 'specs');
    const r = await runCli(['catalog', '--openapi', '--out', out, file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 4, r.stderr);
    for (const line of r.stderr.trimEnd().split('\n')) assert.match(line, /^catalog: /);
    assert.ok(r.stderr.includes('catalog: ns/p\\u202e\\nforged: '), r.stderr);
    const several = await runCli(['catalog', '--openapi', file]);
    assert.equal(several.code, 2);
    assert.match(several.stderr, /^catalog: 4 HTTP services \(.*ns\/p\\u202e\\nforged.*\): pick one with --service/);
    assert.equal(several.stderr.trimEnd().split('\n').length, 1, several.stderr);
    const docs = readdirSync(out).map((f) => JSON.parse(readFileSync(join(out, f), 'utf8')));
    assert.deepEqual(docs.map((d) => d.info.title).sort(), ['(none)', 'ns/p\u202e\nforged', '中国:80', '日本:80']);
    for (const d of docs) await validate(d);
    assert.deepEqual(docs.find((d) => d.info.title === '(none)').servers, [{ url: '/' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GraphQL calls are described as the HTTP operation carrying them (POST /graphql), the operations seen named in its description', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-graphql-'));
  try {
    const calls = [0, 1, 2, 3, 4].map((i) => {
      const [type, name] = i % 2 ? ['mutation', 'AddBook'] : ['query', 'GetBooks'];
      const e = httpCall({ method: 'POST', path: '/graphql', requestBody: { query: `${type} ${name} { books { id } }`, operationName: name, variables: { id: i } }, responseBody: { data: { books: [{ id: i }] } }, i });
      e.protocol = 'graphql';
      e.request!.graphql = { operationName: name, operationType: type, fields: ['books'] };
      e.request!.headers['content-type'] = 'application/json';
      return e;
    });
    const file = join(dir, 'graphql.ndjson');
    writeFileSync(file, calls.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const r = await runCli(['catalog', '--openapi', file]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    await validate(doc);
    redoclyLint(doc);
    const op = doc.paths['/graphql'].post;
    assert.equal(op['x-shark-observed'].calls, 5);
    assert.equal(op.description, 'GraphQL endpoint. Operations seen: `query GetBooks` (3 calls), `mutation AddBook` (2 calls).');
    assert.deepEqual(op['x-shark-graphql-operations'], [{ name: 'mutation AddBook', calls: 2 }, { name: 'query GetBooks', calls: 3 }]);
    assert.deepEqual(Object.keys(op.requestBody.content['application/json'].schema.properties).sort(), ['operationName', 'query', 'variables']);
    // The catalogue still has one row per GraphQL operation, none for POST /graphql.
    const table = await runCli(['catalog', '--format', 'json', file]);
    assert.deepEqual(JSON.parse(table.stdout).endpoints.map((e: any) => e.endpoint ?? e.name).sort(), ['mutation AddBook', 'query GetBooks']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
