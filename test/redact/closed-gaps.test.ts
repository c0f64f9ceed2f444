// Shapes the QA round of session 33 found leaking (docs/security.md, known gaps): a Secret in YAML flow
// style, passwords in a Redis script, PGP and PuTTY private keys, JWE and Vault tokens, Vault's unseal
// keys, plurals of secret names, a DNS TXT record, etcd's Auth gRPC read without a schema, and
// PostgreSQL functions that take a key; and an error line that quoted the start of a file. Each with what must stay readable beside it, and inputs built
// to make the new scans slow.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import type { Entry } from '../../src/model/entry.js';
import { httpEntry } from './http-entry.js';

const redact = createRedactor();

function entry(protocol: string, request: Record<string, any>, response: Record<string, any> | null = null, summary = ''): Entry {
  return { ...httpEntry({}), protocol, request, response, summary };
}

test('a Kubernetes Secret in YAML flow style loses its data and stringData values, its keys and other maps stay', () => {
  const whole = '{apiVersion: v1, kind: Secret, metadata: {name: visible-name, labels: {app: visible-app}}, data: {conn: Y29ublNFQ1JFVA==, "tls.key": "a2V5U0VDUkVU"}}';
  const out = redact(httpEntry({ body: whole })).request!.body;
  assert.equal(out, `{apiVersion: v1, kind: Secret, metadata: {name: visible-name, labels: {app: visible-app}}, data: {conn: ${REDACTED}, "tls.key": "${REDACTED}"}}`);
  const block = 'apiVersion: v1\nkind: Secret\nstringData: {db-url: "postgres://app@db/x", other: plainSECRET}\nmetadata:\n  name: visible-name\n';
  assert.equal(redact(httpEntry({ body: block })).request!.body, `apiVersion: v1\nkind: Secret\nstringData: {db-url: "${REDACTED}", other: ${REDACTED}}\nmetadata:\n  name: visible-name\n`);
  // A flow map over several lines, in a list of Secrets.
  const list = "kind: SecretList\nitems:\n- {kind: Secret, data: {\n    a: bXVsdGlTRUNSRVQ=,\n    'b': 'c2luZ2xlU0VDUkVU'\n  }}\n";
  const listOut = redact(httpEntry({ body: list })).request!.body;
  assert.doesNotMatch(listOut, /bXVsdGlTRUNSRVQ|c2luZ2xlU0VDUkVU/);
  // A ConfigMap in flow style keeps its data.
  const configMap = httpEntry({ body: '{apiVersion: v1, kind: ConfigMap, data: {mode: visible-mode}}' });
  assert.equal(redact(configMap), configMap);
});

test('Redis scripts: literals and ARGV a script passes to AUTH, CONFIG SET requirepass, ACL SETUSER or a secret hash field go; FCALL pairs too', () => {
  const script = "redis.call('AUTH', 'authSECRET') redis.pcall('ACL', 'SETUSER', 'bob', 'on', '>aclSECRET') redis.call('HSET', KEYS[1], 'api_token', ARGV[1], 'name', ARGV[2]) return redis.call('CONFIG', 'SET', 'requirepass', ARGV[3])";
  const e = redact(entry('redis', { command: 'EVAL', args: [script, '1', 'user:1', 'argvHIDDEN1', 'visible-name', 'argvHIDDEN3'] }, { value: 'OK' }, "EVAL redis.call('AUTH', 'authSECRET') → OK"));
  assert.equal(
    e.request!.args[0],
    `redis.call('AUTH', '${REDACTED}') redis.pcall('ACL', 'SETUSER', 'bob', 'on', '>${REDACTED}') redis.call('HSET', KEYS[1], 'api_token', ARGV[1], 'name', ARGV[2]) return redis.call('CONFIG', 'SET', 'requirepass', ARGV[3])`,
  );
  assert.deepEqual(e.request!.args.slice(1), ['1', 'user:1', REDACTED, 'visible-name', REDACTED]);
  assert.doesNotMatch(e.summary, /authSECRET/);
  const fcall = redact(entry('redis', { command: 'FCALL', args: ['set_user', '1', 'user:9', 'name', 'visible-user', 'password', 'fcallSECRET'] }, { value: 'OK' }));
  assert.deepEqual(fcall.request!.args, ['set_user', '1', 'user:9', 'name', 'visible-user', 'password', REDACTED]);
  // A script that only reads stays as it is; a script cut short (the dissector keeps 256 characters) loses what it has.
  const read = entry('redis', { command: 'EVAL', args: ["return redis.call('GET', KEYS[1])", '1', 'visible-key'] }, { value: 'v' });
  assert.equal(redact(read), read);
  const cut = redact(entry('redis', { command: 'EVAL', args: ["redis.call('AUTH', 'cutSECR", '0'] }));
  assert.equal(cut.request!.args[0], `redis.call('AUTH', '${REDACTED}`);
});

test('PGP and PuTTY private keys go, their public parts stay; JWE and Vault tokens go; a JWS-shaped or short value stays', () => {
  const pgp = '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGpgpSECRET\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----';
  const pgpPublic = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBvisible\n-----END PGP PUBLIC KEY BLOCK-----';
  const putty = 'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: visible-comment\nPublic-Lines: 1\nAAAAC3NzaC1visible\nPrivate-Lines: 1\nAAAAIputtySECRET\nPrivate-MAC: macSECRET\nafter: visible-after\n';
  const body = redact(httpEntry({ body: `${pgpPublic}\n${pgp}\n${putty}` })).request!.body;
  assert.equal(body, `${pgpPublic}\n${REDACTED}\n${putty.replace('Private-Lines: 1\nAAAAIputtySECRET\nPrivate-MAC: macSECRET', REDACTED)}`);
  const header = Buffer.from('{"alg":"RSA-OAEP","enc":"A256GCM"}').toString('base64url');
  const jwe = `${header}.OKOawDo13gRp2ojaHV7LFpZ.48V1_ALb6US04U3b.jweCipherSECRET.XFBoMYUZodetZdvTiFvSkQ`;
  const vault = 'hvs.CAESIJvaultSECRETabcdefghijklmnopqrstuvwxyz';
  const out = JSON.parse(redact(httpEntry({ body: JSON.stringify({ a: jwe, b: `VAULT_TOKEN was ${vault}`, c: 'hvs.short', d: 'archvs.visible-name' }) })).request!.body);
  assert.deepEqual(out, { a: REDACTED, b: `VAULT_TOKEN was ${REDACTED}`, c: 'hvs.short', d: 'archvs.visible-name' });
  // Five segments whose header has no `enc` are no JWE (a JWS header, a version string).
  const jwsHeader = Buffer.from('{"alg":"RS256","typ":"JWT"}').toString('base64url');
  const plain = httpEntry({ body: JSON.stringify({ v: `${jwsHeader}.a.b.c.d` }) });
  assert.equal(redact(plain), plain);
});

test('Vault unseal keys and plurals of secret names holding lists or maps go; counts, token ids and Secret references stay', () => {
  const init = JSON.stringify({ keys: ['unsealSECRET1'], keys_base64: ['dW5zZWFsU0VDUkVUMg=='], root_token: 'rootSECRET', recovery_keys: [], recovery_keys_base64: [] });
  assert.deepEqual(JSON.parse(redact(httpEntry({ path: '/v1/sys/init' }, { status: 200, body: init })).response!.body), { keys: [REDACTED], keys_base64: [REDACTED], root_token: REDACTED, recovery_keys: [], recovery_keys_base64: [] });
  const plurals = { passwords: ['pluralSECRET1'], tokens: { ci: 'pluralSECRET2' }, apiKeys: ['pluralSECRET3'], api_keys: [{ id: 'visible-id', value: 'pluralSECRET4' }], privateKeys: ['pluralSECRET5'], client_secrets: ['pluralSECRET6'] };
  const out = JSON.parse(redact(httpEntry({ body: JSON.stringify(plurals) })).request!.body);
  assert.deepEqual(out.passwords, [REDACTED]);
  assert.deepEqual(out.tokens, { ci: REDACTED });
  assert.doesNotMatch(JSON.stringify(out), /pluralSECRET[12356]/);
  assert.equal(out.api_keys[0].id, 'visible-id');
  // Counts, token ids, a listing's keys, a ServiceAccount's references to its Secrets stay.
  const ordinary = httpEntry({
    body: JSON.stringify({ max_tokens: 100, usage: { total_tokens: 7 }, tokens: [15496, 995], keys: ['user:1', 'user:2'], secrets: [{ name: 'visible-sa-token' }], imagePullSecrets: [{ name: 'visible-regcred' }] }),
  });
  assert.equal(redact(ordinary), ordinary);
});

test('a DNS TXT record loses the values of its sensitive items, in the answer and the summary; SPF and DKIM stay', () => {
  const txt = 'v=cfg1 region=visible-region password=txtSECRET1; token=txtSECRET2 key=txtSECRET3';
  const e = redact(entry('dns', { questions: [{ name: 'cfg.local', type: 'TXT' }] }, { answers: [{ name: 'cfg.local', type: 'TXT', class: 'IN', ttl: 60, data: txt }], authorities: [], additionals: [] }, `TXT cfg.local → ${txt}`));
  assert.equal(e.response!.answers[0].data, `v=cfg1 region=visible-region password=${REDACTED}; token=${REDACTED} key=${REDACTED}`);
  assert.doesNotMatch(e.summary, /txtSECRET/);
  const spf = entry('dns', { questions: [] }, { answers: [{ name: 'x', type: 'TXT', data: 'v=spf1 include:_spf.example ~all' }, { name: 'y', type: 'TXT', data: 'v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC' }] }, 'TXT x → v=spf1');
  assert.equal(redact(spf), spf);
  // A record of several strings reads as dig shows it, each string quoted: a secret at a string's start or end goes, quotes stay.
  const quoted = '"password=txtSECRET4" "a=b token=txt\\"SECRET5" "visible=yes"';
  const q = redact(entry('dns', { questions: [] }, { answers: [{ name: 'q', type: 'TXT', data: quoted }] }, `TXT q → ${quoted}`));
  assert.equal(q.response!.answers[0].data, `"password=${REDACTED}" "a=b token=${REDACTED}" "visible=yes"`);
  assert.doesNotMatch(q.summary, /SECRET/);
});

test('etcd Auth gRPC read without a schema: the password of Authenticate, UserAdd and UserChangePassword and the token returned go; the user name stays', () => {
  const message = (...fields: Array<[number, string]>) => [{ compressed: false, length: 1, fields: fields.map(([field, value]) => ({ field, wireType: 'len', value })) }];
  const call = (method: string, request: Array<[number, string]>, response: Array<[number, string]> = []) =>
    redact(entry('grpc', { method: 'POST', path: `/etcdserverpb.Auth/${method}`, headers: {}, messages: message(...request) }, { status: 200, headers: {}, messages: message(...response) }, `etcdserverpb.Auth/${method} → OK`));
  const auth = call('Authenticate', [[1, 'visible-user'], [2, 'etcdSECRET']], [[2, 'tokenSECRET.42']]);
  assert.deepEqual(auth.request!.messages[0].fields.map((f: any) => f.value), ['visible-user', REDACTED]);
  assert.deepEqual(auth.response!.messages[0].fields.map((f: any) => f.value), [REDACTED]);
  assert.deepEqual(call('UserAdd', [[1, 'visible-user'], [2, 'addSECRET'], [4, 'hashSECRET']]).request!.messages[0].fields.map((f: any) => f.value), ['visible-user', REDACTED, REDACTED]);
  assert.deepEqual(call('UserChangePassword', [[1, 'visible-user'], [2, 'changeSECRET']]).request!.messages[0].fields.map((f: any) => f.value), ['visible-user', REDACTED]);
  // Another method's field 2 is data.
  const get = entry('grpc', { method: 'POST', path: '/etcdserverpb.KV/Range', headers: {}, messages: message([1, '/registry/pods/a'], [2, '/registry/pods/b']) }, null);
  assert.equal(redact(get), get);
});

test('PostgreSQL functions that take a key or password: pgcrypto, set_config of a sensitive setting, crypt; by literal and by parameter', () => {
  const sql = "SELECT pgp_sym_encrypt('visible-data', 'symSECRET'), pgp_sym_decrypt(col, 'decSECRET'), set_config('app.api_token', 'cfgSECRET', false), set_config('search_path', 'visible-path', false), crypt('cryptSECRET', gen_salt('bf')), hmac('visible-msg', 'hmacSECRET', 'sha256')";
  const e = redact(entry('postgresql', { type: 'query', query: sql }, null, sql));
  assert.equal(
    e.request!.query,
    `SELECT pgp_sym_encrypt('visible-data', '${REDACTED}'), pgp_sym_decrypt(col, '${REDACTED}'), set_config('app.api_token', '${REDACTED}', false), set_config('search_path', 'visible-path', false), crypt('${REDACTED}', gen_salt('bf')), hmac('visible-msg', '${REDACTED}', 'sha256')`,
  );
  assert.doesNotMatch(e.summary, /SECRET/);
  const bound = redact(entry('postgresql', { type: 'extended', query: "SELECT pgp_sym_encrypt($1, $2), set_config('app.secret', $3, false), upper($4)", parameters: ['visible-data', 'bindSECRET', 'cfgSECRET', 'visible-arg'] }));
  assert.deepEqual(bound.request!.parameters, ['visible-data', REDACTED, REDACTED, 'visible-arg']);
  const mysql = redact(entry('mysql', { query: "SELECT AES_ENCRYPT('visible-data', 'aesSECRET')" }));
  assert.equal(mysql.request!.query, `SELECT AES_ENCRYPT('visible-data', '${REDACTED}')`);
});

test('the new scans stay linear on inputs built against them', { timeout: 60_000 }, () => {
  // A quadratic scan over any of these would run for hours and fail by the timeout.
  const n = 200_000;
  // Many flow maps, many Lua calls, deep parentheses, many TXT items, many PuTTY headers, many eyJ segments.
  redact(httpEntry({ body: 'kind: Secret ' + 'data: {a: b, '.repeat(n) }));
  redact(httpEntry({ body: 'kind: Secret data: {' + 'x'.repeat(n * 5) }));
  redact(entry('redis', { command: 'EVAL', args: ['call('.repeat(n), '0'] }));
  redact(entry('redis', { command: 'EVAL', args: ["call('AUTH'," + "'a',".repeat(n), '0'] }));
  redact(entry('postgresql', { type: 'query', query: 'SELECT ' + 'pgp_sym_encrypt('.repeat(n) + "'x'" }));
  redact(entry('dns', {}, { answers: [{ type: 'TXT', data: 'password='.repeat(n) }] }));
  redact(httpEntry({ body: 'PuTTY-User-Key-File-'.repeat(n) }));
  redact(httpEntry({ body: 'PuTTY-User-Key-File-'.repeat(n) + 'Private-Lines:' }));
  redact(httpEntry({ body: '---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----'.repeat(n) }));
  redact(httpEntry({ body: 'discord.com/api/webhooks/'.repeat(n) + 'a/'.repeat(n) }));
  redact(httpEntry({ body: 'x '.repeat(n) + 'hooks.slack.com/'.repeat(n) }));
  redact(httpEntry({ body: `${Buffer.from('{"enc":"x"}').toString('base64url')}.`.repeat(n) }));
});

test('more shapes: password hashes and short passes by name, SSH2 private keys, Slack and Discord webhook URLs; look-alikes stay', () => {
  const names = JSON.parse(redact(httpEntry({ body: JSON.stringify({ passwordDigest: 'digestSECRET', pwHash: 'pwHashSECRET', db_pass: 'dbPassSECRET', storepass: 'storeSECRET', backupCodes: ['codeSECRET'], manifestDigest: 'sha256:visible', bypass: true, compass: 'visible-north' }) })).request!.body);
  assert.deepEqual(names, { passwordDigest: REDACTED, pwHash: REDACTED, db_pass: REDACTED, storepass: REDACTED, backupCodes: [REDACTED], manifestDigest: 'sha256:visible', bypass: true, compass: 'visible-north' });
  const ssh2 = '---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: "visible-comment"\nP2/56wAAAssh2SECRET\n---- END SSH2 ENCRYPTED PRIVATE KEY ----\nafter';
  assert.equal(redact(httpEntry({ body: ssh2 })).request!.body, `${REDACTED}\nafter`);
  const alertmanager = 'receivers:\n- name: visible-team\n  slack_configs:\n  - api_url: https://hooks.slack.com/services/T0VISIBLE/B0VISIBLE/slackHookSECRETxxxxxxxx\n    channel: "#visible-alerts"\n';
  assert.equal(redact(httpEntry({ body: alertmanager })).request!.body, alertmanager.replace('slackHookSECRETxxxxxxxx', REDACTED));
  const discord = redact(httpEntry({ body: JSON.stringify({ url: 'https://discord.com/api/webhooks/123456789/discordHookSECRETxyz?wait=true' }) })).request!.body;
  assert.equal(JSON.parse(discord).url, `https://discord.com/api/webhooks/123456789/${REDACTED}?wait=true`);
  // Another API's webhooks path is its own resource.
  const own = httpEntry({ path: '/api/webhooks/42/deliveries', url: '/api/webhooks/42/deliveries', body: '{"next":"/api/webhooks/42/deliveries?page=2"}' });
  assert.equal(redact(own), own);
});

test('a file that is neither a capture nor entries is named by its first four bytes: a token it starts with stays off stderr', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-gaps-'));
  try {
    const file = join(dir, 'first.txt');
    writeFileSync(file, 'ghp_tokenSECRETxyz0123456789\n');
    for (const cmd of ['dissect', 'filter']) {
      const r = await runCli(cmd === 'filter' ? [cmd, 'true', file] : [cmd, file]);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /starts with "ghp_"/);
      assert.doesNotMatch(r.stderr, /toke/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a script given as a Redis entry key (EVAL_RO from an older entry file) loses its secret there too', () => {
  const script = "redis.call('AUTH', 'keySECRET') return 1";
  const e = redact(entry('redis', { command: 'EVAL_RO', key: script, args: [script, '0'] }, { value: 1 }, `EVAL_RO ${script} → 1`));
  assert.equal(e.request!.key, `redis.call('AUTH', '${REDACTED}') return 1`);
  assert.doesNotMatch(JSON.stringify(e), /keySECRET/);
});

test('a Kubernetes Secret in its protobuf encoding inside a schema-less gRPC field (etcd Range) is withheld; other bytes stay', () => {
  const typeMeta = '\u000a\u0002v1\u0012\u0006Secret';
  const raw = '\u000a\u0004\u000a\u0002db\u0012\u0014\u000a\u0004pass\u0012\u000cetcdSECRET!!';
  const secret = Buffer.from(`k8s\u0000\u000a${String.fromCharCode(typeMeta.length)}${typeMeta}\u0012${String.fromCharCode(raw.length)}${raw}`, 'latin1').toString('base64');
  const kv = (bytes: string) => ({ field: 2, wireType: 'len', message: [{ field: 1, wireType: 'len', value: '/registry/secrets/default/db' }, { field: 5, wireType: 'len', bytes }] });
  const range = (bytes: string) => entry('grpc', { method: 'POST', path: '/etcdserverpb.KV/Range', headers: {}, messages: [] }, { status: 200, headers: {}, messages: [{ compressed: false, length: 1, fields: [kv(bytes)] }] });
  const out = redact(range(secret));
  assert.equal(out.response!.messages[0].fields[0].message[1].bytes, REDACTED);
  assert.equal(out.response!.messages[0].fields[0].message[0].value, '/registry/secrets/default/db');
  const configMap = range(Buffer.from('k8s\u0000\u000a\u0011\u000a\u0002v1\u0012\u0009ConfigMap', 'latin1').toString('base64'));
  assert.equal(redact(configMap), configMap);
});

test('kubectl exec: the words of the command= parameters are read as an argv in url, path and summary; Consul KV values by their key', () => {
  const q = '/api/v1/namespaces/db/pods/mysql-0/exec?command=sh&command=-c&command=mysql+-uroot+-pshSECRET+shop&command=--password&command=pwSECRET&command=PGPASSWORD%3DenvSECRET&container=visible-container&stdin=true';
  const e = redact(httpEntry({ method: 'GET', path: q, url: q }, null, `GET ${q} → 101`));
  const red = '/api/v1/namespaces/db/pods/mysql-0/exec?command=sh&command=-c&command=mysql%20-uroot%20-p%5BREDACTED%5D%20shop&command=--password&command=%5BREDACTED%5D&command=PGPASSWORD%3D%5BREDACTED%5D&container=visible-container&stdin=true';
  assert.equal(e.request!.url, red);
  assert.equal(e.request!.path, red);
  assert.equal(e.summary, `GET ${red} → 101`);
  const plain = '/api/v1/namespaces/db/pods/mysql-0/exec?command=ls&command=-la&command=%2Fvar%2Flib&stdin=true';
  const ls = httpEntry({ method: 'GET', path: plain, url: plain }, null, `GET ${plain} → 101`);
  assert.equal(redact(ls), ls);
  const consul = redact(httpEntry({ method: 'GET', path: '/v1/kv/app?recurse' }, { status: 200, body: JSON.stringify([{ Key: 'app/db/password', Value: 'Y29uc3VsU0VDUkVU', Flags: 0 }, { Key: 'app/db/host', Value: 'dmlzaWJsZQ==', Flags: 0 }]) }));
  assert.deepEqual(JSON.parse(consul.response!.body).map((kv: any) => kv.Value), [REDACTED, 'dmlzaWJsZQ==']);
});
