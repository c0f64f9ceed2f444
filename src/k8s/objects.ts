// Turns raw Kubernetes objects (from a list or a watch event) into the small
// records of ClusterSnapshot. Owner resolution: a pod owned by a ReplicaSet
// named "<deploy>-<pod-template-hash>" is attributed to Deployment <deploy>
// by that naming rule (no ReplicaSet list, so no extra RBAC); other owners
// (StatefulSet, DaemonSet, Job …) are taken as they are.

import type { NodeInfo, PodInfo, ServiceInfo } from '../model/cluster.js';

type Obj = Record<string, any>;

/**
 * A pod as enrichment sees it; none for a pod that has finished (Succeeded or
 * Failed): its IP is free for a new pod, and the API server keeps showing it
 * (a Job's pods stay for good) with that IP.
 */
export function podInfo(o: Obj): PodInfo | undefined {
  const meta = o.metadata ?? {};
  const status = o.status ?? {};
  if (isFinished(o)) return undefined;
  const ip: string | undefined = status.podIP;
  const ips: string[] = (status.podIPs ?? []).map((x: Obj) => x.ip).filter(Boolean);
  const info: PodInfo = {
    name: meta.name ?? '',
    namespace: meta.namespace ?? 'default',
    ip: ip ?? '',
    node: o.spec?.nodeName ?? '',
    labels: { ...(meta.labels ?? {}) },
  };
  if (ips.length > 1) info.ips = ips;
  // TLS capture names a process's pod by its cgroup: the pod uid, or a container id.
  if (typeof meta.uid === 'string' && meta.uid) info.uid = meta.uid;
  const containers = podContainerIds(o);
  if (containers.length > 0) info.containers = containers;
  const owner = ownerOf(meta);
  if (owner) info.owner = owner;
  if (o.spec?.hostNetwork) {
    info.hostNetwork = true;
    // With hostNetwork a containerPort is a port on the node's address (hostPort equals it).
    const ports = [...new Set<number>((o.spec.containers ?? []).flatMap((c: Obj) => (c.ports ?? []).map((p: Obj) => p.containerPort)).filter(Number.isInteger))];
    if (ports.length > 0) info.ports = ports;
  }
  return info;
}

/**
 * The bare ids of a pod's containers as its status reports them
 * ("containerd://<64 hex>", "cri-o://…", "docker://…"): init containers too
 * (a native sidecar is one); ids that are not 64 hex digits are not kept.
 */
export function podContainerIds(o: Obj): string[] {
  const s = o.status ?? {};
  const ids: string[] = [];
  for (const c of [...(s.containerStatuses ?? []), ...(s.initContainerStatuses ?? [])] as Obj[]) {
    const id = bareContainerId(c?.containerID);
    if (id) ids.push(id);
  }
  return ids;
}

/** "containerd://<id>" → "<id>"; undefined when it is no 64-hex id. */
export function bareContainerId(containerID: unknown): string | undefined {
  if (typeof containerID !== 'string') return undefined;
  const at = containerID.indexOf('://');
  const id = at >= 0 ? containerID.slice(at + 3) : containerID;
  return /^[0-9a-f]{64}$/.test(id) ? id : undefined;
}

/** The pod ran to its end: its containers will not run again (restartPolicy Never/OnFailure done, or evicted). */
export function isFinished(o: Obj): boolean {
  const phase = o.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

export function ownerOf(meta: Obj): { kind: string; name: string } | undefined {
  const refs: Obj[] = meta.ownerReferences ?? [];
  const ref = refs.find((r) => r.controller) ?? refs[0];
  if (!ref) return undefined;
  if (ref.kind === 'ReplicaSet') {
    const hash: string | undefined = meta.labels?.['pod-template-hash'];
    if (hash && typeof ref.name === 'string' && ref.name.endsWith(`-${hash}`)) {
      return { kind: 'Deployment', name: ref.name.slice(0, -hash.length - 1) };
    }
  }
  return { kind: ref.kind, name: ref.name };
}

export function serviceInfo(o: Obj): ServiceInfo {
  const spec = o.spec ?? {};
  const ips: string[] = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter(
    (ip: string) => ip && ip !== 'None',
  );
  return {
    name: o.metadata?.name ?? '',
    namespace: o.metadata?.namespace ?? 'default',
    clusterIPs: ips,
    ports: (spec.ports ?? []).map((p: Obj) => ({
      port: p.port,
      ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
      protocol: p.protocol ?? 'TCP',
      ...(p.name ? { name: p.name } : {}),
    })),
    selector: { ...(spec.selector ?? {}) },
  };
}

export function nodeInfo(o: Obj): NodeInfo {
  return {
    name: o.metadata?.name ?? '',
    addresses: (o.status?.addresses ?? [])
      .filter((a: Obj) => a.type === 'InternalIP' || a.type === 'ExternalIP')
      .map((a: Obj) => a.address),
  };
}

/** EndpointSlice → the service it belongs to and its ready addresses. */
export function endpointSliceInfo(o: Obj): { service: string; namespace: string; ips: string[] } | undefined {
  const service = o.metadata?.labels?.['kubernetes.io/service-name'];
  if (!service) return undefined;
  const ips: string[] = [];
  for (const ep of o.endpoints ?? []) {
    if (ep.conditions?.ready === false) continue;
    ips.push(...(ep.addresses ?? []));
  }
  return { service, namespace: o.metadata?.namespace ?? 'default', ips };
}

export function isPodReady(o: Obj): boolean {
  if (o.status?.phase !== 'Running') return false;
  return (o.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
}
