// Process → container → pod, agent side: /proc/PID/cgroup as each container
// runtime and cgroup driver Kubernetes uses writes it (lines shaped after real
// nodes: containerd/CRI-O/cri-dockerd with the systemd and cgroupfs drivers,
// podman, kind's nested kubelet, a private cgroup namespace's view), hostile
// lines that must name nothing, and the cache that names a process gone from
// /proc by its cgroup v2 id (a real directory's inode, as the kernel's id is).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { identifyCgroupText, identifyPath, MAX_CGROUP_TEXT } from '../../src/tls-capture/cgroup.js';
import { ProcessIdentities, cgroup2Mount, cgroup2Under } from '../../src/tls-capture/process-identity.js';
import { PodSelection } from '../../src/tls-capture/pod-selection.js';

const ID = '3f1c9d0a7b2e4c5d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f';
const ID2 = 'aa'.repeat(32);
const UID = '5f2c4e1a-7d3b-4c1e-9a2f-0b6c8d9e1f23';
const UID_ = UID.replaceAll('-', '_');

/** A cgroup v1 + v2 (hybrid) /proc/PID/cgroup whose v1 controllers sit at `v1` and v2 at `v2`. */
const hybrid = (v1: string, v2 = '/') => [`12:memory:${v1}`, `11:pids:${v1}`, `1:name=systemd:${v1}`, `0::${v2}`, ''].join('\n');

const cases: { name: string; text: string; want: ReturnType<typeof identifyCgroupText> }[] = [
  {
    name: 'containerd, systemd driver, cgroup v2 (burstable)',
    text: `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope\n`,
    want: { container: ID, runtime: 'containerd', podUid: UID },
  },
  {
    name: 'containerd, systemd driver, guaranteed QoS (no QoS slice)',
    text: `0::/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope\n`,
    want: { container: ID, runtime: 'containerd', podUid: UID },
  },
  {
    name: 'containerd, cgroupfs driver, cgroup v1 (k3s, kubeadm with cgroupfs)',
    text: hybrid(`/kubepods/burstable/pod${UID}/${ID}`),
    want: { container: ID, podUid: UID },
  },
  {
    name: 'containerd, cgroupfs driver, guaranteed, cgroup v2',
    text: `0::/kubepods/pod${UID}/${ID}\n`,
    want: { container: ID, podUid: UID },
  },
  {
    name: 'CRI-O, systemd driver',
    text: `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope\n`,
    want: { container: ID, runtime: 'cri-o', podUid: UID },
  },
  {
    name: 'CRI-O, cgroupfs driver',
    text: hybrid(`/kubepods/besteffort/pod${UID}/crio-${ID}`),
    want: { container: ID, runtime: 'cri-o', podUid: UID },
  },
  {
    name: "CRI-O's conmon beside the container: the pod, not a container",
    text: `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-conmon-${ID}.scope\n`,
    want: { podUid: UID },
  },
  {
    name: 'cri-dockerd, systemd driver, cgroup v1',
    text: hybrid(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/docker-${ID}.scope`),
    want: { container: ID, runtime: 'docker', podUid: UID },
  },
  {
    name: 'podman (no pod): the container only',
    text: `0::/machine.slice/libpod-${ID}.scope/container\n`,
    want: { container: ID, runtime: 'podman' },
  },
  { name: "podman's conmon is not the container", text: `0::/machine.slice/libpod-conmon-${ID}.scope\n`, want: {} },
  {
    name: 'kind: a kubelet inside a container (nested slices), innermost container wins',
    text: `0::/system.slice/docker-${ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope\n`,
    want: { container: ID, runtime: 'containerd', podUid: UID },
  },
  {
    name: "read from a pod with its own cgroup namespace (the agent's view)",
    text: `0::/../../kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope\n`,
    want: { container: ID, runtime: 'containerd', podUid: UID },
  },
  {
    name: 'v2 line first: a v1 line elsewhere does not override it',
    text: [`4:memory:/kubepods/besteffort/pod${UID}/${ID2}`, `0::/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`].join('\n'),
    want: { container: ID, runtime: 'containerd', podUid: UID },
  },
  { name: "the node's own service", text: hybrid('/system.slice/containerd.service', '/system.slice/containerd.service'), want: {} },
  { name: 'the root cgroup', text: '0::/\n', want: {} },
];

for (const c of cases) {
  test(`cgroup: ${c.name}`, () => {
    assert.deepEqual(identifyCgroupText(c.text), c.want);
  });
}

test('cgroup: hostile or malformed lines name nothing (and never throw)', () => {
  const hostile = [
    `0::/kubepods.slice/kubepods-pod../../../etc.slice/cri-containerd-${ID}x.scope`, // not 64 hex, uid is a path
    `0::/kubepods.slice/kubepods-podZZZZ.slice/cri-containerd-${ID.toUpperCase()}.scope`, // upper case is not how ids are written
    `0::/kubepods/pod${UID}extra/${ID.slice(1)}`, // 63 digits, a uid with a tail
    `garbage without any colon`,
    `x::/kubepods/pod${UID}/${ID}`, // hierarchy id is not a number
    `0::kubepods/pod${UID}/${ID}`, // not an absolute path
    `0::/${'a/'.repeat(5000)}`,
    '\0\0\0',
  ];
  for (const line of hostile) assert.deepEqual(identifyCgroupText(line), {}, line.slice(0, 80));
  // The text is read up to MAX_CGROUP_TEXT only: a valid line beyond a flood is not believed.
  const flood = `${'9:x:/'.padEnd(MAX_CGROUP_TEXT, 'y')}\n0::/kubepods/pod${UID}/${ID}\n`;
  assert.deepEqual(identifyCgroupText(flood), {});
  // The cgroup id path (kernel side) goes through the same rules.
  assert.deepEqual(identifyPath(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`), {
    container: ID,
    runtime: 'containerd',
    podUid: UID,
  });
});

const dir = mkdtempSync(join(tmpdir(), 's6t-cgroup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('identities: /proc first; a process already gone is named by its cgroup id; pid reuse re-reads; bounded', () => {
  const proc = join(dir, 'proc');
  const cg = join(dir, 'cgroup');
  const scope = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`;
  mkdirSync(cg + scope, { recursive: true });
  mkdirSync(`${cg}/system.slice/sshd.service`, { recursive: true });
  // A cgroup's id is its directory's inode number (kernfs): the kernel side stamps it on each event.
  const scopeId = statSync(cg + scope, { bigint: true }).ino;
  const sshdId = statSync(`${cg}/system.slice/sshd.service`, { bigint: true }).ino;
  mkdirSync(`${proc}/100`, { recursive: true });
  writeFileSync(`${proc}/100/cgroup`, `0::${scope}\n`);
  const ids = new ProcessIdentities({ procRoot: proc, cgroupRoot: cg, maxProcesses: 2, rescanMs: 0 });
  assert.deepEqual(ids.identify(100, scopeId), { container: ID, runtime: 'containerd', podUid: UID });
  // pid 200 exited before its first event was read: no /proc entry, its cgroup id still names it.
  assert.deepEqual(ids.identify(200, scopeId), { container: ID, runtime: 'containerd', podUid: UID });
  assert.deepEqual(ids.identify(300, sshdId), {});
  assert.deepEqual(ids.identify(400, 0n), {}, 'no cgroup v2 id (a v1-only node) and no /proc: nothing');
  assert.equal(ids.counters.fromProc, 1);
  assert.equal(ids.counters.fromCgroupId, 1);
  assert.equal(ids.counters.noContainer, 2);
  assert.equal(ids.counters.evicted, 2, 'four processes in a table of two');
  // pid 100 reused by a process in another cgroup: read again, not served from the cache.
  writeFileSync(`${proc}/100/cgroup`, '0::/system.slice/sshd.service\n');
  assert.deepEqual(ids.identify(100, sshdId), {});
  // An index bounded at 2 directories cannot hold the deep scope: counted, not found.
  const small = new ProcessIdentities({ procRoot: proc, cgroupRoot: cg, maxCgroups: 2, rescanMs: 0 });
  assert.deepEqual(small.identify(999, scopeId), {});
  assert.ok(small.counters.indexFull > 0);
});

test('identities: the cgroup v2 mount is found from mountinfo, and under a host mount (v2 or hybrid unified/)', () => {
  const mi = join(dir, 'mountinfo');
  writeFileSync(
    mi,
    [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
      '',
    ].join('\n'),
  );
  assert.equal(cgroup2Mount(mi), '/sys/fs/cgroup/unified');
  assert.equal(cgroup2Mount(join(dir, 'missing')), undefined);
  const host = join(dir, 'host');
  mkdirSync(`${host}/unified`, { recursive: true });
  assert.equal(cgroup2Under(host), undefined);
  writeFileSync(`${host}/unified/cgroup.controllers`, 'cpu memory\n');
  assert.equal(cgroup2Under(host), `${host}/unified`);
  writeFileSync(`${host}/cgroup.controllers`, 'cpu memory\n');
  assert.equal(cgroup2Under(host), host);
});

test('pod selection: by pod uid, or by container id when the cgroup names no pod; replaced by each list', () => {
  const sel = new PodSelection();
  assert.equal(sel.allows({ container: ID, podUid: UID }), false, 'nothing before the first list');
  sel.set([{ uid: UID }, { containers: [ID2] }]);
  assert.equal(sel.allows({ container: ID, podUid: UID }), true);
  assert.equal(sel.allows({ container: ID2, runtime: 'podman' }), true);
  assert.equal(sel.allows({ container: ID }), false);
  assert.equal(sel.allows({}), false, "the node's own processes are never a tapped pod's");
  sel.set([]);
  assert.equal(sel.allows({ container: ID, podUid: UID }), false);
});
