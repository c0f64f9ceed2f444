// Secrets found by their shape or by what holds them, not by the name they travel under: PEM private
// keys, JWTs and prefixed API keys anywhere; configuration lines (YAML, .env, properties) in text;
// Kubernetes Secrets in JSON and in protobuf. And the hostile side: inputs built to make these scans
// slow finish (a quadratic scan over them would run for hours and fail by the test's timeout).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import { httpEntry } from './http-entry.js';

const entry = httpEntry;

const redact = createRedactor();
const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.sigSECRETpart_-x';

test('a JWT is redacted wherever it stands: a header of no telling name, a JSON value, text, a query, the summary', () => {
  const e = entry(
    { url: `/x?state=${JWT}`, headers: { 'x-debug': `trace ${JWT} end` }, body: JSON.stringify({ note: JWT, keep: 'visible-note' }) },
    { status: 200, headers: {}, body: `line one\ntoken was ${JWT}.` },
    `POST /x?state=${JWT} → 200`,
  );
  const text = JSON.stringify(redact(e));
  assert.ok(!text.includes('sigSECRETpart'), text);
  assert.ok(!text.includes('eyJpc3Mi'), 'the payload goes with the signature');
  assert.ok(text.includes('visible-note') && text.includes('trace [REDACTED] end') && text.includes('token was [REDACTED].'), text);
});

test('base64 that is not a JWT stays: one JSON segment, a short pair, eyJ inside a word', () => {
  const values = ['eyJhIjoxfQ==', 'eyJhIjox.eyJiIjoy', 'keyJar.eyJoy.sig', 'visible eyJ text'];
  const e = entry({ body: JSON.stringify({ values }) });
  assert.equal(redact(e), e);
});

test('a PEM private key goes, from BEGIN to END; a certificate stays; a key cut short goes to the end', () => {
  const key = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAkeySECRET\n-----END RSA PRIVATE KEY-----';
  const cert = '-----BEGIN CERTIFICATE-----\nMIIvisibleCert\n-----END CERTIFICATE-----';
  const cut = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXkcutSECRET';
  const out = redact(entry({ body: JSON.stringify({ tls: `${cert}\n${key}\n`, ssh: cut }) }));
  const body = JSON.parse(out.request!.body);
  assert.equal(body.tls, `${cert}\n${REDACTED}\n`);
  assert.equal(body.ssh, REDACTED);
});

test('API keys with an issuer prefix go: GitHub, Slack, AWS key ids, and the others in a string one of those marks', () => {
  const keys = {
    github: 'ghp_' + 'a'.repeat(36),
    app: 'ghs_' + 'B1'.repeat(18),
    slack: 'xoxb-1234567890-abcdefSECRET',
    aws: 'AKIAIOSFODNN7EXAMPLE',
    google: 'AIza' + 'c'.repeat(35),
  };
  const out = JSON.parse(redact(entry({ body: JSON.stringify({ ...keys, gitlab: `glpat-${'d'.repeat(20)} with ghp_${'e'.repeat(36)}` }) })).request!.body);
  for (const k of Object.keys(keys)) assert.equal(out[k], REDACTED, k);
  assert.equal(out.gitlab, `${REDACTED} with ${REDACTED}`);
  // Too short to be one of their keys, or glued to other letters: left alone.
  const plain = entry({ body: JSON.stringify({ a: 'ghp_short', b: 'xAKIAIOSFODNN7EXAMPLE', c: 'AKIA' }) });
  assert.equal(redact(plain), plain);
});

test('configuration lines: YAML, .env and properties values of sensitive names go; code and other lines stay', () => {
  const yaml = 'spring:\n  datasource:\n    url: jdbc:postgresql://db/app\n    password: yamlSECRET\n  mode: visible-mode\n';
  const env = 'MODE=visible\nDB_PASSWORD=envSECRET\nexport API_TOKEN=exportSECRET\r\n';
  const props = 'server.port=8080\nspring.datasource.password=propsSECRET\n';
  const code = 'if (f == 1) {\n  _ubd.cookie="__utma="+a+"; path=/";\n  token: this.token,\n}\n';
  const out = JSON.parse(redact(entry({ body: JSON.stringify({ 'application.yml': yaml, '.env': env, 'app.properties': props, 'ga.js': code }) })).request!.body);
  assert.equal(out['application.yml'], yaml.replace('yamlSECRET', REDACTED));
  assert.equal(out['.env'], env.replace('envSECRET', REDACTED).replace('exportSECRET', REDACTED));
  assert.equal(out['app.properties'], props.replace('propsSECRET', REDACTED));
  assert.equal(out['ga.js'], code, 'code is not configuration');
  // The same as a text body.
  const text = redact(entry({ body: env })).request!.body;
  assert.equal(text, env.replace('envSECRET', REDACTED).replace('exportSECRET', REDACTED));
});

test('a Kubernetes Secret: data and stringData values go whatever their keys; lists, watch events, kubectl apply annotations', () => {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ apiVersion: 'v1', kind: 'Secret', stringData: { conn: 'annotationSECRET' } }) } },
    data: { 'db-pass': 'ZGF0YVNFQ1JFVA==', 'tls.key': 'a2V5' },
    stringData: { conn: 'stringDataSECRET' },
    type: 'Opaque',
  };
  const list = { kind: 'SecretList', apiVersion: 'v1', items: [{ metadata: { name: 'a' }, data: { x: 'bGlzdFNFQ1JFVA==' } }] };
  const event = { type: 'ADDED', object: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'w' }, data: { y: 'd2F0Y2hTRUNSRVQ=' } } };
  const configMap = { kind: 'ConfigMap', data: { 'db-host': 'visible-host' } };
  for (const doc of [secret, list, event]) {
    const out = redact(entry({}, { status: 200, headers: {}, body: JSON.stringify(doc) }));
    const text = JSON.stringify(out);
    assert.ok(!/SECRET|ZGF0YVNFQ1JFVA|bGlzdFNFQ1JFVA|d2F0Y2hTRUNSRVQ|a2V5/.test(text), text);
    assert.ok(text.includes('db-pass') || text.includes('\\"x\\"') || text.includes('\\"y\\"'), 'the keys stay: which secrets exist is readable');
  }
  const cm = entry({}, { status: 200, headers: {}, body: JSON.stringify(configMap) });
  assert.equal(redact(cm), cm, 'a ConfigMap keeps its data');
});

test('a Kubernetes object in protobuf is withheld when it is a Secret; other kinds stay', () => {
  const field = (n: number, v: string): string => String.fromCharCode((n << 3) | 2, v.length) + v;
  const object = (kind: string, raw: string): string => 'k8s\u0000' + field(1, field(1, 'v1') + field(2, kind)) + field(2, raw);
  const secret = Buffer.from(object('Secret', field(2, field(1, 'pw') + field(2, 'protoSECRET'))), 'latin1').toString('base64');
  const configMap = Buffer.from(object('ConfigMap', field(2, field(1, 'k') + field(2, 'visible'))), 'latin1').toString('base64');
  const out = redact(entry({}, { status: 200, headers: {}, body: secret, bodyEncoding: 'base64' }));
  assert.equal(out.response!.body, REDACTED);
  assert.equal(out.response!.bodyEncoding, undefined);
  const kept = entry({}, { status: 200, headers: {}, body: configMap, bodyEncoding: 'base64' });
  assert.equal(redact(kept), kept);
});

test('hostile inputs to the shape scans finish: markers by the million, runs without an end', { timeout: 60_000 }, () => {
  const MB = 1 << 20;
  const inputs = [
    '-eyJ'.repeat(MB), // a JWT start at every word boundary, never a second segment
    'eyJaaaaaaaaaaa.'.repeat(MB / 4), // segments that all look like a header, no payload after a header
    '-----BEGIN '.repeat(MB / 4) + '-----', // BEGIN lines whose label never closes, then one far away
    '-----BEGIN PRIVATE KEY-----'.repeat(MB / 16), // keys that never END
    'ghp_'.repeat(MB), // prefixes with nothing after them
    ' a'.repeat(MB) + ' eyJ', // a million short runs, the marker only at the end
    'a: b\n'.repeat(MB / 2) + 'password: x', // a million configuration lines
    'x=1\n'.repeat(MB / 2),
  ];
  for (const body of inputs) {
    const out = redact(entry({ body }));
    assert.equal(typeof out.request!.body, 'string');
  }
});

test('gRPC messages read without a schema: a map entry or KeyValue whose key is sensitive loses its value; other pairs stay', () => {
  const text = (field: number, value: string) => ({ field, wireType: 'len', value });
  const nested = (field: number, message: unknown[]) => ({ field, wireType: 'len', message });
  const fields = [
    nested(3, [text(1, 'authorization'), text(2, 'Basic pairSECRET')]), // ext_authz's headers map
    nested(3, [text(1, 'x-request-id'), text(2, 'visible-id')]),
    nested(9, [text(1, 'http.request.header.cookie'), nested(2, [text(1, 'kvSECRET')])]), // an OTLP KeyValue
    nested(5, [text(1, 'password'), text(2, 'visible-third'), text(3, 'not a pair: three fields')]),
  ];
  const e = entry({ messages: [{ compressed: false, length: 99, fields }] });
  e.protocol = 'grpc';
  const out = redact(e);
  const got = out.request!.messages[0].fields;
  assert.deepEqual(got[0].message[1], { field: 2, wireType: 'len', value: REDACTED });
  assert.deepEqual(got[1], fields[1]);
  assert.deepEqual(got[2].message[1], { field: 2, wireType: 'len', value: REDACTED });
  assert.deepEqual(got[3], fields[3], 'a message of three fields is not a map entry');
  assert.ok(!JSON.stringify(out).includes('SECRET'));
});

test('SQL: literals bound to sensitive columns go (SET, WHERE, INSERT by position, ON DUPLICATE KEY UPDATE); others stay', async () => {
  const { redactSqlValues } = await import('../../src/redact/sql-values.js');
  const { SensitiveNames } = await import('../../src/redact/names.js');
  const names = new SensitiveNames();
  const cases: Array<[string, string]> = [
    ["INSERT INTO users (name, password) VALUES ('bob', 's1')", "INSERT INTO users (name, password) VALUES ('bob', '[REDACTED]')"],
    ["INSERT INTO t (id, \"api_key\", note) VALUES (1, 'k1', 'n'), (2, 'k2', 'it''s')", "INSERT INTO t (id, \"api_key\", note) VALUES (1, '[REDACTED]', 'n'), (2, '[REDACTED]', 'it''s')"],
    ["INSERT INTO t (a, b) VALUES (lower('x'), 'y') ON CONFLICT (a) DO UPDATE SET b = 'z'", "INSERT INTO t (a, b) VALUES (lower('x'), 'y') ON CONFLICT (a) DO UPDATE SET b = 'z'"],
    ["UPDATE s SET refresh_token='r1', name = 'n' WHERE s.client_secret <> 'c1'", "UPDATE s SET refresh_token='[REDACTED]', name = 'n' WHERE s.client_secret <> '[REDACTED]'"],
    ["INSERT INTO t (k, token) VALUES ('a', 'b') ON DUPLICATE KEY UPDATE token = 'c'", "INSERT INTO t (k, token) VALUES ('a', '[REDACTED]') ON DUPLICATE KEY UPDATE token = '[REDACTED]'"],
    ["SELECT * FROM t WHERE note = 'password = ''x''' -- token = 'y'", "SELECT * FROM t WHERE note = 'password = ''x''' -- token = 'y'"],
    ["UPDATE t SET secret = $$dollar$$", 'UPDATE t SET secret = $$[REDACTED]$$'],
    ["UPDATE t SET `password` = 'open to the end", "UPDATE t SET `password` = '[REDACTED]"],
  ];
  for (const [sql, want] of cases) assert.equal(redactSqlValues(sql, names), want, sql);
  // Hostile: a literal never closed, a million columns and commas, comments that never end.
  const MB = 1 << 20;
  for (const sql of [`UPDATE t SET x = '${'a'.repeat(4 * MB)}`, `INSERT INTO t (${'c,'.repeat(MB)}password) VALUES (${"'v',".repeat(MB)}'s')`, `/*${'x'.repeat(MB)}`, `${"token = '".repeat(MB)}`]) {
    assert.equal(typeof redactSqlValues(sql, names), 'string');
  }
});

test('Kubernetes objects: a container env var of a sensitive name loses its value; the WebSocket bearer subprotocol loses its token', () => {
  const deployment = {
    kind: 'Deployment',
    spec: { template: { spec: { containers: [{ name: 'api', env: [{ name: 'DB_PASSWORD', value: 'envSECRET' }, { name: 'LOG_LEVEL', value: 'visible-level' }, { name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'visible-ref', key: 'token' } } }] }] } } },
  };
  const out = JSON.stringify(redact(entry({}, { status: 200, headers: {}, body: JSON.stringify(deployment) })));
  assert.ok(!out.includes('envSECRET') && out.includes('visible-level') && out.includes('visible-ref'), out);
  // With no other name in the document that could be sensitive: the pair alone is enough.
  const plain = { kind: 'Pod', spec: { containers: [{ env: [{ name: 'STRIPE_SECRET', value: 'aloneSECRET' }] }] } };
  assert.ok(!JSON.stringify(redact(entry({}, { status: 200, headers: {}, body: JSON.stringify(plain) }))).includes('aloneSECRET'));
  const token = Buffer.from(JWT).toString('base64url');
  const ws = entry({ headers: { 'sec-websocket-protocol': `base64url.bearer.authorization.k8s.io.${token}, v4.channel.k8s.io` } });
  assert.equal(redact(ws).request!.headers['sec-websocket-protocol'], `base64url.bearer.authorization.k8s.io.${REDACTED}, v4.channel.k8s.io`);
});

test('Kubernetes objects: the key a reference, a volume item, a selector or a toleration names stays, and a Secret volume; a key that is a value still goes', () => {
  const pod = {
    kind: 'Pod',
    spec: {
      containers: [{ env: [{ name: 'DB_PASS', valueFrom: { secretKeyRef: { name: 'db', key: 'visible-secret-key' } } }, { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'visible-cm-key' } } }] }],
      volumes: [{ name: 'tls', secret: { secretName: 'visible-volume-secret', items: [{ key: 'visible-tls-crt', path: 'cert.pem' }] } }],
      tolerations: [{ key: 'visible-taint', operator: 'Exists', effect: 'NoSchedule' }],
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'visible-label', operator: 'In', values: ['a'] }] }] } } },
    },
    // Not a reference: an API key stored under `key` beside a name.
    integrations: [{ name: 'stripe', key: 'keySECRET' }, { key: 'pathSECRET', path: '/x', extra: 1 }, { secret: { name: 'x', value: 'valueSECRET' } }],
  };
  const out = JSON.stringify(redact(entry({}, { status: 200, headers: {}, body: JSON.stringify(pod) })));
  for (const visible of ['visible-secret-key', 'visible-cm-key', 'visible-volume-secret', 'visible-tls-crt', 'visible-taint', 'visible-label']) assert.ok(out.includes(visible), visible);
  assert.ok(!out.includes('keySECRET') && !out.includes('pathSECRET') && !out.includes('valueSECRET'), out);
});

test('header-like lines in text (a STOMP CONNECT frame over WebSocket) and payment fields', () => {
  const stomp = 'CONNECT\naccept-version:1.2\nhost:broker\nlogin:guest\npasscode:stompSECRET\n\n\u0000';
  const out = redact(entry({ body: stomp })).request!.body as string;
  assert.ok(!out.includes('stompSECRET') && out.includes('host:broker') && out.includes('accept-version:1.2'), out);
  const pay = redact(entry({ body: JSON.stringify({ card_number: '4111111111111111', cvv: '123', amount: 'visible-amount' }) })).request!.body as string;
  assert.ok(!pay.includes('4111') && !pay.includes('"123"') && pay.includes('visible-amount'), pay);
  // A URL on a line of its own is not a name and a value.
  const url = 'see:\nhttp://visible.example/path\n';
  assert.equal(redact(entry({ body: url })).request!.body, url);
});
