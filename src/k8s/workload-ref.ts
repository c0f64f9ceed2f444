// `shark tap deploy/reviews`: kubectl's TYPE/NAME, as `kubectl logs deploy/x`
// or `kubectl port-forward sts/y` take it, instead of a pod regex. Pod names
// never hold a '/', so a regex that does could never match one: such an
// argument is a workload (or an error saying which types are known), never a
// silent tap of nothing.
//
// A workload's pods are the pods it controls, read from their owner
// references as the watch cache has them, so pods it creates later (a scale-up,
// a rollout) are tapped and no extra RBAC is needed: a Deployment's pods are
// owned by its ReplicaSets, named `<deployment>-<pod-template-hash>` (the
// rule enrichment uses, objects.ts).

type Obj = Record<string, any>;

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'ReplicaSet' | 'Job' | 'Pod';

export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
  /** As the user wrote it (`deploy/reviews`), for messages. */
  text: string;
}

/** kubectl's names for each kind: singular, plural, short name, group-qualified. */
const KINDS: Record<string, WorkloadKind> = {};
for (const [kind, names] of [
  ['Deployment', ['deploy', 'deployment', 'deployments', 'deployment.apps', 'deployments.apps']],
  ['StatefulSet', ['sts', 'statefulset', 'statefulsets', 'statefulset.apps', 'statefulsets.apps']],
  ['DaemonSet', ['ds', 'daemonset', 'daemonsets', 'daemonset.apps', 'daemonsets.apps']],
  ['ReplicaSet', ['rs', 'replicaset', 'replicasets', 'replicaset.apps', 'replicasets.apps']],
  ['Job', ['job', 'jobs', 'job.batch', 'jobs.batch']],
  ['Pod', ['po', 'pod', 'pods']],
] as [WorkloadKind, string[]][]) {
  for (const n of names) KINDS[n] = kind;
}

export const WORKLOAD_TYPES = 'deploy, sts, ds, rs, job or pod';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * `TYPE/NAME` as a workload; undefined when `arg` is no WORD/… (a pod regex).
 * Throws (a usage error for the caller) for a WORD that is not a known TYPE,
 * or a NAME that is not an object name.
 */
export function parseWorkloadRef(arg: string | undefined): WorkloadRef | undefined {
  if (arg === undefined) return undefined;
  const at = arg.indexOf('/');
  const type = arg.slice(0, at).toLowerCase();
  // A '/' after something other than a word (`[^/]+`) is the regex's own business.
  if (at <= 0 || !/^[a-z.]+$/.test(type)) return undefined;
  const name = arg.slice(at + 1);
  const kind = KINDS[type];
  if (!kind) {
    const hint = type === 'svc' || type === 'service' || type === 'services' ? `; for a Service's pods, pass its selector with -l (kubectl get ${arg} -o jsonpath='{.spec.selector}')` : '';
    throw new Error(`'${arg}': pod names hold no '/', so this is read as TYPE/NAME, and TYPE must be ${WORKLOAD_TYPES} (as kubectl names them)${hint}`);
  }
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    throw new Error(`'${arg}': '${name}' is not a ${kind} name (lower-case letters, digits, '-' and '.')`);
  }
  return { kind, name, text: arg };
}

/** The pod's controller reference (the owner with controller: true, else the first). */
function controllerRef(meta: Obj): Obj | undefined {
  const refs: Obj[] = meta.ownerReferences ?? [];
  return refs.find((r) => r.controller) ?? refs[0];
}

/** Whether the workload controls the pod (a Deployment through the ReplicaSet named after it and the pod's template hash). */
export function workloadOwns(ref: WorkloadRef, pod: Obj): boolean {
  const meta = pod.metadata ?? {};
  if (ref.kind === 'Pod') return meta.name === ref.name;
  const owner = controllerRef(meta);
  if (!owner) return false;
  if (ref.kind === 'Deployment') {
    const hash: string | undefined = meta.labels?.['pod-template-hash'];
    return owner.kind === 'ReplicaSet' && Boolean(hash) && owner.name === `${ref.name}-${hash}`;
  }
  return owner.kind === ref.kind && owner.name === ref.name;
}
