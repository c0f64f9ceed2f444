// Which container (and pod) a process runs in, from its cgroup path: the
// names container runtimes give the cgroups Kubernetes asks them to create.
//   systemd driver:  /kubepods.slice/kubepods-burstable.slice/
//                    kubepods-burstable-pod<uid with _ for ->.slice/<runtime>-<64 hex>.scope
//                    runtime: cri-containerd, crio, docker (cri-dockerd), libpod (podman)
//   cgroupfs driver: /kubepods/burstable/pod<uid>/<64 hex>   (containerd, cri-dockerd)
//                    /kubepods/burstable/pod<uid>/crio-<64 hex>
// A runtime's helper beside the container (crio-conmon-…, libpod-conmon-…) is
// not the container. Anything else (the node's own services, a line an
// attacker shaped) names nothing: the process is then the node's.

export type Runtime = 'containerd' | 'cri-o' | 'docker' | 'podman';

export interface CgroupIdentity {
  /** The container's id (64 hex digits) as the runtime and containerStatuses[].containerID name it. */
  container?: string;
  /** Which runtime's naming it was found by (undefined: a bare id, the cgroupfs driver). */
  runtime?: Runtime;
  /** The pod's metadata.uid, from the pod's cgroup (kubepods…pod<uid>). */
  podUid?: string;
}

/** /proc/PID/cgroup is a few hundred bytes; more than this is not one (and is not read further). */
export const MAX_CGROUP_TEXT = 16384;

const PREFIXES: [string, Runtime][] = [
  ['cri-containerd-', 'containerd'],
  ['crio-', 'cri-o'],
  ['docker-', 'docker'],
  ['libpod-', 'podman'],
];
const HEX64 = /^[0-9a-f]{64}$/;
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The container of one path segment ("cri-containerd-<id>.scope", "<id>", "crio-<id>"), if it names one. */
function containerOf(segment: string): { id: string; runtime?: Runtime } | undefined {
  const base = segment.endsWith('.scope') ? segment.slice(0, -'.scope'.length) : segment;
  if (HEX64.test(base)) return { id: base };
  for (const [prefix, runtime] of PREFIXES) {
    // crio-conmon-<id> / libpod-conmon-<id>: the runtime's monitor, not the container (the test fails on "conmon-").
    if (base.startsWith(prefix) && HEX64.test(base.slice(prefix.length))) return { id: base.slice(prefix.length), runtime };
  }
  return undefined;
}

/** The pod uid of one path segment: "kubepods-besteffort-pod<uid_>.slice" (systemd) or "pod<uid>" (cgroupfs). */
function podUidOf(segment: string): string | undefined {
  let m: string | undefined;
  if (segment.endsWith('.slice')) {
    const at = segment.lastIndexOf('-pod');
    if (at >= 0 && segment.includes('kubepods')) m = segment.slice(at + 4, -'.slice'.length).replaceAll('_', '-');
  } else if (segment.startsWith('pod')) m = segment.slice(3);
  return m !== undefined && UID.test(m) ? m : undefined;
}

/** What one cgroup path says (the part after "0::" or "N:controllers:"). */
export function identifyPath(path: string): CgroupIdentity {
  const out: CgroupIdentity = {};
  const segments = path.split('/');
  // The innermost container wins (a container in a container, as in kind, names both).
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i];
    if (!out.container) {
      const c = containerOf(s);
      if (c) {
        out.container = c.id;
        if (c.runtime) out.runtime = c.runtime;
        continue;
      }
    }
    if (!out.podUid) {
      const uid = podUidOf(s);
      if (uid) out.podUid = uid;
    }
    if (out.podUid) break;
  }
  return out;
}

/**
 * The identity in /proc/PID/cgroup's text: the cgroup v2 line ("0::/…") first,
 * then v1 lines (a v1-only node has no useful "0::" line). Lines that are not
 * "hierarchy:controllers:/path" are skipped.
 */
export function identifyCgroupText(text: string): CgroupIdentity {
  const lines = text.slice(0, MAX_CGROUP_TEXT).split('\n');
  const paths: string[] = [];
  for (const line of lines) {
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0 || !/^\d+$/.test(line.slice(0, first))) continue;
    const path = line.slice(second + 1);
    if (!path.startsWith('/')) continue;
    if (line.startsWith('0::')) paths.unshift(path);
    else paths.push(path);
  }
  const out: CgroupIdentity = {};
  for (const p of paths) {
    const id = identifyPath(p);
    if (!out.container && id.container) {
      out.container = id.container;
      if (id.runtime) out.runtime = id.runtime;
    }
    if (!out.podUid && id.podUid) out.podUid = id.podUid;
    if (out.container && out.podUid) break;
  }
  return out;
}
