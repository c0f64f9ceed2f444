// Shapes the fourth secrets round closed (docs/security.md, known gaps of the third): a SignalR
// completion in a message of its own, Vault KV version 1 reads, a Redis or memcached value stored under
// a key that ends in a secret's name, `{"key": …, "val": …}` and `{"k": …, "v": …}` pairs, Grafana's
// secureJsonData (`httpHeaderValue1`) in JSON and YAML, and a PostgreSQL function of the application's
// own (`SELECT create_app_user($1, $2)`). Each with what must stay readable beside it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import type { Entry } from '../../src/model/entry.js';
import { httpEntry } from './http-entry.js';

function entry(protocol: string, request: Record<string, any>, response: Record<string, any> | null = null, summary = ''): Entry {
  return { ...httpEntry({}), protocol, request, response, summary };
}

test('a SignalR completion in a message of its own loses the result of a login awaited on its connection; other completions stay', () => {
  const redact = createRedactor();
  // Records end in U+001E, a control character: the dissector keeps such a frame as base64.
  const ws = (from: string, text: string) => entry('ws', { from, opcode: 'text', bodyEncoding: 'base64', body: Buffer.from(text).toString('base64') }, null, `${from} text`);
  const text = (e: Entry) => Buffer.from(e.request!.body, 'base64').toString();
  assert.equal(text(redact(ws('client', '{"type":1,"invocationId":"4","target":"Login","arguments":["visible-user","hubSECRET1"]}\u001e'))), `{"type":1,"invocationId":"4","target":"Login","arguments":["visible-user","${REDACTED}"]}\u001e`);
  redact(ws('client', '{"type":1,"invocationId":"5","target":"SendMessage","arguments":["visible-text"]}\u001e'));
  const answers = '{"type":3,"invocationId":"5","result":"visible-result"}\u001e{"type":3,"invocationId":"4","result":"hubTokenSECRET2"}\u001e{"type":6}\u001e';
  assert.equal(text(redact(ws('server', answers))), `{"type":3,"invocationId":"5","result":"visible-result"}\u001e{"type":3,"invocationId":"4","result":"${REDACTED}"}\u001e{"type":6}\u001e`);
  // Answered once: a later completion with that id is judged as any message; as text (an entry from elsewhere) too.
  const later = entry('ws', { from: 'server', opcode: 'text', body: '{"type":3,"invocationId":"4","result":"later-visible"}\u001e' }, null);
  assert.equal(redact(later), later);
});

test('Vault KV version 1: a read loses its values by its lease, keys stay; a listing, a KV v2 metadata read and Vault own endpoints stay', () => {
  const redact = createRedactor();
  const envelope = (data: unknown, lease = 2764800) => JSON.stringify({ request_id: 'visible-req', lease_id: '', renewable: false, lease_duration: lease, data, wrap_info: null, warnings: null, auth: null });
  const read = (path: string, data: unknown, lease?: number) => JSON.parse(redact(httpEntry({ method: 'GET', path, body: '' }, { status: 200, body: envelope(data, lease) })).response!.body);
  assert.deepEqual(read('/v1/secret/app', { db: 'kvSECRET1', conn: 'kvSECRET2', pin: 1234 }).data, { db: REDACTED, conn: REDACTED, pin: REDACTED });
  // A mount of another name, and an answer whose request was not seen.
  assert.deepEqual(read('/v1/kv-prod/payments', { stripe: 'kvSECRET3' }).data, { stripe: REDACTED });
  const alone = JSON.parse(redact(httpEntry({}, { status: 200, body: envelope({ x: 'kvSECRET4' }) })).response!.body);
  assert.deepEqual(alone.data, { x: REDACTED });
  for (const [path, data, lease] of [
    ['/v1/secret/', { keys: ['visible-app', 'visible-db'] }, 2764800],
    ['/v1/sys/mounts/secret/tune', { default_lease_ttl: 2764800, description: 'visible-description' }, 2764800],
    ['/v1/transit/keys/visible', { name: 'visible', type: 'aes256-gcm96' }, 0],
  ] as const) {
    const e = httpEntry({ method: 'GET', path, body: '' }, { status: 200, body: envelope(data, lease) });
    assert.equal(redact(e), e, path);
  }
});

test('Redis and memcached: a value stored under a key that ends in a secret name goes, written and read; other keys stay', () => {
  const redact = createRedactor();
  const redis = (command: string, args: string[], value: unknown, summary = '') => redact(entry('redis', { command, key: args[0], args }, { value }, summary));
  const set = redis('SET', ['u:1:password', 'setSECRET1', 'EX', '60'], 'OK', 'SET u:1:password → OK');
  assert.deepEqual(set.request!.args, ['u:1:password', REDACTED, 'EX', '60']);
  assert.equal(set.response!.value, 'OK');
  const get = redis('GET', ['u:1:password'], 'getSECRET2', 'GET u:1:password → "getSECRET2"');
  assert.equal(get.response!.value, REDACTED);
  assert.doesNotMatch(get.summary, /getSECRET2/);
  assert.deepEqual(redis('SETEX', ['sess/42/api_token', '60', 'setexSECRET3'], 'OK').request!.args, ['sess/42/api_token', '60', REDACTED]);
  assert.deepEqual(redis('MSET', ['cfg:color', 'visible-color', 'cfg:client_secret', 'msetSECRET4'], 'OK').request!.args, ['cfg:color', 'visible-color', 'cfg:client_secret', REDACTED]);
  assert.deepEqual(redis('MGET', ['cfg:color', 'cfg:client_secret'], ['visible-color', 'mgetSECRET5']).response!.value, ['visible-color', REDACTED]);
  assert.equal(redis('SET', ['u:1:password', 'newSECRET6', 'GET'], 'oldSECRET7').response!.value, REDACTED);
  // The record's kind first (`session:abc`), a name for personal data last (`cache:user`): as they were.
  for (const key of ['session:abc', 'token:abc', 'cache:user', 'u:1:address']) {
    const kept = entry('redis', { command: 'SET', key, args: [key, 'visible-value'] }, { value: 'OK' });
    assert.equal(redact(kept), kept, key);
  }
  const mc = redact(entry('memcached', { protocol: 'text', command: 'set', key: 'app:db_password', flags: 0, exptime: 0, valueSize: 9, value: 'mcSECRET8' }, { status: 'STORED' }));
  assert.equal(mc.request!.value, REDACTED);
  const mcGet = redact(entry('memcached', { protocol: 'text', command: 'get', keys: ['app:db_password', 'app:color'] }, { status: 'END', values: [{ key: 'app:db_password', value: 'mcSECRET9' }, { key: 'app:color', value: 'visible-color' }] }));
  assert.deepEqual(mcGet.response!.values, [{ key: 'app:db_password', value: REDACTED }, { key: 'app:color', value: 'visible-color' }]);
});

test('{key, val} and {k, v} pairs and Grafana secureJsonData lose their secrets in JSON and YAML; other pairs and jsonData stay', () => {
  const redact = createRedactor();
  const body = (b: string, contentType = 'application/json') => redact(httpEntry({ body: b, headers: { 'content-type': contentType } })).request!.body;
  const pairs = { settings: [{ key: 'smtp_password', val: 'valSECRET1' }, { k: 'api_token', v: 'kSECRET2' }, { key: 'color', val: 'visible-val' }, { k: 'page', v: 'visible-v' }] };
  assert.deepEqual(JSON.parse(body(JSON.stringify(pairs))).settings, [{ key: 'smtp_password', val: REDACTED }, { k: 'api_token', v: REDACTED }, { key: 'color', val: 'visible-val' }, { k: 'page', v: 'visible-v' }]);
  const grafana = { jsonData: { httpHeaderName1: 'Authorization', tlsSkipVerify: true }, secureJsonData: { httpHeaderValue1: 'Bearer grafSECRET3', basicAuthPassword: 'grafSECRET4' } };
  assert.deepEqual(JSON.parse(body(JSON.stringify(grafana))), { jsonData: grafana.jsonData, secureJsonData: { httpHeaderValue1: REDACTED, basicAuthPassword: REDACTED } });
  const yaml = "datasources:\n  - name: visible-name\n    jsonData:\n      httpHeaderName1: 'Authorization'\n    secureJsonData:\n      httpHeaderValue1: 'Bearer grafSECRET5'\n      nested:\n        deep: grafSECRET6\n    editable: true\n";
  assert.equal(body(yaml, 'application/yaml'), yaml.replace("'Bearer grafSECRET5'", REDACTED).replace('grafSECRET6', REDACTED));
  // A mapping under a name Kubeshark lists for personal data, or any other, keeps its values.
  const kept = 'auth:\n  enabled: true\nservice:\n  port: 8080\n';
  assert.equal(body(kept, 'application/yaml'), kept);
});

test('PostgreSQL: a function of the application own that logs in, creates an account or is named after a secret loses its arguments after the first', () => {
  const redact = createRedactor();
  const pg = (query: string, parameters?: string[]) => redact(entry('postgresql', parameters ? { type: 'extended', query, parameters } : { type: 'query', query }, null, query)).request!;
  assert.deepEqual(pg('SELECT create_app_user($1, $2)', ['visible-user', 'fnSECRET1']).parameters, ['visible-user', REDACTED]);
  assert.deepEqual(pg('CALL app.set_password($1, $2)', ['42', 'fnSECRET2']).parameters, ['42', REDACTED]);
  assert.deepEqual(pg('SELECT auth.login($1, $2)', ['visible-user', 'fnSECRET3']).parameters, ['visible-user', REDACTED]);
  // One argument: named after a secret, it is the secret; an account's creation takes a name.
  assert.deepEqual(pg('SELECT upper(verify_api_key($1)), lower($2)', ['fnSECRET4', 'visible-x']).parameters, [REDACTED, 'visible-x']);
  assert.deepEqual(pg('SELECT create_user($1)', ['visible-only']).parameters, ['visible-only']);
  assert.equal(pg("SELECT create_user('visible-user', 'fnSECRET5')").query, `SELECT create_user('visible-user', '${REDACTED}')`);
  // Other calls and lists keep their values.
  assert.deepEqual(pg('SELECT lower($1), count(*) FROM t WHERE id IN ($2, $3)', ['Visible', '1', '2']).parameters, ['Visible', '1', '2']);
  assert.equal(pg("INSERT INTO login (name, kind) VALUES ('visible-name', 'visible-kind')").query, "INSERT INTO login (name, kind) VALUES ('visible-name', 'visible-kind')");
});

test('a whole value that is Bearer or Basic credentials loses them under any name, in JSON and headers; words after the scheme stay', () => {
  const redact = createRedactor();
  const body = (b: unknown) => JSON.parse(redact(httpEntry({ body: JSON.stringify(b), headers: { 'content-type': 'application/json' } })).request!.body);
  assert.deepEqual(body({ header: 'Bearer abc.DEF-bearerSECRET1', basic: 'Basic YWxhZGRpbjpvcGVuc2VzYW1l' }), { header: `Bearer ${REDACTED}`, basic: `Basic ${REDACTED}` });
  assert.deepEqual(redact(httpEntry({ headers: { 'x-upstream': 'Bearer headerSECRET2' } })).request!.headers, { 'x-upstream': `Bearer ${REDACTED}` });
  const kept = httpEntry({ body: JSON.stringify({ doc: 'Bearer tokens', plan: 'basic plan', scheme: 'Bearer', title: 'Basic auth' }), headers: { 'content-type': 'application/json' } });
  assert.equal(redact(kept), kept);
});

test('PHP serialized data and sessions lose the values of sensitive names, in a body and a Redis value; a hostile one finishes', () => {
  const redact = createRedactor();
  const serialized = 'a:3:{s:4:"name";s:5:"alice";s:8:"password";s:9:"phpSECRET";s:4:"note";s:3:"x;y";}';
  assert.equal(redact(httpEntry({ body: serialized, headers: { 'content-type': 'text/plain' } })).request!.body, `a:3:{s:4:"name";s:5:"alice";s:8:"password";s:9:"${REDACTED}";s:4:"note";s:3:"x;y";}`);
  const session = 'user_id|i:7;csrf_token|s:12:"sessSECRET12";lang|s:2:"en";';
  const e = redact(entry('redis', { command: 'GET', key: 'PHPREDIS_SESSION:abc', args: ['PHPREDIS_SESSION:abc'] }, { value: session }));
  assert.equal(e.response!.value, `user_id|i:7;csrf_token|s:12:"${REDACTED}";lang|s:2:"en";`);
  const started = performance.now();
  const hostile = 'a|s:1:"'.repeat(20_000) + ';s:9:"s:1:"'.repeat(20_000) + 's:8:"password";s:9999999:"'.repeat(20_000);
  redact(httpEntry({ body: hostile, headers: { 'content-type': 'text/plain' } }));
  assert.ok(performance.now() - started < 3000, `${performance.now() - started} ms`);
});

test('secrets by their container: a Keycloak credential by its type, an Azure Key Vault secret, a Vault cubbyhole, arguments that start with their flag, RABBITMQ_DEFAULT_PASS', () => {
  const redact = createRedactor();
  const body = (b: unknown) => JSON.parse(redact(httpEntry({ body: JSON.stringify(b), headers: { 'content-type': 'application/json' } })).request!.body);
  assert.deepEqual(body({ type: 'password', value: 'kcSECRET1', temporary: false }), { type: 'password', value: REDACTED, temporary: false });
  assert.deepEqual(body({ type: 'secret', value: 'kcSECRET2' }), { type: 'secret', value: REDACTED });
  const vault = { value: 'akvSECRET3', id: 'https://visible-vault.vault.azure.net/secrets/db/0123', attributes: { enabled: true } };
  assert.deepEqual(body(vault), { ...vault, value: REDACTED });
  const cubby = JSON.stringify({ request_id: 'visible-req', lease_id: '', renewable: false, lease_duration: 0, data: { note: 'cubbySECRET4' } });
  assert.deepEqual(JSON.parse(redact(httpEntry({ method: 'GET', path: '/v1/cubbyhole/app', body: '' }, { status: 200, body: cubby })).response!.body).data, { note: REDACTED });
  assert.deepEqual(body({ env: [{ name: 'REDIS_ARGS', value: '--requirepass argsSECRET5 --port 6379' }, { name: 'RABBITMQ_DEFAULT_PASS', value: 'rmqSECRET6' }] }).env, [
    { name: 'REDIS_ARGS', value: `--requirepass ${REDACTED} --port 6379` },
    { name: 'RABBITMQ_DEFAULT_PASS', value: REDACTED },
  ]);
  // Types that are no secret's, another vault's ids, Vault's own answers without a lease, flags without a secret: as they were.
  const kept = { a: { type: 'user', value: 'visible-user' }, b: { type: 'string', value: 'visible-string' }, c: { value: 'visible-c', id: 'https://example.net/secrets/db' }, d: '-p 8080:80', e: '--port 5432' };
  assert.deepEqual(body(kept), kept);
  const sys = httpEntry({ method: 'GET', path: '/v1/sys/health', body: '' }, { status: 200, body: JSON.stringify({ request_id: 'visible-req', lease_id: '', renewable: false, lease_duration: 0, data: { version: 'visible-version' } }) });
  assert.equal(redact(sys), sys);
});

test('an environment variable named WORD_KEY in upper case is a secret key, in .env lines, env pairs and JSON; public and naming keys stay', () => {
  const redact = createRedactor();
  const text = 'APP_KEY=base64:envSECRET1=\nexport STRIPE_KEY=envSECRET2\nSTRIPE_PUBLISHABLE_KEY=pk_visible\nPRIMARY_KEY=visible_id\nmonkey=visible\n';
  assert.equal(redact(httpEntry({ body: text, headers: { 'content-type': 'text/plain' } })).request!.body, text.replace('base64:envSECRET1=', REDACTED).replace('envSECRET2', REDACTED));
  const pod = { env: [{ name: 'SENDGRID_KEY', value: 'envSECRET3' }, { name: 'AWS_ACCESS_KEY', value: 'visible-ak' }, { name: 'RECAPTCHA_SITE_KEY', value: 'visible-site' }], DJANGO_SECRET_KEY: 'envSECRET4', CACHE_KEY: 'visible-cache' };
  const out = JSON.parse(redact(httpEntry({ body: JSON.stringify(pod), headers: { 'content-type': 'application/json' } })).request!.body);
  assert.deepEqual(out, { ...pod, env: [{ name: 'SENDGRID_KEY', value: REDACTED }, pod.env[1], pod.env[2]], DJANGO_SECRET_KEY: REDACTED });
});

test('names: a password typed twice, login and PIN codes, a pre-shared key, and a secret name followed by how it is written go; policies, types and expiries stay', () => {
  const redact = createRedactor();
  const names = { password_confirmation: 'nSECRET1', passwordRepeat: 'nSECRET2', pinCode: 'nSECRET3', verification_code: 'nSECRET4', twoFactorCode: 'nSECRET5', totp: 'nSECRET6', psk: 'nSECRET7', privateKeyPem: 'nSECRET8', private_key_openssh: 'nSECRET9', secret_key_base: 'nSECRET10', encryption_key_b64: 'nSECRET11', clientSecretValue: 'nSECRET12' };
  const kept = { token_type: 'Bearer', tokenUrl: 'https://visible/token', passwordPolicy: 'visible-policy', passwordless: 'visible-mode', tokenExpiry: 'visible-expiry', secretName: 'visible-secret-name', database: 'visible-db' };
  const out = JSON.parse(redact(httpEntry({ body: JSON.stringify({ ...names, ...kept }), headers: { 'content-type': 'application/json' } })).request!.body);
  assert.deepEqual(out, { ...Object.fromEntries(Object.keys(names).map((k) => [k, REDACTED])), ...kept });
});
