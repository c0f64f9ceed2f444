// `shark tap --tls` on OpenSSL 1.1 (`libssl.so.1.1`): Debian 12 ships only
// OpenSSL 3, so the library comes from Debian 11's package
// (scripts/lab/libssl11.sh, run by install.sh) and a small client the test
// compiles (test/fixtures/tls-capture/ssl11client.c) loads it. Against an
// `openssl s_server` (OpenSSL 3, also hooked), each call is one entry with
// the path and status the client saw, attributed to the client process.
// Needs root and BPF: fails (never skips) without them.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cliBin, repoRoot } from '../helpers/paths.js';
import { takeTurnsWithOtherBpfTests } from '../helpers/bpf-lock.js';
import { makeVethLab, waitForStderr } from '../live/netns.js';

const lab = makeVethLab(`o${process.pid % 100}`, '198.19.120', 's4e');
const dir = mkdtempSync(join(tmpdir(), 'shark-ebpf-ssl11-'));
const PORT = 8446;
// eBPF lab tests take turns (test/helpers/bpf-lock.ts).
takeTurnsWithOtherBpfTests();
after(() => {
  lab.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('tap --tls hooks libssl.so.1.1: a client of OpenSSL 1.1 is seen from its own end', { timeout: 120_000 }, async () => {
  const lib = execFileSync('bash', [join(repoRoot, 'scripts', 'lab', 'libssl11.sh')], { encoding: 'utf8' }).trim();
  const libDir = dirname(join(repoRoot, lib));
  const client = join(dir, 'ssl11client');
  execFileSync('gcc', ['-O2', '-o', client, join(repoRoot, 'test', 'fixtures', 'tls-capture', 'ssl11client.c'), '-ldl']);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=ssl11', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
  lab.start(lab.nsB, ['openssl', 's_server', '-quiet', '-www', '-accept', String(PORT), '-cert', join(dir, 'c.pem'), '-key', join(dir, 'k.pem')]).stdout?.resume();
  const up = await lab.sh(lab.nsA, `for i in $(seq 50); do curl -sk -o /dev/null -m 1 https://${lab.ipB}:${PORT}/ && exit 0; sleep 0.2; done; exit 1`);
  assert.equal(up.code, 0, 'openssl s_server did not come up');

  // The library is named (--tls-lib) so it is hooked before the client loads it.
  const tap = spawn(process.execPath, [cliBin, 'tap', '--tls', '--tls-lib', join(libDir, 'libssl.so.1.1'), '-o', 'ndjson', '--duration', '60s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  tap.stdout.on('data', (d: Buffer) => (out += d.toString()));
  tap.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => tap.on('exit', r));
  await waitForStderr(tap, /--tls: hooked/, 60_000);
  assert.match(err, /libssl\.so\.1\.1/, 'the 1.1 library is among the hooked');

  const seen: { pid: number; path: string; status: number }[] = [];
  for (const path of ['/ssl11-a', '/ssl11-b']) {
    const r = await lab.sh(lab.nsA, `LD_LIBRARY_PATH=${libDir} exec ${client} ${lab.ipB} ${PORT} ${path}`, 15_000);
    assert.equal(r.code, 0, `ssl11client: ${r.stderr}`);
    const [pid, status] = r.stdout.trim().split('\n');
    seen.push({ pid: Number(pid), path, status: Number(status.split(' ')[1]) });
  }
  await new Promise((r) => setTimeout(r, 1500));
  tap.kill('SIGINT');
  assert.equal(await exited, 0, err);

  const entries = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.dst?.port === PORT);
  for (const s of seen) {
    const e = entries.find((x) => x.request?.path === s.path);
    assert.ok(e, `${s.path} not captured: ${JSON.stringify(entries.map((x) => x.summary))}`);
    assert.equal(e.tls, true);
    assert.equal(e.response?.status, s.status);
    assert.equal(e.process?.pid, s.pid, 'the OpenSSL 1.1 client end');
    assert.equal(e.process?.comm, 'ssl11client');
    assert.equal(e.process?.role, 'client');
  }
  assert.equal(entries.filter((x) => x.request?.path?.startsWith('/ssl11-')).length, seen.length, 'one entry per call');
});
