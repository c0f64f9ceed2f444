// The agent container's main process is the DaemonSet's own command, taken
// from the manifest shark deploys: it must stay up until the kubelet stops it
// (SIGTERM), then exit 0 — else every agent pod crash-loops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { agentManifests } from '../../src/k8s/agent-manifests.js';
import { cliBin } from '../helpers/paths.js';

function daemonSetCommand(): string[] {
  const ds = agentManifests({ runId: 'life01' }).objects.find((o) => o.kind === 'DaemonSet')!;
  return ds.spec.template.spec.containers[0].command as string[];
}

async function runUntilSignal(signal: NodeJS.Signals): Promise<{ aliveAfterMs: number; code: number | null; stderr: string }> {
  const command = daemonSetCommand();
  assert.equal(command[0], 'shark', 'the image puts `shark` on PATH');
  const child = spawn(process.execPath, [cliBin, ...command.slice(1)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let ended = false;
  void exited.then(() => (ended = true));
  // Longer than Node's start plus the ~0.7 s after which the unfixed agent had exited.
  const aliveAfterMs = 4000;
  await new Promise((r) => setTimeout(r, aliveAfterMs));
  try {
    assert.equal(ended, false, `the agent's main process exited by itself: ${stderr}`);
    child.kill(signal);
    const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
    return { aliveAfterMs, code, stderr };
  } finally {
    child.kill('SIGKILL');
  }
}

test('the DaemonSet command stays up until SIGTERM, then exits 0', { timeout: 30_000 }, async () => {
  const r = await runUntilSignal('SIGTERM');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
});

test('… and exits 0 on SIGINT too', { timeout: 30_000 }, async () => {
  const r = await runUntilSignal('SIGINT');
  assert.equal(r.code, 0, r.stderr);
});
