// `shark tap --dry-run`: every object a run would create, as multi-document
// YAML (what `kubectl create --dry-run=client -o yaml` prints), for review or
// for GitOps. Nothing is read from or written to a cluster. The run's root
// carries lease 0: applied by hand it never lapses, so `tap --clean` keeps it,
// and there is no keeper Job (with nothing to renew a lease, a keeper could
// only wait forever): the lease ConfigMap is the root, as before keepers.
// The Namespace is printed only for shark's own (shark-system) or when asked
// (--create-namespace): it carries managed-by=shark and Pod Security
// `privileged`, so `kubectl apply -f` would relabel a namespace shark did not
// create, and `kubectl delete -f` (or a GitOps prune) would delete it whole.

import { stringify } from 'yaml';
import { DEFAULT_NAMESPACE, agentManifests, type TolerationPolicy } from './agent-manifests.js';

export interface DryRunOptions {
  runId: string;
  namespace?: string;
  image?: string;
  tolerate?: TolerationPolicy;
  serviceMesh?: boolean;
  tls?: boolean;
  priorityClassName?: string;
  cpuLimit?: string;
  memoryLimit?: string;
  /** Print the Namespace object (default: only for shark's own namespace, shark-system). */
  createNamespace?: boolean;
}

/** Whether --dry-run prints the agents' Namespace: shark's own one, or one the user asked shark to create. */
export function dryRunCreatesNamespace(namespace: string | undefined, asked: boolean | undefined): boolean {
  return Boolean(asked) || (namespace ?? DEFAULT_NAMESPACE) === DEFAULT_NAMESPACE;
}

export function dryRunYaml(opts: DryRunOptions): string {
  const { objects } = agentManifests({ ...opts, createNamespace: opts.createNamespace ?? dryRunCreatesNamespace(opts.namespace, false), leaseSeconds: 0 });
  // Owner references need the root's uid, which only the API server assigns:
  // applied from this file, the objects are tied together by the run label.
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
