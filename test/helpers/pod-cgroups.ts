// Real cgroups for the lab's "pods": the directories a kubelet with the systemd
// driver and containerd creates (kubepods.slice/…/kubepods-besteffort-pod<uid
// with _>.slice/cri-containerd-<id>.scope), made in the host's cgroup v2 tree
// under a slice of the test's own, so a process started in one is, to the
// kernel and to /proc/PID/cgroup, in that pod's container. Needs root and
// cgroup v2. `ip netns exec` mounts a fresh /sys (without /sys/fs/cgroup), so
// the tree is reached through a cgroup2 mount of the test's own in a temporary
// directory (the same hierarchy, as the agent's manifest mounts the node's at
// /host/sys/fs/cgroup): `root` is it, for SHARK_CGROUP_ROOT. `remove` ends the
// processes left inside, removes the directories and unmounts.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PodCgroup {
  /** The container's cgroup directory. */
  dir: string;
  /** sh -c prefix: `[...wrap, cmd, ...args]` runs cmd inside the container's cgroup. */
  wrap: string[];
  /** A shell line's prefix that moves the shell into the cgroup first. */
  enter: string;
}

export class PodCgroups {
  /** The cgroup v2 tree, mounted here for this test. */
  readonly root: string;
  private readonly top: string;
  private readonly made: string[] = [];

  /** `slice`: the test's own top-level slice name (unique per test run). */
  constructor(slice: string) {
    this.root = mkdtempSync(join(tmpdir(), `${slice}-cgroup2-`));
    const r = spawnSync('mount', ['-t', 'cgroup2', 'none', this.root], { encoding: 'utf8' });
    if (r.status !== 0) {
      rmdirSync(this.root);
      throw new Error(`cannot mount cgroup v2 (root and a kernel with cgroup2 are needed): ${r.stderr.trim()}`);
    }
    this.top = `${this.root}/${slice}.slice`;
  }

  /** The container `containerId` of pod `uid` (besteffort QoS, systemd driver, containerd). */
  add(uid: string, containerId: string): PodCgroup {
    const podSlice = `${this.top}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`;
    const dir = `${podSlice}/cri-containerd-${containerId}.scope`;
    mkdirSync(dir, { recursive: true });
    this.made.push(dir, podSlice);
    const enter = `echo $$ > ${dir}/cgroup.procs && `;
    return { dir, enter, wrap: ['sh', '-c', `${enter}exec "$0" "$@"`] };
  }

  /**
   * End every process still inside (cgroup.kill: nginx's worker outlives a
   * killed master) and remove the directories, deepest first; a straggler
   * after 2 s is moved to the root cgroup so its directory can go anyway.
   */
  async remove(): Promise<void> {
    const dirs = [...new Set([...this.made, `${this.top}/kubepods.slice/kubepods-besteffort.slice`, `${this.top}/kubepods.slice`, this.top])];
    dirs.sort((a, b) => b.length - a.length);
    const pids = (d: string) => {
      try {
        return readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    };
    for (const d of this.made) {
      try {
        writeFileSync(`${d}/cgroup.kill`, '1');
      } catch {
        // gone already
      }
    }
    for (let i = 0; i < 40 && this.made.some((d) => pids(d).length > 0); i++) await new Promise((r) => setTimeout(r, 50));
    const root = this.root;
    for (const d of dirs) {
      for (const pid of pids(d)) {
        try {
          writeFileSync(`${root}/cgroup.procs`, pid);
        } catch {
          // exited meanwhile
        }
      }
      try {
        rmdirSync(d);
      } catch {
        // not there (never made, or removed already)
      }
    }
    spawnSync('umount', [this.root]);
    try {
      rmdirSync(this.root);
    } catch {
      // still mounted (busy): left for the machine's tmp cleaning
    }
  }
}
