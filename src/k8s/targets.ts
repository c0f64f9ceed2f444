// Which pods `shark tap` taps: name matches the regex, labels match -l, namespace is one of
// -n (or the context's namespace; every namespace with -A), running with an
// IP, not host-network (its IP is the node's: tapping it would tap the node),
// and never shark's own agents. Also the per-node BPF filters derived from them.

import { filterForIps } from './agent-control.js';
import { MANAGED_BY } from './agent-manifests.js';
import { LinearRegex } from '../filter/linear-regex.js';
import { podContainerIds } from './objects.js';
import { parseWorkloadRef, workloadOwns, type WorkloadRef } from './workload-ref.js';
import type { PodTarget } from '../capture/per-pod/capture.js';

type Obj = Record<string, any>;

export interface TargetSpec {
  /** Pods whose name matches (a LinearRegex from compilePodRegex). */
  regex?: { test(name: string): boolean };
  /** Pods this workload controls (`deploy/NAME` …, workload-ref.ts). */
  workload?: WorkloadRef;
  /** Pods whose labels match (kubectl's -l, parseLabelSelector). */
  labels?: (labels: Record<string, string> | undefined) => boolean;
  /** Namespaces to consider; undefined = all. */
  namespaces?: string[];
}

export interface TargetPod {
  key: string;
  name: string;
  namespace: string;
  ip: string;
  ips: string[];
  node: string;
  /** metadata.uid and its containers' bare ids (containerStatuses[].containerID): a TLS agent finds the pod's processes by them. */
  uid?: string;
  containers?: string[];
}

export function selectTargets(pods: Obj[], spec: TargetSpec): Map<string, TargetPod> {
  const out = new Map<string, TargetPod>();
  for (const p of pods) {
    const meta = p.metadata ?? {};
    if (meta.labels?.[MANAGED_BY] === 'shark') continue;
    if (spec.namespaces && !spec.namespaces.includes(meta.namespace)) continue;
    if (spec.regex && !spec.regex.test(meta.name ?? '')) continue;
    if (spec.workload && !workloadOwns(spec.workload, p)) continue;
    if (spec.labels && !spec.labels(meta.labels)) continue;
    if (p.spec?.hostNetwork) continue;
    if (meta.deletionTimestamp) continue;
    const ip: string | undefined = p.status?.podIP;
    if (!ip || p.status?.phase !== 'Running') continue;
    const ips = (p.status?.podIPs ?? []).map((x: Obj) => x.ip).filter(Boolean);
    const key = `${meta.namespace}/${meta.name}`;
    const t: TargetPod = { key, name: meta.name, namespace: meta.namespace, ip, ips: ips.length ? ips : [ip], node: p.spec?.nodeName ?? '' };
    if (typeof meta.uid === 'string' && meta.uid) t.uid = meta.uid;
    const containers = podContainerIds(p);
    if (containers.length > 0) t.containers = containers;
    out.set(key, t);
  }
  return out;
}

/** Pods that appeared and disappeared between two selections. */
export function diffTargets(before: Map<string, TargetPod>, after: Map<string, TargetPod>): { added: TargetPod[]; removed: TargetPod[] } {
  const added = [...after.values()].filter((t) => !before.has(t.key) || before.get(t.key)!.ip !== t.ip);
  const removed = [...before.values()].filter((t) => !after.has(t.key) || after.get(t.key)!.ip !== t.ip);
  return { added, removed };
}

/** BPF filter for one node: its tapped pods' addresses. */
export function nodeFilter(targets: Map<string, TargetPod>, node: string): string {
  return filterForIps([...targets.values()].filter((t) => t.node === node).flatMap((t) => t.ips));
}

/** One node's tapped pods as the agent's {"pods": …} message lists them (sorted: equal lists compare equal). */
export function nodePods(targets: Map<string, TargetPod>, node: string): PodTarget[] {
  return [...targets.values()]
    .filter((t) => t.node === node)
    .map((t) => ({ name: t.name, namespace: t.namespace, ips: [...t.ips], ...(t.uid ? { uid: t.uid } : {}), ...(t.containers ? { containers: [...t.containers] } : {}) }))
    .sort((a, b) => (a.namespace === b.namespace ? a.name.localeCompare(b.name) : a.namespace.localeCompare(b.namespace)));
}

/** The tap's argument: kubectl's TYPE/NAME (`deploy/reviews`) or a pod regex; throws (a usage error) when it is neither. */
export function compilePodTarget(arg: string | undefined): { regex?: LinearRegex; workload?: WorkloadRef } {
  const workload = parseWorkloadRef(arg);
  return workload ? { workload } : { regex: compilePodRegex(arg) };
}

/** Compile the user's pod regex, as a usage error when it is not one. */
export function compilePodRegex(source: string | undefined): LinearRegex | undefined {
  if (source === undefined || source === '') return undefined;
  try {
    return LinearRegex.compile(source);
  } catch (err) {
    throw new Error(`bad pod regex "${source}": ${(err as Error).message}`);
  }
}
