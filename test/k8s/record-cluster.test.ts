// `shark record` keeps the cluster context current through a recording: the
// real CLI records entries from stdin against the API-server fixture while the
// cluster changes (a Job's pod finishes and a new pod takes its IP, a pod and a
// service appear); the changes land in cluster-changes.ndjson beside the
// files, and the manifest's snapshot replayed with them names what the
// start-of-recording snapshot alone could not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin } from '../helpers/paths.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { indexSnapshot, loadSnapshot } from '../../src/k8s/enrich.js';
import type { Manifest } from '../../src/record/manifest.js';

async function until(cond: () => boolean, what: string, ms: number, detail = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const entry = (ip: string) =>
  JSON.stringify({
    id: ip,
    timestamp: Date.now(),
    protocol: 'tcp',
    transport: 'tcp',
    elapsedTime: 0,
    src: { ip: '198.19.110.200', port: 40000, name: '', namespace: '', pod: '', service: '', node: '' },
    dst: { ip, port: 80, name: '', namespace: '', pod: '', service: '', node: '' },
    request: null,
    response: null,
    error: false,
    requestSize: 0,
    responseSize: 0,
    summary: '',
  }) + '\n';

test('record appends cluster changes during the recording; the manifest replayed with them names pods that came later', { timeout: 60_000 }, async () => {
  const f = new ApiServerFixture({ nodes: [{ name: 'n1', ip: '198.19.110.1' }] });
  f.addPod({ namespace: 'batch', name: 'migrate-x7k2p', ip: '198.19.110.30', node: 'n1' });
  f.addPod({ namespace: 'web', name: 'web-0', ip: '198.19.110.31', node: 'n1' });
  await f.listen();
  const dir = mkdtempSync(join(tmpdir(), 's4c-rec-'));
  const kubeconfig = join(dir, 'kubeconfig');
  f.writeKubeconfig(kubeconfig);
  const out = join(dir, 'out');
  const rec = spawn(process.execPath, [cliBin, 'record', '--name', 'k', '--out', out, '--kubeconfig', kubeconfig], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  rec.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((r) => rec.on('close', (c) => r(c)));
  try {
    rec.stdin!.write(entry('198.19.110.31'));
    const changesFile = () => {
      const folders = existsSync(out) ? readdirSync(out).filter((n) => !n.startsWith('.')) : [];
      return folders.length === 1 ? join(out, folders[0], 'cluster-changes.ndjson') : '';
    };
    await until(() => !!changesFile() && existsSync(changesFile()), 'the changes file', 20_000, () => err);

    // The Job's pod finishes; a new pod gets its IP; another pod and a service appear.
    const job = f.store.get('pods', 'batch', 'migrate-x7k2p')!;
    f.store.update('pods', { ...job, status: { ...job.status, phase: 'Succeeded' } });
    f.addPod({ namespace: 'web', name: 'api-0', ip: '198.19.110.30', node: 'n1' });
    f.addPod({ namespace: 'web', name: 'late-0', ip: '198.19.110.32', node: 'n1' });
    f.addService({ namespace: 'web', name: 'api', clusterIP: '198.19.111.10', ports: [{ port: 80 }], selector: { app: 'api' } });
    await until(() => readFileSync(changesFile(), 'utf8').split('\n').length > 4, 'the changes appended', 20_000, () => err);
    rec.stdin!.end(entry('198.19.110.32'));
    assert.equal(await exit, 0, err);

    const folder = join(out, readdirSync(out).filter((n) => !n.startsWith('.'))[0]);
    const manifestPath = join(folder, 'manifest.json');
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    assert.ok(m.cluster, err);
    assert.equal(m.clusterChanges?.file, 'cluster-changes.ndjson');
    assert.ok((m.clusterChanges?.changes ?? 0) >= 4, JSON.stringify(m.clusterChanges));
    assert.equal(m.clusterChanges?.dropped, 0);
    // The snapshot at the start knew only the Job's pod at .30 and nothing at .32.
    const start = indexSnapshot(m.cluster);
    assert.equal(start.podByIp('198.19.110.30')?.name, 'migrate-x7k2p');
    assert.equal(start.podByIp('198.19.110.32'), undefined);
    // Replayed: the later pods and the service are known, the new holder of .30 wins.
    const g = indexSnapshot(loadSnapshot(manifestPath));
    assert.equal(g.podByIp('198.19.110.30')?.name, 'api-0');
    assert.equal(g.podByIp('198.19.110.32')?.name, 'late-0');
    assert.equal(g.podByIp('198.19.110.31')?.name, 'web-0');
    assert.equal(g.serviceByAddr('198.19.111.10', 80)?.name, 'api');
  } finally {
    rec.kill('SIGKILL');
    await f.close();
  }
});
