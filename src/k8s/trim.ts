// Watched objects are trimmed on arrival to the fields shark reads (naming,
// tap targets, agent start-up state), as client-go's informers do with a
// transform: a pod as the API server sends it is 5–20 KB (managedFields,
// env, probes, volumes, annotations), and the CLI of a 5,000-pod cluster
// would otherwise hold all of it. Whatever a new reader needs must be added
// here (the tests read through trimmed objects, so a missing field shows).

import { AGENT_NAME, AGENT_NAME_LABEL } from './agent-manifests.js';

type Obj = Record<string, any>;

const pick = (o: Obj | undefined, keys: string[]): Obj | undefined => {
  if (!o || typeof o !== 'object') return undefined;
  const out: Obj = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
};

const META = ['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'labels', 'ownerReferences', 'deletionTimestamp'];

/**
 * A shark agent's container keeps its memory limit too: an agent OOM-killed is said with
 * the limit it had (raised mid-run by `kubectl set resources`, or by --agent-memory) and
 * twice it as the way out. Other pods' resources are never read.
 */
function agentContainer(c: Obj): Obj | undefined {
  const kept = pick(c, ['name', 'image', 'ports']);
  const memory = c?.resources?.limits?.memory;
  return memory === undefined || !kept ? kept : { ...kept, resources: { limits: { memory } } };
}

function trimPod(o: Obj): Obj {
  const spec = o.spec ?? {};
  const agent = o.metadata?.labels?.[AGENT_NAME_LABEL] === AGENT_NAME;
  const nodeAffinity = spec.affinity?.nodeAffinity;
  return {
    metadata: pick(o.metadata, META),
    spec: {
      ...pick(spec, ['nodeName', 'hostNetwork']),
      // DaemonSet pods are pinned to their node by affinity until scheduled.
      ...(nodeAffinity ? { affinity: { nodeAffinity } } : {}),
      containers: (spec.containers ?? []).map((c: Obj) => (agent ? agentContainer(c) : pick(c, ['name', 'image', 'ports']))),
    },
    status: pick(o.status, ['phase', 'reason', 'message', 'podIP', 'podIPs', 'hostIP', 'conditions', 'containerStatuses', 'initContainerStatuses']),
  };
}

function trimNode(o: Obj): Obj {
  return {
    metadata: pick(o.metadata, META),
    spec: pick(o.spec, ['taints', 'providerID', 'unschedulable']),
    status: {
      addresses: o.status?.addresses,
      nodeInfo: pick(o.status?.nodeInfo, ['operatingSystem', 'architecture']),
      // Ready only: a NotReady node cannot start its agent (agent-status.ts), so it is not waited on.
      conditions: (o.status?.conditions ?? []).filter((c: Obj) => c?.type === 'Ready').map((c: Obj) => pick(c, ['type', 'status', 'reason', 'message'])),
    },
  };
}

function trimService(o: Obj): Obj {
  return { metadata: pick(o.metadata, META), spec: pick(o.spec, ['type', 'clusterIP', 'clusterIPs', 'ports', 'selector']) };
}

function trimEndpointSlice(o: Obj): Obj {
  return {
    metadata: pick(o.metadata, META),
    addressType: o.addressType,
    endpoints: (o.endpoints ?? []).map((e: Obj) => pick(e, ['addresses', 'conditions', 'nodeName'])),
    ports: o.ports,
  };
}

/** The object as the watch cache keeps it. Kinds not named are kept whole but for managedFields. */
export function trimObject(kind: string, o: Obj): Obj {
  if (!o || typeof o !== 'object') return o;
  switch (kind) {
    case 'pods':
      return trimPod(o);
    case 'nodes':
      return trimNode(o);
    case 'services':
      return trimService(o);
    case 'endpointslices':
      return trimEndpointSlice(o);
    default: {
      if (!o.metadata?.managedFields) return o;
      const { managedFields: _drop, ...metadata } = o.metadata;
      return { ...o, metadata };
    }
  }
}
