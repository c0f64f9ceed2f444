// Request bodies in the Kubernetes protobuf encoding: kubectl 1.32 and later
// send `kubectl create namespace|configmap|secret|serviceaccount|job` as
// `application/vnd.kubernetes.protobuf`, which the API server reads like
// JSON. The fixture answered 400 "request body is not JSON" where a real
// server creates the object; here every installed kubectl creates each one
// and the stored objects are checked, and the decoder's refusals name what
// it does not model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { decodeProtobufObject } from '../fixtures/apiserver/protobuf-body.js';
import { ApiStatusError } from '../fixtures/apiserver/store.js';
import { len, uint } from '../helpers/protobuf-wire.js';

function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** kubectl on PATH and every release beside it (kubectl.1.27 …), with their minor versions. */
function kubectls(): { minor: number; bin: string }[] {
  const onPath = (process.env.PATH ?? '')
    .split(':')
    .filter(Boolean)
    .map((dir) => join(dir, 'kubectl'))
    .find((p) => existsSync(p));
  if (!onPath) return [];
  const dir = dirname(realpathSync(onPath));
  const found = new Map<number, string>();
  for (const bin of [onPath, ...readdirSync(dir).filter((n) => /^kubectl\.\d+\.\d+$/.test(n)).map((n) => join(dir, n))]) {
    const r = spawnSync(bin, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
    const minor = r.status === 0 ? Number(String(JSON.parse(r.stdout).clientVersion?.minor ?? '').replace(/\D+$/, '')) : NaN;
    if (Number.isFinite(minor) && !found.has(minor)) found.set(minor, bin);
  }
  return [...found].sort((a, b) => a[0] - b[0]).map(([minor, bin]) => ({ minor, bin }));
}

for (const { minor, bin } of kubectls()) {
  test(`kubectl 1.${minor} creates a namespace, configmap, secret, serviceaccount and job imperatively; errors name the group`, { timeout: 60_000 }, async () => {
    const f = new ApiServerFixture({ nodes: [{ name: 'n1', ip: '198.18.32.1' }], tls: true });
    await f.listen();
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
    f.writeKubeconfig(kubeconfig);
    const k = (...args: string[]) => run(bin, ['--kubeconfig', kubeconfig, ...args]);
    try {
      for (const args of [
        ['create', 'namespace', 'shop'],
        ['create', 'configmap', 'settings', '-n', 'shop', '--from-literal=mode=fast', '--from-literal=level=3'],
        ['create', 'secret', 'generic', 'db', '-n', 'shop', '--from-literal=password=s3cret'],
        ['create', 'serviceaccount', 'runner', '-n', 'shop'],
        ['create', 'job', 'once', '-n', 'shop', '--image=busybox:1.36', '--', 'sleep', '1'],
      ]) {
        const r = await k(...args);
        assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stdout, / created$/m);
      }
      // 1.32 on sends these bodies as protobuf (that is what the fixture refused before).
      const proto = f.bodyTypes.filter((t) => t.includes('protobuf'));
      if (minor >= 32) assert.equal(proto.length, 5, f.bodyTypes.join('\n'));
      const ns = f.store.get('namespaces', undefined, 'shop')!;
      assert.equal(ns.status.phase, 'Active');
      assert.equal(ns.metadata.generateName, undefined, 'zero values of the protobuf body are not stored');
      assert.deepEqual(f.store.get('configmaps', 'shop', 'settings')!.data, { mode: 'fast', level: '3' });
      const secret = f.store.get('secrets', 'shop', 'db')!;
      assert.equal(secret.type, 'Opaque');
      assert.equal(Buffer.from(secret.data.password, 'base64').toString(), 's3cret');
      assert.ok(f.store.get('serviceaccounts', 'shop', 'runner'));
      const job = f.store.get('jobs', 'shop', 'once')!;
      const c = job.spec.template.spec.containers[0];
      assert.equal(c.image, 'busybox:1.36');
      assert.deepEqual([...(c.command ?? []), ...(c.args ?? [])], ['sleep', '1']);
      assert.equal(job.spec.template.spec.restartPolicy, 'Never');
      assert.equal(c.stdin, undefined);
      // Outside the core group the API server names a resource with its group.
      const again = await k('create', 'job', 'once', '-n', 'shop', '--image=busybox:1.36');
      assert.match(again.stderr, /jobs\.batch "once" already exists/);
      assert.match((await k('get', 'daemonset', 'nosuch', '-n', 'shop')).stderr, /Error from server \(NotFound\): daemonsets\.apps "nosuch" not found/);
      assert.match((await k('get', 'configmap', 'nosuch', '-n', 'shop')).stderr, /Error from server \(NotFound\): configmaps "nosuch" not found/);
      const got = await k('get', 'secret', 'db', '-n', 'shop', '-o', 'jsonpath={.data.password}');
      assert.equal(Buffer.from(got.stdout, 'base64').toString(), 's3cret');
    } finally {
      await f.close();
    }
  });
}

/** The envelope "k8s\0" + runtime.Unknown{typeMeta, raw} around one message. */
function envelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  return Buffer.concat([Buffer.from('k8s\0', 'latin1'), len(1, Buffer.concat([len(1, apiVersion), len(2, kind)])), len(2, raw)]);
}

test('protobuf bodies: pointer fields keep false, an unmodelled kind is 415 and an unmodelled field 400, both named', () => {
  const meta = len(1, Buffer.concat([len(1, 'agent'), len(2, ''), uint(7, 0), len(11, Buffer.concat([len(1, 'app'), len(2, 'shark')]))]));
  assert.deepEqual(decodeProtobufObject(envelope('v1', 'ServiceAccount', Buffer.concat([meta, uint(4, 0)]))), {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'agent', labels: { app: 'shark' } },
    automountServiceAccountToken: false,
  });
  const refused = (body: Buffer) => {
    try {
      decodeProtobufObject(body);
    } catch (e) {
      return e as ApiStatusError;
    }
    assert.fail('accepted');
  };
  const kind = refused(envelope('apps/v1', 'StatefulSet', meta));
  assert.equal(kind.code, 415);
  assert.match(kind.message, /not apps\/v1\/StatefulSet/);
  const field = refused(envelope('v1', 'ConfigMap', Buffer.concat([meta, len(9, 'x')])));
  assert.equal(field.code, 400);
  assert.match(field.message, /field 9 of ConfigMap/);
  assert.equal(refused(Buffer.from('{"kind":"ConfigMap"}')).code, 400);
});
