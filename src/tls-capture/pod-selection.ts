// `shark tap -n NS [POD_REGEX] --tls`: the agent is told the node's tapped
// pods (uid and container ids, the {"pods": …} control line) and keeps only
// the TLS calls of processes inside them; the rest are dropped on the node,
// counted, before they are dissected or cross the API server.

import type { CgroupIdentity } from './cgroup.js';

export interface SelectedPod {
  uid?: string;
  containers?: string[];
}

export class PodSelection {
  private uids = new Set<string>();
  private containers = new Set<string>();

  /** The tapped pods now (replaces the previous list). */
  set(pods: SelectedPod[]): void {
    this.uids = new Set(pods.map((p) => p.uid).filter((u): u is string => typeof u === 'string' && u.length > 0));
    this.containers = new Set(pods.flatMap((p) => p.containers ?? []));
  }

  /** Whether a process of this identity is in a tapped pod (by its pod uid, or by its container when the cgroup names no pod). */
  allows(id: CgroupIdentity): boolean {
    return (id.podUid !== undefined && this.uids.has(id.podUid)) || (id.container !== undefined && this.containers.has(id.container));
  }

  get size(): number {
    return this.uids.size;
  }
}
