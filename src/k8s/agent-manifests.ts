// The objects `shark tap` creates in a cluster: a namespace, a ServiceAccount,
// a read-only ClusterRole (+binding) and the node-agent DaemonSet. Every one
// carries app.kubernetes.io/managed-by=shark and shark.io/run=<id>, so that a
// run deletes exactly what it made and `tap --clean` finds a crashed run's
// leftovers. The agent needs no privileges beyond raw capture: hostNetwork
// with NET_RAW/NET_ADMIN, not a privileged container.

export type Manifest = Record<string, any>;

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const RUN_LABEL = 'shark.io/run';
export const AGENT_NAME_LABEL = 'app.kubernetes.io/name';
export const AGENT_NAME = 'shark-agent';
export const AGENT_CONTAINER = 'agent';
export const DEFAULT_NAMESPACE = 'shark-system';
export const DEFAULT_IMAGE = 'ghcr.io/shark-cli/shark:0.1.0';

export interface AgentManifestOptions {
  runId: string;
  namespace?: string;
  image?: string;
  /** Include the Namespace object (false when it already exists). */
  createNamespace?: boolean;
}

export interface AgentManifests {
  namespace: string;
  daemonSetName: string;
  /** In creation order; delete in reverse. */
  objects: Manifest[];
  /** Labels that select this run's agent pods. */
  agentSelector: Record<string, string>;
}

/** Selector for everything shark created, of any run. */
export const MANAGED_SELECTOR = `${MANAGED_BY}=shark`;

export function runSelector(runId: string): string {
  return `${MANAGED_BY}=shark,${RUN_LABEL}=${runId}`;
}

export function agentManifests(opts: AgentManifestOptions): AgentManifests {
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  const name = `${AGENT_NAME}-${opts.runId}`;
  const labels = { [MANAGED_BY]: 'shark', [RUN_LABEL]: opts.runId };
  const agentSelector = { [AGENT_NAME_LABEL]: AGENT_NAME, [RUN_LABEL]: opts.runId };
  const meta = (n: string, namespaced: boolean) => ({
    name: n,
    ...(namespaced ? { namespace } : {}),
    labels: { ...labels, [AGENT_NAME_LABEL]: AGENT_NAME },
  });

  const objects: Manifest[] = [];
  if (opts.createNamespace !== false) {
    objects.push({ apiVersion: 'v1', kind: 'Namespace', metadata: meta(namespace, false) });
  }
  objects.push({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(name, true),
    automountServiceAccountToken: true,
  });
  // Read-only and narrow: the agent may look up nodes and pods (to name its
  // own node and the pods it captures for); it never writes anything.
  objects.push({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: meta(name, false),
    rules: [{ apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] }],
  });
  objects.push({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: meta(name, false),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace }],
  });
  objects.push({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(name, true),
    spec: {
      selector: { matchLabels: agentSelector },
      updateStrategy: { type: 'RollingUpdate' },
      template: {
        metadata: { labels: { ...labels, ...agentSelector } },
        spec: {
          serviceAccountName: name,
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          terminationGracePeriodSeconds: 5,
          tolerations: [
            { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
            { key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' },
          ],
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
          containers: [
            {
              name: AGENT_CONTAINER,
              image: opts.image ?? DEFAULT_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              // The container idles; the CLI execs `shark agent …` in it, so
              // the capture streams through the API server and no port opens.
              command: ['shark', 'agent', '--idle'],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'HOME', value: '/tmp' },
              ],
              // The root filesystem is read-only; oclif and node may write caches under $HOME.
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
              securityContext: {
                privileged: false,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsUser: 0,
                capabilities: { drop: ['ALL'], add: ['NET_RAW', 'NET_ADMIN'] },
              },
              resources: {
                requests: { cpu: '50m', memory: '64Mi' },
                limits: { cpu: '1', memory: '512Mi' },
              },
            },
          ],
        },
      },
    },
  });
  return { namespace, daemonSetName: name, objects, agentSelector };
}

/** A short random run id: lower-case letters and digits, valid in names and label values. */
export function newRunId(): string {
  return Math.random().toString(36).slice(2, 8).padEnd(6, '0');
}
