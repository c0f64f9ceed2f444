// Without BPF, `shark tap --tls` says exactly why in one line and exits 4:
// not permitted (an unprivileged user), or the loader not built. Plain
// capture is not affected (the flag is only read when given).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cliBin, repoRoot } from '../helpers/paths.js';
import { runCli } from '../helpers/cli.js';

test('an unprivileged user: one line naming the capabilities, exit 4', () => {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, cliBin, 'tap', '--tls', '--duration', '5s'], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, HOME: '/tmp' },
    timeout: 60_000,
  });
  assert.equal(r.status, 4, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /--tls: needs root, or CAP_BPF and CAP_PERFMON/);
  assert.equal(r.stdout, '');
});

test('the loader missing: one line saying how to build it, exit 4', async () => {
  const r = await runCli(['tap', '--tls', '--duration', '5s'], { env: { SHARK_TLS_LOADER: '/nonexistent/shark-tls-capture' } });
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /--tls: the BPF loader is not built .*native\/tls-capture\/build\.sh/);
});

test('--tls with -i is a usage error (exit 2), said before anything starts', async () => {
  const r = await runCli(['tap', '--tls', '-i', 'lo', '--duration', '1s']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--tls captures through eBPF, not on an interface: drop -i/);
});

test('tap -A --tls with --pcap or --service-mesh is a usage error (exit 2) before any cluster is contacted', async () => {
  const pcap = await runCli(['tap', '-A', '--tls', '--pcap', '--kubeconfig', '/nonexistent']);
  assert.equal(pcap.code, 2, pcap.stderr);
  assert.match(pcap.stderr, /--tls writes entries: there are no packets/);
  const mesh = await runCli(['tap', '-A', '--tls', '--service-mesh', '--kubeconfig', '/nonexistent']);
  assert.equal(mesh.code, 2, mesh.stderr);
  assert.match(mesh.stderr, /drop --service-mesh/);
});
