// Creating, patching and deleting the agent's objects through the typed API
// clients, all inside the agents' namespace (plus the namespace itself):
// nothing here needs a cluster-wide permission.

import { AppsV1Api, AuthorizationV1Api, BatchV1Api, CoreV1Api, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { COMPONENT_LABEL, ENFORCE_BEFORE_ANNOTATION as ENFORCE_BEFORE, MANAGED_BY, PSA_ENFORCE, RENEW_ANNOTATION, RUN_LABEL, runRootName, type Manifest } from './agent-manifests.js';
import { RENEW_KEY } from './lease-file.js';
import type { WorkloadKind } from './workload-ref.js';

type Obj = Record<string, any>;

interface KindOps {
  create(body: Manifest): Promise<Obj>;
  remove(name: string, namespace: string): Promise<unknown>;
  /** Objects of this kind in `namespace` carrying the selector. */
  find(namespace: string, selector: string): Promise<Obj[]>;
}

/** The kinds a run is made of, in deletion order (the keeper Job, when there is one, is the root). */
const RUN_KINDS = ['DaemonSet', 'ServiceAccount', 'ConfigMap', 'Job'];

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class ClusterObjects {
  private readonly ops: Record<string, KindOps>;
  private readonly core: CoreV1Api;
  private readonly rbac: RbacAuthorizationV1Api;
  private readonly apps: AppsV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly batch: BatchV1Api;

  constructor(kc: KubeConfig) {
    const core = kc.makeApiClient(CoreV1Api);
    this.rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const batch = kc.makeApiClient(BatchV1Api);
    this.core = core;
    this.apps = apps;
    this.authz = kc.makeApiClient(AuthorizationV1Api);
    this.batch = batch;
    this.ops = {
      Namespace: {
        create: (body) => core.createNamespace({ body }),
        remove: (name) => core.deleteNamespace({ name }),
        find: async (namespace) => [await core.readNamespace({ name: namespace })],
      },
      ConfigMap: {
        create: (body) => core.createNamespacedConfigMap({ namespace: body.metadata.namespace, body }),
        remove: (name, namespace) => core.deleteNamespacedConfigMap({ name, namespace, propagationPolicy: 'Background' }),
        find: async (namespace, labelSelector) => (await core.listNamespacedConfigMap({ namespace, labelSelector })).items,
      },
      ServiceAccount: {
        create: (body) => core.createNamespacedServiceAccount({ namespace: body.metadata.namespace, body }),
        remove: (name, namespace) => core.deleteNamespacedServiceAccount({ name, namespace }),
        find: async (namespace, labelSelector) => (await core.listNamespacedServiceAccount({ namespace, labelSelector })).items,
      },
      DaemonSet: {
        create: (body) => apps.createNamespacedDaemonSet({ namespace: body.metadata.namespace, body }),
        remove: (name, namespace) => apps.deleteNamespacedDaemonSet({ name, namespace, propagationPolicy: 'Background' }),
        find: async (namespace, labelSelector) => (await apps.listNamespacedDaemonSet({ namespace, labelSelector })).items,
      },
      // The run's keeper. Background propagation, said explicitly: a batch/v1 Job deleted
      // without it orphans its pod (the API's default for Jobs, kept for old clients).
      Job: {
        create: (body) => batch.createNamespacedJob({ namespace: body.metadata.namespace, body }),
        remove: (name, namespace) => batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }),
        // A user who may not read Jobs has no keeper-rooted runs of their own: nothing to list.
        find: async (namespace, labelSelector) => {
          try {
            return (await batch.listNamespacedJob({ namespace, labelSelector })).items;
          } catch (err) {
            if ((err as { code?: number }).code === 403) return [];
            throw err;
          }
        },
      },
    };
  }

  /**
   * Whether this user may exec into pods in `namespace`, as the API server
   * would authorize it (SelfSubjectAccessReview, what `kubectl auth can-i`
   * asks): `create` on pods/exec (1.30 on, websocket upgrades) or `get`
   * (before). undefined when the review itself cannot be made.
   */
  async mayExec(namespace: string): Promise<boolean | undefined> {
    const may = async (verb: string) =>
      (await this.authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { namespace, verb, resource: 'pods', subresource: 'exec' } } } })).status?.allowed === true;
    try {
      return (await may('create')) || (await may('get'));
    } catch {
      return undefined;
    }
  }

  /** A workload (`deploy/NAME` …) in `namespace`; undefined when it does not exist (404). */
  async readWorkload(kind: WorkloadKind, name: string, namespace: string): Promise<Obj | undefined> {
    try {
      switch (kind) {
        case 'Deployment':
          return await this.apps.readNamespacedDeployment({ name, namespace });
        case 'StatefulSet':
          return await this.apps.readNamespacedStatefulSet({ name, namespace });
        case 'DaemonSet':
          return await this.apps.readNamespacedDaemonSet({ name, namespace });
        case 'ReplicaSet':
          return await this.apps.readNamespacedReplicaSet({ name, namespace });
        case 'Job':
          return await this.batch.readNamespacedJob({ name, namespace });
        case 'Pod':
          return await this.core.readNamespacedPod({ name, namespace });
      }
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  /** Whether a workload of that name exists in some namespace (`tap -A deploy/NAME`): one list, by field selector. */
  async workloadAnywhere(kind: WorkloadKind, name: string): Promise<boolean> {
    const q = { fieldSelector: `metadata.name=${name}`, limit: 1 };
    const lists: Record<WorkloadKind, () => Promise<{ items: unknown[] }>> = {
      Deployment: () => this.apps.listDeploymentForAllNamespaces(q),
      StatefulSet: () => this.apps.listStatefulSetForAllNamespaces(q),
      DaemonSet: () => this.apps.listDaemonSetForAllNamespaces(q),
      ReplicaSet: () => this.apps.listReplicaSetForAllNamespaces(q),
      Job: () => this.batch.listJobForAllNamespaces(q),
      Pod: () => this.core.listPodForAllNamespaces(q),
    };
    return (await lists[kind]()).items.length > 0;
  }

  /** The namespace as the API server has it; undefined when it does not exist. */
  async readNamespace(name: string): Promise<Obj | undefined> {
    try {
      return await this.core.readNamespace({ name });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  /** A node as the API server has it; undefined when it does not exist (a 403 throws: the caller decides). */
  async readNode(name: string): Promise<Obj | undefined> {
    try {
      return await this.core.readNode({ name });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  /**
   * Label an existing namespace Pod Security `privileged`; `before` (the label
   * it had, '' for none) is noted on it for restoreEnforce, unless a run noted it already.
   */
  async labelPrivileged(name: string, before?: string): Promise<void> {
    const body = { metadata: { labels: { [PSA_ENFORCE]: 'privileged' }, ...(before !== undefined ? { annotations: { [ENFORCE_BEFORE]: before } } : {}) } };
    await this.core.patchNamespace({ name, body }, MERGE_PATCH);
  }

  /** The enforce label back as it was (`before` undefined: removed), and the note gone. */
  async restoreEnforce(name: string, before: string | undefined): Promise<void> {
    const body = { metadata: { labels: { [PSA_ENFORCE]: before ?? null }, annotations: { [ENFORCE_BEFORE]: null } } };
    await this.core.patchNamespace({ name, body }, MERGE_PATCH);
  }

  /** Renew a run's lease: the root's renew time becomes now. */
  async renew(namespace: string, runId: string, now = new Date()): Promise<void> {
    // The annotation for `--clean`, the data key for the agents (the mounted ConfigMap: no API token).
    const body = { metadata: { annotations: { [RENEW_ANNOTATION]: now.toISOString() } }, data: { [RENEW_KEY]: now.toISOString() } };
    await this.core.patchNamespacedConfigMap({ name: runRootName(runId), namespace, body }, MERGE_PATCH);
  }

  async create(obj: Manifest): Promise<Obj> {
    return this.ops[obj.kind].create(obj);
  }

  /** Delete one object; "already gone" is success. */
  async remove(kind: string, name: string, namespace = ''): Promise<void> {
    try {
      await this.ops[kind].remove(name, namespace);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  /** The runs' lease ConfigMaps in a namespace (one per run, keeper-rooted or not): what `--clean` judges. */
  async runRoots(namespace: string): Promise<Obj[]> {
    return this.ops.ConfigMap.find(namespace, `${MANAGED_BY}=shark,${COMPONENT_LABEL}=run`);
  }

  /** Every shark object in the namespace (any run), workloads first. */
  async managed(namespace: string): Promise<{ kind: string; obj: Obj }[]> {
    const out: { kind: string; obj: Obj }[] = [];
    for (const kind of RUN_KINDS) {
      for (const obj of await this.ops[kind].find(namespace, `${MANAGED_BY}=shark`)) out.push({ kind, obj });
    }
    return out;
  }

  /**
   * ClusterRoles/ClusterRoleBindings labelled shark's (older versions gave the
   * agent one; this one needs none): deleted, bindings first. A user without
   * cluster-wide RBAC rights cannot see them: nothing to do then.
   */
  async legacyRbac(): Promise<string[]> {
    const done: string[] = [];
    const selector = `${MANAGED_BY}=shark`;
    try {
      for (const b of (await this.rbac.listClusterRoleBinding({ labelSelector: selector })).items) {
        await this.rbac.deleteClusterRoleBinding({ name: b.metadata!.name! });
        done.push(`ClusterRoleBinding/${b.metadata!.name}`);
      }
      for (const r of (await this.rbac.listClusterRole({ labelSelector: selector })).items) {
        await this.rbac.deleteClusterRole({ name: r.metadata!.name! });
        done.push(`ClusterRole/${r.metadata!.name}`);
      }
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== 403 && code !== 404) throw err;
    }
    return done;
  }

  /** Delete every object of one run: workloads, then the account, the lease, the keeper (root) last. */
  async removeRun(namespace: string, runId: string): Promise<string[]> {
    const done: string[] = [];
    for (const kind of RUN_KINDS) {
      for (const o of await this.ops[kind].find(namespace, `${MANAGED_BY}=shark,${RUN_LABEL}=${runId}`)) {
        await this.remove(kind, o.metadata.name, namespace);
        done.push(`${kind}/${namespace}/${o.metadata.name}`);
      }
    }
    return done;
  }
}
