// A snapshot of the Kubernetes objects that name traffic: what `shark record`
// saves in manifest.json, what `dissect --meta FILE` loads, and what the live
// watcher in `tap` keeps up to date. Enrichment looks IPs up in it.

export interface PodInfo {
  name: string;
  namespace: string;
  ip: string;
  /** Extra IPs (dual stack). */
  ips?: string[];
  node: string;
  labels: Record<string, string>;
  /** Owner workload after following ReplicaSet → Deployment: {kind, name}. */
  owner?: { kind: string; name: string };
  hostNetwork?: boolean;
  /** metadata.uid (a process's cgroup names it: `tap --tls`). */
  uid?: string;
  /** Bare ids of its containers (containerStatuses[].containerID without "containerd://"). */
  containers?: string[];
  /** A hostNetwork pod's container ports: on the node's address, the port tells such pods apart. */
  ports?: number[];
}

export interface ServiceInfo {
  name: string;
  namespace: string;
  clusterIPs: string[];
  ports: { port: number; targetPort?: number | string; protocol: string; name?: string }[];
  selector: Record<string, string>;
}

export interface NodeInfo {
  name: string;
  addresses: string[];
}

export interface ClusterSnapshot {
  /** kubeconfig context the snapshot came from. */
  context: string;
  /** ISO time the snapshot was taken. */
  takenAt: string;
  pods: PodInfo[];
  services: ServiceInfo[];
  nodes: NodeInfo[];
  /** EndpointSlice addresses → service, for pods not selected by labels. */
  endpoints?: { service: string; namespace: string; ips: string[] }[];
}
