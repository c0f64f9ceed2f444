// `shark agent --tls` (the node agent in eBPF mode): entries of TLS calls on
// the node, tagged with the node's name, redacted on the node, and the run
// ends on the control stream's {"stop":true} like a packet capture does.
// Server: `openssl s_server -www` in a lab namespace; client: curl. Needs root
// and BPF: fails (never skips) without them.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin } from '../helpers/paths.js';
import { takeTurnsWithOtherBpfTests } from '../helpers/bpf-lock.js';
import { makeVethLab, waitForStderr } from '../live/netns.js';

const lab = makeVethLab(`g${process.pid % 100}`, '198.19.120', 's4e');
const dir = mkdtempSync(join(tmpdir(), 'shark-ebpf-agent-'));
// eBPF lab tests take turns (test/helpers/bpf-lock.ts).
takeTurnsWithOtherBpfTests();
after(() => {
  lab.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('agent --tls: the call as an entry with the node name and the process, secrets redacted; {"stop":true} ends it', async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=agent', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
  const server = lab.start(lab.nsB, ['openssl', 's_server', '-quiet', '-www', '-accept', '8443', '-cert', join(dir, 'c.pem'), '-key', join(dir, 'k.pem')]);
  server.stdout?.resume();
  server.stderr?.resume();
  const agent = spawn(process.execPath, [cliBin, 'agent', '--tls', '--node', 's4e-node'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  agent.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)));
  try {
    await waitForStderr(agent, /--tls: hooked/, 60_000);
    let r = { code: 1, stdout: '', stderr: '' };
    for (let i = 0; i < 30 && r.code !== 0; i++) {
      r = await lab.sh(lab.nsA, `curl -sk -o /dev/null --max-time 2 -w '%{http_code}' 'https://${lab.ipB}:8443/agent?password=hunter2-s4e'`, 5000);
      if (r.code !== 0) await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(r.code, 0, `curl: ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 1500));
    agent.stdin.write('{"stop":true}\n');
    assert.equal(await exited, 0);
  } finally {
    if (agent.exitCode === null) agent.kill('SIGKILL');
  }
  const entries = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.dst.ip === lab.ipB && e.dst.port === 8443);
  assert.equal(entries.length, 1, out);
  const e = entries[0];
  assert.equal(e.protocol, 'http');
  assert.equal(e.request.path, '/agent');
  assert.equal(e.response.status, 200);
  assert.equal(e.tls, true);
  assert.equal(e.node?.name, 's4e-node');
  assert.equal(e.process.comm, 'curl');
  assert.ok(!out.includes('hunter2-s4e'), 'the password in the query string was redacted on the node');
});
