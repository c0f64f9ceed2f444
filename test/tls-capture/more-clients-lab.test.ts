// `shark tap --tls` with clients and servers the other lab tests do not run:
// nginx (OpenSSL 3) answering HTTP/2 to curl --http2, a python3 asyncio TLS
// server, and a python3 client reading its answer with SSL_read into 5-byte
// buffers. Each call must be one entry with its path and status, marked tls.
// Needs root and BPF: fails (never skips) without them.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin } from '../helpers/paths.js';
import { takeTurnsWithOtherBpfTests } from '../helpers/bpf-lock.js';
import { startTlsNginx } from '../helpers/tls-nginx.js';
import { makeVethLab, waitForStderr } from '../live/netns.js';

const lab = makeVethLab(`m${process.pid % 100}`, '198.19.121', 's4m');
const dir = mkdtempSync(join(tmpdir(), 'shark-ebpf-more-'));
const PY_PORT = 8447;
let nginx: ChildProcess | undefined;
let python: ChildProcess | undefined;
takeTurnsWithOtherBpfTests();
after(async () => {
  // nginx's master by its pid file (its worker holds our pipes too), then everything the lab started.
  await lab.sh(lab.nsB, `kill -TERM $(cat ${dir}/nginx.pid) 2>/dev/null; for i in $(seq 50); do [ -e ${dir}/nginx.pid ] || break; sleep 0.1; done`, 10_000);
  for (const c of [nginx, python]) {
    c?.stdout?.destroy();
    c?.stderr?.destroy();
  }
  lab.stop();
  rmSync(dir, { recursive: true, force: true });
});

const PY_SERVER = `
import asyncio, ssl, sys
async def handle(reader, writer):
    while True:
        head = await reader.readuntil(b"\\r\\n\\r\\n")
        path = head.split(b" ")[1]
        body = b"py:" + path
        writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(body), body))
        await writer.drain()
        if b"close" in head.lower():
            break
    writer.close()
async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    server = await asyncio.start_server(handle, "0.0.0.0", ${PY_PORT}, ssl=ctx)
    async with server:
        await asyncio.wait_for(server.serve_forever(), 90)
asyncio.run(main())
`;

const PY_SMALL_READS = `
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((sys.argv[1], 443), timeout=10))
s.sendall(b"GET /ok HTTP/1.1\\r\\nHost: web\\r\\nConnection: close\\r\\n\\r\\n")
got = b""
while True:
    chunk = s.recv(5)
    if not chunk:
        break
    got += chunk
print(got.split(b"\\r\\n")[0].decode())
`;

test('tap --tls: nginx HTTP/2, a python asyncio server and a client reading 5 bytes at a time: each call one entry', { timeout: 180_000 }, async () => {
  nginx = await startTlsNginx(lab, dir, 'tok');
  writeFileSync(join(dir, 'server.py'), PY_SERVER);
  writeFileSync(join(dir, 'small.py'), PY_SMALL_READS);
  python = lab.start(lab.nsB, ['python3', join(dir, 'server.py'), join(dir, 'tls.crt'), join(dir, 'tls.key')]);
  python.stdout?.resume();
  python.stderr?.resume();
  const up = await lab.sh(lab.nsA, `for i in $(seq 50); do curl -sk -o /dev/null -m 1 https://${lab.ipB}:${PY_PORT}/up && exit 0; sleep 0.2; done; exit 1`);
  assert.equal(up.code, 0, 'the python server did not come up');

  const tap = spawn(process.execPath, [cliBin, 'tap', '--tls', '-o', 'ndjson', '--duration', '90s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  tap.stdout.on('data', (d: Buffer) => (out += d.toString()));
  tap.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => tap.on('exit', r));
  await waitForStderr(tap, /--tls: hooked/, 60_000);
  // python3 loads libssl.so.3 at start: wait for the rescan (every second) to have hooked the running ones.
  await new Promise((r) => setTimeout(r, 2500));

  const h2 = await lab.sh(lab.nsA, `curl -sk --http2 -o /dev/null -o /dev/null -w '%{http_version} %{http_code}' https://${lab.ipB}/ok https://${lab.ipB}/boom`, 15_000);
  assert.equal(h2.stdout, '2 2002 500', `curl --http2: ${h2.stderr}`);
  const py = await lab.sh(lab.nsA, `curl -sk -o /dev/null -o /dev/null -w '%{http_code}' https://${lab.ipB}:${PY_PORT}/asyncio-a https://${lab.ipB}:${PY_PORT}/asyncio-b`, 15_000);
  assert.equal(py.stdout, '200200', py.stderr);
  const small = await lab.sh(lab.nsA, `python3 ${join(dir, 'small.py')} ${lab.ipB}`, 15_000);
  assert.equal(small.stdout.trim(), 'HTTP/1.1 200 OK', small.stderr);
  await new Promise((r) => setTimeout(r, 2000));
  tap.kill('SIGINT');
  assert.equal(await exited, 0, err);

  const entries = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.dst?.ip === lab.ipB || e.src?.ip === lab.ipB);
  const calls = entries.map((e) => `${e.protocol} ${e.dst.port} ${e.request?.path} ${e.response?.status} ${e.tls} ${(e.warnings ?? []).join(',')}`.trim());
  const want = [
    'http2 443 /ok 200 true',
    'http2 443 /boom 500 true',
    `http ${PY_PORT} /asyncio-a 200 true`,
    `http ${PY_PORT} /asyncio-b 200 true`,
    'http 443 /ok 200 true',
  ];
  for (const w of want) assert.equal(calls.filter((c) => c === w).length, 1, `${w} once in:\n${calls.join('\n')}\n${err}`);
});
