// `shark tap --tls | head -1`: the reader leaving ends the tap quietly (exit
// 0) long before --duration, as for packet capture.
// Needs root and BPF: fails (never skips) without them.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin } from '../helpers/paths.js';
import { takeTurnsWithOtherBpfTests } from '../helpers/bpf-lock.js';
import { makeVethLab } from '../live/netns.js';

const lab = makeVethLab(`p${process.pid % 100}`, '198.19.120', 's4e');
const dir = mkdtempSync(join(tmpdir(), 'shark-ebpf-pipe-'));
// eBPF lab tests take turns (test/helpers/bpf-lock.ts).
takeTurnsWithOtherBpfTests();
after(() => {
  lab.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('tap --tls | head -1 exits 0 with one entry, long before --duration', async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=pipe', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
  lab.start(lab.nsB, ['openssl', 's_server', '-quiet', '-www', '-accept', '8444', '-cert', join(dir, 'c.pem'), '-key', join(dir, 'k.pem')]).stdout?.resume();
  // Bounded traffic: at most 120 requests, one every 250 ms, until the pipeline is done.
  const traffic = lab.sh(lab.nsA, `for i in $(seq 120); do curl -sk -o /dev/null --max-time 2 https://${lab.ipB}:8444/pipe$i; sleep 0.25; done`, 60_000);
  const pipeline = spawn('bash', ['-c', `set -o pipefail; ${process.execPath} ${cliBin} tap --tls --duration 120s 2>${dir}/err | head -1; echo "status \${PIPESTATUS[0]}" >&2`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  pipeline.stdout.on('data', (d: Buffer) => (out += d.toString()));
  pipeline.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => pipeline.kill('SIGKILL'), 90_000);
  await new Promise((r) => pipeline.on('close', r));
  clearTimeout(timer);
  // The traffic loop is ended by lab.stop() in after().
  void traffic;
  const lines = out.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, out);
  assert.equal(JSON.parse(lines[0]).tls, true);
  assert.match(err, /status 0/, `shark's exit status: ${err}`);
});
