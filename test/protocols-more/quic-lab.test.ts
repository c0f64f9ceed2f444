// QUIC and HTTP/3 from a live stack: Debian's ngtcp2 example server
// (gtlsserver, GnuTLS) serves files in one network namespace, its client
// (gtlsclient) fetches them from another with SSLKEYLOGFILE set, and tcpdump
// records the client's veth. The server sends with UDP GSO, so the capture
// holds datagrams of many packets each, as a capture on a QUIC server's pod
// veth does. The client's own log (each stream's status and body bytes) is the
// oracle: tshark 4.0 cannot read a GSO batch either.
//
// Connections: three requests (200, 200 with a 66 KB body, 404); key updates
// every few milliseconds; a POST with a secret in its body; ChaCha20 and
// AES-256 suites; 10 % of packets lost each way (the client drops them), so
// frames are sent again; and a session resumed with its requests sent as
// 0-RTT early data. The server sends trailers with every response.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, rmSync, chmodSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finish, makeVethLab, sharkIn, stopTcpdump, tcpdumpIn, waitForStderr, type VethLab } from '../live/netns.js';
import { runCli } from '../helpers/cli.js';

const SECRET = 'quic-lab-token-5d1e77';
const BIG = randomBytes(50_000).toString('base64'); // 66,668 bytes
let lab: VethLab;
let dir: string;
let capture: string;
let keys: string;
let server: ChildProcess | undefined;
/** Whether the resumed connections sent their requests as 0-RTT (the client's log says so). */
const early: boolean[] = [];
/** What the client saw, per request in order: "METHOD path status bodyBytes". */
const clientSaw: string[] = [];

interface Connection {
  paths: string[];
  args: string[];
}
const CONNECTIONS: Connection[] = [
  { paths: ['/index.json', '/big.txt', '/missing'], args: [] },
  { paths: ['/big.txt', '/index.json'], args: ['--key-update=3ms'] },
  { paths: ['/login'], args: ['-m', 'POST', '-d', 'post.json'] },
  { paths: ['/index.json', '/big.txt'], args: ['--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305'] },
  { paths: ['/big.txt'], args: ['--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM'] },
  { paths: ['/big.txt', '/index.json', '/big.txt'], args: ['-t', '0.1', '-r', '0.1'] },
  { paths: ['/index.json'], args: ['--session-file=session', '--tp-file=params'] },
  { paths: ['/big.txt', '/index.json'], args: ['--session-file=session', '--tp-file=params'] },
];

/** One client connection (its requests in order) from the lab's client namespace; what the client saw. */
async function fetch(c: Connection, keylog: string): Promise<string[]> {
  const uris = c.paths.map((p) => `https://quic.lab${p}`);
  const args = [...c.args, '--no-quic-dump', '--exit-on-all-streams-close', '--timeout=5s', lab.ipB, '4433', ...uris];
  const resumed = c.args.some((a) => a.startsWith('--session-file')) && existsSync(join(dir, 'params'));
  const r = await lab.sh(lab.nsA, `cd ${dir} && SSLKEYLOGFILE=${keylog} timeout 20 gtlsclient ${args.map((a) => `'${a}'`).join(' ')} 2>&1`, 30_000);
  assert.equal(r.code, 0, `gtlsclient ${c.args.join(' ')}: ${r.stdout.slice(-500)}`);
  if (resumed) early.push(/0RTT STREAM/.test(r.stdout));
  return readClientLog(r.stdout, c.paths, c.args.includes('POST') ? 'POST' : 'GET');
}

/** Each stream's status and body bytes from the client's HTTP log ("http: stream 0x4 [:status: 404]", "… body 38 bytes"). */
function readClientLog(log: string, paths: string[], method: string): string[] {
  const status = new Map<number, string>();
  const bytes = new Map<number, number>();
  for (const line of log.split('\n')) {
    const s = /^http: stream 0x([0-9a-f]+) \[:status: (\d+)\]/.exec(line);
    if (s) status.set(parseInt(s[1], 16), s[2]);
    const b = /^http: stream 0x([0-9a-f]+) body (\d+) bytes/.exec(line);
    if (b) bytes.set(parseInt(b[1], 16), (bytes.get(parseInt(b[1], 16)) ?? 0) + Number(b[2]));
  }
  return paths.map((p, i) => `${method} ${p} ${status.get(i * 4) ?? '-'} ${bytes.get(i * 4) ?? 0}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shark-quic-lab-'));
  chmodSync(dir, 0o755);
  const www = join(dir, 'www');
  mkdirSync(www);
  writeFileSync(join(www, 'index.json'), JSON.stringify({ hello: 'quic' }));
  writeFileSync(join(www, 'big.txt'), BIG);
  writeFileSync(join(www, 'login'), JSON.stringify({ ok: true }));
  writeFileSync(join(dir, 'post.json'), JSON.stringify({ user: 'ada', password: SECRET }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=quic.lab'], { stdio: 'ignore' });
  capture = join(dir, 'quic.pcap');
  keys = join(dir, 'keys.log');
  lab = makeVethLab(`qu${process.pid % 100}`, '198.19.240', 'shq');
  // Started directly (`ip netns exec` execs it), so the lab's stop() kills the server itself.
  server = lab.start(lab.nsB, ['gtlsserver', '-q', '--send-trailers', '-d', www, lab.ipB, '4433', join(dir, 'key.pem'), join(dir, 'cert.pem')]);
  server.stdout?.resume();
  server.stderr?.resume();
  for (let i = 0; i < 50; i++) {
    const r = await lab.sh(lab.nsB, 'ss -Hlun sport = :4433', 5_000);
    if (r.stdout.trim() !== '') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const dump = await tcpdumpIn(lab, lab.nsA, lab.ifA, capture, 'udp port 4433');
  for (const c of CONNECTIONS) clientSaw.push(...(await fetch(c, keys)));
  await new Promise((r) => setTimeout(r, 300));
  await stopTcpdump(dump);
});

after(() => {
  lab?.stop();
  server?.stdout?.destroy();
  server?.stderr?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('every request the QUIC client made is an http3 entry with the status and body size it saw, GSO batches cut, the secret redacted', async () => {
  assert.equal(clientSaw.length, 15);
  assert.deepEqual(early, [true], 'the resumed session sent 0-RTT');
  assert.ok(clientSaw.every((c) => !c.includes(' - ')), clientSaw.join('\n'));
  const r = await runCli(['dissect', '--tls-keylog', keys, capture]);
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const calls = entries.filter((e) => e.protocol === 'http3');
  const ours = calls.map((e) => `${e.request.method} ${e.request.path} ${e.response?.status ?? '-'} ${e.response?.bodySize ?? 0}`);
  assert.deepEqual(ours, clientSaw);
  assert.deepEqual(entries.filter((e) => e.protocol !== 'http3').map((e) => e.summary), [], 'every connection decrypted');
  assert.ok(calls.every((e) => e.tls === true && !e.warnings), 'nothing lost or unsure');
  assert.ok(calls.every((e) => e.response.trailers?.['x-ngtcp2-stream-id'] !== undefined), 'trailers read');
  // The server's datagrams came as GSO batches (the capture on the veth is before the cut), and were cut.
  const batches = /(\d+) datagrams? that held a UDP GSO batch/.exec(r.stderr);
  assert.ok(batches && Number(batches[1]) > 0, r.stderr);
  assert.match(r.stderr, new RegExp(`QUIC: ${CONNECTIONS.length} of ${CONNECTIONS.length} connections decrypted`));
  assert.doesNotMatch(r.stderr, /did not authenticate|lost or damaged/, r.stderr);
  assert.ok(!r.stdout.includes(SECRET), 'the password in the POST body is redacted');
  const post = calls.find((e) => e.request.method === 'POST');
  assert.equal(JSON.parse(post.request.body).password, '[REDACTED]');
  // Two workers give the same bytes.
  const two = await runCli(['dissect', '--workers', '2', '--tls-keylog', keys, capture]);
  assert.equal(two.stdout, r.stdout);
});

test('without the key log: one quic entry per connection, its server name and ALPN read from the Initials', async () => {
  const r = await runCli(['dissect', capture]);
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(entries.length, CONNECTIONS.length);
  for (const e of entries) {
    assert.equal(e.protocol, 'quic');
    assert.equal(e.request.quicVersion, 'QUIC v1');
    assert.deepEqual(e.request.alpn, ['h3']);
  }
  // The suites the clients were told to use, in order.
  assert.deepEqual(entries.slice(3, 6).map((e) => e.response.cipherSuite), ['TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256']);
});

test('live: `shark tap` on the client\'s veth, following the key log as the client writes it, reports every request', async () => {
  const liveKeys = join(dir, 'live.keys'); // not there when the tap starts
  const tap = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '-f', 'udp port 4433', '--tls-keylog', liveKeys]);
  const done = finish(tap);
  await waitForStderr(tap, /listening on/);
  const saw = [...(await fetch(CONNECTIONS[0], liveKeys)), ...(await fetch(CONNECTIONS[1], liveKeys))];
  await new Promise((r) => setTimeout(r, 300));
  tap.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  const calls = r.stdout.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.protocol === 'http3');
  // Requests sent in one datagram share their time: compared as sets of calls.
  assert.deepEqual(calls.map((e) => `${e.request.method} ${e.request.path} ${e.response?.status ?? '-'} ${e.response?.bodySize ?? 0}`).sort(), saw.sort(), r.stderr);
  assert.match(r.stderr, /QUIC: 2 of 2 connections decrypted/);
});
