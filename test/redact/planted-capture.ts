// A crafted capture with secrets planted where real traffic carries them:
// HTTP/1 headers, query strings, URL userinfo, Referer/Location/Link, cookies,
// JSON at depth, form and multipart bodies; HTTP/2 gRPC metadata and a query
// in :path; Redis CONFIG SET/ACL SETUSER/MIGRATE/HELLO/AUTH and stored values;
// PostgreSQL and MySQL password statements and sensitive columns; bodies in
// every content coding (gzip, zstd, brotli, snappy, aws-chunked, unknown);
// secrets known by shape (JWT, PEM, API keys), configuration lines, Kubernetes
// Secrets (JSON and protobuf), env vars and the WebSocket bearer subprotocol;
// Loki pushes; gRPC map entries read without a schema; and the shapes of
// session 33's QA list (a flow-style YAML Secret, Redis scripts, pgcrypto keys,
// etcd's Auth gRPC, PGP/PuTTY keys, JWE and Vault tokens, Vault's unseal keys,
// plurals, a DNS TXT record over TCP). Built with the engine
// tests' TCP wire (raw IPv4 between 198.18.0.1 and 198.18.0.2), written as a pcap.

import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { Wire } from '../helpers/engine-wire.js';
import { h2frame } from '../helpers/http2-wire.js';
import { snappyLiterals } from '../helpers/snappy-block.js';
import { varint } from '../helpers/protobuf-wire.js';

/** Every planted secret: none may appear in redacted output; all of them in `--no-redact` output. */
export const SECRETS: string[] = [];
/** `secret(n)`: a unique, greppable secret string. */
function secret(n: number): string {
  const s = `Zq${String(n).padStart(2, '0')}secretVal`;
  SECRETS.push(s);
  return s;
}
const S = Array.from({ length: 161 }, (_, i) => (i === 0 ? '' : secret(i)));

/** What must stay readable. */
export const VISIBLE = ['visible-nested', '123456789:', 'visible-tokenizer', 'visible-chat', 'visible-doc', 'visible-fn-key', 'visible-env', 'visible-owner', 'visible-grpc-host', 'visible-job', 'visible-mode', 'visible-secret-name', 'visible-bucket', 'qwerty-visible', 'visible-state', 'visible-redis-key', '/oauth/cb', '/api/login', 'visible-file-content', 'keyspace-visible', 'monkey-visible', 'visible-hash-value', 'visible-attempt', 'visible-object-key', 'visible-region', 'visible-job2', 'visible-login', 'visible-argv', 'visible-port', 'visible-kid', 'visible-yaml-env', 'visible-csv', 'visible-etcd-user', 'visible-txt', 'visible-argv2', 'visible-rpc-user', '0xvisible', 'visible-ws-user', 'visible-realm', 'visible_program', '/prod/visible-param', 'visible-kv-key', 'visible-accept', 'visible-pg-user', 'visible-kv1-key', 'u:1:password', 'visible-app-user', 'visible-php-name'];

function http1(wire: Wire, t: number, port: number, request: string, response: string): void {
  wire.send(t, 1, port, 80, request);
  wire.send(t + 1, 2, 80, port, response);
}

function withBody(head: string, contentType: string, body: string): string {
  return `${head}\r\nHost: api\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

// --- HTTP/2 framing with HPACK literals (no indexing, no Huffman).
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out.push(v);
  return out;
}
function hpack(headers: [string, string][]): Buffer {
  const bytes: number[] = [];
  for (const [name, value] of headers) {
    bytes.push(0x00, ...hpackInt(name.length, 7, 0), ...Buffer.from(name, 'latin1'));
    bytes.push(...hpackInt(value.length, 7, 0), ...Buffer.from(value, 'latin1'));
  }
  return Buffer.from(bytes);
}
function grpcMessage(text: string): Buffer {
  const proto = Buffer.concat([Buffer.from([0x0a, text.length]), Buffer.from(text)]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(proto.length, 1);
  return Buffer.concat([prefix, proto]);
}

// --- Redis, PostgreSQL, MySQL messages.
const resp = (...words: string[]): string => `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;
function pgQuery(sql: string): Buffer {
  const body = Buffer.from(sql + '\0');
  const h = Buffer.alloc(5);
  h[0] = 0x51; // 'Q'
  h.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
}
function pgDone(tag: string): Buffer {
  const body = Buffer.from(tag + '\0');
  const c = Buffer.alloc(5);
  c[0] = 0x43; // 'C'
  c.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([c, body, Buffer.from([0x5a, 0, 0, 0, 5, 0x49])]); // ReadyForQuery 'I'
}
function mysqlQuery(sql: string): Buffer {
  const body = Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]);
  const h = Buffer.alloc(4);
  h.writeUIntLE(body.length, 0, 3);
  return Buffer.concat([h, body]);
}
const MYSQL_OK = Buffer.from([7, 0, 0, 1, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]);

export function buildPlantedCapture(): Wire {
  const w = new Wire();
  let t = 1_700_000_000_000;
  const next = () => (t += 10);

  // HTTP/1: an OAuth redirect with secrets in the query, headers, Referer, userinfo; secrets in the reply's headers.
  http1(
    w, next(), 40001,
    `GET /oauth/cb?code=${S[1]}&state=visible-state&access_token=${S[2]} HTTP/1.1\r\nHost: api\r\n` +
      `X-Api-Key: ${S[3]}\r\nAuthorization: Bearer ${S[4]}\r\nProxy-Authorization: Basic ${S[5]}\r\nCookie: sid=${S[6]}; theme=dark\r\n` +
      `X-Amz-Security-Token: ${S[7]}\r\nX-Goog-Api-Key: ${S[8]}\r\nX-Jwt-Assertion: ${S[9]}\r\n` +
      `Referer: https://app.example/login?client_secret=${S[10]}&page=2\r\nX-Upstream: http://alice:${S[11]}@internal.example/x\r\n\r\n`,
    `HTTP/1.1 302 Found\r\nLocation: https://app.example/cb?code=${S[12]}&id_token=${S[13]}\r\nSet-Cookie: session=${S[14]}; HttpOnly\r\n` +
      `Authentication-Info: nextnonce="${S[15]}"\r\nContent-Location: /r?refresh_token=${S[16]}\r\n` +
      `Link: <https://cdn.example/a.js?X-Amz-Signature=${S[17]}>; rel=preload\r\nContent-Length: 0\r\n\r\n`,
  );
  // JSON at depth; a URL with userinfo in a value; fields that only look like keys stay.
  const json = JSON.stringify({
    account: { profile: { credentials: { client_secret: S[18] } }, keyboard: 'qwerty-visible' },
    settings: [{ apiKey: S[19] }, { private_key: S[20], monkey: 'monkey-visible', keyspace: 'keyspace-visible' }],
    callback: `https://bob:${S[21]}@hooks.example/x`,
  });
  http1(w, next(), 40002, withBody('POST /api/login HTTP/1.1', 'application/json', json), OK);
  http1(w, next(), 40003, withBody('POST /form HTTP/1.1', 'application/x-www-form-urlencoded', `username=alice&password=${S[22]}&lang=en`), OK);
  const multipart = [
    '--XyZb', 'Content-Disposition: form-data; name="csrf_token"', '', S[23],
    '--XyZb', 'Content-Disposition: form-data; name="file"; filename="a.txt"', 'Content-Type: text/plain', '', 'visible-file-content',
    '--XyZb', 'Content-Disposition: form-data; name="db_password"', '', S[24],
    '--XyZb--', '',
  ].join('\r\n');
  http1(w, next(), 40004, withBody('POST /upload HTTP/1.1', 'multipart/form-data; boundary=XyZb', multipart), OK);

  // HTTP/2 gRPC: secrets in metadata and in the :path query.
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  const settings = h2frame(4, 0, 0, Buffer.alloc(0));
  const reqHeaders = hpack([
    [':method', 'POST'], [':scheme', 'http'], [':authority', 'svc:50051'], [':path', `/pkg.Svc/Call?access_token=${S[25]}`],
    ['content-type', 'application/grpc'], ['authorization', `Bearer ${S[26]}`], ['x-api-key', S[27]], ['x-tenant-password', S[28]],
  ]);
  w.send(next(), 1, 40005, 50051, Buffer.concat([preface, settings, h2frame(1, 0x4, 1, reqHeaders), h2frame(0, 0x1, 1, grpcMessage('hello'))]));
  const resHeaders = hpack([[':status', '200'], ['content-type', 'application/grpc']]);
  const trailers = hpack([['grpc-status', '0'], ['x-session-token', S[29]]]);
  w.send(next(), 2, 50051, 40005, Buffer.concat([settings, h2frame(1, 0x4, 1, resHeaders), h2frame(0, 0, 1, grpcMessage('world')), h2frame(1, 0x5, 1, trailers)]));

  // Redis: passwords as command arguments; a key name stays.
  const redis: [string[], string][] = [
    [['CONFIG', 'SET', 'requirepass', S[30]], '+OK\r\n'],
    [['ACL', 'SETUSER', 'bob', 'on', `>${S[31]}`, '~*', '+@all'], '+OK\r\n'],
    [['MIGRATE', '198.18.0.9', '6379', '', '0', '5000', 'AUTH', S[32], 'KEYS', 'k1'], '+NOKEY\r\n'],
    [['MIGRATE', '198.18.0.9', '6379', '', '0', '5000', 'AUTH2', 'bob', S[33], 'KEYS', 'k1'], '+NOKEY\r\n'],
    [['HELLO', '3', 'AUTH', 'default', S[34]], '-ERR nope\r\n'],
    [['AUTH', S[35]], '+OK\r\n'],
    [['SET', 'visible-redis-key', 'v'], '+OK\r\n'],
    // What applications store: a session as JSON, a user as a hash, and the replies that read them back.
    [['SET', 'session:42', JSON.stringify({ cart: 3, access_token: S[55] })], '+OK\r\n'],
    [['HSET', 'user:42', 'password', S[56], 'display', 'visible-hash-value'], ':2\r\n'],
    [['HGETALL', 'user:7'], `*4\r\n$5\r\ntoken\r\n$${S[58].length}\r\n${S[58]}\r\n$7\r\ndisplay\r\n$18\r\nvisible-hash-value\r\n`],
  ];
  for (const [words, reply] of redis) {
    w.send(next(), 1, 40006, 6379, resp(...words));
    w.send(next(), 2, 6379, 40006, reply);
  }

  // A gzip'd session read back (Rails and Django cache stores compress): shown with \xNN escapes.
  const session = gzipSync(JSON.stringify({ user_id: 7, api_key: S[57] }));
  w.send(next(), 1, 40006, 6379, resp('GET', 'session:7'));
  w.send(next(), 2, 6379, 40006, Buffer.concat([Buffer.from(`$${session.length}\r\n`), session, Buffer.from('\r\n')]).toString('latin1'));

  // memcached items: a session stored as JSON, and a gzip'd one read back (binary: kept as base64).
  const item = JSON.stringify({ refresh_token: S[59], theme: 'visible-state' });
  w.send(next(), 1, 40023, 11211, `set sess:9 0 0 ${item.length}\r\n${item}\r\n`);
  w.send(next(), 2, 11211, 40023, 'STORED\r\n');
  const zipped = gzipSync(JSON.stringify({ password: S[60] }));
  w.send(next(), 1, 40023, 11211, 'get sess:8\r\n');
  w.send(next(), 2, 11211, 40023, Buffer.concat([Buffer.from(`VALUE sess:8 0 ${zipped.length}\r\n`), zipped, Buffer.from('\r\nEND\r\n')]).toString('latin1'));

  // PostgreSQL and MySQL: password literals in statements.
  w.send(next(), 1, 40007, 5432, pgQuery(`ALTER ROLE app WITH ENCRYPTED PASSWORD '${S[36]}'`));
  w.send(next(), 2, 5432, 40007, pgDone('ALTER ROLE'));
  w.send(next(), 1, 40007, 5432, pgQuery(`CREATE USER x WITH PASSWORD '${S[37]}' VALID UNTIL 'infinity'`));
  w.send(next(), 2, 5432, 40007, pgDone('CREATE ROLE'));
  w.send(next(), 1, 40008, 3306, mysqlQuery(`CREATE USER 'u'@'%' IDENTIFIED BY '${S[38]}'`));
  w.send(next(), 2, 3306, 40008, MYSQL_OK);
  w.send(next(), 1, 40009, 3306, mysqlQuery(`SET PASSWORD FOR 'u'@'%' = '${S[39]}'`));
  w.send(next(), 2, 3306, 40009, MYSQL_OK);
  // What applications store: a column named once, its values by position; a token set and compared.
  w.send(next(), 1, 40007, 5432, pgQuery(`INSERT INTO api_keys (owner, label, secret) VALUES ('visible-owner', 'ci', '${S[77]}') RETURNING id`));
  w.send(next(), 2, 5432, 40007, pgDone('INSERT 0 1'));
  w.send(next(), 1, 40009, 3306, mysqlQuery(`UPDATE sessions SET refresh_token = '${S[78]}' WHERE user_id = 7`));
  w.send(next(), 2, 3306, 40009, MYSQL_OK);
  w.send(next(), 1, 40007, 5432, pgQuery(`SELECT id FROM users u WHERE u.api_token = '${S[79]}'`));
  w.send(next(), 2, 5432, 40007, pgDone('SELECT 1'));

  // Bodies that are not text, so entries carry them as base64 (issue 22): JSON and a form gzip'd with no
  // Content-Encoding (an upload, or a body compressed twice), JSON after a binary byte, a protobuf-like
  // frame holding `password=…` after a length byte.
  http1(w, next(), 40010, withBody('POST /blob HTTP/1.1', 'application/octet-stream', gzipSync(JSON.stringify({ user: { client_secret: S[40] }, keyboard: 'qwerty-visible' })).toString('latin1')), OK);
  http1(w, next(), 40011, withBody('POST /blob HTTP/1.1', 'application/gzip', gzipSync(`user=alice&password=${S[41]}`).toString('latin1')), OK);
  http1(w, next(), 40012, withBody('POST /bin HTTP/1.1', 'application/json', `\u0000\u0001{"deep":{"refresh_token":"${S[42]}"},"keyboard":"qwerty-visible"}`), OK);
  http1(w, next(), 40013, withBody('POST /pb HTTP/1.1', 'application/x-protobuf', `\u000a\u0019password=${S[43]}\u0012\u0003abc\u00ff`), OK);
  // Redis replication and MySQL plugin forms, HTTP/1 Cookie2-style and Sec- headers.
  w.send(next(), 1, 40014, 6379, resp('CONFIG', 'SET', 'masterauth', S[44]));
  w.send(next(), 2, 6379, 40014, '+OK\r\n');
  w.send(next(), 1, 40015, 3306, mysqlQuery(`ALTER USER 'u'@'%' IDENTIFIED WITH mysql_native_password BY '${S[45]}'`));
  w.send(next(), 2, 3306, 40015, MYSQL_OK);
  http1(w, next(), 40016, `GET /ws?ticket=ok HTTP/1.1\r\nHost: api\r\nX-Auth-Token: ${S[46]}\r\nX-CSRF-Token: ${S[47]}\r\nX-Session-Id: ${S[48]}\r\n\r\n`, OK);
  http1(w, next(), 40017, `GET /cb#access_token=${S[49]}&state=visible-state HTTP/1.1\r\nHost: api\r\n\r\n`, OK);
  // Compressed bodies a redactor must open: a secret followed by 10 MB of padding (10 KB gzip'd, past what
  // is inflated to be searched), a zstd'd upload, and a response sent with Content-Encoding: zstd.
  const padded = gzipSync(Buffer.concat([Buffer.from(JSON.stringify({ api_key: S[50] })), Buffer.alloc(10 * 1024 * 1024)]));
  http1(w, next(), 40018, withBody('POST /blob HTTP/1.1', 'application/octet-stream', padded.toString('latin1')), OK);
  // Documents long enough that zstd entropy-codes their text: the secret's bytes are not in the frame as they are.
  const zstd = (text: string): Buffer => execFileSync('zstd', ['-q', '-c', '-19'], { input: text });
  const items = Array.from({ length: 60 }, (_, i) => ({ id: i, name: `item-${i * 7919}`, note: 'lorem ipsum dolor sit amet' }));
  http1(w, next(), 40019, withBody('POST /blob HTTP/1.1', 'application/octet-stream', zstd(JSON.stringify({ items, password: S[51] })).toString('latin1')), OK);
  const encoded = zstd(JSON.stringify({ items, token: S[52], keyspace: 'keyspace-visible' }));
  const zstdResponse = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: zstd\r\nContent-Length: ${encoded.length}\r\n\r\n${encoded.toString('latin1')}`;
  http1(w, next(), 40020, 'GET /session HTTP/1.1\r\nHost: api\r\n\r\n', zstdResponse);
  // A zstd upload larger than --max-body (a streaming compressor's small blocks): the entry keeps its
  // first 16 KB, whose first blocks still decode.
  const many = Array.from({ length: 8000 }, (_, i) => ({ id: i, v: (i * 2654435761) % 1000003 }));
  const upload = execFileSync('zstd', ['-q', '-c', '-19', '--zstd=wlog=14'], { input: JSON.stringify({ private_key: S[53], many }) });
  http1(w, next(), 40021, withBody('POST /upload HTTP/1.1', 'application/octet-stream', upload.toString('latin1')), OK);
  // A brotli response that decodes past shark's 8 MB bound (brotli has no magic bytes to find it by later).
  const bomb = brotliCompressSync(Buffer.concat([Buffer.from(JSON.stringify({ secret: S[54] })), Buffer.alloc(20 * 1024 * 1024, 0x20)]));
  const brResponse = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: br\r\nContent-Length: ${bomb.length}\r\n\r\n${bomb.toString('latin1')}`;
  http1(w, next(), 40022, 'GET /report HTTP/1.1\r\nHost: api\r\n\r\n', brResponse);
  // Codings with no magic number. A snappy body (Prometheus remote write's coding) whose secret is
  // made by a back-reference, so its bytes are never side by side in the frame.
  const snappyBody = snappySplitting(Buffer.from(`{"note":"secretVal","password":"${S[61]}"}`), S[61]);
  http1(w, next(), 40030, withBody('POST /push HTTP/1.1', 'application/json\r\nContent-Encoding: snappy', snappyBody.toString('latin1')), OK);
  // Snappy's framing format, the secret split across two uncompressed chunks (a checksum between).
  const framed = Buffer.concat([
    Buffer.from([0xff, 6, 0, 0]),
    Buffer.from('sNaPpY'),
    snappyChunk(`{"token":"${S[62].slice(0, 6)}`),
    snappyChunk(`${S[62].slice(6)}","keyspace":"keyspace-visible"}`),
  ]);
  const framedResponse = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: x-snappy-framed\r\nContent-Length: ${framed.length}\r\n\r\n${framed.toString('latin1')}`;
  http1(w, next(), 40031, 'GET /framed HTTP/1.1\r\nHost: api\r\n\r\n', framedResponse);
  // An S3 streaming upload (aws-chunked), the secret split across two signed chunks.
  const signature = 'ab'.repeat(32);
  const chunks = [`{"aws_secret_access_key":"${S[63].slice(0, 6)}`, `${S[63].slice(6)}","bucket":"visible-bucket"}`];
  const chunked = chunks.map((c) => `${c.length.toString(16)};chunk-signature=${signature}\r\n${c}\r\n`).join('') + `0;chunk-signature=${signature}\r\n\r\n`;
  http1(w, next(), 40032, withBody('PUT /bucket/creds.json HTTP/1.1', 'application/json\r\nContent-Encoding: aws-chunked', chunked), OK);
  // Binary bytes in a coding shark does not know (brotli under another name): a reader could guess it.
  const unknown = brotliCompressSync(JSON.stringify({ secret: S[64] }));
  http1(w, next(), 40033, withBody('POST /custom HTTP/1.1', 'application/json\r\nContent-Encoding: x-acme', unknown.toString('latin1')), OK);
  // Secrets known by their shape, under names that say nothing: a JWT (its signature is the secret), a PEM
  // private key, a GitHub token; configuration files in a ConfigMap (YAML, .env).
  const jwt = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXBwIn0.${S[65]}`;
  const pem = `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg${S[66]}kqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n`;
  const configMap = {
    kind: 'ConfigMap',
    data: { 'application.yml': `spring:\n  datasource:\n    password: ${S[69]}\n`, '.env': `MODE=visible-mode\nSTRIPE_API_TOKEN=${S[70]}\n` },
  };
  const shaped = JSON.stringify({ note: jwt, tls: pem, ci: `ghp_${S[67]}ABCDEFGHIJKLMNOPQRSTUVW`, config: configMap });
  http1(w, next(), 40034, withBody('POST /notes HTTP/1.1', 'application/json', shaped), OK);
  // A Kubernetes Secret applied as JSON (its values sit under any key), and one read as protobuf
  // (client-go's encoding: the value is raw bytes among the fields).
  const applied = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'visible-secret-name' }, stringData: { 'db-conn': S[68] } });
  http1(w, next(), 40035, withBody('POST /api/v1/namespaces/default/secrets HTTP/1.1', 'application/json', applied), OK);
  const typeMeta = protoField(1, 'v1') + protoField(2, 'Secret');
  const secretProto = protoField(1, protoField(1, 'db')) + protoField(2, protoField(1, 'db-conn') + protoField(2, S[71]));
  const k8sProto = 'k8s\u0000' + protoField(1, typeMeta) + protoField(2, secretProto);
  const protoResponse = `HTTP/1.1 200 OK\r\nContent-Type: application/vnd.kubernetes.protobuf\r\nContent-Length: ${k8sProto.length}\r\n\r\n${k8sProto}`;
  http1(w, next(), 40036, 'GET /api/v1/namespaces/default/secrets/db HTTP/1.1\r\nHost: api\r\nAccept: application/vnd.kubernetes.protobuf\r\n\r\n', protoResponse);
  // A session's JWT stored in Redis as it came.
  w.send(next(), 1, 40037, 6379, resp('SET', 'sess:jwt', `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.${S[72]}`));
  w.send(next(), 2, 6379, 40037, '+OK\r\n');
  // A Loki push (protobuf, snappy-packed with no Content-Encoding, as Promtail sends it): log lines
  // holding a logfmt password and a JSON token, each secret split by a back-reference.
  const line = (text: string) => protoField(2, protoField(1, '\u0008\u0001') + protoField(2, text));
  const lokiLines = [`note=secretVal level=info password=${S[73]}`, `{"seen":"secretVal","token":"${S[74]}"}`];
  // Its label set names a stream, but nothing stops a label from carrying a token.
  const push = protoField(1, protoField(1, `{job="visible-job", api_token="${S[92]}"}`) + lokiLines.map(line).join(''));
  const packed = snappySplitting(snappySplitting(Buffer.from(push, 'latin1'), S[73]), S[74], true);
  http1(w, next(), 40038, withBody('POST /loki/api/v1/push HTTP/1.1', 'application/x-protobuf', packed.toString('latin1')), OK);
  // A Deployment read from the API server: a container's env var holds a password inline. And a
  // dashboard's exec WebSocket, its bearer token in the subprotocol (browsers cannot set Authorization).
  const deployment = JSON.stringify({ kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'api', env: [{ name: 'DB_PASSWORD', value: S[80] }, { name: 'MODE', value: 'visible-env' }] }] } } } });
  http1(w, next(), 40040, 'GET /apis/apps/v1/namespaces/shop/deployments/api HTTP/1.1\r\nHost: api\r\n\r\n', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${deployment.length}\r\n\r\n${deployment}`);
  const upgrade = `GET /api/v1/namespaces/shop/pods/api/exec?command=sh&stdin=true HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io.${S[81]}, v4.channel.k8s.io\r\n\r\n`;
  http1(w, next(), 40041, upgrade, 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
  // gRPC without its .proto: Envoy's ext_authz CheckRequest carries the request's headers as a
  // map<string, string> (key in field 1, value in field 2); an OTLP span attribute is a KeyValue whose
  // value is one level down. Only the pairing says the value is a credential.
  const headerEntry = protoField(3, protoField(1, 'authorization') + protoField(2, `Basic ${S[75]}`));
  const checkRequest = protoField(1, protoField(2, protoField(2, headerEntry + protoField(4, 'visible-grpc-host'))));
  const attribute = protoField(9, protoField(1, 'http.request.header.cookie') + protoField(2, protoField(1, `opaque-${S[76]}`)));
  const grpcBody = (proto: string) => Buffer.concat([Buffer.from([0, 0, 0, 0, proto.length]), Buffer.from(proto, 'latin1')]);
  const authz = hpack([[':method', 'POST'], [':scheme', 'http'], [':authority', 'authz:9001'], [':path', '/envoy.service.auth.v3.Authorization/Check'], ['content-type', 'application/grpc']]);
  w.send(next(), 1, 40039, 9001, Buffer.concat([preface, settings, h2frame(1, 0x4, 1, authz), h2frame(0, 0, 1, grpcBody(checkRequest)), h2frame(0, 0x1, 1, grpcBody(attribute))]));
  w.send(next(), 2, 9001, 40039, Buffer.concat([settings, h2frame(1, 0x4, 1, resHeaders), h2frame(0, 0, 1, grpcMessage('ok')), h2frame(1, 0x5, 1, hpack([['grpc-status', '0']]))]));
  // Secrets in the middle of text: a logfmt log line, a metrics exposition's label, a curl command
  // with its bearer token quoted in a JSON string.
  const textResponse = (type: string, body: string) => `HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  http1(w, next(), 40042, 'GET /logs/tail HTTP/1.1\r\nHost: api\r\n\r\n', textResponse('text/plain', `ts=2026-12-06T10:00:00Z level=warn msg="login failed" password=${S[82]} attempt=visible-attempt\n`));
  http1(w, next(), 40043, 'GET /metrics HTTP/1.1\r\nHost: api\r\n\r\n', textResponse('text/plain; version=0.0.4', `# TYPE app_info gauge\napp_info{job="visible-job2",api_token="${S[90]}"} 1\n`));
  http1(w, next(), 40044, withBody('POST /jobs HTTP/1.1', 'application/json', JSON.stringify({ cmd: `curl -H 'Authorization: Bearer ${S[91]}' http://api/v1` })), OK);
  // XML: a SOAP header's WS-Security password, a .NET configuration's name/value element (an S3
  // listing's <Key> stays), a page's CSRF token in a meta element.
  const soap = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header><wsse:Security><wsse:UsernameToken><wsse:Password Type="PasswordText">${S[83]}</wsse:Password></wsse:UsernameToken></wsse:Security></soap:Header><soap:Body><GetOrder/></soap:Body></soap:Envelope>`;
  http1(w, next(), 40045, withBody('POST /soap HTTP/1.1', 'text/xml', soap), OK);
  const xmlConfig = `<configuration><appSettings><add key="DbPassword" value="${S[84]}"/><add key="Region" value="visible-region"/></appSettings><ListBucketResult><Contents><Key>visible-object-key</Key></Contents></ListBucketResult></configuration>`;
  http1(w, next(), 40046, 'GET /config.xml HTTP/1.1\r\nHost: api\r\n\r\n', textResponse('application/xml', xmlConfig));
  http1(w, next(), 40047, 'GET /login HTTP/1.1\r\nHost: api\r\n\r\n', textResponse('text/html', `<html><head><meta name="csrf-token" content="${S[85]}"><title>visible-login</title></head><body></body></html>`));
  // YAML: a private key as a block scalar, and a Secret as `kubectl get secret -o yaml` prints it (data before kind).
  http1(w, next(), 40048, 'GET /app.yaml HTTP/1.1\r\nHost: api\r\n\r\n', textResponse('application/yaml', `tls:\n  private_key: |\n    MIIEvQIBADAN\n    ${S[86]}\n  mode: visible-mode\n`));
  http1(w, next(), 40049, 'GET /api/v1/namespaces/shop/secrets/db HTTP/1.1\r\nHost: api\r\nAccept: application/yaml\r\n\r\n', textResponse('application/yaml', `apiVersion: v1\ndata:\n  db-conn: ${S[87]}\nkind: Secret\nmetadata:\n  name: visible-secret-name\n`));
  // GraphQL: a password as an inline argument, and one as a variable whose own name says nothing.
  const graphql = [
    { query: `mutation { login(tenant: "visible-owner", password: "${S[88]}") { ok } }` },
    { query: 'mutation Login($p: String!) { login(password: $p) { ok } }', variables: { p: S[89] } },
  ];
  http1(w, next(), 40050, withBody('POST /graphql HTTP/1.1', 'application/json', JSON.stringify(graphql)), OK);
  // Command lines: a CI job's log, a Pod's argv, a Secret made from literals; a key one element down; a PEM key as text.
  http1(w, next(), 40051, 'GET /jobs/7/log HTTP/1.1\r\nHost: ci\r\n\r\n', textResponse('text/plain', `$ mysql -h db -u root -p${S[93]} shop < seed.sql\n$ docker login -u bot --password ${S[94]} registry.local\n$ kubectl create secret generic db --from-literal=url=${S[95]}\n$ echo "seeded; the admin password: ${S[100]}"\n`));
  const pod = JSON.stringify({ kind: 'Pod', spec: { containers: [{ name: 'migrate', command: ['mysqldump', '-uroot', `-p${S[96]}`, 'shop'], args: ['--api-token', S[97], '--mode', 'visible-argv'] }] } });
  http1(w, next(), 40052, withBody('POST /api/v1/namespaces/shop/pods HTTP/1.1', 'application/json', pod), OK);
  http1(w, next(), 40053, 'GET /config.xml HTTP/1.1\r\nHost: api\r\n\r\n', textResponse('application/xml', `<config><password><value>${S[98]}</value></password><port>visible-port</port></config>`));
  // A JWK Set served with a private half, and a .netrc file.
  http1(w, next(), 40055, 'GET /.well-known/jwks.json HTTP/1.1\r\nHost: idp\r\n\r\n', textResponse('application/json', JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', kid: 'visible-kid', x: 'AAAA', y: 'BBBB', d: S[101] }] })));
  http1(w, next(), 40056, 'GET /home/ci/.netrc HTTP/1.1\r\nHost: files\r\n\r\n', textResponse('text/plain', `machine git.local\n  login ci\n  password ${S[102]}\n`));
  // A Deployment as `kubectl get -o yaml` prints it (its env a YAML list), SQL in a migration log, a CSV export.
  http1(w, next(), 40057, 'GET /apis/apps/v1/namespaces/shop/deployments/api HTTP/1.1\r\nHost: api\r\nAccept: application/yaml\r\n\r\n', textResponse('application/yaml', `kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - env:\n        - name: STRIPE_API_KEY\n          value: ${S[103]}\n        - name: MODE\n          value: visible-yaml-env\n`));
  http1(w, next(), 40058, 'GET /jobs/8/log HTTP/1.1\r\nHost: ci\r\n\r\n', textResponse('text/plain', `migrate: ALTER ROLE app WITH LOGIN PASSWORD '${S[104]}';\n`));
  http1(w, next(), 40059, 'GET /export/users.csv HTTP/1.1\r\nHost: api\r\n\r\n', textResponse('text/csv', `id,login,password\n1,visible-csv,${S[105]}\n`));
  http1(w, next(), 40054, 'GET /tls.key HTTP/1.1\r\nHost: api\r\n\r\n', textResponse('text/plain', `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B${S[99]}\n-----END PRIVATE KEY-----\n`));

  // Secrets found by the QA round of session 33 (docs/security.md): a Secret in YAML flow style; a Redis
  // script that authenticates and sets a password; pgcrypto's key; etcd's Auth gRPC read without a schema;
  // PGP and PuTTY private keys, a JWE and a Vault token; Vault's unseal keys; a plural's list; a DNS TXT record.
  http1(w, next(), 40060, 'GET /api/v1/namespaces/shop/secrets/flow HTTP/1.1\r\nHost: api\r\nAccept: application/yaml\r\n\r\n', textResponse('application/yaml', `{apiVersion: v1, kind: Secret, metadata: {name: visible-secret-name}, data: {conn: ${S[106]}, 'pass': '${S[107]}'}}\n`));
  w.send(next(), 1, 40061, 6379, resp('EVAL', `redis.call('AUTH', '${S[108]}') return redis.call('CONFIG', 'SET', 'requirepass', ARGV[1])`, '0', S[109]));
  w.send(next(), 2, 6379, 40061, '+OK\r\n');
  w.send(next(), 1, 40061, 6379, resp('EVAL_RO', `local v = redis.call('GET', KEYS[1]) redis.call('AUTH', '${S[121]}') return v`, '1', 'visible-redis-key'));
  w.send(next(), 2, 6379, 40061, '$1\r\nv\r\n');
  w.send(next(), 1, 40061, 6379, resp('FCALL', 'set_user', '1', 'user:9', 'name', 'visible-argv2', 'password', S[110]));
  w.send(next(), 2, 6379, 40061, '+OK\r\n');
  w.send(next(), 1, 40062, 5432, pgQuery(`INSERT INTO notes (body) VALUES (pgp_sym_encrypt('visible-owner', '${S[111]}'))`));
  w.send(next(), 2, 5432, 40062, pgDone('INSERT 0 1'));
  const etcdAuth = hpack([[':method', 'POST'], [':scheme', 'http'], [':authority', 'etcd:2379'], [':path', '/etcdserverpb.Auth/Authenticate'], ['content-type', 'application/grpc']]);
  const authRequest = protoField(1, 'visible-etcd-user') + protoField(2, S[112]);
  const authResponse = protoField(1, String.fromCharCode(0x08, 0x01)) + protoField(2, `${S[113]}.42`);
  w.send(next(), 1, 40063, 2379, Buffer.concat([preface, settings, h2frame(1, 0x4, 1, etcdAuth), h2frame(0, 0x1, 1, grpcBody(authRequest))]));
  w.send(next(), 2, 2379, 40063, Buffer.concat([settings, h2frame(1, 0x4, 1, resHeaders), h2frame(0, 0, 1, grpcBody(authResponse)), h2frame(1, 0x5, 1, hpack([['grpc-status', '0']]))]));
  const pgp = `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQVYBGN${S[114]}\n=Ab12\n-----END PGP PRIVATE KEY BLOCK-----\n`;
  const putty = `PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: visible-login\nPublic-Lines: 1\nAAAAC3NzaC1lZDI1NTE5\nPrivate-Lines: 1\nAAAAI${S[115]}\nPrivate-MAC: 0a1b2c\n`;
  http1(w, next(), 40064, 'GET /keys/backup HTTP/1.1\r\nHost: files\r\n\r\n', textResponse('text/plain', pgp + putty));
  const jweHeader = Buffer.from('{"alg":"dir","enc":"A256GCM"}').toString('base64url');
  const vault = { request_id: 'visible-state', auth: null, data: { jwe: `${jweHeader}..iv48V1ALb6US04U3b.${S[116]}.XFBoMYUZodetZdvTiFvSkQ`, wrapped: `hvs.CAESI${S[117]}abcdefghijkl` }, keys: [S[118]], keys_base64: ['a2V5'], root_token: 'visible-state-root' };
  http1(w, next(), 40065, 'GET /v1/sys/init HTTP/1.1\r\nHost: vault\r\n\r\n', textResponse('application/json', JSON.stringify({ ...vault, passwords: [S[119]], max_tokens: 4096 })));
  const txt = `v=app1 region=visible-txt password=${S[120]}`;
  w.send(next(), 1, 40066, 53, dnsTcp(dnsMessage(0x1234, 0x0100, 'cfg.shop.local')));
  w.send(next(), 2, 53, 40066, dnsTcp(dnsMessage(0x1234, 0x8180, 'cfg.shop.local', txt)));

  // The QA round of session 40 (docs/security.md): JSON held in a JSON string; JSON in SQL literals;
  // Redis scripts loaded once and called by SHA1 or name, and a Lua long string; a Telegram bot token
  // in a path; a legacy Vault token in text; etcd's JSON gateway; a private key as a list of lines; a
  // URL with a token encoded in another URL's query; a Slack webhook whose host is a header; a token
  // quoted by a warning on a broken request line. Beside them, a tokenizer's tokens stay.
  http1(w, next(), 40067, withBody('POST /events HTTP/1.1', 'application/json', JSON.stringify({ level: 'info', msg: JSON.stringify({ owner: 'visible-nested', password: S[122] }) })), OK);
  w.send(next(), 1, 40068, 5432, pgQuery(`UPDATE cfg SET doc = '{"api_token": "${S[123]}", "mode": "visible-doc"}'::jsonb WHERE id = 1`));
  w.send(next(), 2, 5432, 40068, pgDone('UPDATE 1'));
  const loaded = "return redis.call('CONFIG', 'SET', 'requirepass', ARGV[1])";
  w.send(next(), 1, 40069, 6379, resp('SCRIPT', 'LOAD', loaded));
  const sha = createHash('sha1').update(loaded).digest('hex');
  w.send(next(), 2, 6379, 40069, `$40\r\n${sha}\r\n`);
  w.send(next(), 1, 40069, 6379, resp('EVALSHA', sha, '0', S[124]));
  w.send(next(), 2, 6379, 40069, '+OK\r\n');
  const library = "#!lua name=acl\nredis.register_function('set_pw', function(keys, args) return redis.call('HSET', keys[1], 'password', args[1]) end)";
  w.send(next(), 1, 40069, 6379, resp('FUNCTION', 'LOAD', library));
  w.send(next(), 2, 6379, 40069, '$3\r\nacl\r\n');
  w.send(next(), 1, 40069, 6379, resp('FCALL', 'set_pw', '1', 'visible-fn-key', S[125]));
  w.send(next(), 2, 6379, 40069, ':1\r\n');
  w.send(next(), 1, 40069, 6379, resp('EVAL', `return redis.call('AUTH', [[${S[126]}]])`, '0'));
  w.send(next(), 2, 6379, 40069, '+OK\r\n');
  http1(w, next(), 40070, withBody(`POST /bot123456789:AA${S[127]}abcdefghij_klmnopqr/sendMessage HTTP/1.1`, 'application/json', '{"chat_id":"visible-chat","text":"hi"}'), OK);
  http1(w, next(), 40071, 'GET /ops/notes HTTP/1.1\r\nHost: wiki\r\n\r\n', textResponse('text/plain', `use the old token s.${S[128]}Ab12Cd34Ef to unseal\n`));
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  http1(w, next(), 40072, withBody('POST /v3/kv/put HTTP/1.1', 'application/json', JSON.stringify({ key: b64('/app/db/password'), value: S[129] })), OK);
  http1(w, next(), 40073, withBody('POST /v3/kv/put HTTP/1.1', 'application/json', JSON.stringify({ key: b64('/registry/secrets/shop/db'), value: S[130] })), OK);
  http1(w, next(), 40074, withBody('POST /api/certs HTTP/1.1', 'application/json', JSON.stringify({ name: 'visible-owner', chain: ['-----BEGIN RSA PRIVATE KEY-----', `MIIEow${S[131]}`, '-----END RSA PRIVATE KEY-----'] })), OK);
  http1(w, next(), 40075, `GET /login?next=%2Fcb%3Fstate%3Dvisible-state%26token%3D${S[132]} HTTP/1.1\r\nHost: api\r\n\r\n`, OK);
  http1(w, next(), 40076, `POST /services/T0001/B0001/${S[133]}xx HTTP/1.1\r\nHost: hooks.slack.com\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"text":"deploy"}`, OK);
  http1(w, next(), 40077, `GET /cb?access_token=${S[134]} HTTX/1.1\r\nHost: api\r\n\r\n`, OK);
  http1(w, next(), 40078, 'GET /tokenize HTTP/1.1\r\nHost: llm\r\n\r\n', textResponse('application/json', JSON.stringify({ tokens: ['visible-tokenizer', ' world', '!'], api_token: S[135] })));
  // Secrets by position and by place: JSON-RPC parameters a method takes as secrets and a login's
  // answer, a token as a WebSocket subprotocol after its name, a password reset link's token.
  http1(w, next(), 40079, withBody('POST /rpc HTTP/1.1', 'application/json', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'login', params: ['visible-rpc-user', S[136]] })), textResponse('application/json', JSON.stringify({ jsonrpc: '2.0', id: 1, result: S[137] })));
  http1(w, next(), 40080, withBody('POST / HTTP/1.1', 'application/json', JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'personal_unlockAccount', params: ['0xvisible', S[138], 300] })), OK);
  http1(w, next(), 40081, `GET /graphql HTTP/1.1\r\nHost: api\r\nSec-WebSocket-Protocol: access_token, ${S[139]}\r\n\r\n`, OK);
  http1(w, next(), 40082, `GET /reset/MQ/${S[140]}9x/ HTTP/1.1\r\nHost: api\r\n\r\n`, OK);
  // The tokens of connection-based authentication in a server's challenges; a query string kept
  // percent-encoded in a JSON string; a shell command a COPY runs and an escape string's password;
  // a JSON-RPC login over WebSocket, its token answered in a message of its own.
  http1(w, next(), 40083, 'GET /intranet HTTP/1.1\r\nHost: api\r\n\r\n', `HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate oYGg${S[141]}MIGdoAMKAQA=\r\nWWW-Authenticate: Basic realm="visible-realm"\r\nContent-Length: 0\r\n\r\n`);
  http1(w, next(), 40084, 'GET http://api/x HTTP/1.1\r\nHost: api\r\n\r\n', `HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM TlRMTVNTUAAC${S[142]}AAAA\r\nContent-Length: 0\r\n\r\n`);
  http1(w, next(), 40085, withBody('POST /search HTTP/1.1', 'application/json', JSON.stringify({ q: `password%3D${S[143]}%26lang%3Den` })), OK);
  w.send(next(), 1, 40086, 5432, pgQuery(`COPY visible_program FROM PROGRAM 'curl -u admin:${S[144]} http://files/x.csv'`));
  w.send(next(), 2, 5432, 40086, pgDone('COPY 0'));
  w.send(next(), 1, 40086, 5432, pgQuery(`ALTER ROLE app PASSWORD E'${S[145]}'`));
  w.send(next(), 2, 5432, 40086, pgDone('ALTER ROLE'));
  w.send(next(), 1, 40087, 80, 'GET /rpc HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  w.send(next(), 2, 80, 40087, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
  w.send(next(), 1, 40087, 80, wsFrame(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'user.login', params: ['visible-ws-user', S[146]] }), true));
  w.send(next(), 2, 80, 40087, wsFrame(JSON.stringify({ jsonrpc: '2.0', result: S[147], id: 9 }), false));
  // The third secrets round: a SignalR hub login over WebSocket (records end in U+001E), a body of
  // one header line, an SSM SecureString, a Vault KV v2 read, a list of header pairs, and
  // PostgreSQL's format() given the password as a Bind parameter.
  w.send(next(), 1, 40088, 80, 'GET /hub?id=visible-hub HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  w.send(next(), 2, 80, 40088, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
  w.send(next(), 1, 40088, 80, wsFrame(`${JSON.stringify({ type: 1, invocationId: '1', target: 'Login', arguments: ['visible-hub-user', S[148]] })}\u001e`, true));
  http1(w, next(), 40089, withBody('POST /v1/sys/wrapping/lookup HTTP/1.1', 'text/plain', `X-Vault-Token: s.${S[149]}`), OK);
  const ssm = JSON.stringify({ Parameter: { Name: '/prod/visible-param', Type: 'SecureString', Value: S[150] } });
  http1(w, next(), 40090, withBody('POST / HTTP/1.1', 'application/x-amz-json-1.1', '{"Name":"/prod/visible-param","WithDecryption":true}'), `HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: ${ssm.length}\r\n\r\n${ssm}`);
  const kv = JSON.stringify({ request_id: 'r', data: { data: { 'visible-kv-key': S[151] }, metadata: { created_time: '2024-01-01T00:00:00Z', version: 2 } } });
  http1(w, next(), 40091, 'GET /v1/secret/data/app HTTP/1.1\r\nHost: vault\r\n\r\n', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${kv.length}\r\n\r\n${kv}`);
  http1(w, next(), 40092, withBody('POST /log HTTP/1.1', 'application/json', JSON.stringify({ headers: [['Authorization', `Bearer ${S[152]}`], ['Accept', 'visible-accept']] })), OK);
  w.send(next(), 1, 40093, 5432, pgExtended("SELECT format('CREATE USER %I PASSWORD %L', $1, $2)", ['visible-pg-user', S[153]]));
  w.send(next(), 2, 5432, 40093, Buffer.concat([Buffer.from([0x31, 0, 0, 0, 4, 0x32, 0, 0, 0, 4]), pgDone('SELECT 1')]));
  // The fourth secrets round: the SignalR login's completion in a message of its own, a Vault KV v1
  // read, a Redis value under a key that ends in a secret's name, an application's own SQL function,
  // a Bearer value under a plain name, a PHP session and an APP_KEY in a .env file.
  w.send(next(), 2, 80, 40088, wsFrame(`{"type":3,"invocationId":"0","result":"other-result"}\u001e{"type":3,"invocationId":"1","result":"${S[154]}"}\u001e`, false));
  const kv1 = JSON.stringify({ request_id: 'r', lease_id: '', renewable: false, lease_duration: 2764800, data: { 'visible-kv1-key': S[155] }, wrap_info: null, warnings: null, auth: null });
  http1(w, next(), 40094, 'GET /v1/secret/app HTTP/1.1\r\nHost: vault\r\n\r\n', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${kv1.length}\r\n\r\n${kv1}`);
  w.send(next(), 1, 40095, 6379, resp('SET', 'u:1:password', S[156]));
  w.send(next(), 2, 6379, 40095, '+OK\r\n');
  w.send(next(), 1, 40096, 5432, pgExtended('SELECT create_app_user($1, $2)', ['visible-app-user', S[157]]));
  w.send(next(), 2, 5432, 40096, Buffer.concat([Buffer.from([0x31, 0, 0, 0, 4, 0x32, 0, 0, 0, 4]), pgDone('SELECT 1')]));
  http1(w, next(), 40097, withBody('POST /proxy HTTP/1.1', 'application/json', JSON.stringify({ upstreamHeader: `Bearer ${S[158]}` })), OK);
  http1(w, next(), 40098, withBody('POST /session HTTP/1.1', 'text/plain', `name|s:16:"visible-php-name";csrf_token|s:${S[159].length}:"${S[159]}";`), OK);
  http1(w, next(), 40099, withBody('PUT /config/.env HTTP/1.1', 'text/plain', `APP_ENV=production\nAPP_KEY=base64:${S[160]}\n`), OK);
  return w;
}

/** PostgreSQL's extended query: Parse, Bind (text parameters), Execute and Sync, as every driver sends a prepared statement. */
function pgExtended(sql: string, params: string[]): Buffer {
  const message = (type: string, body: Buffer): Buffer => {
    const h = Buffer.alloc(5);
    h[0] = type.charCodeAt(0);
    h.writeUInt32BE(body.length + 4, 1);
    return Buffer.concat([h, body]);
  };
  const int16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
  const int32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };
  const values = params.flatMap((p) => [int32(Buffer.byteLength(p)), Buffer.from(p)]);
  return Buffer.concat([
    message('P', Buffer.concat([Buffer.from('\0'), Buffer.from(sql + '\0'), int16(0)])),
    message('B', Buffer.concat([Buffer.from('\0\0'), int16(0), int16(params.length), ...values, int16(0)])),
    message('E', Buffer.concat([Buffer.from('\0'), int32(0)])),
    message('S', Buffer.alloc(0)),
  ]);
}

/** One unfragmented WebSocket text frame (RFC 6455 §5.2), masked as a client sends it. */
function wsFrame(text: string, masked: boolean): Buffer {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('wsFrame: short frames only');
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const body = masked ? Buffer.from(payload.map((b, i) => b ^ mask[i % 4])) : payload;
  return Buffer.concat([Buffer.from([0x81, (masked ? 0x80 : 0) | payload.length]), masked ? mask : Buffer.alloc(0), body]);
}

/** A DNS message asking for `name`'s TXT record, with `txt` as its one answer when given. */
function dnsMessage(id: number, flags: number, name: string, txt?: string): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(flags, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(txt === undefined ? 0 : 1, 6);
  const qname = Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
  const question = Buffer.concat([qname, Buffer.from([0, 16, 0, 1])]);
  if (txt === undefined) return Buffer.concat([head, question]);
  const rdata = Buffer.concat([Buffer.from([txt.length]), Buffer.from(txt)]);
  const answer = Buffer.alloc(12);
  answer.writeUInt16BE(0xc00c, 0);
  answer.writeUInt16BE(16, 2);
  answer.writeUInt16BE(1, 4);
  answer.writeUInt32BE(60, 6);
  answer.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, question, answer, rdata]);
}
/** DNS over TCP: the message after its two-byte length. */
function dnsTcp(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

/** A length-delimited protobuf field (the value as latin1 text, its length a varint). */
function protoField(field: number, value: string): string {
  return String.fromCharCode((field << 3) | 2, ...varint(value.length)) + value;
}

/**
 * A Snappy block of `data` in which `secret` is never side by side: its first four characters are a
 * literal and the rest a back-reference to an earlier copy of them ("secretVal" must come before it).
 * `again`: `data` is already such a block's input (applied twice, for two secrets, it packs once).
 */
function snappySplitting(data: Buffer, secret: string, again = false): Buffer {
  const input = again ? SPLIT_INPUTS.get(data)! : data;
  const splits = [...(again ? SPLIT_AT.get(data)! : []), input.indexOf(secret) + 4];
  const elements: Buffer[] = [];
  let at = 0;
  for (const split of splits.sort((x, y) => x - y)) {
    elements.push(...snappyLiterals(input.subarray(at, split)));
    const earlier = input.lastIndexOf(secret.slice(4), split - 1);
    elements.push(Buffer.from([((secret.length - 4 - 1) << 2) | 2, (split - earlier) & 0xff, (split - earlier) >> 8]));
    at = split + secret.length - 4;
  }
  elements.push(...snappyLiterals(input.subarray(at)));
  const block = Buffer.concat([Buffer.from(varint(input.length)), ...elements]);
  SPLIT_INPUTS.set(block, input);
  SPLIT_AT.set(block, splits);
  return block;
}
const SPLIT_INPUTS = new Map<Buffer, Buffer>();
const SPLIT_AT = new Map<Buffer, number[]>();

/** An uncompressed chunk of Snappy's framing format (the checksum is not checked by readers of captures). */
function snappyChunk(text: string): Buffer {
  const data = Buffer.from(text, 'latin1');
  const header = Buffer.from([0x01, (data.length + 4) & 0xff, (data.length + 4) >> 8, 0, 0x12, 0x34, 0x56, 0x78]);
  return Buffer.concat([header, data]);
}

/** The capture as a pcap file (LINKTYPE_RAW). */
export function writePlantedCapture(path: string): void {
  const packets = buildPlantedCapture().packets;
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(101, 20);
  const records = packets.map((p) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(p.tsSec, 0);
    r.writeUInt32LE(Math.floor(p.tsNsec / 1000), 4);
    r.writeUInt32LE(p.data.length, 8);
    r.writeUInt32LE(p.data.length, 12);
    return Buffer.concat([r, p.data]);
  });
  writeFileSync(path, Buffer.concat([header, ...records]));
}
