// Agents that fail after the run is tapping, as an SRE meets them: an agent
// OOM-killed at its memory limit mid-run (the kernel's SIGKILL ends the exec'd
// capture, and with cgroup v2 the kubelet restarts the whole container and
// reports OOMKilled), and a node that joins with tapped pods whose agent pod
// cannot pull its image. The start-up verdict is past, so the run goes on;
// what matters is that the user is told which limit killed the agent and how
// to raise it, and which tapped pods go uncaptured, to the run's last line.
// Agents are a stand-in process writing an entry every 200 ms; where a kubelet
// would report a container state, the test sets it in the store as a kubelet
// would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, spawnTap, until } from '../helpers/tap-process.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import type { Obj } from '../fixtures/apiserver/store.js';

function entryAgent(command: string[]): ChildProcess {
  const entry = JSON.stringify({ timestamp: 0, protocol: 'dns', src: { ip: '198.18.36.12', port: 5353 }, dst: { ip: '198.18.36.13', port: 53 } });
  const script = `process.stderr.write('agent: capturing on any\\n');
    setInterval(() => process.stdout.write(${JSON.stringify(entry)}.replace('"timestamp":0', '"timestamp":' + Date.now()) + '\\n'), 200);
    process.stdin.on('data', (d) => { if (String(d).includes('"stop"')) process.exit(0); });
    process.stdin.on('end', () => process.exit(0));`;
  return spawn(process.execPath, ['-e', script, '--', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
}

const isAgentPod = (p: Obj) => p.metadata?.labels?.['app.kubernetes.io/name'] === 'shark-agent';

test('-n: an agent OOM-killed mid-run names its memory limit and how to raise it; a late node whose agent cannot pull names its uncaptured pods, to the last line', { timeout: 60_000 }, async () => {
  const f = new ApiServerFixture({ nodes: [{ name: 'node0', ip: '198.18.36.1' }], spawnExec: entryAgent });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.18.36.12', node: 'node0' });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig, 'shark-lab', 'default');
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '4s']);
  try {
    await until(() => /agents running on 1 node/.test(tap.stderr()), 'agents running', 30_000, tap);
    const agent0 = f.store.list('pods').find((p) => isAgentPod(p) && p.spec.nodeName === 'node0')!;
    const ds: string = agent0.metadata.ownerReferences[0].name;

    // The kernel kills the capture at the container's memory limit: the exec ends with 137 (SIGKILL), and the
    // kubelet (cgroup v2: memory.oom.group) restarts the container and reports OOMKilled.
    const exec0 = f.execs.find((e) => e.node === 'node0' && e.child.exitCode === null)!;
    exec0.child.kill('SIGKILL');
    const pod = f.store.get('pods', 'shark-system', agent0.metadata.name)!;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    pod.status.containerStatuses[0] = {
      ...pod.status.containerStatuses[0],
      restartCount: 1,
      state: { running: { startedAt: now } },
      lastState: { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: now, finishedAt: now } },
    };
    f.store.update('pods', pod);
    await until(() => /memory limit/.test(tap.stderr()), 'the OOM kill said', 10_000, tap);
    await until(() => f.execs.filter((e) => e.node === 'node0').length >= 2, 'a new exec on node0', 10_000, tap);
    const oom = tap.stderr().split('\n').filter((l) => /memory limit/.test(l));
    assert.equal(oom.length, 1, tap.stderr());
    assert.match(
      oom[0],
      new RegExp(
        // Which of the exec's end and the kubelet's report comes first is the network's choice: either way one line.
        `^tap: agent on node node0 ended \\(command terminated with non-zero exit code: 137: (?:OOMKilled: the agent ran out of its memory limit \\(512Mi\\) and was killed → |killed by SIGKILL; if by the kernel at its memory limit \\(512Mi\\): )tap fewer pods, pass --no-bodies or a smaller --max-body, or raise the limit: kubectl -n shark-system set resources ds/${ds} -c agent --limits=memory=1Gi \\(later runs: --agent-memory 1Gi\\)\\); reconnecting when it is ready$`,
      ),
    );

    // A node joins with a tapped pod; its agent pod cannot pull the image (this kubelet starts nothing by itself).
    f.store.podStartMs = 3_600_000;
    f.store.on('pods', (ev: { type: string; object: Obj }) => {
      if (ev.type !== 'ADDED' || !isAgentPod(ev.object) || ev.object.spec.nodeName !== 'node1') return;
      setTimeout(() => {
        const p = f.store.get('pods', ev.object.metadata.namespace, ev.object.metadata.name);
        if (!p) return;
        p.status = {
          ...p.status,
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'False', reason: 'ContainersNotReady' }],
          containerStatuses: [{ name: 'agent', ready: false, restartCount: 0, image: p.spec.containers[0].image, imageID: '', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "ghcr.io/shark-cli/shark:0.1.0"' } } }],
        };
        f.store.update('pods', p);
      }, 20);
    });
    f.addNode({ name: 'node1', ip: '198.18.36.2' });
    f.addPod({ namespace: 'data', name: 'redis-1', ip: '198.18.36.14', node: 'node1' });
    await until(() => /^tap: node1: .*ImagePullBackOff/m.test(tap.stderr()), 'node1 failing said', 10_000, tap);
    await new Promise((r) => setTimeout(r, 500));
    const late = tap.stderr().split('\n').filter((l) => /node1/.test(l) && /ImagePullBackOff/.test(l));
    assert.equal(late.length, 1, tap.stderr());
    assert.match(late[0], /^tap: node1: failed: ImagePullBackOff: Back-off pulling image "ghcr\.io\/shark-cli\/shark:0\.1\.0"; not captured: data\/redis-1; the other nodes are tapped → the node cannot pull .*--agent-image$/);
    assert.equal(tap.child.exitCode, null, 'the run goes on');
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    const last = tap.stderr().trimEnd().split('\n').at(-1)!;
    assert.match(last, /^tap: \d+ entries from 1 agent\(s\); removed \d+ object\(s\); no agent running on 1 node\(s\): node1 \(ImagePullBackOff\)$/);
    // The failing node's agent pod went with the rest of the run.
    await until(() => f.store.findAll('app.kubernetes.io/managed-by=shark').length === 0, 'objects removed', 5000, tap);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});
