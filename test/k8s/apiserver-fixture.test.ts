// The API-server fixture checked against clients that were not written with
// it: every real kubectl release installed (1.27 … 1.33) for apply -f of
// `shark tap -A --dry-run` output and a re-apply that needs a strategic merge
// patch (1.27/1.28 read the protobuf OpenAPI v2 for it, later releases v3),
// get, get -w, auth can-i, wait, events, explain and exec; server-side apply
// (managed fields, conflicts, --force-conflicts); and the behaviours the
// Kubernetes docs describe that shark's CLI must cope with: list pagination
// (limit/continue, 410 on an expired token), watch bookmarks and 410 Gone →
// relist, Pod Security admission, RBAC 403 wording, namespaces that stay
// Terminating, and a DaemonSet controller that honours nodeSelector and taints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Watch } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { ApiServerFixture, type FixtureOptions } from '../fixtures/apiserver/server.js';
import { findResource, type Obj } from '../fixtures/apiserver/store.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { ClusterWatch } from '../../src/k8s/watch-cache.js';
import { runCli } from '../helpers/cli.js';
import { kubectls } from '../helpers/kubectls.js';

const podType = findResource('', 'pods')!;

async function setup(opts: Partial<FixtureOptions> = {}, token?: string) {
  const f = new ApiServerFixture({ nodes: [{ name: 'n1', ip: '198.18.31.1' }], tls: true, users: { 'jane-token': { name: 'jane', groups: [] } }, ...opts });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.18.31.10', node: 'n1' });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig, 'shark-lab', 'default', token);
  return { f, kubeconfig };
}

/** Run a command without blocking the event loop (the fixture answers from this process). */
function run(cmd: string, args: string[], input = '', env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

function grantRead(f: ApiServerFixture, user: string, namespace: string): void {
  f.store.create(findResource('rbac.authorization.k8s.io', 'roles')!, namespace, {
    metadata: { name: 'reader' },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
  });
  f.store.create(findResource('rbac.authorization.k8s.io', 'rolebindings')!, namespace, {
    metadata: { name: 'reader' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
    subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }],
  });
}

/** `shark tap -A --dry-run` output, made once by the built CLI and shared by every kubectl version. */
let dryRun: Promise<string> | undefined;
function dryRunManifests(): Promise<string> {
  dryRun ??= runCli(['tap', '-A', '--dry-run']).then((r) => {
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  });
  return dryRun;
}

/**
 * The same manifests as a user edits them before applying again: a new
 * image, one more env var in the middle, the `run` volume and its mount
 * removed. Only a strategic merge patch built from the containers/env/
 * volumes merge keys turns this into a correct small patch.
 */
function edited(yaml: string): string {
  return parseAllDocuments(yaml)
    .map((d) => {
      const o = d.toJS() as Obj;
      if (o.kind === 'DaemonSet') {
        const pod = o.spec.template.spec;
        const c = pod.containers[0];
        c.image = 'registry.example/shark:patched';
        c.env.splice(1, 0, { name: 'SHARK_TEST', value: '1' });
        c.volumeMounts = c.volumeMounts.filter((m: Obj) => m.name !== 'run');
        pod.volumes = pod.volumes.filter((v: Obj) => v.name !== 'run');
      }
      return stringify(o);
    })
    .join('---\n');
}

/** Apply the dry-run output, then the edited copy; check what the server stored and what kubectl sent. */
async function applyDryRun(f: ApiServerFixture, k: (args: string[], input?: string) => ReturnType<typeof run>, version: string): Promise<void> {
  const yaml = await dryRunManifests();
  const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Obj);
  const ds = docs.find((o) => o.kind === 'DaemonSet')!;
  const first = await k(['apply', '-f', '-'], yaml);
  assert.equal(first.status, 0, first.stderr);
  for (const o of docs) assert.match(first.stdout, new RegExp(`${o.kind.toLowerCase()}(\\.apps)?/${o.metadata.name} created`), first.stdout);
  assert.doesNotMatch(first.stderr, /warning/i);

  // kubectl diff: the same patch sent with dryRun=All; the server answers with the object it would store.
  const before = f.store.get('daemonsets', ds.metadata.namespace, ds.metadata.name)!;
  const diff = await k(['diff', '-f', '-'], edited(yaml));
  assert.equal(diff.status, 1, diff.stderr); // 1: there are differences
  assert.match(diff.stdout, /^-\s+image: \S+/m);
  assert.match(diff.stdout, /^\+\s+image: registry\.example\/shark:patched$/m);
  assert.match(diff.stdout, /^\+\s+- name: SHARK_TEST$/m);
  const after = f.store.get('daemonsets', ds.metadata.namespace, ds.metadata.name)!;
  assert.deepEqual([after.spec, after.metadata.annotations], [before.spec, before.metadata.annotations], 'a dry run stores nothing');

  const second = await k(['apply', '-f', '-'], edited(yaml));
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, new RegExp(`daemonset.apps/${ds.metadata.name} configured`));
  assert.match(second.stdout, new RegExp(`configmap/${docs.find((o) => o.kind === 'ConfigMap')!.metadata.name} unchanged`));
  // kubectl falls back to its built-in types with this warning when the served schema cannot give patch metadata.
  assert.doesNotMatch(second.stderr, /warning/i);

  const stored = f.store.get('daemonsets', ds.metadata.namespace, ds.metadata.name)!;
  const want = ds.spec.template.spec.containers[0];
  const got = stored.spec.template.spec.containers[0];
  assert.equal(got.image, 'registry.example/shark:patched');
  assert.deepEqual(got.command, want.command);
  assert.deepEqual(got.securityContext, want.securityContext);
  assert.deepEqual(
    got.env.map((e: Obj) => e.name),
    [want.env[0].name, 'SHARK_TEST', ...want.env.slice(1).map((e: Obj) => e.name)],
  );
  assert.deepEqual(got.volumeMounts.map((m: Obj) => m.name), want.volumeMounts.filter((m: Obj) => m.name !== 'run').map((m: Obj) => m.name));
  assert.deepEqual(stored.spec.template.spec.volumes.map((v: Obj) => v.name), ds.spec.template.spec.volumes.filter((v: Obj) => v.name !== 'run').map((v: Obj) => v.name));
  assert.doesNotMatch(JSON.stringify(stored), /"\$(patch|setElementOrder|retainKeys|deleteFromPrimitiveList)/, 'no patch directive is stored');

  // The DaemonSet controller rolls the pods to the new template; kubectl rollout status waits for it.
  const rollout = await k(['rollout', 'status', `daemonset/${ds.metadata.name}`, '-n', ds.metadata.namespace, '--timeout=15s']);
  assert.equal(rollout.status, 0, rollout.stdout + rollout.stderr);
  assert.match(rollout.stdout, /successfully rolled out/);
  const agents = f.store.list('pods', ds.metadata.namespace).filter((p) => p.metadata.ownerReferences?.[0]?.name === ds.metadata.name);
  assert.deepEqual(agents.map((p) => p.spec.containers[0].image), ['registry.example/shark:patched']);

  const again = await k(['diff', '-f', '-'], edited(yaml));
  assert.equal(again.status, 0, again.stdout + again.stderr);
  assert.equal(again.stdout, '');

  const patch = f.patches.find((p) => p.path.endsWith(`/daemonsets/${ds.metadata.name}`) && !p.dryRun)!;
  assert.match(patch.contentType, /application\/strategic-merge-patch\+json/);
  const sent = JSON.stringify(patch.body.spec);
  assert.doesNotMatch(sent, /"command"/, 'the patch carries the change, not the whole container');
  assert.match(sent, /"\$setElementOrder\/env"/);
  assert.match(sent, /"\$patch":"delete"/);
  if (version.startsWith('1.27') || version.startsWith('1.28')) assert.ok(f.requests.some((r) => r.startsWith('GET /openapi/v2')), 'kubectl before 1.29 reads the protobuf OpenAPI v2');

  // A typo in a field name: kubectl asks for fieldValidation=Strict (the served OpenAPI says the
  // server supports it) and the server refuses it with the API server's wording; nothing changes.
  const typo = edited(yaml).replace(/imagePullPolicy:/, 'imagePullPolcy:');
  const refused = await k(['apply', '-f', '-'], typo);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /DaemonSet in version "v1" cannot be handled as a DaemonSet: strict decoding error: unknown field "spec\.template\.spec\.containers\[0\]\.imagePullPolcy"/);
  assert.deepEqual(f.store.get('daemonsets', ds.metadata.namespace, ds.metadata.name)!.spec, stored.spec);
  // --validate=warn asks for fieldValidation=Warn: the server warns and drops the field, as the API server's decoder does.
  const warned = await k(['apply', '--validate=warn', '-f', '-'], typo);
  assert.equal(warned.status, 0, warned.stderr);
  assert.match(warned.stderr, /Warning: unknown field "spec\.template\.spec\.containers\[0\]\.imagePullPolcy"/);
  assert.equal(f.store.get('daemonsets', ds.metadata.namespace, ds.metadata.name)!.spec.template.spec.containers[0].imagePullPolcy, undefined);

  // And away again: delete -f, then wait until the Terminating namespace is gone.
  const deleted = await k(['delete', '-f', '-', '--wait=false'], yaml);
  assert.equal(deleted.status, 0, deleted.stderr);
  for (const o of docs) assert.match(deleted.stdout, new RegExp(`${o.kind.toLowerCase()}(\\.apps)? "${o.metadata.name}" deleted`));
  const gone = await k(['wait', '--for=delete', `namespace/${ds.metadata.namespace}`, '--timeout=10s']);
  assert.equal(gone.status, 0, gone.stdout + gone.stderr);
  assert.equal(f.store.findAll('app.kubernetes.io/managed-by=shark').length, 0, 'nothing of the run is left');
}

for (const { version, bin } of kubectls()) {
  test(`real kubectl (${version}) against the fixture: apply of shark tap -A --dry-run, then a strategic-merge re-apply`, { timeout: 60_000 }, async () => {
    const { f, kubeconfig } = await setup();
    try {
      await applyDryRun(f, (args, input = '') => run(bin, ['--kubeconfig', kubeconfig, ...args], input), version);
    } finally {
      await f.close();
    }
  });
  test(`real kubectl (${version}) against the fixture: get, get -w, apply -f, auth can-i, wait, events, explain, exec`, { timeout: 60_000 }, async () => {
    const { f, kubeconfig } = await setup();
    const k = (args: string[], input = '') => run(bin, ['--kubeconfig', kubeconfig, ...args], input);
    try {
      const get = await k(['get', 'pods', '-A']);
      assert.equal(get.status, 0, get.stderr);
      assert.match(get.stdout, /^data\s+redis-0\s/m);

      const cm = (v: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'data' }, data: { v } });
      const created = await k(['apply', '-f', '-'], cm('1'));
      assert.equal(created.status, 0, created.stderr);
      assert.match(created.stdout, /configmap\/cfg created/);
      const changed = await k(['apply', '-f', '-'], cm('2'));
      assert.equal(changed.status, 0, changed.stderr);
      assert.match(changed.stdout, /configmap\/cfg configured/);
      assert.equal(f.store.get('configmaps', 'data', 'cfg')!.data.v, '2');

      const yes = await k(['auth', 'can-i', 'create', 'pods/exec', '-n', 'data']);
      assert.equal(yes.stdout.trim(), 'yes', yes.stderr);

      const waited = await k(['wait', '--for=condition=Ready', 'pod/redis-0', '-n', 'data', '--timeout=10s']);
      assert.equal(waited.status, 0, waited.stderr);
      assert.match(waited.stdout, /pod\/redis-0 condition met/);

      f.store.recordEvent(f.store.get('pods', 'data', 'redis-0')!, 'Warning', 'BackOff', 'Back-off pulling image "lab"', 'kubelet');
      const events = await k(['events', '-n', 'data']);
      assert.equal(events.status, 0, events.stderr);
      assert.match(events.stdout, /Warning\s+BackOff\s+Pod\/redis-0\s+Back-off pulling image "lab"/);

      // explain reads the served schemas (v3; with KUBECTL_EXPLAIN_OPENAPIV3=false, 1.27/1.28 read the protobuf v2).
      const v2explain = version.startsWith('1.27') || version.startsWith('1.28');
      const envs: Record<string, string>[] = v2explain ? [{}, { KUBECTL_EXPLAIN_OPENAPIV3: 'false' }] : [{}];
      for (const env of envs) {
        const explained = await run(bin, ['--kubeconfig', kubeconfig, 'explain', 'daemonset.spec.template.spec.containers.env'], '', env);
        assert.equal(explained.status, 0, explained.stderr);
        assert.match(explained.stdout, /FIELD:\s+env\s+<\[\]V1EnvVar>/);
        assert.match(explained.stdout, /^\s+valueFrom\s+<V1EnvVarSource>/m);
      }

      // Exec: kubectl up to 1.29 speaks SPDY/3.1, later releases WebSocket (v5 channel protocol).
      const exec = await k(['exec', '-n', 'data', 'redis-0', '--', 'echo', 'hello from the pod']);
      assert.equal(exec.status, 0, exec.stderr);
      assert.equal(exec.stdout, 'hello from the pod\n');
      assert.equal(f.execs.at(-1)!.transport, Number(version.split(/[.,]/)[1]) <= 29 ? 'spdy' : 'websocket');
      const failing = await k(['exec', '-n', 'data', 'redis-0', '--', 'sh', '-c', 'echo to-stderr >&2; exit 3']);
      assert.equal(failing.status, 3, failing.stderr);
      assert.match(failing.stderr, /^to-stderr$/m);
      assert.match(failing.stderr, /command terminated with exit code 3/);
      const piped = await k(['exec', '-i', '-n', 'data', 'redis-0', '--', 'cat'], 'through stdin\n');
      assert.equal(piped.status, 0, piped.stderr);
      assert.equal(piped.stdout, 'through stdin\n');

      // get -w: a pod added later is printed.
      const w = spawn(bin, ['--kubeconfig', kubeconfig, 'get', 'pods', '-n', 'data', '-w'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      w.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      try {
        const end = Date.now() + 15_000;
        while (!out.includes('redis-0') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        f.addPod({ namespace: 'data', name: 'redis-1', ip: '198.18.31.11', node: 'n1' });
        while (!out.includes('redis-1') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        assert.match(out, /^redis-1\s/m, out);
      } finally {
        w.kill('SIGKILL');
      }
    } finally {
      await f.close();
    }
  });
}

test('server-side apply (kubectl apply --server-side, as Flux and Argo CD apply): shark tap --dry-run output, a field left out, a conflict with kubectl set image, --force-conflicts, a duplicate key', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await setup();
  const k = (args: string[], input = '') => run('kubectl', ['--kubeconfig', kubeconfig, ...args], input);
  try {
    const yaml = await dryRunManifests();
    const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Obj);
    const ds = docs.find((o) => o.kind === 'DaemonSet')!;
    const ns = ds.metadata.namespace;
    const stored = () => f.store.get('daemonsets', ns, ds.metadata.name)!;
    // Before: 415 UnsupportedMediaType; a real API server creates every object and records kubectl as its manager.
    const first = await k(['apply', '--server-side', '-f', '-'], yaml);
    assert.equal(first.status, 0, first.stderr);
    for (const o of docs) assert.match(first.stdout, new RegExp(`${o.kind.toLowerCase()}(\\.apps)?/${o.metadata.name} serverside-applied`), first.stdout);
    assert.deepEqual(stored().spec.template.spec, ds.spec.template.spec);
    assert.deepEqual(stored().metadata.managedFields.map((m: Obj) => [m.manager, m.operation]), [['kubectl', 'Apply']]);
    assert.ok(stored().metadata.managedFields[0].fieldsV1['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"agent"}']['f:env']['k:{"name":"HOME"}'], 'env is keyed by name');

    // A field this manager applied before and leaves out now is removed.
    const noHome = yaml.replace(/^( +)- name: HOME\n\1 {2}value: \/tmp\n/m, '');
    assert.notEqual(noHome, yaml);
    const second = await k(['apply', '--server-side', '-f', '-'], noHome);
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual(stored().spec.template.spec.containers[0].env.map((e: Obj) => e.name), ['NODE_NAME']);

    // Another manager changes the image: re-applying is a conflict naming it, and nothing changes.
    const set = await k(['set', 'image', '-n', ns, `daemonset/${ds.metadata.name}`, 'agent=registry.example/shark:set']);
    assert.equal(set.status, 0, set.stderr);
    const conflict = await k(['apply', '--server-side', '-f', '-'], noHome);
    assert.equal(conflict.status, 1, conflict.stdout + conflict.stderr);
    assert.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "kubectl-set" using apps\/v1: \.spec\.template\.spec\.containers\[name="agent"\]\.image/);
    assert.match(conflict.stderr, /--force-conflicts/);
    assert.equal(stored().spec.template.spec.containers[0].image, 'registry.example/shark:set');
    const forced = await k(['apply', '--server-side', '--force-conflicts', '-f', '-'], noHome);
    assert.equal(forced.status, 0, forced.stderr);
    assert.equal(stored().spec.template.spec.containers[0].image, ds.spec.template.spec.containers[0].image);
    assert.deepEqual(stored().metadata.managedFields.map((m: Obj) => m.manager), ['kubectl'], 'the forced field left kubectl-set, which owns nothing else');

    // Two elements of one key: refused as the API server's typed conversion refuses it.
    const twice = yaml.replace(/^( +)- name: HOME\n/m, '$1- name: HOME\n$1  value: /x\n$1- name: HOME\n');
    const dup = await k(['apply', '--server-side', '-f', '-'], twice);
    assert.notEqual(dup.status, 0);
    assert.match(dup.stderr, /\.spec\.template\.spec\.containers\[name="agent"\]\.env: duplicate entries for key \[name="HOME"\]/);
  } finally {
    await f.close();
  }
});

test('RBAC: a user who may read one namespace — kubectl auth can-i and the 403 wording', { timeout: 30_000 }, async () => {
  const { f, kubeconfig } = await setup({}, 'jane-token');
  grantRead(f, 'jane', 'data');
  const k = (args: string[]) => run('kubectl', ['--kubeconfig', kubeconfig, ...args]);
  try {
    assert.equal((await k(['auth', 'can-i', 'list', 'pods', '-n', 'data'])).stdout.trim(), 'yes');
    assert.equal((await k(['auth', 'can-i', 'list', 'pods', '-A'])).stdout.trim(), 'no');
    assert.equal((await k(['auth', 'can-i', 'create', 'pods', '-n', 'data'])).stdout.trim(), 'no');
    const denied = await k(['get', 'pods', '-A']);
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /pods is forbidden: User "jane" cannot list resource "pods" in API group "" at the cluster scope/);
    const ok = await k(['get', 'pods', '-n', 'data']);
    assert.equal(ok.status, 0, ok.stderr);
  } finally {
    await f.close();
  }
});

test('lists are paginated: limit/continue pages cover every item once; a token from before a compaction is 410', async () => {
  const { f, kubeconfig } = await setup({ tls: false });
  try {
    for (let i = 0; i < 7; i++) f.addPod({ namespace: 'data', name: `p${i}`, ip: `198.18.31.${20 + i}`, node: 'n1' });
    const kc = loadKubeConfig({ kubeconfig }).kc;
    const get = async (path: string) => {
      const res = await fetch(`${f.url}${path}`, { headers: { Authorization: 'Bearer fixture-token' } });
      return { code: res.status, body: (await res.json()) as Obj };
    };
    const names: string[] = [];
    let cont = '';
    let pages = 0;
    do {
      const { body } = await get(`/api/v1/pods?limit=3${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      names.push(...body.items.map((p: Obj) => p.metadata.name));
      cont = body.metadata.continue ?? '';
      pages++;
    } while (cont);
    assert.equal(pages, 3);
    assert.deepEqual(names.sort(), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'redis-0']);
    const first = await get('/api/v1/pods?limit=3');
    f.addPod({ namespace: 'data', name: 'p7', ip: '198.18.31.27', node: 'n1' }); // history moves on …
    f.store.compact(); // … and the version the token was taken at is compacted away
    const expired = await get(`/api/v1/pods?limit=3&continue=${encodeURIComponent(first.body.metadata.continue)}`);
    assert.equal(expired.code, 410);
    assert.equal(expired.body.reason, 'Expired');

    // The CLI's watch cache reads in pages too (and only the namespace it is given).
    const seen = f.requests.length;
    const cw = new ClusterWatch(kc, { kinds: ['pods'], scopes: { pods: ['data'] }, pageSize: 3 });
    await cw.start();
    cw.stop();
    assert.equal(cw.objects('pods').length, 9);
    const lists = f.requests.slice(seen).filter((r) => !r.includes('watch='));
    assert.equal(lists.length, 3, lists.join('\n'));
    assert.ok(lists.every((r) => r.startsWith('GET /api/v1/namespaces/data/pods?') && r.includes('limit=3')), lists.join('\n'));
    assert.equal(lists.filter((r) => r.includes('continue=')).length, 2);
  } finally {
    await f.close();
  }
});

test('watch bookmarks carry the resourceVersion; 410 Gone after compaction makes the cache relist', async () => {
  const { f, kubeconfig } = await setup({ tls: false });
  try {
    const kc = loadKubeConfig({ kubeconfig }).kc;
    const types: string[] = [];
    const ctl = await new Watch(kc).watch('/api/v1/pods', { allowWatchBookmarks: true, resourceVersion: String(f.store.resourceVersion) }, (type, obj: Obj) => types.push(`${type} ${obj.metadata?.resourceVersion}`), () => {});
    await new Promise((r) => setTimeout(r, 100));
    f.sendBookmarks();
    const end = Date.now() + 3000;
    while (!types.some((t) => t.startsWith('BOOKMARK')) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    ctl.abort();
    assert.deepEqual(types, [`BOOKMARK ${f.store.resourceVersion}`]);

    const cw = new ClusterWatch(kc, { kinds: ['pods'] });
    await cw.start();
    f.store.compact();
    f.dropWatches(); // the watch resumes from a version that is gone: 410, relist
    f.store.create(podType, 'data', { metadata: { name: 'late' }, spec: { nodeName: 'n1' }, status: { phase: 'Running', podIP: '198.18.31.40' } });
    const end2 = Date.now() + 5000;
    while (!cw.objects('pods').some((p) => p.metadata.name === 'late') && Date.now() < end2) await new Promise((r) => setTimeout(r, 20));
    cw.stop();
    assert.ok(cw.objects('pods').some((p) => p.metadata.name === 'late'));
  } finally {
    await f.close();
  }
});

test('Pod Security: baseline refuses hostNetwork and NET_RAW unless the namespace is labelled privileged', async () => {
  const { f } = await setup({ tls: false });
  try {
    f.store.podSecurityDefault = 'baseline';
    f.ensureNamespace('agents');
    const pod = (name: string) => ({
      metadata: { name },
      spec: { hostNetwork: true, containers: [{ name: 'agent', image: 'x', securityContext: { capabilities: { add: ['NET_RAW'] } } }] },
    });
    assert.throws(() => f.store.create(podType, 'agents', pod('a')), (e: Error & { code?: number }) => {
      assert.equal(e.code, 403);
      assert.equal(
        e.message,
        'pods "a" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), non-default capabilities (container "agent" must not include "NET_RAW" in securityContext.capabilities.add)',
      );
      return true;
    });
    f.store.patch('namespaces', undefined, 'agents', { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } });
    assert.equal(f.store.create(podType, 'agents', pod('b')).metadata.name, 'b');
  } finally {
    await f.close();
  }
});

test('Pod Security warn level: workloads are warned, never refused; shark tap --dry-run output applies without a warning', { timeout: 30_000 }, async () => {
  const { f, kubeconfig } = await setup();
  const k = (args: string[], input = '') => run('kubectl', ['--kubeconfig', kubeconfig, ...args], input);
  try {
    f.store.podSecurityWarnDefault = 'restricted'; // a hardened cluster's AdmissionConfiguration defaults.warn
    const ds = JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'netpod', namespace: 'data' },
      spec: { selector: { matchLabels: { app: 'n' } }, template: { metadata: { labels: { app: 'n' } }, spec: { hostNetwork: true, containers: [{ name: 'c', image: 'x' }] } } },
    });
    const warned = await k(['apply', '-f', '-'], ds);
    assert.equal(warned.status, 0, warned.stderr);
    assert.match(warned.stderr, /^Warning: would violate PodSecurity "restricted:latest": host namespaces \(hostNetwork=true\), allowPrivilegeEscalation != false \(container "c" must set securityContext\.allowPrivilegeEscalation=false\)/m);
    assert.ok(f.store.get('daemonsets', 'data', 'netpod'), 'a workload is only warned about');
    // A label that is not a level counts as restricted: the pod itself is refused.
    f.store.patch('namespaces', undefined, 'data', { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'Privileged' } } });
    const pod = await k(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'data' }, spec: { hostNetwork: true, containers: [{ name: 'c', image: 'x' }] } }));
    assert.notEqual(pod.status, 0);
    assert.match(pod.stderr, /pods "p" is forbidden: violates PodSecurity "restricted:latest": host namespaces \(hostNetwork=true\)/);

    const applied = await k(['apply', '-f', '-'], await dryRunManifests());
    assert.equal(applied.status, 0, applied.stderr);
    assert.doesNotMatch(applied.stderr, /warning/i, 'shark labels its namespace warn=privileged too');
  } finally {
    await f.close();
  }
});

test('a deleted namespace stays Terminating, refuses new content (403 NamespaceTerminating), then is gone', async () => {
  const { f } = await setup({ tls: false });
  try {
    f.store.namespaceTerminateMs = 300;
    f.store.delete('namespaces', undefined, 'data');
    const ns = f.store.get('namespaces', undefined, 'data')!;
    assert.equal(ns.status.phase, 'Terminating');
    assert.ok(ns.metadata.deletionTimestamp);
    assert.throws(
      () => f.store.create(findResource('', 'configmaps')!, 'data', { metadata: { name: 'x' } }),
      (e: Error & { code?: number; details?: Obj }) => e.code === 403 && e.details?.causes?.[0]?.reason === 'NamespaceTerminating',
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(f.store.get('namespaces', undefined, 'data'), undefined);
    assert.equal(f.store.get('pods', 'data', 'redis-0'), undefined, 'its content went with it');
  } finally {
    await f.close();
  }
});

test('the DaemonSet controller skips nodes whose taints are not tolerated or whose labels do not match; status counts them', async () => {
  const { f } = await setup({ tls: false, nodes: [] });
  try {
    f.store.podStartMs = 3_600_000;
    f.addNode({ name: 'plain', ip: '198.18.31.1' });
    f.addNode({ name: 'gpu', ip: '198.18.31.2', taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }] });
    f.addNode({ name: 'win', ip: '198.18.31.3', labels: { 'kubernetes.io/os': 'windows' } });
    f.ensureNamespace('agents');
    const ds = (name: string, tolerations: Obj[]) =>
      f.store.create(findResource('apps', 'daemonsets')!, 'agents', {
        metadata: { name },
        spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { nodeSelector: { 'kubernetes.io/os': 'linux' }, tolerations, containers: [{ name: 'c', image: 'x' }] } } },
      });
    ds('strict', []);
    ds('tolerant', [{ operator: 'Exists', effect: 'NoSchedule' }]);
    const nodesOf = (name: string) => f.store.list('pods', 'agents').filter((p) => p.metadata.name.startsWith(`${name}-`)).map((p) => p.spec.nodeName).sort();
    assert.deepEqual(nodesOf('strict'), ['plain']);
    assert.deepEqual(nodesOf('tolerant'), ['gpu', 'plain']);
    const status = f.store.get('daemonsets', 'agents', 'tolerant')!.status;
    assert.equal(status.desiredNumberScheduled, 2);
    assert.equal(status.currentNumberScheduled, 2);
    assert.equal(status.numberReady, 0);
    assert.equal(status.numberUnavailable, 2);
  } finally {
    await f.close();
  }
});

test('/openapi/v2: protobuf or JSON by Accept, ETag and 304, the same schemas as /openapi/v3 with GVKs and patch metadata', async () => {
  const { f } = await setup({ tls: false });
  try {
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${f.url}${path}`, { headers: { Authorization: 'Bearer fixture-token', ...headers } });
    const proto = await get('/openapi/v2', { Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' });
    assert.equal(proto.status, 200);
    assert.equal(proto.headers.get('content-type'), 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    const pb = Buffer.from(await proto.arrayBuffer());
    assert.equal(pb[0], 0x0a, 'Document field 1 (swagger), length-delimited');
    assert.equal(pb.subarray(2, 2 + pb[1]).toString(), '2.0');
    const etag = proto.headers.get('etag')!;
    assert.match(etag, /^"[0-9A-F]+"$/);
    assert.equal((await get('/openapi/v2', { Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf', 'If-None-Match': etag })).status, 304);

    const json = await get('/openapi/v2', { Accept: 'application/json' });
    assert.equal(json.headers.get('content-type'), 'application/json');
    assert.notEqual(json.headers.get('etag'), etag, 'each encoding has its own ETag');
    const v2 = (await json.json()) as Obj;
    assert.equal((await get('/openapi/v2', { Accept: 'text/html' })).status, 406);

    const gvks = Object.values(v2.definitions as Record<string, Obj>).flatMap((d) => d['x-kubernetes-group-version-kind'] ?? []);
    for (const r of ['Pod', 'DaemonSet', 'ConfigMap', 'Namespace', 'ServiceAccount', 'Role']) assert.ok(gvks.some((g: Obj) => g.kind === r), r);
    const podSpec = v2.definitions.V1PodSpec.properties;
    assert.deepEqual([podSpec.containers['x-kubernetes-patch-merge-key'], podSpec.containers['x-kubernetes-patch-strategy']], ['name', 'merge']);
    assert.equal(podSpec.volumes['x-kubernetes-patch-strategy'], 'merge,retainKeys');
    assert.equal(podSpec.tolerations['x-kubernetes-patch-strategy'], undefined, 'tolerations are atomic in Kubernetes');
    assert.equal(v2.definitions.V1Container.properties.ports['x-kubernetes-patch-merge-key'], 'containerPort');
    assert.ok(v2.paths['/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}'].patch.parameters.some((p: Obj) => p.name === 'fieldValidation'));

    const v3 = (await (await get('/openapi/v3/apis/apps/v1')).json()) as Obj;
    const v3PodSpec = v3.components.schemas.V1PodSpec.properties;
    assert.deepEqual(v3PodSpec.containers, { ...podSpec.containers, items: { $ref: '#/components/schemas/V1Container' } });
  } finally {
    await f.close();
  }
});

/**
 * What kube-apiserver refuses, as each kubectl release shows it: invalid
 * names, labels and annotations (422 Invalid with one cause per field), a
 * DaemonSet whose selector does not match its template or whose container
 * lacks a name or image, a selector update (immutable), a server-side dry
 * run into a namespace that does not exist (404), new content in a
 * Terminating namespace (403), deleting the namespaces every cluster keeps
 * (403); and what kubectl reads back: get's server-side Table (READY, STATUS,
 * RESTARTS), get all, and pods/log (-c, --previous, --tail).
 */
async function refusals(f: ApiServerFixture, k: (args: string[], input?: string) => ReturnType<typeof run>): Promise<void> {
  const json = (o: Obj) => JSON.stringify(o);
  const cm = (metadata: Obj) => json({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'data', ...metadata } });
  const ds = (name: string, selector: Obj, labels: Obj, containers: Obj[]) =>
    json({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name, namespace: 'data' }, spec: { selector: { matchLabels: selector }, template: { metadata: { labels }, spec: { containers } } } });
  const refused = async (args: string[], input: string, re: RegExp) => {
    const r = await k(args, input);
    assert.notEqual(r.status, 0, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, re);
  };

  await refused(['apply', '-f', '-'], json({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Team_A' } }),
    /The Namespace "Team_A" is invalid: metadata\.name: Invalid value: "Team_A": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character \(e\.g\. 'my-name', {2}or '123-abc', regex used for validation is '\[a-z0-9\]\(\[-a-z0-9\]\*\[a-z0-9\]\)\?'\)/);
  await refused(['apply', '-f', '-'], json({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a.b' } }), /metadata\.name: Invalid value: "a\.b": must not contain dots/);
  await refused(['apply', '-f', '-'], cm({ name: `c${'x'.repeat(253)}` }), /metadata\.name: Invalid value: "cx+": must be no more than 253 characters/);
  await refused(['apply', '-f', '-'], cm({ name: 'ok', labels: { 'bad key': 'v', k: 'v'.repeat(64), 'Example.com/x': 'y' } }),
    /The ConfigMap "ok" is invalid: \n\* metadata\.labels: Invalid value: "Example\.com\/x": prefix part a lowercase RFC 1123 subdomain[^\n]*\n\* metadata\.labels: Invalid value: "bad key": name part must consist of alphanumeric characters[^\n]*\n\* metadata\.labels: Invalid value: "v{64}": must be no more than 63 characters/);
  // create, not apply: apply would copy the annotation into last-applied-configuration as well.
  await refused(['create', '-f', '-'], cm({ name: 'big', annotations: { note: 'x'.repeat(256 * 1024) } }), /metadata\.annotations: Too long: must have at most 262144 bytes/);
  assert.equal(f.store.list('configmaps', 'data').length, 0, 'nothing invalid was stored');

  await refused(['apply', '-f', '-'], ds('agents', { app: 'a' }, { app: 'b' }, [{ image: 'x' }]),
    /The DaemonSet "agents" is invalid: \n\* spec\.template\.metadata\.labels: Invalid value: map\[string\]string\{"app":"b"\}: `selector` does not match template `labels`\n\* spec\.template\.spec\.containers\[0\]\.name: Required value/);
  await refused(['apply', '-f', '-'], ds('agents', { app: 'a' }, { app: 'a' }, [{ name: 'agent' }]), /spec\.template\.spec\.containers\[0\]\.image: Required value/);
  const made = await k(['apply', '-f', '-'], ds('agents', { app: 'a' }, { app: 'a' }, [{ name: 'agent', image: 'x' }]));
  assert.equal(made.status, 0, made.stderr);
  await refused(['apply', '-f', '-'], ds('agents', { app: 'a', v: '2' }, { app: 'a', v: '2' }, [{ name: 'agent', image: 'x' }]),
    /The DaemonSet "agents" is invalid: spec\.selector: Invalid value: v1\.LabelSelector\{MatchLabels:map\[string\]string\{"app":"a", "v":"2"\}, MatchExpressions:\[\]v1\.LabelSelectorRequirement\(nil\)\}: field is immutable/);
  assert.deepEqual(f.store.get('daemonsets', 'data', 'agents')!.spec.selector, { matchLabels: { app: 'a' } });

  // Server-side dry run: admitted as the real request would be, nothing stored.
  await refused(['apply', '--dry-run=server', '-f', '-'], json({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'nosuch' } }),
    /Error from server \(NotFound\): error when creating "STDIN": namespaces "nosuch" not found/);
  const dry = await k(['apply', '--dry-run=server', '-f', '-'], cm({ name: 'dry' }));
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /configmap\/dry created \(server dry run\)/);
  assert.equal(f.store.get('configmaps', 'data', 'dry'), undefined);

  for (const ns of ['default', 'kube-system', 'kube-public']) {
    await refused(['delete', 'namespace', ns, '--wait=false'], '', new RegExp(`Error from server \\(Forbidden\\): namespaces "${ns}" is forbidden: this namespace may not be deleted`));
    assert.equal(f.store.get('namespaces', undefined, ns)!.status.phase, 'Active');
  }
  const dryDelete = await k(['delete', 'namespace', 'data', '--dry-run=server']);
  assert.equal(dryDelete.status, 0, dryDelete.stderr);
  assert.equal(f.store.get('namespaces', undefined, 'data')!.status.phase, 'Active', 'a dry-run delete deletes nothing');

  // Tables: READY, STATUS and RESTARTS as kubectl prints them from the server's columns.
  const pod = f.store.get('pods', 'data', 'redis-0')!;
  const finishedAt = new Date(Date.now() - 30_000).toISOString().replace(/\.\d+Z$/, 'Z');
  pod.status.containerStatuses[0] = { ...pod.status.containerStatuses[0], ready: false, restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt } } };
  f.store.update('pods', pod);
  f.logs.set('data/redis-0/main/previous', 'first\nsecond\npanic: no lease\n');
  const pods = await k(['get', 'pods', '-n', 'data']);
  assert.equal(pods.status, 0, pods.stderr);
  assert.match(pods.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
  assert.match(pods.stdout, /^redis-0\s+0\/1\s+CrashLoopBackOff\s+3 \(3\ds ago\)\s+\d+s$/m);
  const all = await k(['get', 'all', '-n', 'data']);
  assert.equal(all.status, 0, all.stderr);
  assert.match(all.stdout, /^pod\/redis-0\s+0\/1\s+CrashLoopBackOff/m);
  assert.match(all.stdout, /^daemonset\.apps\/agents\s+1\s+1\s+\d\s+1\s+\d\s+<none>\s+\d+s$/m);
  f.store.namespaceTerminateMs = 60_000;
  f.store.delete('namespaces', undefined, 'data');
  const nss = await k(['get', 'namespaces']);
  assert.match(nss.stdout, /^data\s+Terminating\s+\d+s$/m);
  assert.match(nss.stdout, /^kube-public\s+Active\s/m);
  await refused(['apply', '-f', '-'], cm({ name: 'late' }), /is forbidden: unable to create new content in namespace data because it is being terminated/);

  // pods/log: the previous instance's output, its tail; the kubelet's refusals.
  const prev = await k(['logs', '-n', 'data', 'redis-0', '--previous', '--tail=1']);
  assert.equal(prev.status, 0, prev.stderr);
  assert.equal(prev.stdout, 'panic: no lease\n');
  await refused(['logs', '-n', 'data', 'redis-0'], '', /container "main" in pod "redis-0" is waiting to start: CrashLoopBackOff/);
  f.addPod({ namespace: 'web', name: 'fresh', ip: '198.18.31.12', node: 'n1' });
  await refused(['logs', '-n', 'web', 'fresh', '-p'], '', /Error from server \(BadRequest\): previous terminated container "main" in pod "fresh" not found/);
  await refused(['logs', '-n', 'web', 'nope'], '', /pods "nope" not found/);
}

for (const { version, bin } of kubectls()) {
  test(`real kubectl (${version}): the fixture refuses what kube-apiserver refuses and prints tables and logs as it does`, { timeout: 60_000 }, async () => {
    const { f, kubeconfig } = await setup();
    try {
      // A discovery cache of its own: kubectl keys its cache by host:port, which an earlier fixture may have had.
      const cache = mkdtempSync(join(tmpdir(), 'shk-kcache-'));
      await refusals(f, (args, input = '') => run(bin, ['--kubeconfig', kubeconfig, '--cache-dir', cache, ...args], input));
    } finally {
      await f.close();
    }
  });
}

for (const { version, bin } of kubectls()) {
  test(`real kubectl (${version}): a Deployment is created, scaled, rolled out and described as on a cluster (ReplicaSet, generated names, events)`, { timeout: 60_000 }, async () => {
    const { f, kubeconfig } = await setup({ nodes: [{ name: 'n1', ip: '198.18.31.1' }, { name: 'n2', ip: '198.18.31.2' }] });
    const cache = mkdtempSync(join(tmpdir(), 'shk-kcache-'));
    const k = (args: string[], input = '') => run(bin, ['--kubeconfig', kubeconfig, '--cache-dir', cache, '-n', 'data', ...args], input);
    try {
      const made = await k(['create', 'deployment', 'web', '--image=registry.example/web:1', '--replicas=2']);
      assert.equal(made.status, 0, made.stderr);
      const rolled = await k(['rollout', 'status', 'deploy/web', '--timeout=20s']);
      assert.equal(rolled.status, 0, rolled.stderr);
      assert.match(rolled.stdout, /deployment "web" successfully rolled out/);
      const scaled = await k(['scale', 'deploy/web', '--replicas=3']);
      assert.equal(scaled.status, 0, scaled.stderr);
      assert.match(scaled.stdout, /deployment.apps\/web scaled/);
      const again = await k(['rollout', 'status', 'deploy/web', '--timeout=20s']);
      assert.equal(again.status, 0, again.stderr);

      // One ReplicaSet named after the template's hash; pods named after it with five generated characters (no vowels).
      const [rs, ...more] = f.store.list('replicasets', 'data');
      assert.equal(more.length, 0);
      const hash = rs.metadata.labels['pod-template-hash'];
      assert.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]{6,10}$/);
      assert.equal(rs.metadata.name, `web-${hash}`);
      const pods = f.store.list('pods', 'data').filter((p) => p.metadata.ownerReferences?.[0]?.kind === 'ReplicaSet');
      assert.equal(pods.length, 3);
      for (const p of pods) {
        assert.match(p.metadata.name, new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
        assert.equal(p.metadata.labels['pod-template-hash'], hash);
        assert.equal(p.metadata.ownerReferences[0].name, rs.metadata.name);
      }
      assert.equal(new Set(pods.map((p) => p.status.podIP)).size, 3, 'each pod has its own IP');
      assert.deepEqual([...new Set(pods.map((p) => p.spec.nodeName))].sort(), ['n1', 'n2'], 'spread over the nodes');

      const got = await k(['get', 'deploy,rs']);
      assert.equal(got.status, 0, got.stderr);
      assert.match(got.stdout, /^deployment\.apps\/web\s+3\/3\s+3\s+3\s/m);
      assert.match(got.stdout, new RegExp(`^replicaset\\.apps/web-${hash}\\s+3\\s+3\\s+3\\s`, 'm'));
      const described = await k(['describe', 'deploy', 'web']);
      assert.equal(described.status, 0, described.stderr);
      assert.match(described.stdout, new RegExp(`NewReplicaSet:\\s+web-${hash} \\(3/3 replicas created\\)`));
      assert.match(described.stdout, new RegExp(`ScalingReplicaSet\\s+\\S+\\s+deployment-controller\\s+Scaled up replica set web-${hash} from 0 to 2`));
      assert.match(described.stdout, new RegExp(`Scaled up replica set web-${hash} from 2 to 3`));
      const events = await k(['get', 'events']);
      assert.equal(events.status, 0, events.stderr);
      assert.match(events.stdout, new RegExp(`Normal\\s+SuccessfulCreate\\s+replicaset/web-${hash}\\s+Created pod: ${pods[0].metadata.name}`));
      assert.match(events.stdout, new RegExp(`Normal\\s+Scheduled\\s+pod/${pods[0].metadata.name}\\s+Successfully assigned data/${pods[0].metadata.name} to n[12]`));
      assert.match(events.stdout, new RegExp(`Normal\\s+Started\\s+pod/${pods[0].metadata.name}\\s+Started container web`));

      // Scaled down: the ReplicaSet deletes the extra pods and says so; the Deployment's deletion takes the rest with it.
      const down = await k(['scale', 'deploy/web', '--replicas=1']);
      assert.equal(down.status, 0, down.stderr);
      const end = Date.now() + 10_000;
      while (f.store.list('pods', 'data').filter((p) => p.metadata.name.startsWith('web-')).length !== 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      assert.equal(f.store.list('pods', 'data').filter((p) => p.metadata.name.startsWith('web-')).length, 1);
      assert.equal(f.store.list('events', 'data').filter((e) => e.reason === 'SuccessfulDelete').length, 2);
      const deleted = await k(['delete', 'deploy/web', '--wait=true', '--timeout=20s']);
      assert.equal(deleted.status, 0, deleted.stderr);
      while (f.store.list('pods', 'data').some((p) => p.metadata.name.startsWith('web-')) && Date.now() < end + 10_000) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(f.store.list('replicasets', 'data'), []);
      assert.deepEqual(f.store.list('pods', 'data').map((p) => p.metadata.name), ['redis-0']);
    } finally {
      await f.close();
    }
  });
}
