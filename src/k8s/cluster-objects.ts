// Creating and deleting the agent's objects through the typed API clients,
// and `tap --clean`: find everything labelled managed-by=shark and delete it.

import { AppsV1Api, CoreV1Api, RbacAuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { MANAGED_SELECTOR, type Manifest } from './agent-manifests.js';

type Obj = Record<string, any>;

interface KindOps {
  create(body: Manifest): Promise<unknown>;
  remove(name: string, namespace: string): Promise<unknown>;
  /** Every object of this kind carrying the selector, in all namespaces. */
  find(selector: string): Promise<Obj[]>;
}

export class ClusterObjects {
  private readonly ops: Record<string, KindOps>;

  constructor(kc: KubeConfig) {
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    this.ops = {
      Namespace: {
        create: (body) => core.createNamespace({ body }),
        remove: (name) => core.deleteNamespace({ name }),
        find: async (labelSelector) => (await core.listNamespace({ labelSelector })).items,
      },
      ServiceAccount: {
        create: (body) => core.createNamespacedServiceAccount({ namespace: body.metadata.namespace, body }),
        remove: (name, namespace) => core.deleteNamespacedServiceAccount({ name, namespace }),
        find: async (labelSelector) => (await core.listServiceAccountForAllNamespaces({ labelSelector })).items,
      },
      ClusterRole: {
        create: (body) => rbac.createClusterRole({ body }),
        remove: (name) => rbac.deleteClusterRole({ name }),
        find: async (labelSelector) => (await rbac.listClusterRole({ labelSelector })).items,
      },
      ClusterRoleBinding: {
        create: (body) => rbac.createClusterRoleBinding({ body: body as { roleRef: never } }),
        remove: (name) => rbac.deleteClusterRoleBinding({ name }),
        find: async (labelSelector) => (await rbac.listClusterRoleBinding({ labelSelector })).items,
      },
      DaemonSet: {
        create: (body) => apps.createNamespacedDaemonSet({ namespace: body.metadata.namespace, body }),
        remove: (name, namespace) => apps.deleteNamespacedDaemonSet({ name, namespace, propagationPolicy: 'Background' }),
        find: async (labelSelector) => (await apps.listDaemonSetForAllNamespaces({ labelSelector })).items,
      },
    };
    this.core = core;
  }
  private readonly core: CoreV1Api;

  async namespaceExists(name: string): Promise<boolean> {
    try {
      await this.core.readNamespace({ name });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return false;
      throw err;
    }
  }

  async create(obj: Manifest): Promise<void> {
    await this.ops[obj.kind].create(obj);
  }

  /** Delete one object; "already gone" is success. */
  async remove(kind: string, name: string, namespace = ''): Promise<void> {
    try {
      await this.ops[kind].remove(name, namespace);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  /**
   * Delete every object matching the selector: workloads first, then RBAC and
   * accounts, namespaces last. Returns "Kind/namespace/name" of what was deleted.
   */
  async removeAll(selector = MANAGED_SELECTOR): Promise<string[]> {
    const done: string[] = [];
    for (const kind of ['DaemonSet', 'ClusterRoleBinding', 'ClusterRole', 'ServiceAccount', 'Namespace']) {
      for (const o of await this.ops[kind].find(selector)) {
        const ns = o.metadata?.namespace ?? '';
        await this.remove(kind, o.metadata.name, ns);
        done.push(`${kind}/${ns ? `${ns}/` : ''}${o.metadata.name}`);
      }
    }
    return done;
  }
}
