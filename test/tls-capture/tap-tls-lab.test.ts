// `shark tap --tls` in the lab: Debian's nginx serves HTTP/1.1 and HTTP/2 over
// TLS 1.2 and 1.3 in one network namespace; curl, python3 (ssl), node (its
// own statically linked OpenSSL) and a Go client (crypto/tls, built here with
// Debian's golang) call it from another. shark hooks OpenSSL
// with eBPF and must report every call with the method, path and status the
// client itself saw, attributed to the client's process id and name, once
// (nginx on the same machine is hooked too: both ends, one entry), with the
// secrets inside redacted and no event lost.
//
// Needs root and a kernel with BTF (CI has both): when BPF is unavailable the
// tap exits 4 and this test FAILS with its reason — it is never skipped.
// uprobes are global per library: other tests' TLS calls are seen too, so
// only calls to this lab's server address are looked at.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startTlsNginx } from '../helpers/tls-nginx.js';
import { makeVethLab, sharkIn, waitForStderr, type VethLab } from '../live/netns.js';
import { bpfTestLock } from '../helpers/bpf-lock.js';
import { buildGoFixture } from '../helpers/go-fixture.js';

const TOKEN = 'ebpf-lab-secret-bearer-51c2e8';
let lab: VethLab;
let dir: string;
let nginxProcess: ChildProcess | undefined;
let tap: ChildProcess | undefined;
let tapOut = '';
let tapErr = '';
let tapCode: number | null = null;

/** One call as its client reported it. */
interface Seen {
  client: 'curl' | 'python3' | 'node' | 'goclient';
  pid: number;
  method: string;
  path: string;
  status: number;
  http: '1.1' | '2';
}
const clientsSaw: Seen[] = [];
const NODE_SERVER_PORT = 8443;
const EARLY_PORT = 8449;
let earlyOut = '';
const GRPC_PORT = 8447;
const SCANNED_PORT = 8451;
/** A server that accepts and never answers: a GnuTLS client (wget) waits on it across the loader's scans. */
const SILENT_PORT = 8453;
let scannedPid = 0;
let scannedStatus = 0;
let grpcBin = '';
let grpcPid = 0;
let grpcStatus = 0;
/** What the Go server's stalled Write returned (its "stalled write N" line), and what it printed. */
let stalledWrite = 0;
let grpcServerOut = '';
let nodeServerStatuses: number[] = [];
/** A python3 server that reads each request only after its client has reset the connection. */
const RESET_PORT = 8455;
let resetServerOut = '';
let resetClient: { code: number | null; stderr: string } | undefined;
/** The two calls on one fd number (the first closed by close_range), with their client ports. */
const reusedFd: { path: string; fd: number; port: number }[] = [];

const CURL_CALLS: { path: string; args: string[] }[] = [
  { path: '/ok', args: ['--http1.1', '--tlsv1.2', '--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES128-GCM-SHA256'] },
  { path: '/missing', args: ['--http1.1', '--tlsv1.2', '--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-CHACHA20-POLY1305'] },
  { path: '/boom', args: ['--http2', '--tlsv1.3'] },
  { path: '/ok?page=2', args: ['--http2', '--tlsv1.3'] },
  { path: '/login', args: ['--http1.1', '--tlsv1.3', '-H', `Authorization: Bearer ${TOKEN}`, '-d', `{"user":"jason","password":"${TOKEN}"}`, '-H', 'content-type: application/json'] },
];

// eBPF lab tests take turns (test/helpers/bpf-lock.ts).
let releaseBpf: (() => void) | undefined;
before(async () => {
  releaseBpf = await bpfTestLock();
  dir = mkdtempSync(join(tmpdir(), 'shark-ebpf-lab-'));
  chmodSync(dir, 0o755);
  lab = makeVethLab(`l${process.pid % 100}`, '198.19.120', 's4e');
  nginxProcess = await startTlsNginx(lab, dir, TOKEN);
  // The Go client and a gRPC-shaped Go server, built from source with Debian's Go.
  const goBin = buildGoFixture('goclient', dir);
  grpcBin = buildGoFixture('grpcserver', dir);
  // The tap runs outside the lab's namespaces (uprobes see every process); --duration bounds it.
  // The Go client is named (--tls-lib) so it is hooked before it starts; running Go programs are found by a scan.
  tap = sharkIn(lab, lab.nsA, ['tap', '--tls', '--tls-lib', goBin, '--tls-lib', grpcBin, '--duration', '90s']);
  tap.stdout!.on('data', (d: Buffer) => (tapOut += d.toString()));
  tap.stderr!.on('data', (d: Buffer) => (tapErr += d.toString()));
  const exited = new Promise<void>((resolve) => tap!.on('exit', (code) => ((tapCode = code), resolve())));
  await waitForStderr(tap, /--tls: hooked|exited/, 60_000).catch((err: Error) => {
    throw new Error(`shark tap --tls did not start: ${err.message}`);
  });

  for (const c of CURL_CALLS) {
    const r = await lab.sh(
      lab.nsA,
      `echo $$; exec curl -sk -o /dev/null --max-time 5 -w '%{http_code} %{http_version}' ${c.args.map((a) => `'${a}'`).join(' ')} 'https://${lab.ipB}${c.path}'`,
      10_000,
    );
    assert.equal(r.code, 0, `curl ${c.path}: ${r.stderr}`);
    const [pid, rest] = r.stdout.split('\n');
    const [status, version] = rest.trim().split(' ');
    clientsSaw.push({ client: 'curl', pid: Number(pid), method: c.args.includes('-d') ? 'POST' : 'GET', path: c.path, status: Number(status), http: version === '2' ? '2' : '1.1' });
  }
  const py = await lab.sh(
    lab.nsA,
    `exec /usr/bin/python3 -c '
import os, ssl, http.client
print(os.getpid())
ctx = ssl._create_unverified_context()
for path in ("/ok?from=python", "/boom?from=python"):
    c = http.client.HTTPSConnection("${lab.ipB}", 443, context=ctx, timeout=5)
    c.request("GET", path)
    r = c.getresponse(); r.read(); print(path, r.status); c.close()
'`,
    15_000,
  );
  assert.equal(py.code, 0, `python3: ${py.stderr}`);
  const [pyPid, ...pyCalls] = py.stdout.trim().split('\n');
  for (const l of pyCalls) {
    const [path, status] = l.split(' ');
    clientsSaw.push({ client: 'python3', pid: Number(pyPid), method: 'GET', path, status: Number(status), http: '1.1' });
  }
  // An fd closed without close(2) (close_range: no close event) and reused at once by the next connection:
  // that connection's calls are its own, not a continuation of the first one's stream.
  const reuse = await lab.sh(
    lab.nsA,
    `exec /usr/bin/python3 -c '
import os, socket, ssl
ctx = ssl._create_unverified_context()
def call(path):
    s = ctx.wrap_socket(socket.create_connection(("${lab.ipB}", 443), timeout=5))
    s.sendall(("GET %s HTTP/1.1\\r\\nHost: lab\\r\\nConnection: close\\r\\n\\r\\n" % path).encode())
    reply = b""
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            reply += d
    except ssl.SSLError: pass
    print(path, reply.split(b" ")[1].decode(), s.fileno(), s.getsockname()[1])
    return s
print(os.getpid())
first = call("/ok?fd=first")
os.closerange(first.fileno(), first.fileno() + 1)
call("/ok?fd=reused")
os._exit(0)  # the first socket object would close the reused fd number at exit
'`,
    15_000,
  );
  assert.equal(reuse.code, 0, `python3 (fd reuse): ${reuse.stderr}`);
  const [reusePid, ...reuseCalls] = reuse.stdout.trim().split('\n');
  for (const l of reuseCalls) {
    const [path, status, fd, port] = l.split(' ');
    reusedFd.push({ path, fd: Number(fd), port: Number(port) });
    clientsSaw.push({ client: 'python3', pid: Number(reusePid), method: 'GET', path, status: Number(status), http: '1.1' });
  }
  const nd = await lab.sh(
    lab.nsA,
    `exec ${process.execPath} -e '
const https = require("node:https");
console.log(process.pid);
https.get({ host: "${lab.ipB}", path: "/ok?from=node", rejectUnauthorized: false, agent: false }, (res) => {
  res.resume();
  res.on("end", () => console.log("/ok?from=node", res.statusCode));
});
'`,
    15_000,
  );
  assert.equal(nd.code, 0, `node: ${nd.stderr}`);
  const [ndPid, ndCall] = nd.stdout.trim().split('\n');
  const [ndPath, ndStatus] = ndCall.split(' ');
  clientsSaw.push({ client: 'node', pid: Number(ndPid), method: 'GET', path: ndPath, status: Number(ndStatus), http: '1.1' });

  const go = await lab.sh(lab.nsA, `exec ${goBin} https://${lab.ipB} /ok?from=go /boom?from=go`, 15_000);
  assert.equal(go.code, 0, `go client: ${go.stderr}`);
  const [goPid, ...goCalls] = go.stdout.trim().split('\n');
  for (const l of goCalls) {
    const [path, status, major] = l.split(' ');
    clientsSaw.push({ client: 'goclient', pid: Number(goPid), method: 'GET', path, status: Number(status), http: major === '2' ? '2' : '1.1' });
  }

  // A gRPC-shaped call (HTTP/2, application/grpc, a length-prefixed message, a grpc-status trailer): curl → the Go server.
  const grpcServer = lab.start(lab.nsB, [grpcBin, `${lab.ipB}:${GRPC_PORT}`, join(dir, 'tls.crt'), join(dir, 'tls.key')]);
  grpcServer.stdout!.on('data', (d: Buffer) => (grpcServerOut += d.toString()));
  grpcPid = grpcServer.pid!;
  const grpc = await lab.sh(
    lab.nsA,
    `printf '\\0\\0\\0\\0\\4\\n\\2hi' > ${dir}/msg; for i in $(seq 50); do curl -sk -m 1 -o /dev/null https://${lab.ipB}:${GRPC_PORT}/ && break; sleep 0.2; done; ` +
      `curl -sk --http2 -m 5 -o ${dir}/reply -w '%{http_code}' -X POST -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @${dir}/msg https://${lab.ipB}:${GRPC_PORT}/shark.Echo/Say`,
    30_000,
  );
  grpcStatus = Number(grpc.stdout.trim());

  // A write still in its call when its connection is closed: the Go server's /stalled answer, read
  // slowly by wget (GnuTLS: not hooked, so the server's end alone feeds the connection). The close
  // syscall runs inside that Write, so the kernel sees the close before the write returns.
  await lab.sh(lab.nsA, `wget -q -O /dev/null --no-check-certificate --limit-rate=2k -t 1 -T 10 https://${lab.ipB}:${GRPC_PORT}/stalled`, 30_000);
  for (let i = 0; i < 50 && !/stalled write \d+/.test(grpcServerOut); i++) await new Promise((r) => setTimeout(r, 100));
  stalledWrite = Number(/stalled write (\d+)/.exec(grpcServerOut)?.[1] ?? 0);
  // wget alive for 2.5 s (the loader scans every second), waiting on a server that never answers.
  lab.start(lab.nsB, ['python3', '-c', `import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(("${lab.ipB}",${SILENT_PORT}))\ns.listen()\ns.settimeout(8)\nc,_=s.accept()\ntime.sleep(3)`]);
  await lab.sh(lab.nsA, `sleep 0.5; timeout 2.5 wget -q -O /dev/null --no-check-certificate -t 1 -T 5 https://${lab.ipB}:${SILENT_PORT}/ || true`, 10_000);

  // A Go server the tap was not told of (a copy of the binary: another file), found running by the scan.
  const scannedBin = join(dirname(grpcBin), 'gosrv2');
  execFileSync('cp', [grpcBin, scannedBin]);
  scannedPid = lab.start(lab.nsB, [scannedBin, `${lab.ipB}:${SCANNED_PORT}`, join(dir, 'tls.crt'), join(dir, 'tls.key')]).pid!;
  await waitForStderr(tap, new RegExp(`hooked .*gosrv2 \\(pid ${scannedPid}\\)`), 20_000).catch(() => undefined);
  const scanned = await lab.sh(
    lab.nsA,
    `for i in $(seq 50); do curl -sk -m 1 -o /dev/null https://${lab.ipB}:${SCANNED_PORT}/ && break; sleep 0.2; done; ` +
      `curl -sk --http2 -m 5 -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @${dir}/msg https://${lab.ipB}:${SCANNED_PORT}/shark.Echo/Say`,
    30_000,
  );
  scannedStatus = Number(scanned.stdout.trim());

  // A node HTTPS server (its OpenSSL over memory BIOs too), called by curl on new connections.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=node', '-keyout', join(dir, 'node-k.pem'), '-out', join(dir, 'node-c.pem')], { stdio: 'ignore' });
  lab.start(lab.nsB, [
    process.execPath,
    '-e',
    `const fs = require("fs"); require("https").createServer({ key: fs.readFileSync("${dir}/node-k.pem"), cert: fs.readFileSync("${dir}/node-c.pem") }, (q, r) => r.end("hi " + q.url)).listen(${NODE_SERVER_PORT}, "${lab.ipB}")`,
  ]);
  const toNode = await lab.sh(
    lab.nsA,
    `for i in $(seq 50); do curl -sk -m 1 -o /dev/null https://${lab.ipB}:${NODE_SERVER_PORT}/ready && break; sleep 0.2; done; ` +
      `for p in /n1 /n2 /n3; do curl -sk -m 5 -o /dev/null -w '%{http_code}\n' https://${lab.ipB}:${NODE_SERVER_PORT}$p; done`,
    30_000,
  );
  nodeServerStatuses = toNode.stdout.trim().split('\n').map(Number);

  // An upload answered early: a python3 server (OpenSSL) replies to a POST's head before reading its
  // 256 KiB body, which the Go client wrote in one call; its reply is read while that write is in its call.
  writeFileSync(
    join(dir, 'early.py'),
    `import re, socket, ssl, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("${dir}/tls.crt", "${dir}/tls.key")
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
ls.bind(("${lab.ipB}", ${EARLY_PORT}))
ls.listen(1)
ls.settimeout(20)
s, _ = ls.accept()
s.settimeout(10)
c = ctx.wrap_socket(s, server_side=True)
time.sleep(0.5)  # the client's first write returns first: its end feeds the connection
buf = b""
def head():
    global buf
    while b"\\r\\n\\r\\n" not in buf:
        buf += c.recv(65536)
    h, buf = buf.split(b"\\r\\n\\r\\n", 1)
    return h
head()
c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
want = int(re.search(rb"Content-Length: (\\d+)", head()).group(1))
c.sendall(b"HTTP/1.1 201 Created\\r\\nContent-Length: 0\\r\\n\\r\\n")
time.sleep(0.3)  # the body is read only now: the client's write of it is still in its call
got = len(buf)
while got < want:
    got += len(c.recv(65536))
c.close()
`,
  );
  lab.start(lab.nsB, ['python3', join(dir, 'early.py')]);
  // Listening (without connecting: the server takes one connection).
  await lab.sh(lab.nsB, `for i in $(seq 100); do ss -ltn | grep -q ':${EARLY_PORT} ' && break; sleep 0.1; done`, 15_000);
  const early = await lab.sh(lab.nsA, `exec ${goBin} -early ${lab.ipB}:${EARLY_PORT}`, 30_000);
  earlyOut = early.stdout + early.stderr;

  // A connection reset before the server's first call on it is seen: a python3 client sends its request and
  // closes with SO_LINGER 0 (RST); the server reads the request 0.2 s later, from a socket already closed,
  // whose local port the kernel has cleared from the port hash (the entry's server port came out as 0).
  const resetServer = lab.start(lab.nsB, [
    'python3',
    '-c',
    `import socket, ssl, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("${dir}/tls.crt", "${dir}/tls.key")
# TLS 1.2: a TLS 1.3 server has written session tickets the client never read, and reads EOF after the reset.
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("${lab.ipB}", ${RESET_PORT}))
ls.listen(4)
ls.settimeout(10)
for i in range(2):
    c = ctx.wrap_socket(ls.accept()[0], server_side=True)
    time.sleep(0.2)
    print(c.recv(1000).split(b" ")[1].decode(), flush=True)
    c.close()`,
  ]);
  resetServer.stdout!.on('data', (d: Buffer) => (resetServerOut += d.toString()));
  resetServer.stderr!.on('data', (d: Buffer) => (resetServerOut += d.toString()));
  await lab.sh(lab.nsB, `for i in $(seq 100); do ss -ltn | grep -q ':${RESET_PORT} ' && break; sleep 0.1; done`, 15_000);
  resetClient = await lab.sh(
    lab.nsA,
    `exec /usr/bin/python3 -c '
import socket, ssl, struct, time
ctx = ssl._create_unverified_context()
for path in ("/reset1", "/reset2"):
    s = ctx.wrap_socket(socket.create_connection(("${lab.ipB}", ${RESET_PORT}), timeout=5))
    s.sendall(("GET %s HTTP/1.1\\r\\nHost: lab\\r\\n\\r\\n" % path).encode())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    time.sleep(0.4)
'`,
    15_000,
  );
  for (let i = 0; i < 30 && !resetServerOut.includes('/reset2'); i++) await new Promise((r) => setTimeout(r, 100));

  // Let the last events through the ring and the engine, then stop the tap as a user does.
  await new Promise((r) => setTimeout(r, 1500));
  tap.kill('SIGINT');
  await exited;
});

after(async () => {
  releaseBpf?.();
  if (tap && tap.exitCode === null) tap.kill('SIGKILL');
  if (lab) await lab.sh(lab.nsB, `kill -TERM $(cat ${dir}/nginx.pid) 2>/dev/null; for i in $(seq 50); do [ -e ${dir}/nginx.pid ] || break; sleep 0.1; done`, 10_000);
  nginxProcess?.stdout?.destroy();
  nginxProcess?.stderr?.destroy();
  lab?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The request target with its query (HTTP/1 keeps it in `url`, HTTP/2 in `path`). */
function pathOf(e: any): string {
  return e.protocol === 'http' ? e.request.url : e.request.path;
}

function ourEntries(): any[] {
  return tapOut
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => (e.dst.ip === lab.ipB && e.dst.port === 443) || (e.src.ip === lab.ipB && e.src.port === 443));
}

test('the tap ran with BPF and lost nothing', () => {
  assert.equal(tapCode, 0, `shark tap --tls exited ${tapCode}: ${tapErr}`);
  assert.match(tapErr, /hooked \S*libssl\.so\.3.*goclient/);
  assert.match(tapErr, /TLS events, 0 lost \(ring full\)/);
});

test('every call each client made is one entry with its method, path, status and HTTP version, marked tls', () => {
  const entries = ourEntries();
  const calls = entries.filter((e) => e.protocol === 'http' || e.protocol === 'http2');
  const key = (s: { method: string; path: string; status: number; http: string }) => `${s.method} ${s.path} ${s.status} ${s.http}`;
  // Known gap (docs/tls-capture.md): on a loaded machine a server may read a request into OpenSSL's buffer
  // with no socket call inside SSL_read, and that one call comes out response-only. At most one may; its
  // status must be one of the calls missing in full.
  const partial = calls.filter((e) => !e.request);
  assert.ok(partial.length <= 1, `response-only calls: ${JSON.stringify(partial.map((e) => e.summary))}`);
  // A Go client's reply read before its request's write returned (write-order.ts) is put after it: no call is request-only.
  const requestOnly = calls.filter((e) => e.request && !e.response);
  assert.deepEqual(requestOnly.map((e) => e.summary), [], 'request-only calls');
  const http = (e: any) => (e.protocol === 'http2' ? '2' : '1.1');
  const ours = calls.filter((e) => e.request && e.response).map((e) => key({ method: e.request.method, path: pathOf(e), status: e.response.status, http: http(e) }));
  const missing = clientsSaw.map(key);
  for (const k of ours) {
    const at = missing.indexOf(k);
    assert.ok(at >= 0, `${k} was not made by any client: ${JSON.stringify(clientsSaw.map(key))}`);
    missing.splice(at, 1);
  }
  assert.equal(missing.length, partial.length, `calls not seen: ${JSON.stringify(missing)}`);
  for (const e of partial) assert.ok(missing.some((k) => k.includes(` ${e.response?.status} `)), `${e.summary} matches none of ${JSON.stringify(missing)}`);
  assert.equal(entries.length, calls.length, `entries other than the calls: ${JSON.stringify(entries.filter((e) => !calls.includes(e)).map((e) => e.summary))}`);
  assert.ok(calls.every((e) => e.tls === true));
});

test('each call is attributed to the client process that made it, and nginx is the other end', () => {
  const entries = ourEntries();
  for (const seen of clientsSaw) {
    const e = entries.find((x) => x.request && pathOf(x) === seen.path && x.process?.pid === seen.pid);
    assert.ok(e, `${seen.client} ${seen.path} (pid ${seen.pid}) not found with that pid: ${JSON.stringify(entries.map((x) => [x.request?.path, x.process]))}`);
    assert.equal(e.process.comm, seen.client);
    assert.equal(e.process.role, 'client');
    assert.equal(e.src.ip, lab.ipA);
    // nginx on the same machine is hooked as well: its end is known, and the call is still one entry.
    assert.equal(e.peerProcess?.comm, 'nginx');
    assert.equal(e.peerProcess?.role, 'server');
  }
  assert.match(tapErr, /seen at both ends/);
});

// Node's TLS runs OpenSSL over memory BIOs: SSL_write/SSL_read make no socket
// syscall, so the kernel side ties each SSL* to its socket from the thread's
// neighbouring socket I/O during the handshake (tls_capture.bpf.c, "memory
// BIOs"): the node client's call is its own, from its end, and counted so.
test('an fd closed by close_range (no close event) and reused by the next connection: each call on its own connection', () => {
  assert.equal(reusedFd.length, 2, 'both calls were made');
  assert.equal(reusedFd[0].fd, reusedFd[1].fd, 'the second connection took the first one\'s fd number');
  assert.notEqual(reusedFd[0].port, reusedFd[1].port);
  for (const seen of reusedFd) {
    const e = ourEntries().find((x) => x.request && pathOf(x) === seen.path);
    assert.ok(e, `${seen.path} is an entry`);
    // The client's port is the one its socket had: the reused fd's state was made afresh from its socket.
    assert.equal(e.src.port, seen.port, `${seen.path}: the entry's client port`);
    assert.equal(e.response?.status, 200);
  }
});

test('a connection reset before the server read its request: one entry per call, with the server port (not 0), both processes', () => {
  assert.equal(resetClient?.code, 0, `the resetting client: ${resetClient?.stderr}`);
  assert.deepEqual(resetServerOut.trim().split('\n'), ['/reset1', '/reset2'], 'the server read both requests after the reset');
  const all = tapOut.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const calls = all.filter((e) => e.request?.path?.startsWith('/reset'));
  assert.deepEqual(calls.map((e) => `${e.request.path} ${e.dst.ip}:${e.dst.port}`), [`/reset1 ${lab.ipB}:${RESET_PORT}`, `/reset2 ${lab.ipB}:${RESET_PORT}`]);
  for (const e of calls) assert.deepEqual([e.process?.comm, e.peerProcess?.comm], ['python3', 'python3'], 'both ends of one connection');
  assert.ok(!all.some((e) => e.src.port === 0 || e.dst.port === 0), 'no entry has port 0');
});

test('a node client (OpenSSL over memory BIOs): its call is attributed to the node process, tied to its socket by the neighbouring socket I/O', () => {
  const node = clientsSaw.find((c) => c.client === 'node')!;
  const e = ourEntries().find((x) => x.request && pathOf(x) === node.path);
  assert.ok(e, 'the node call is an entry');
  assert.equal(e.response.status, node.status);
  assert.equal(e.process.comm, 'node');
  assert.equal(e.process.pid, node.pid);
  assert.equal(e.peerProcess?.comm, 'nginx');
  assert.match(tapErr, /[1-9]\d* memory-BIO calls tied to their socket/);
});

test('a node HTTPS server: each curl call is one entry, the server end attributed to the node process', () => {
  assert.deepEqual(nodeServerStatuses, [200, 200, 200], 'curl reached the node server');
  const calls = tapOut
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.dst.ip === lab.ipB && e.dst.port === NODE_SERVER_PORT && /^\/n\d$/.test(e.request?.url ?? ''));
  assert.deepEqual(calls.map((e) => e.request.url).sort(), ['/n1', '/n2', '/n3']);
  for (const e of calls) {
    assert.equal(e.response?.status, 200);
    assert.equal(e.process?.comm, 'curl');
    assert.equal(e.peerProcess?.comm, 'node', `${e.request.url}: the server end is the node process`);
  }
});

test('a gRPC-shaped call (curl → a Go server, HTTP/2): one grpc entry with its method and status, both processes', () => {
  assert.equal(grpcStatus, 200, 'curl reached the gRPC-shaped server');
  const calls = tapOut
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.dst.ip === lab.ipB && e.dst.port === GRPC_PORT && e.protocol === 'grpc');
  assert.equal(calls.length, 1, JSON.stringify(calls.map((e) => e.summary)));
  const e = calls[0];
  assert.equal(e.tls, true);
  assert.match(JSON.stringify(e.request), /shark\.Echo\/Say/);
  assert.match(e.summary, /shark\.Echo\/Say/);
  // On failure: the entry's warnings and the tap's summary (gaps, both ends, stale events, losses) say what was missing.
  const summary = tapErr.trim().split('\n').slice(-3).join('\n');
  const why = `${JSON.stringify({ warnings: e.warnings, response: e.response })}\n${summary}`;
  assert.equal(e.response?.grpcStatus, 0, why);
  assert.equal(e.response?.grpcStatusName, 'OK', why);
  assert.equal(e.process?.comm, 'curl');
  // On failure, the tap's summary says whether the server's events came (both ends, losses).
  assert.equal(e.peerProcess?.comm, 'grpcserver', summary);
  // Named with --tls-lib, it is hooked once: the scan for running Go binaries does not hook it again.
  assert.doesNotMatch(tapErr, new RegExp(`found in pid ${grpcPid}\\)|/proc/${grpcPid}/exe`));
});

test('a write still in its call when its connection was closed (the close ran inside it) comes before the close: the response is there, as long as the write said', () => {
  assert.ok(stalledWrite > 0, `the Go server wrote part of its answer before the close: ${grpcServerOut}`);
  const calls = tapOut
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.dst.ip === lab.ipB && e.dst.port === GRPC_PORT && e.request?.url === '/stalled');
  assert.equal(calls.length, 1, JSON.stringify(calls.map((e) => e.summary)));
  const e = calls[0];
  const why = `${JSON.stringify({ summary: e.summary, warnings: e.warnings, response: e.response && { ...e.response, body: undefined } })}\n${tapErr.trim().split('\n').pop()}`;
  // Without the order, the write's event named no socket (its fd was closed) and was dropped: a request-only call.
  assert.equal(e.response?.status, 200, why);
  const head = `HTTP/1.1 200 OK\r\nContent-Length: ${48 << 13}\r\n\r\n`;
  assert.equal(e.response.bodySize, stalledWrite - head.length, `the body is what the write returned, less the head\n${why}`);
  assert.equal(e.process?.comm, 'grpcserver', 'the server end alone was hooked');
  assert.match(tapErr, /[1-9]\d* closes put after a write still in flight on their socket/);
  // wget itself speaks GnuTLS, which is not hooked: said once, by its path, not left silent.
  assert.match(tapErr, /not hooked: \S*wget \(pid \d+\) uses GnuTLS, which shark does not hook/);
  assert.equal(tapErr.match(/not hooked: \S*wget/g)?.length, 1, 'said once');
});

test('a Go server not named with --tls-lib is found running, hooked once by its path, and its end of a call is seen', () => {
  assert.equal(scannedStatus, 200, 'curl reached the server');
  assert.match(tapErr, new RegExp(`hooked \\S*/grpcserver/gosrv2 \\(pid ${scannedPid}\\)`), 'the note names the binary and the pid it was found in');
  assert.equal(tapErr.match(/hooked \S*gosrv2/g)?.length, 1, 'hooked once');
  const calls = tapOut
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.dst.ip === lab.ipB && e.dst.port === SCANNED_PORT && e.protocol === 'grpc');
  assert.equal(calls.length, 1, JSON.stringify(calls.map((e) => e.summary)));
  // On failure: the entry's warnings, its response and process, and the tap's summary and notes.
  const why = `${JSON.stringify({ warnings: calls[0].warnings, response: calls[0].response, process: calls[0].process })}\n${tapErr.trim().split('\n').slice(-4).join('\n')}`;
  assert.equal(calls[0].response?.grpcStatus, 0, why);
  assert.equal(calls[0].peerProcess?.comm, 'gosrv2', `the server end: the scanned process\n${why}`);
});

test('a reply read while the request\'s write was still in its call (an upload answered early) is put after it: both calls whole', () => {
  assert.match(earlyOut, /^\d+\n\/upload 201 1\n$/, 'the Go client uploaded and got its reply');
  const calls = tapOut
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.dst.ip === lab.ipB && e.dst.port === EARLY_PORT);
  assert.deepEqual(calls.map((e) => e.summary), ['GET /first → 200', 'POST /upload → 201'], tapErr.trim().split('\n').pop());
  const upload = calls[1];
  assert.equal(upload.request.bodySize, 256 << 10);
  assert.equal(upload.process?.comm, 'goclient');
  assert.ok(upload.elapsedTime >= 0, `elapsedTime ${upload.elapsedTime}`);
  assert.match(tapErr, /[1-9]\d* reads put after a write still in flight on their socket/);
  assert.doesNotMatch(tapErr, /let go after \d+ ms without it/);
});

test('secrets inside the captured plaintext are redacted', () => {
  assert.ok(tapOut.length > 0);
  assert.ok(!tapOut.includes(TOKEN), 'a secret from inside TLS reached the output');
  const login = ourEntries().find((e) => e.request?.path === '/login');
  assert.ok(login, 'the /login call is there (so the check above could fail)');
  assert.match(JSON.stringify(login), /\[REDACTED\]/);
});
