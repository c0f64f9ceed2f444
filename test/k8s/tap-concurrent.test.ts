// Two `shark tap` runs sharing the agents' namespace, as two SREs on one
// cluster: the namespace one run created must neither vanish under the other
// (a run that removes it as the other starts) nor stay behind when its
// creator leaves first. Agents are a stand-in process (no capture needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, spawnTap, until } from '../helpers/tap-process.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import type { Obj } from '../fixtures/apiserver/store.js';

const MANAGED = 'app.kubernetes.io/managed-by=shark';

function fakeAgent(command: string[]): ChildProcess {
  const script = `process.stderr.write('agent: capturing on any\\n'); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
  return spawn(process.execPath, ['-e', script, '--', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
}

async function fixture(): Promise<{ f: ApiServerFixture; kubeconfig: string }> {
  const f = new ApiServerFixture({ nodes: [{ name: 'node0', ip: '198.18.33.1' }], spawnExec: fakeAgent });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.18.33.12', node: 'node0' });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  return { f, kubeconfig };
}

test('a run whose namespace is removed by the other run as it starts creates it again and taps', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  // The namespace a first run created, which that run removes (as its last act) just after this
  // run has looked at it: the store deletes it right after answering the first read.
  f.ensureNamespace('shark-system');
  const ns = f.store.get('namespaces', undefined, 'shark-system')!;
  ns.metadata.labels = { [MANAGED.split('=')[0]]: 'shark', 'pod-security.kubernetes.io/enforce': 'privileged' };
  f.store.update('namespaces', ns);
  f.store.namespaceTerminateMs = 800;
  const get = f.store.get.bind(f.store);
  let armed = true;
  f.store.get = (plural: string, namespace: string | undefined, name: string): Obj | undefined => {
    const o = get(plural, namespace, name);
    if (armed && plural === 'namespaces' && name === 'shark-system' && o) {
      armed = false;
      setImmediate(() => f.store.delete('namespaces', undefined, 'shark-system'));
    }
    return o;
  };
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
  try {
    await until(() => /agents running on 1 node/.test(tap.stderr()) || tap.child.exitCode !== null, 'agents running', 30_000, tap);
    assert.equal(tap.child.exitCode, null, tap.stderr());
    assert.ok(!armed, 'the namespace was removed under the run');
    assert.match(tap.stderr(), /^tap: namespace shark-system was removed .*; created it again$/m);
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    // It created the namespace, so it removes it.
    await until(() => f.store.findAll(MANAGED).length === 0, 'objects removed', 5000, tap);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('the namespace created by a run that leaves first is removed by the last run to leave', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  const first = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig]);
  let second: ReturnType<typeof spawnTap> | undefined;
  try {
    // The first run creates the namespace; the second finds it there.
    await until(() => /agents running on/.test(first.stderr()), 'first running', 30_000, first);
    second = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig]);
    await until(() => /agents running on/.test(second!.stderr()), 'second running', 30_000, second);
    first.child.kill('SIGINT');
    assert.equal(await exited(first), 0, first.stderr());
    const ns = f.store.get('namespaces', undefined, 'shark-system');
    assert.ok(ns && !ns.metadata.deletionTimestamp, 'the namespace stays while the other run uses it');
    assert.match(first.stderr(), /^tap: namespace shark-system stays: another run uses it \(the last run to leave removes it\)$/m);
    second.child.kill('SIGINT');
    assert.equal(await exited(second), 0, second.stderr());
    assert.match(second.stderr(), /^tap: removed namespace shark-system \(created by run \w+, which left first\)$/m);
    await until(() => f.store.findAll(MANAGED).length === 0, 'nothing of shark left', 5000, second);
  } finally {
    first.child.kill('SIGKILL');
    second?.child.kill('SIGKILL');
    await f.close();
  }
});
