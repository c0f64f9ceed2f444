// The cluster as it was when a recording started, for manifest.json. Taking it
// must never fail or stall the recording: any problem becomes a note.

import type { ClusterSnapshot } from '../model/cluster.js';
import type { KubeConfigFlags } from '../k8s/kubeconfig.js';
import type { ClusterWatch } from '../k8s/watch-cache.js';

export type ClusterContext = { cluster: ClusterSnapshot } | { clusterError: string };

export async function takeClusterSnapshot(flags: KubeConfigFlags, timeoutMs = 10_000): Promise<ClusterContext> {
  let watch: ClusterWatch | undefined;
  let timer: NodeJS.Timeout | undefined;
  // Loaded here, not at the top: the Kubernetes client costs ~1 s of start-up
  // that a recording without a cluster should not pay.
  const { apiErrorText, loadKubeConfig } = await import('../k8s/kubeconfig.js');
  const { ClusterWatch, WatchStartError } = await import('../k8s/watch-cache.js');
  try {
    const cfg = loadKubeConfig(flags);
    watch = new ClusterWatch(cfg.kc, { context: cfg.context, giveUpMs: Math.min(timeoutMs, 4000), onFatal: () => {} });
    const started = watch.start();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from ${cfg.server} within ${timeoutMs / 1000} s`)), timeoutMs);
    });
    await Promise.race([started, timeout]);
    return { cluster: watch.snapshot() };
  } catch (caught) {
    // A list that failed says which (`cannot list pods …`) and why (its cause).
    const scope = caught instanceof WatchStartError ? `${caught.message}: ` : '';
    const err = caught instanceof WatchStartError ? caught.error : caught;
    // HTTP failures carry a numeric code and a Status body; the rest say enough in their message.
    const httpFailure = typeof (err as { code?: unknown })?.code === 'number';
    const text = httpFailure ? apiErrorText(err) : String((err as Error)?.message ?? err).split('\n')[0];
    return { clusterError: scope + text };
  } finally {
    if (timer) clearTimeout(timer);
    watch?.stop();
  }
}
