// TLS through proxies: curl calls Debian's nginx over TLS through an HTTP
// CONNECT proxy and through a SOCKS 5 proxy with a username and password
// (a few lines of python3 each in the server's namespace, relaying real
// bytes); tcpdump records the client's side. After the proxy's reply the
// tunnel carries TLS: shark names its server (SNI) without keys and, with
// curl's key log, reports the calls inside with the status curl saw, as
// tshark does decrypting the same file.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTlsNginx } from '../helpers/tls-nginx.js';
import { makeVethLab, stopTcpdump, tcpdumpIn, type VethLab } from '../live/netns.js';
import { runCli } from '../helpers/cli.js';

const HOST = 'web.shark.test';
let lab: VethLab;
let dir: string;
let capture: string;
let keys: string;
let nginxProcess: ChildProcess | undefined;
let proxy: ChildProcess | undefined;
/** What curl itself reported for each call: "METHOD path status version". */
const curlSaw: string[] = [];

/**
 * A python3 proxy on `port`: each connection is handed to the script's
 * `serve(c)`, which ends by relaying both ways with `relay` until either
 * side closes.
 */
const proxyScript = (port: number, serve: string): string => `
import socket, struct, threading
def relay(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
${serve}
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', ${port}))
s.listen(16)
print('listening', flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

// One CONNECT per connection: read the head, dial the target, say 200, relay.
const PROXY = proxyScript(3128, `def serve(c):
    head = b''
    while b'\\r\\n\\r\\n' not in head:
        d = c.recv(4096)
        if not d: return c.close()
        head += d
    target = head.split(b' ')[1].decode()
    host, port = target.rsplit(':', 1)
    u = socket.create_connection(('127.0.0.1', int(port)), timeout=5)
    c.sendall(b'HTTP/1.1 200 Connection established\\r\\n\\r\\n')
    threading.Thread(target=relay, args=(u, c), daemon=True).start()
    relay(c, u)`);

// SOCKS 5 (RFC 1928) with username/password (RFC 1929): CONNECT to a named host, relayed as above.
const SOCKS = proxyScript(1080, `def exactly(c, n):
    b = b''
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d: raise OSError('closed')
        b += d
    return b
def serve(c):
    ver, n = exactly(c, 2)
    methods = exactly(c, n)
    c.sendall(b'\\x05\\x02')
    exactly(c, 1)
    user = exactly(c, exactly(c, 1)[0])
    exactly(c, exactly(c, 1)[0])
    c.sendall(b'\\x01\\x00')
    ver, cmd, _, atyp = exactly(c, 4)
    host = exactly(c, exactly(c, 1)[0]) if atyp == 3 else exactly(c, 4)
    port = struct.unpack('!H', exactly(c, 2))[0]
    u = socket.create_connection(('127.0.0.1', port), timeout=5)
    c.sendall(b'\\x05\\x00\\x00\\x01' + socket.inet_aton('127.0.0.1') + struct.pack('!H', u.getsockname()[1]))
    threading.Thread(target=relay, args=(u, c), daemon=True).start()
    relay(c, u)`);
const SOCKS_PASSWORD = 'socks-lab-s3cret';
let socksProxy: ChildProcess | undefined;

const CALLS = [
  { path: '/ok', args: ['--http1.1', '--tlsv1.3'] },
  { path: '/boom', args: ['--http2', '--tlsv1.2', '--tls-max', '1.2'] },
];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shark-tls-connect-'));
  chmodSync(dir, 0o755);
  capture = join(dir, 'connect.pcap');
  keys = join(dir, 'sslkeys.log');
  lab = makeVethLab(`cx${process.pid % 100}`, '198.19.230');
  nginxProcess = await startTlsNginx(lab, dir, 'unused-token');
  writeFileSync(join(dir, 'proxy.py'), PROXY);
  proxy = lab.start(lab.nsB, ['python3', join(dir, 'proxy.py')]);
  await new Promise<void>((resolve) => {
    proxy!.stdout!.once('data', () => resolve());
    setTimeout(resolve, 5000);
  });
  writeFileSync(join(dir, 'socks.py'), SOCKS);
  socksProxy = lab.start(lab.nsB, ['python3', join(dir, 'socks.py')]);
  await new Promise<void>((resolve) => {
    socksProxy!.stdout!.once('data', () => resolve());
    setTimeout(resolve, 5000);
  });
  const dump = await tcpdumpIn(lab, lab.nsA, lab.ifA, capture, 'tcp port 3128 or tcp port 1080');
  for (const c of CALLS) {
    const r = await lab.sh(
      lab.nsA,
      `SSLKEYLOGFILE=${keys} curl -sk -o /dev/null --max-time 5 -w '%{http_code} %{http_version}' -x http://${lab.ipB}:3128 --resolve ${HOST}:443:${lab.ipB} ${c.args.map((a) => `'${a}'`).join(' ')} 'https://${HOST}${c.path}'`,
      10_000,
    );
    assert.equal(r.code, 0, `curl ${c.path}: ${r.stderr}`);
    const [status, version] = r.stdout.trim().split(' ');
    curlSaw.push(`GET ${c.path} ${status} ${version}`);
  }
  // Through the SOCKS proxy: the host name resolved by the proxy (socks5h), a user and password.
  const r = await lab.sh(
    lab.nsA,
    `SSLKEYLOGFILE=${keys} curl -sk -o /dev/null --max-time 5 -w '%{http_code} %{http_version}' --proxy socks5h://alice:${SOCKS_PASSWORD}@${lab.ipB}:1080 --http1.1 'https://${HOST}/boom'`,
    10_000,
  );
  assert.equal(r.code, 0, `curl through SOCKS: ${r.stderr}`);
  const [status, version] = r.stdout.trim().split(' ');
  curlSaw.push(`GET /boom ${status} ${version}`);
  await new Promise((r) => setTimeout(r, 300));
  await stopTcpdump(dump);
});

after(async () => {
  socksProxy?.kill('SIGKILL');
  socksProxy?.stdout?.destroy();
  socksProxy?.stderr?.destroy();
  proxy?.kill('SIGKILL');
  proxy?.stdout?.destroy();
  proxy?.stderr?.destroy();
  if (lab) await lab.sh(lab.nsB, `kill -TERM $(cat ${dir}/nginx.pid) 2>/dev/null; for i in $(seq 50); do [ -e ${dir}/nginx.pid ] || break; sleep 0.1; done`, 10_000);
  nginxProcess?.stdout?.destroy();
  nginxProcess?.stderr?.destroy();
  lab?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const entriesOf = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('without keys: each CONNECT is an http entry, the SOCKS handshake a socks entry, and the TLS inside each names its server', async () => {
  const r = await runCli(['dissect', capture]);
  assert.equal(r.code, 0, r.stderr);
  const entries = entriesOf(r.stdout);
  const connects = entries.filter((e) => e.protocol === 'http');
  assert.deepEqual(connects.map((e) => e.summary), CALLS.map(() => `CONNECT ${HOST}:443 → 200`));
  const socks = entries.filter((e) => e.protocol === 'socks');
  assert.deepEqual(socks.map((e) => e.summary), [`CONNECT ${HOST}:443 → succeeded`]);
  assert.equal(socks[0].request.user, 'alice');
  assert.equal(socks[0].request.version, 5);
  assert.doesNotMatch(r.stdout, new RegExp(SOCKS_PASSWORD), 'the SOCKS password reached the output');
  const tls = entries.filter((e) => e.protocol === 'tls');
  assert.equal(tls.length, CALLS.length + 1, JSON.stringify(entries.map((e) => e.summary)));
  for (const e of tls) assert.equal(e.request.sni, HOST);
  assert.deepEqual(tls.map((e) => e.dst.port), [...CALLS.map(() => 3128), 1080], 'each tunnel is its proxy connection');
});

test('with curl\'s key log: the calls inside the tunnels, with the statuses curl saw, as tshark sees them', async () => {
  const r = await runCli(['dissect', '--tls-keylog', keys, capture]);
  assert.equal(r.code, 0, r.stderr);
  const calls = entriesOf(r.stdout).filter((e) => e.tls === true);
  const ours = calls.map((e) => `${e.request.method} ${e.request.path} ${e.response.status} ${e.protocol === 'http2' ? '2' : '1.1'}`);
  assert.deepEqual(ours, curlSaw);
  const out = execFileSync(
    'tshark',
    ['-r', capture, '-o', `tls.keylog_file:${keys}`, '-Y', '(http.request and tls) or http2.headers.method', '-T', 'fields', '-E', 'separator=|', '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'http2.headers.method', '-e', 'http2.headers.path'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const theirs = out.split('\n').filter(Boolean).map((l) => {
    const [m1, u1, m2, u2] = l.split('|');
    return `${m1 || m2} ${u1 || u2}`;
  });
  assert.deepEqual(theirs, curlSaw.map((c) => c.split(' ').slice(0, 2).join(' ')));
});
