// The values a completion script asks shark for while the user presses Tab
// (`shark autocomplete --values KIND`): protocols and formats from shark
// itself, namespaces and pod names (and deploy/NAME) from the current cluster — the way
// kubectl's `__complete` works. Cluster lookups are bounded by a short
// timeout and fail silently: a Tab must never hang or print an error.

import { knownProtocols } from '../../dissect/registry.js';
import { OUTPUT_FORMATS } from '../../output/formats/entry-format.js';

export const VALUE_KINDS = ['protocols', 'outputs', 'namespaces', 'pods'] as const;
export type ValueKind = (typeof VALUE_KINDS)[number];

export interface ValueOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  timeoutMs?: number;
}

export async function completionValues(kind: ValueKind, o: ValueOptions = {}): Promise<string[]> {
  switch (kind) {
    case 'protocols':
      return knownProtocols();
    case 'outputs':
      return [...OUTPUT_FORMATS];
    case 'namespaces':
    case 'pods':
      return clusterNames(kind, o).catch((err: unknown) => {
        // A Tab must not print errors; DEBUG=shark shows why nothing was offered.
        if (process.env.DEBUG) process.stderr.write(`autocomplete: ${(err as Error).message}\n`);
        return [];
      });
  }
}

async function clusterNames(kind: 'namespaces' | 'pods', o: ValueOptions): Promise<string[]> {
  const { loadKubeConfig } = await import('../../k8s/kubeconfig.js');
  const { CoreV1Api } = await import('@kubernetes/client-node');
  const loaded = loadKubeConfig({ kubeconfig: o.kubeconfig, context: o.context });
  const api = loaded.kc.makeApiClient(CoreV1Api);
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), o.timeoutMs ?? 2000).unref());
  if (kind === 'namespaces') {
    const list = await Promise.race([api.listNamespace({ limit: 500 }), timeout]);
    return list.items.map((n) => n.metadata?.name ?? '').filter(Boolean).sort();
  }
  const namespace = o.namespace ?? loaded.namespace;
  // `tap` also takes kubectl's deploy/NAME: the namespace's Deployments are offered so (none when they may not be listed).
  const { AppsV1Api } = await import('@kubernetes/client-node');
  const deployments = loaded.kc
    .makeApiClient(AppsV1Api)
    .listNamespacedDeployment({ namespace, limit: 500 })
    .then((l) => l.items.map((d) => `deploy/${d.metadata?.name ?? ''}`).filter((n) => n !== 'deploy/'), () => [] as string[]);
  const [list, deploys] = await Promise.race([Promise.all([api.listNamespacedPod({ namespace, limit: 500 }), deployments]), timeout]);
  return [...list.items.map((p) => p.metadata?.name ?? '').filter(Boolean), ...deploys].sort();
}
