// Shapes the QA round of session 40 found leaking or over-redacted (docs/security.md): JSON held in a
// JSON string, JSON in SQL literals, Redis scripts called by SHA1 or name and Lua long strings, Telegram
// and legacy Vault tokens, etcd's JSON gateway, private keys as lists of lines, URLs encoded in another
// URL's query, webhook paths whose host is a header, text in base64 fields, warnings that quote the
// wire; and, the other way, a tokenizer's tokens and a protobuf map key ending in `key`. Each with what
// must stay readable beside it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import type { Entry } from '../../src/model/entry.js';
import { httpEntry } from './http-entry.js';

function entry(protocol: string, request: Record<string, any>, response: Record<string, any> | null = null, summary = ''): Entry {
  return { ...httpEntry({}), protocol, request, response, summary };
}
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('JSON held in a JSON string loses its secrets, escaped once or twice; a string that only mentions one stays', () => {
  const redact = createRedactor();
  const once = JSON.stringify({ level: 'info', msg: JSON.stringify({ owner: 'visible-owner', password: 'onceSECRET' }) });
  const out = JSON.parse(redact(httpEntry({ body: once })).request!.body);
  assert.deepEqual(JSON.parse(out.msg), { owner: 'visible-owner', password: REDACTED });
  const twice = JSON.stringify({ event: JSON.stringify({ payload: JSON.stringify({ api_token: 'twiceSECRET', mode: 'visible-mode' }) }) });
  const outTwice = redact(httpEntry({ body: twice })).request!.body;
  assert.doesNotMatch(outTwice, /twiceSECRET/);
  assert.match(outTwice, /visible-mode/);
  const configMap = JSON.stringify({ kind: 'ConfigMap', data: { 'config.json': '{"token": "cmSECRET", "region": "visible-region"}' } });
  assert.doesNotMatch(redact(httpEntry({ body: configMap })).request!.body, /cmSECRET/);
  const plain = httpEntry({ body: JSON.stringify({ msg: '{"owner": "visible-owner", "note": "the password is required"}' }) });
  assert.equal(redact(plain), plain);
  // A run of backslashes is scanned once (the escapes before a quote are bounded).
  const slashes = httpEntry({ body: `{"a":"${'\\\\'.repeat(200_000)}"}` });
  assert.equal(redact(slashes), slashes);
});

test('SQL: a JSON literal loses its sensitive values whatever column it goes to, and a quoted key keeps its colon', () => {
  const redact = createRedactor();
  const update = `UPDATE cfg SET doc = '{"api_token": "jsonbSECRET", "mode": "visible-mode"}'::jsonb WHERE id = 1`;
  const e = redact(entry('postgresql', { type: 'query', query: update }, null, update));
  assert.equal(e.request!.query, `UPDATE cfg SET doc = '{"api_token":"${REDACTED}","mode":"visible-mode"}'::jsonb WHERE id = 1`);
  assert.doesNotMatch(e.summary, /jsonbSECRET/);
  // A summary cut inside the literal, before the end of the secret: the part shown is not searched for whole.
  const cut = redact(entry('postgresql', { type: 'query', query: update }, null, `${update.slice(0, 44)}…`));
  assert.equal(cut.summary, `UPDATE cfg SET doc = '{"api_token": "${REDACTED}"`);
  // `"password"` inside the literal was read as the keyword: its closing quote taken for an opening one.
  const insert = `INSERT INTO t VALUES (1, '{"password":"insertSECRET","it''s":"visible"}')`;
  assert.equal(redact(entry('mysql', { query: insert })).request!.query, `INSERT INTO t VALUES (1, '{"password":"${REDACTED}","it''s":"visible"}')`);
  const column = `UPDATE users SET "password" = 'columnSECRET' WHERE name = 'visible-name'`;
  assert.equal(redact(entry('postgresql', { query: column })).request!.query, `UPDATE users SET "password" = '${REDACTED}' WHERE name = 'visible-name'`);
  const select = entry('postgresql', { query: `SELECT "password" FROM users WHERE name = 'visible-name'` });
  assert.equal(redact(select), select);
  // In text (a log line) the same.
  assert.equal(redact(httpEntry({ body: `migrate: INSERT INTO cfg VALUES ('{"password": "logSECRET"}')` })).request!.body, `migrate: INSERT INTO cfg VALUES ('{"password": "${REDACTED}"}')`);
});

test('Redis: SCRIPT LOAD and FUNCTION LOAD are read as EVAL is, and EVALSHA and FCALL hide the ARGV their code takes', () => {
  const redact = createRedactor();
  const redis = (command: string, args: string[], value: unknown = 'OK', summary = '') => entry('redis', { command, args }, { type: 'bulk', value }, summary);
  const script = "redis.call('AUTH', 'literalSECRET') return redis.call('CONFIG', 'SET', 'requirepass', ARGV[2])";
  const sha = createHash('sha1').update(script).digest('hex');
  const load = redact(redis('SCRIPT', ['LOAD', script], sha));
  assert.equal(load.request!.args[1], `redis.call('AUTH', '${REDACTED}') return redis.call('CONFIG', 'SET', 'requirepass', ARGV[2])`);
  const call = redact(redis('EVALSHA', [sha.toUpperCase(), '1', 'visible-key', 'visible-argv', 'evalshaSECRET'], 'OK', `EVALSHA ${sha} 1 visible-key visible-argv evalshaSECRET`));
  assert.deepEqual(call.request!.args, [sha.toUpperCase(), '1', 'visible-key', 'visible-argv', REDACTED]);
  assert.doesNotMatch(call.summary, /evalshaSECRET/);
  // A script this run never saw loaded keeps its arguments (nothing says which is a secret).
  const unknown = redis('EVALSHA', ['e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '0', 'visible-argv']);
  assert.equal(redact(unknown), unknown);
  // The server's answer names the script when the dissector kept only the start of it.
  createRedactor()(redis('SCRIPT', ['LOAD', "return redis.call('AUTH', ARGV[1]) -- cut"], 'b'.repeat(40)));
  const library = [
    '#!lua name=acl',
    "local function setpw(keys, args) return redis.call('CONFIG', 'SET', 'masterauth', args[1]) end",
    "redis.register_function('set_pw', setpw)",
    "redis.register_function('hset_pw', function(k, a) return redis.call('HSET', k[1], 'password', a[2], 'note', a[1]) end)",
    "redis.register_function{function_name='auth', callback=function(keys, argv) return redis.call('AUTH', 'fnSECRET') end}",
  ].join('\n');
  const loaded = redact(redis('FUNCTION', ['LOAD', 'REPLACE', library], 'acl'));
  assert.equal(loaded.request!.args[2], library.replace('fnSECRET', REDACTED));
  assert.deepEqual(redact(redis('FCALL', ['set_pw', '0', 'fcallSECRET'])).request!.args, ['set_pw', '0', REDACTED]);
  assert.deepEqual(redact(redis('FCALL', ['hset_pw', '1', 'visible-key', 'visible-note', 'hsetSECRET'])).request!.args, ['hset_pw', '1', 'visible-key', 'visible-note', REDACTED]);
  const other = redis('FCALL', ['other', '1', 'visible-key', 'visible-argv']);
  assert.equal(redact(other), other);
  // Lua long strings are literals too.
  const long = redact(redis('EVAL', ["redis.call('AUTH', [[longSECRET]]) return redis.call('CONFIG', 'SET', 'requirepass', [==[level]]SECRET]==])", '0']));
  assert.equal(long.request!.args[0], `redis.call('AUTH', [[${REDACTED}]]) return redis.call('CONFIG', 'SET', 'requirepass', [==[${REDACTED}]==])`);
  const index = redis('EVAL', ["return redis.call('GET', KEYS[1])", '1', 'visible-key']);
  assert.equal(redact(index), index);
});

test('a Telegram bot token loses its secret in a path, a URL and text; the bot id stays, as do look-alikes', () => {
  const redact = createRedactor();
  const token = '110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';
  const path = `/bot${token}/sendMessage`;
  const e = redact(httpEntry({ path, url: path }, null, `POST ${path} → 200`));
  assert.equal(e.request!.path, `/bot110201543:${REDACTED}/sendMessage`);
  assert.equal(e.request!.url, `/bot110201543:${REDACTED}/sendMessage`);
  assert.equal(e.summary, `POST /bot110201543:${REDACTED}/sendMessage → 200`);
  const config = redact(httpEntry({ body: JSON.stringify({ bot: `token ${token.replace('AAHd', 'AAEx')}1.` }) })).request!.body;
  assert.equal(JSON.parse(config).bot, `token 110201543:${REDACTED}.`);
  // Telegram's documentation's own example.
  assert.equal(redact(httpEntry({ body: 'TELEGRAM=123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11 ok' })).request!.body, `TELEGRAM=123456:${REDACTED} ok`);
  // Not after digits, or not of a token's length: a time, a hash after a label.
  const plain = httpEntry({ body: JSON.stringify({ a: 'at 12:AAbbccddeeffgghhiijjkkllmmnnooppq', b: 'id:AAbbccddeeffgghhiijjkkllmmnnooppqq', c: '123456789:AAshort' }) });
  assert.equal(redact(plain), plain);
});

test('a legacy Vault token (s. and 24 characters) goes in text; identifiers and short runs stay', () => {
  const redact = createRedactor();
  const token = 's.Xa1b2C3d4E5f6G7h8I9j0KlM';
  assert.equal(token.length, 26);
  const e = redact(httpEntry({ body: `unsealed with the old token ${token}.\nnext step` }));
  assert.equal(e.request!.body, `unsealed with the old token ${REDACTED}.\nnext step`);
  assert.equal(JSON.parse(redact(httpEntry({ body: JSON.stringify({ wrapped: token }) })).request!.body).wrapped, REDACTED);
  const plain = httpEntry({ body: JSON.stringify({ a: 'x = s.getElementsByClassNameX(y)', b: 'items.Xa1b2C3d4E5f6G7h8I9j0KlM', c: 's.abcdefghijklmnopqrstuvwx', d: 's.Xa1b2C3d4E5f6G7h8I9j0KlMn' }) });
  assert.equal(redact(plain), plain);
});

test('etcd JSON gateway: a base64 key is judged decoded, Secrets under /registry/secrets go; other values and every key stay', () => {
  const redact = createRedactor();
  const put = redact(httpEntry({ path: '/v3/kv/put', body: JSON.stringify({ key: b64('/app/db/password'), value: b64('putSECRET') }) }));
  assert.deepEqual(JSON.parse(put.request!.body), { key: b64('/app/db/password'), value: REDACTED });
  const visible = httpEntry({ path: '/v3/kv/put', body: JSON.stringify({ key: b64('/app/db/host'), value: b64('visible-host') }) });
  assert.deepEqual(JSON.parse(redact(visible).request!.body), { key: b64('/app/db/host'), value: b64('visible-host') });
  const secret = b64('k8s\u0000\n\u000c\n\u0002v1\u0012\u0006Secret\u0012\u0010rangeSECRET');
  const range = { kvs: [{ key: b64('/registry/secrets/shop/db'), create_revision: '5', value: secret }, { key: b64('/registry/configmaps/shop/app'), value: b64('visible-config') }], count: '2' };
  const rangeOut = JSON.parse(redact(httpEntry({ path: '/v3/kv/range' }, { status: 200, body: JSON.stringify(range) })).response!.body);
  assert.deepEqual(rangeOut.kvs, [{ key: b64('/registry/secrets/shop/db'), create_revision: '5', value: REDACTED }, range.kvs[1]]);
  const watch = { result: { events: [{ kv: { key: b64('/svc/client_secret'), value: b64('watchSECRET') }, prev_kv: { key: b64('/svc/client_secret'), value: b64('prevSECRET') } }] } };
  assert.doesNotMatch(redact(httpEntry({ path: '/v3/watch' }, { status: 200, body: JSON.stringify(watch) })).response!.body, /d2F0Y2hTRUNSRVQ|cHJldlNFQ1JFVA/);
});

test('a tokenizer or a language model keeps its tokens; the same names holding credentials still go', () => {
  const redact = createRedactor();
  const kept = [
    { tokens: ['Hello', ' world', '!'] },
    { tokens: ['Hello', 'world'], ids: [15496, 995] },
    { choices: [{ logprobs: { tokens: ['Hello', ' world'], token_logprobs: [-0.1, -0.2], text_offset: [0, 5] } }] },
    { choices: [{ logprobs: { content: [{ token: 'Hello', logprob: -0.31, bytes: [72], top_logprobs: [{ token: 'Hi', logprob: -1.2 }] }] } }] },
    { tokens: [{ token: 'quick', start_offset: 4, end_offset: 9, type: '<ALPHANUM>', position: 1 }] },
    { tokens: ['\u0120Hello', '\u2581world', '##ing'] },
  ];
  for (const body of kept) {
    const e = httpEntry({}, { status: 200, body: JSON.stringify(body) });
    assert.equal(redact(e), e, JSON.stringify(body));
  }
  const gone = [
    { tokens: ['Hello', 'world'] }, // nothing says these are pieces of text
    { tokens: ['ciToken1SECRET', ' opsToken2SECRET'] }, // keys split at ', '
    { tokens: ['abcdef1234567890SECRET', 'x'], ids: [1, 2] },
    { token: 'loneSECRET', position: 'first' },
    { token: 'idSECRET', id: 7 },
  ];
  for (const body of gone) {
    const out = redact(httpEntry({}, { status: 200, body: JSON.stringify(body) })).response!.body;
    assert.ok(out.includes(REDACTED) && !/SECRET|Hello/.test(out), out);
  }
});

test('a protobuf map entry read without a schema: a key ending in key is judged as a header only when it reads as one, a path by its last segment', () => {
  const redact = createRedactor();
  const text = (field: number, value: string) => ({ field, wireType: 'len', value });
  const pair = (key: string, value: string) => ({ field: 3, wireType: 'len', message: [text(1, key), text(2, value)] });
  const fields = [pair('/zoo/monkey', 'visible-monkey'), pair('monkey', 'visible-bare'), pair('x-api-key', 'headerSECRET'), pair('/app/db/password', 'pathSECRET'), pair('Ocp-Apim-Subscription-Key', 'apimSECRET'), pair('authorization', 'authSECRET')];
  const e = entry('grpc', { path: '/svc.Config/Get', messages: [{ compressed: false, length: 99, fields }] });
  const got = redact(e).request!.messages[0].fields;
  assert.deepEqual(got.slice(0, 2), fields.slice(0, 2));
  for (const f of got.slice(2)) assert.equal(f.message[1].value, REDACTED);
});

test('a private key kept as a list of its lines goes to its END line; a certificate so kept stays', () => {
  const redact = createRedactor();
  const key = ['-----BEGIN RSA PRIVATE KEY-----', 'MIIEowlineSECRET1', 'lineSECRET2', '-----END RSA PRIVATE KEY-----'];
  const out = JSON.parse(redact(httpEntry({ body: JSON.stringify({ name: 'visible-name', pem_lines: key, after: ['visible-after'] }) })).request!.body);
  assert.deepEqual(out, { name: 'visible-name', pem_lines: [REDACTED, REDACTED, REDACTED, REDACTED], after: ['visible-after'] });
  const cert = httpEntry({ body: JSON.stringify({ chain: ['-----BEGIN CERTIFICATE-----', 'MIIvisible', '-----END CERTIFICATE-----'] }) });
  assert.equal(redact(cert), cert);
});

test('a URL encoded in a query parameter is read as a URL: its parameters and userinfo go, once or twice encoded', () => {
  const redact = createRedactor();
  const cases: Array<[string, string]> = [
    ['/login?next=%2Fcb%3Fstate%3Dvisible%26token%3DnextSECRET&lang=en', `/login?next=%2Fcb%3Fstate%3Dvisible%26token%3D${REDACTED}&lang=en`],
    ['/go?u=https%3A%2F%2Fbob%3AuserinfoSECRET%40db.local%2Fx', `/go?u=https%3A%2F%2Fbob%3A${REDACTED}%40db.local%2Fx`],
    ['/go?u=%252Fa%253Fpassword%253DtwiceSECRET', `/go?u=%252Fa%253Fpassword%253D${REDACTED}`],
  ];
  for (const [url, want] of cases) {
    const e = redact(httpEntry({ path: url, url }, null, `GET ${url} → 200`));
    assert.equal(e.request!.url, want);
    assert.equal(e.summary, `GET ${want} → 200`);
  }
  const plain = httpEntry({ path: '/s?q=a%3Db&next=%2Fhome', url: '/s?q=a%3Db&next=%2Fhome' });
  assert.equal(redact(plain), plain);
});

test('a webhook path loses its secret when the host is a header or an authority; other hosts keep the path', () => {
  const redact = createRedactor();
  const path = '/services/T0001/B0001/slackPathSECRETabcdefgh';
  const slack = redact(httpEntry({ path, url: path, host: 'hooks.slack.com', headers: { host: 'hooks.slack.com' } }, null, `POST ${path} → 200`));
  assert.equal(slack.request!.path, `/services/T0001/B0001/${REDACTED}`);
  assert.doesNotMatch(JSON.stringify(slack), /slackPathSECRET/);
  const discord = redact(entry('http2', { method: 'POST', path: '/api/webhooks/123/discordSECRETtoken', authority: 'discord.com:443', headers: {} }));
  assert.equal(discord.request!.path, `/api/webhooks/123/${REDACTED}`);
  const other = httpEntry({ path, url: path, host: 'api.internal', headers: { host: 'api.internal' } });
  assert.equal(redact(other), other);
});

test('text sent as base64 in a field is searched decoded and re-encoded; random bytes and ids stay', () => {
  const redact = createRedactor();
  const push = { message: { data: b64('{"password":"pubsubSECRET","owner":"visible-owner"}'), messageId: '1' }, subscription: 'projects/p/subscriptions/s' };
  const out = JSON.parse(redact(httpEntry({ body: JSON.stringify(push) })).request!.body);
  assert.deepEqual(JSON.parse(Buffer.from(out.message.data, 'base64').toString()), { password: REDACTED, owner: 'visible-owner' });
  const pem = b64('-----BEGIN EC PRIVATE KEY-----\nMHcb64SECRET\n-----END EC PRIVATE KEY-----\n');
  const cert = b64('-----BEGIN CERTIFICATE-----\nMIIvisible\n-----END CERTIFICATE-----\n');
  const cm = JSON.parse(redact(httpEntry({ body: JSON.stringify({ data: { tlsKey: pem, caBundle: cert } }) })).request!.body);
  assert.equal(Buffer.from(cm.data.tlsKey, 'base64').toString(), `${REDACTED}\n`);
  assert.equal(cm.data.caBundle, cert);
  const plain = httpEntry({ body: JSON.stringify({ id: '123e4567-e89b-12d3-a456-426614174000', digest: b64('\u00ff\u0001binary-bytes-here') }) });
  assert.equal(redact(plain), plain);
});

test('a body of binary key/value framing (protobuf, msgpack, BSON) kept as base64 loses the value after a sensitive name', () => {
  const redact = createRedactor();
  const decoded = (raw: string) => {
    const out = redact(httpEntry({ bodyEncoding: 'base64', body: Buffer.from(raw, 'latin1').toString('base64') })).request!;
    return Buffer.from(out.body, 'base64').toString('latin1');
  };
  assert.equal(decoded('\n\x08password\x12\x0bprotoSECRET\x1a\x07visible'), `\n\x08password\x12\x0b${REDACTED}\x1a\x07visible`);
  assert.equal(decoded('\x82\xa8password\xaamsgpSECRET\xa4name\xa7visible'), `\x82\xa8password\xaa${REDACTED}\xa4name\xa7visible`);
  assert.equal(decoded('\x1f\x00\x00\x00\x02api_token\x00\x0b\x00\x00\x00bsonSECRET\x00\x00'), `\x1f\x00\x00\x00\x02api_token\x00\x0b\x00\x00\x00${REDACTED}\x00\x00`);
  // Short names (`key`, `pin`) after chance bytes, and names with nothing printable after them, stay.
  for (const raw of ['\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR', '\x00key\x01\x02visible', '\x00password\x01\x02\x03']) {
    const e = httpEntry({ bodyEncoding: 'base64', body: Buffer.from(raw, 'latin1').toString('base64') });
    assert.equal(redact(e), e);
  }
});

test('an argv that starts with a flag (the args of a container) loses the value of a sensitive one', () => {
  const redact = createRedactor();
  const pod = (args: string[]) => JSON.parse(redact(httpEntry({ body: JSON.stringify({ kind: 'Pod', spec: { containers: [{ name: 'c', args }] } }) })).request!.body).spec.containers[0].args;
  assert.deepEqual(pod(['--requirepass', 'argsSECRET']), ['--requirepass', REDACTED]);
  assert.deepEqual(pod(['--api-token', 'argsSECRET', '--v', '2']), ['--api-token', REDACTED, '--v', '2']);
  assert.deepEqual(pod(['--port', '8080', '--mode', 'visible-mode']), ['--port', '8080', '--mode', 'visible-mode']);
});

test('warnings that quote the wire lose the secrets in it', () => {
  const redact = createRedactor();
  const e = { ...httpEntry({ path: '/cb?access_token=lineSECRET', url: '/cb?access_token=lineSECRET' }), warnings: ['malformed: request line "GET /cb?access_token=lineSECRET HTTX/1.1"', 'unanswered'] };
  assert.deepEqual(redact(e).warnings, [`malformed: request line "GET /cb?access_token=${REDACTED} HTTX/1.1"`, 'unanswered']);
  const plain = { ...httpEntry({}), warnings: ['malformed: status line "HTTP/1.1 OK"', 'unanswered'] };
  assert.equal(redact(plain), plain);
});

test('hostile inputs to the new scans finish: markers by the hundred thousand, quotes and brackets that never close', { timeout: 60_000 }, () => {
  const redact = createRedactor();
  const N = 1 << 17;
  const bodies = [
    ' s.'.repeat(N), // a legacy Vault token's start everywhere, never 24 characters after it
    ` s.${'A1b2'.repeat(6)}x`.repeat(N / 8), // runs one character too long
    '1234567:AA'.repeat(N), // a Telegram token's start everywhere
    JSON.stringify({ a: `${'\\"password\\":'.repeat(N / 4)}` }), // escaped keys by the thousand
    `${'a=1&'.repeat(N)}b=%3D`, // many parameters, the one percent at the end
    `x=${'%253D'.repeat(N / 2)}`, // encoded twice, and again
    JSON.stringify({ l: Array.from({ length: N / 4 }, () => '-----BEGIN RSA PRIVATE KEY-----') }), // keys as lines that never END
    JSON.stringify({ data: 'eyJ'.repeat(N) }), // base64 that is nearly text
  ];
  for (const body of bodies) assert.equal(typeof redact(httpEntry({ body })).request!.body, 'string');
  const sql = `INSERT INTO t VALUES (${`'{"password": "`.repeat(N / 8)})`;
  assert.equal(typeof redact(entry('postgresql', { query: sql })).request!.query, 'string');
  const redis = (command: string, args: string[]) => redact(entry('redis', { command, args }, { value: 'OK' }));
  redis('FUNCTION', ['LOAD', `${'function('.repeat(N / 4)} redis.call('AUTH', 'x')`]);
  redis('FUNCTION', ['LOAD', `${"register_function('".repeat(N / 8)} redis.call('AUTH', 'x')`]);
  redis('EVAL', [`redis.call(${'[['.repeat(N / 4)}`, '0']);
});
