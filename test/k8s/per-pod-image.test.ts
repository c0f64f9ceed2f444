// Per-pod capture in the artifact that ships: the agent image built from the
// repo's Dockerfile, run by podman exactly as the DaemonSet manifest says
// (podmanRunArgs: the lab node's namespace as host network, the manifest's
// capabilities — NET_RAW only; with --service-mesh also SYS_ADMIN, SYS_PTRACE
// and the host's PID namespace — read-only root, the manifest's command), and
// `shark agent` exec'd into it as the CLI does. On the per-pod lab
// (test/live/pod-lab.ts): one entry per call through a Service DNAT and
// between bridged pods, and the pod's loopback with --service-mesh.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentImage, podmanMissing } from '../helpers/agent-image.js';
import { podmanRunArgs } from '../fixtures/apiserver/kubelet.js';
import { agentManifests } from '../../src/k8s/agent-manifests.js';
import { finish, waitForStderr } from '../live/netns.js';
import { makePodLab, type PodLab } from '../live/pod-lab.js';

const skip = podmanMissing();
const HTTP_SERVER = `require('http').createServer((req, res) => res.end('ok')).listen(Number(process.argv[2]), process.argv[1]);`;
const SVC_B = '198.19.102.200';
const CALLS = 4;
const label = `s4p-image=${randomBytes(4).toString('hex')}`;
let lab: PodLab;
let image: string;

before(
  async () => {
    if (skip) return;
    image = agentImage();
    lab = makePodLab({
      id: 'i',
      routed: [
        { name: 'a', ip: '198.19.102.1' },
        { name: 'b', ip: '198.19.102.2' },
      ],
      bridged: [{ name: 'c', ip: '198.19.102.130' }],
      bridgeGw: { ip: '198.19.102.129', prefix: 26 },
    });
    const pod = (n: string) => lab.pods.get(n)!;
    lab.start(pod('b').ns, [process.execPath, '-e', HTTP_SERVER, pod('b').ip, '8080']);
    // The "sidecar ↔ app" hop inside pod a.
    lab.start(pod('a').ns, [process.execPath, '-e', HTTP_SERVER, '127.0.0.1', '15001']);
    lab.service(SVC_B, 80, 'tcp', pod('b'), 8080);
    const up = await lab.sh(pod('a').ns, `for i in $(seq 50); do curl -s -m 1 -o /dev/null http://${SVC_B}/ready && curl -s -m 1 -o /dev/null http://127.0.0.1:15001/ && exit 0; sleep 0.2; done; exit 1`);
    assert.equal(up.code, 0, 'lab servers did not answer');
  },
  { timeout: 20 * 60_000 },
);

after(() => {
  const ids = spawnSync('podman', ['ps', '--all', '--quiet', '--filter', `label=${label}`], { encoding: 'utf8', timeout: 30_000 }).stdout ?? '';
  const list = ids.split('\n').filter(Boolean);
  if (list.length > 0) spawnSync('podman', ['rm', '--force', '--time', '0', ...list], { stdio: 'ignore', timeout: 60_000 });
  lab?.stop();
});

/** Run the DaemonSet's pod as podman would on the lab node; returns the container name. */
function runAgentContainer(serviceMesh: boolean): string {
  const ds = agentManifests({ runId: 'img', image, serviceMesh }).owned.find((o) => o.kind === 'DaemonSet')!;
  const name = `s4p-agent-${serviceMesh ? 'mesh' : 'plain'}-${randomBytes(3).toString('hex')}`;
  // The run's root ConfigMap (the lease the agents follow), projected as the kubelet would.
  const run = mkdtempSync(join(tmpdir(), 's4p-run-'));
  writeFileSync(join(run, 'renew-time'), new Date().toISOString());
  writeFileSync(join(run, 'lease-seconds'), '3600');
  const args = podmanRunArgs(
    { metadata: { name }, spec: ds.spec.template.spec },
    { name: 'n1', ip: '198.19.102.129', netns: lab.node },
    name,
    { [label.split('=')[0]]: label.split('=')[1] },
    { run },
  );
  const r = spawnSync('podman', args, { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `podman run: ${r.stderr}`);
  return name;
}

const curlLoop = (url: string, tag: string) =>
  `ok=0; for i in $(seq ${CALLS}); do c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' ${url}/${tag}-$i); [ "$c" = 200 ] && ok=$((ok+1)); done; echo $ok`;

for (const serviceMesh of [false, true]) {
  test(`the image's agent (${serviceMesh ? '--service-mesh: hostPID, SYS_ADMIN, SYS_PTRACE' : 'NET_RAW only'}): one entry per call, attributed at the source`, { skip, timeout: 180_000 }, async () => {
    const pod = (n: string) => lab.pods.get(n)!;
    const container = runAgentContainer(serviceMesh);
    const agent = spawn('podman', ['exec', '--interactive', container, 'shark', 'agent', '--node', 'n1', '-i', 'any', ...(serviceMesh ? ['--service-mesh'] : [])], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const done = finish(agent, 120_000);
    await waitForStderr(agent, /capturing on any/, 60_000);
    const tapped = ['a', 'b', 'c'].map((n) => ({ name: n, namespace: 'img', ips: [pod(n).ip] }));
    agent.stdin!.write(JSON.stringify({ pods: tapped }) + '\n');
    await waitForStderr(agent, /per-pod: 3 pods, 3 interfaces resolved/, 30_000);
    if (serviceMesh) await waitForStderr(agent, /service-mesh img\/a: agent n1: capturing on lo/, 30_000);
    const counts: Record<string, number> = {};
    for (const [from, tag, url] of [
      ['a', 'svc', `http://${SVC_B}`],
      ['c', 'cb', `http://${pod('b').ip}:8080`],
      ['a', 'mesh', 'http://127.0.0.1:15001'],
    ]) {
      const r = await lab.sh(pod(from).ns, curlLoop(url, tag));
      counts[tag] = Number(r.stdout.trim());
      assert.ok(counts[tag] > 0, `${tag}: the client got no answer`);
    }
    await new Promise((r) => setTimeout(r, 1500));
    agent.stdin!.write('{"stop":true}\n');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const entries = r.stdout.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const tagged = (tag: string) => entries.filter((e) => new RegExp(`^/${tag}-\\d+$`).test(e.request?.path ?? ''));
    assert.equal(tagged('svc').length, counts.svc, 'Service calls: one entry each');
    assert.ok(tagged('svc').every((e) => e.dst.ip === SVC_B && e.tapped.pod === 'a' && e.tapped.side === 'client'));
    assert.equal(tagged('cb').length, counts.cb, 'bridged → routed: one entry each');
    assert.ok(tagged('cb').every((e) => e.tapped.pod === 'c' && e.tapped.side === 'client'));
    // Loopback is inside the pod: seen only with --service-mesh.
    assert.equal(tagged('mesh').length, serviceMesh ? counts.mesh : 0);
    assert.ok(tagged('mesh').every((e) => e.tapped.side === 'loopback' && e.tapped.pod === 'a'));
  });
}
