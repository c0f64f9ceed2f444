// `shark tap --tls` and a client that forks with its connection open: python3
// (OpenSSL 3) makes a call, forks, the child makes two on the connection it
// inherited (the same socket and SSL object, its own process; the parent
// cannot use it after that: the TLS sequence numbers went on in the child's
// copy), and the parent then makes one on a new connection. Both ends are hooked (a python3
// HTTPS server answers, keep-alive). Each call must be one entry with the
// path and status the client saw, named after the process that made it; the
// child's call was lost silently before (its events, counted from its own
// offsets, were taken for the server end's copy of the bytes and dropped).
// Needs root and BPF: fails (never skips) without them.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin } from '../helpers/paths.js';
import { takeTurnsWithOtherBpfTests } from '../helpers/bpf-lock.js';
import { makeVethLab, waitForStderr } from '../live/netns.js';

const lab = makeVethLab(`k${process.pid % 100}`, '198.19.120', 's4e');
const dir = mkdtempSync(join(tmpdir(), 'shark-ebpf-fork-'));
const PORT = 8457;
// eBPF lab tests take turns (test/helpers/bpf-lock.ts).
takeTurnsWithOtherBpfTests();
after(() => {
  lab.stop();
  rmSync(dir, { recursive: true, force: true });
});

const SERVER = `
import http.server, ssl, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        body = self.path.encode()
        self.send_response(200 if 'parent' in self.path else 202)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.timeout = 0.5
end = time.time() + 90
while time.time() < end: srv.handle_request()
`;

const CLIENT = `
import http.client, ssl, os, sys
def connect(): return http.client.HTTPSConnection(sys.argv[1], int(sys.argv[2]), context=ssl._create_unverified_context(), timeout=5)
def call(c, path):
    c.request('GET', path); r = c.getresponse(); r.read(); print(path, r.status, os.getpid(), flush=True)
c = connect()
call(c, '/parent-first')
pid = os.fork()
if pid == 0:
    # The TLS state (sequence numbers) went on in the child's copy: from here the connection is the child's.
    call(c, '/child-inherited')
    call(c, '/child-inherited-again')
    os._exit(0)
os.waitpid(pid, 0)
call(connect(), '/parent-new-connection')
`;

test('tap --tls: a call a forked child makes on the connection it inherited is an entry of its own, named after the child', { timeout: 150_000 }, async () => {
  writeFileSync(join(dir, 'server.py'), SERVER);
  writeFileSync(join(dir, 'client.py'), CLIENT);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=fork', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
  lab.start(lab.nsB, ['python3', join(dir, 'server.py'), lab.ipB, String(PORT), join(dir, 'c.pem'), join(dir, 'k.pem')]).stdout?.resume();
  const up = await lab.sh(lab.nsA, `for i in $(seq 50); do curl -sk -o /dev/null -m 1 https://${lab.ipB}:${PORT}/up && exit 0; sleep 0.2; done; exit 1`);
  assert.equal(up.code, 0, 'the python3 server did not come up');

  const tap = spawn(process.execPath, [cliBin, 'tap', '--tls', '-o', 'ndjson', '--duration', '90s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  tap.stdout.on('data', (d: Buffer) => (out += d.toString()));
  tap.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => tap.on('exit', r));
  await waitForStderr(tap, /--tls: hooked/, 60_000);

  const r = await lab.sh(lab.nsA, `exec python3 ${join(dir, 'client.py')} ${lab.ipB} ${PORT}`, 20_000);
  assert.equal(r.code, 0, `client: ${r.stderr}`);
  const seen = r.stdout.trim().split('\n').map((l) => l.split(' ')).map(([path, status, pid]) => ({ path, status: Number(status), pid: Number(pid) }));
  assert.equal(seen.length, 4, r.stdout);
  assert.notEqual(seen[1].pid, seen[0].pid, 'the second call was made by the child');
  await new Promise((res) => setTimeout(res, 1500));
  tap.kill('SIGINT');
  assert.equal(await exited, 0, err);

  const entries = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.dst?.port === PORT && e.request?.path !== '/up');
  assert.deepEqual(
    entries.map((e) => `${e.request?.path} ${e.response?.status} ${e.process?.pid} ${e.tls}`),
    seen.map((s) => `${s.path} ${s.status} ${s.pid} true`),
    err,
  );
  assert.ok(entries.every((e) => !e.warnings?.length), JSON.stringify(entries.map((e) => e.warnings)));
  assert.match(err, /\d+ used by more than one process \(a forked child, an fd passed on\)/);
});
