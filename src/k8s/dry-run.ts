// `shark tap --dry-run`: every object a run would create, as multi-document
// YAML (what `kubectl create --dry-run=client -o yaml` prints), for review or
// for GitOps. Nothing is read from or written to a cluster. The run's root
// carries lease 0: applied by hand it never lapses, so `tap --clean` keeps it,
// and there is no keeper Job (with nothing to renew a lease, a keeper could
// only wait forever): the lease ConfigMap is the root, as before keepers.

import { stringify } from 'yaml';
import { agentManifests, type TolerationPolicy } from './agent-manifests.js';

export interface DryRunOptions {
  runId: string;
  namespace?: string;
  image?: string;
  tolerate?: TolerationPolicy;
  serviceMesh?: boolean;
  tls?: boolean;
  priorityClassName?: string;
}

export function dryRunYaml(opts: DryRunOptions): string {
  const { objects } = agentManifests({ ...opts, createNamespace: true, leaseSeconds: 0 });
  // Owner references need the root's uid, which only the API server assigns:
  // applied from this file, the objects are tied together by the run label.
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
