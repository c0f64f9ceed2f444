// The CLI's watch cache at cluster scale (issue 14): a fixture API server with
// N pods on M nodes (default 5,000 / 500, plus services and EndpointSlices),
// pods shaped like real ones (managedFields, env, probes, volumes, annotations:
// ~6 KB as served), and a separate client process running shark's
// ClusterWatch + enrichment index, as `shark tap -A` does. Prints the initial
// sync time, the client's RSS after it, the bytes it holds per pod (trimmed)
// against what the API server sent, and a steady state: a churn of pod
// updates at a fixed rate, with the client's RSS and how far it lags.
// Figures only, nothing asserted.
//   node --import tsx bench/k8s/watch.ts [--pods 5000] [--nodes 500] [--churn-per-s 200] [--churn-s 20]
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ApiServerFixture } from '../../test/fixtures/apiserver/server.js';
import { findResource, type Obj } from '../../test/fixtures/apiserver/store.js';

const args = process.argv.slice(2);
const opt = (name: string, d: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const PODS = opt('--pods', 5000);
const NODES = opt('--nodes', 500);
const CHURN_PER_S = opt('--churn-per-s', 200);
const CHURN_S = opt('--churn-s', 20);

if (args[0] === '--client') await client(args[1]);
else await main();

function realisticPod(i: number, node: string): Obj {
  const app = `app-${i % 250}`;
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return {
    metadata: {
      name: `${app}-7d9f8c6b5-${i.toString(36).padStart(5, 'x')}`,
      labels: { app, 'pod-template-hash': '7d9f8c6b5', 'app.kubernetes.io/part-of': 'shop', tier: 'backend' },
      annotations: {
        'kubectl.kubernetes.io/restartedAt': '2026-11-01T10:00:00Z',
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '9090',
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ spec: { replicas: 3, template: { spec: { containers: [{ name: app, image: `registry.example/${app}:1.2.3` }] } } } }),
      },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-7d9f8c6b5`, uid: `uid-rs-${i % 250}`, controller: true, blockOwnerDeletion: true }],
      managedFields: [
        { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-11-01T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': { [`k:{"name":"${app}"}`]: { '.': {}, 'f:env': {}, 'f:image': {}, 'f:ports': {} } } } } },
        { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: '2026-11-01T10:00:05Z', fieldsType: 'FieldsV1', subresource: 'status', fieldsV1: { 'f:status': { 'f:conditions': {}, 'f:containerStatuses': {}, 'f:podIP': {}, 'f:podIPs': {} } } },
      ],
    },
    spec: {
      nodeName: node,
      serviceAccountName: app,
      containers: [
        {
          name: app,
          image: `registry.example/${app}:1.2.3`,
          ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }, { containerPort: 9090, name: 'metrics', protocol: 'TCP' }],
          env: Array.from({ length: 12 }, (_, k) => ({ name: `SETTING_${k}`, value: `value-${k}-${'v'.repeat(20)}` })),
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
          livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 10 },
          readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 5 },
          volumeMounts: [{ name: 'config', mountPath: '/etc/app' }, { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
        },
      ],
      volumes: [{ name: 'config', configMap: { name: `${app}-config` } }, { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] } }],
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    },
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      hostIP: `192.168.${(i % NODES) >> 8}.${i % NODES}`,
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: '2026-11-01T10:00:05Z' })),
      containerStatuses: [{ name: app, ready: true, restartCount: 0, started: true, image: `registry.example/${app}:1.2.3`, imageID: `registry.example/${app}@sha256:${'a'.repeat(64)}`, containerID: `containerd://${'b'.repeat(64)}`, state: { running: { startedAt: '2026-11-01T10:00:04Z' } } }],
    },
  };
}

async function main(): Promise<void> {
  const f = new ApiServerFixture({});
  // The fixture's DaemonSet controller and kubelet are not part of this: nodes are plain objects.
  for (let n = 0; n < NODES; n++) f.addNode({ name: `node-${n}`, ip: `192.168.${n >> 8}.${n & 255}` });
  const podType = findResource('', 'pods')!;
  const svcType = findResource('', 'services')!;
  for (let ns = 0; ns < 50; ns++) f.ensureNamespace(`team-${ns}`);
  let served = 0;
  for (let i = 0; i < PODS; i++) {
    const p = realisticPod(i, `node-${i % NODES}`);
    served += JSON.stringify(p).length;
    f.store.create(podType, `team-${i % 50}`, p);
  }
  for (let s = 0; s < 250; s++) {
    f.store.create(svcType, `team-${s % 50}`, { metadata: { name: `app-${s}` }, spec: { clusterIP: `10.96.${s >> 8}.${s & 255}`, clusterIPs: [`10.96.${s >> 8}.${s & 255}`], ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }], selector: { app: `app-${s}` } } });
    f.addEndpointSlice({ namespace: `team-${s % 50}`, service: `app-${s}`, ips: Array.from({ length: Math.ceil(PODS / 250) }, (_, k) => `10.0.${k}.${s & 255}`), port: 8080 });
  }
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shark-bench-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  process.stderr.write(`bench: fixture: ${PODS} pods (${(served / PODS / 1024).toFixed(1)} KB each as JSON), ${NODES} nodes, 250 services\n`);

  // What the fixture itself costs (a real API server's time is not shark's): every page of the four lists over raw HTTP.
  const tRaw = Date.now();
  for (const path of ['/api/v1/pods', '/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices', '/api/v1/nodes']) {
    let cont = '';
    do {
      const r = await fetch(`${f.url}${path}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, { headers: { authorization: 'Bearer fixture-token' } });
      const j = (await r.json()) as { metadata?: { continue?: string } };
      cont = j.metadata?.continue ?? '';
    } while (cont);
  }
  const rawMs = Date.now() - tRaw;
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', new URL(import.meta.url).pathname, '--client', kubeconfig], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const next = (): Promise<Obj> => new Promise((r) => lines.once('line', (l) => r(JSON.parse(l) as Obj)));
  const synced = await next();
  // Churn: pods' statuses change (a restart count, a condition flip), as a busy cluster does.
  const all = f.store.list('pods');
  const t0 = Date.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      for (let k = 0; k < CHURN_PER_S / 10; k++) {
        const p = all[sent++ % all.length];
        const cur = f.store.get('pods', p.metadata.namespace, p.metadata.name)!;
        cur.status.containerStatuses[0].restartCount++;
        f.store.update('pods', cur);
      }
      if (Date.now() - t0 >= CHURN_S * 1000) {
        clearInterval(tick);
        resolve();
      }
    }, 100);
  });
  child.stdin!.write(`${sent}\n`);
  const steady = await next();
  child.kill();
  await f.close();
  const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
  const rows = [
    ['pods / nodes / services', `${PODS} / ${NODES} / 250`],
    ['the fixture serving the same lists (raw HTTP)', `${rawMs} ms`],
    ['initial sync (list, paginated 500)', `${synced.syncMs} ms`],
    ['client RSS after sync', mb(synced.rss)],
    ['client heap used after sync', mb(synced.heap)],
    ['held per pod (JSON, trimmed) vs served', `${(synced.heldPerPod / 1024).toFixed(2)} KB vs ${(served / PODS / 1024).toFixed(2)} KB`],
    [`steady state: ${sent} pod updates over ${CHURN_S} s`, `${steady.events} events seen, caught up ${steady.lagMs} ms after the last`],
    ['client RSS after churn', mb(steady.rss)],
    ['client CPU (user+system) during churn', `${steady.cpuMs} ms`],
  ];
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(44)} ${v}\n`);
}

async function client(kubeconfig: string): Promise<void> {
  const { loadKubeConfig } = await import('../../src/k8s/kubeconfig.js');
  const { ClusterWatch } = await import('../../src/k8s/watch-cache.js');
  const { indexSnapshot } = await import('../../src/k8s/enrich.js');
  const cfg = loadKubeConfig({ kubeconfig });
  let events = 0;
  let lastEvent = Date.now();
  const watch = new ClusterWatch(cfg.kc, {
    kinds: ['pods', 'services', 'endpointslices', 'nodes'],
    onEvent: () => {
      events++;
      lastEvent = Date.now();
    },
  });
  const t0 = Date.now();
  await watch.start();
  indexSnapshot(watch.snapshot());
  const syncMs = Date.now() - t0;
  global.gc?.();
  const pods = watch.objects('pods');
  const heldPerPod = JSON.stringify(pods).length / pods.length;
  const mem = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ syncMs, rss: mem.rss, heap: mem.heapUsed, heldPerPod })}\n`);
  const cpu0 = process.cpuUsage();
  const sent = await new Promise<number>((r) => createInterface({ input: process.stdin }).once('line', (l) => r(Number(l))));
  // How long after the last update was made the client had seen them all.
  const told = Date.now();
  while (events < sent) await new Promise((r) => setTimeout(r, 20));
  const lagMs = Math.max(0, lastEvent - told);
  // As `tap` does on each change: the snapshot and the enrichment index, once.
  indexSnapshot(watch.snapshot());
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ events, lagMs, rss: process.memoryUsage().rss, cpuMs: Math.round((cpu.user + cpu.system) / 1000) })}\n`);
  watch.stop();
  process.exit(0);
}
