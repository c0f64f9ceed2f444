// The cluster during a recording, for manifest.json: a snapshot when the
// recording starts, then every change to pods, services, endpoints and nodes
// appended (as the records they become in the snapshot) to
// `cluster-changes.ndjson` beside the recording's files, so a pod that
// started (or took a finished pod's IP) mid-recording is named too
// (`loadSnapshot` replays them). Following the cluster must never fail or
// stall the recording: any problem becomes a note, and the changes file is
// bounded (changes past the bound are counted as dropped).

import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
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

/** Beside the recording's files: one JSON line per cluster change. */
export const CLUSTER_CHANGES_FILE = 'cluster-changes.ndjson';
/** At most this many changes are kept per recording; the rest are counted as dropped. */
export const MAX_CLUSTER_CHANGES = 200_000;

export interface ClusterChangesSummary {
  file: string;
  changes: number;
  dropped: number;
  /** The API server was lost mid-recording: changes after that are missing. */
  error?: string;
}

export interface ClusterFollower {
  /** The snapshot at the start (or why there is none). */
  initial: Promise<ClusterContext>;
  /** Stop following; resolves once the changes file is closed. */
  stop(): Promise<ClusterChangesSummary | undefined>;
}

/**
 * Snapshot the cluster, then keep watching it and append each change to
 * `dir/cluster-changes.ndjson` as `{"t":ISO,"kind":"pods","type":"MODIFIED","object":PodInfo}`
 * (`object` null when a pod finished: it names nothing any more).
 */
export function followCluster(flags: KubeConfigFlags, dir: string, opts: { timeoutMs?: number; maxChanges?: number } = {}): ClusterFollower {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const max = opts.maxChanges ?? MAX_CLUSTER_CHANGES;
  let watch: ClusterWatch | undefined;
  let out: ReturnType<typeof createWriteStream> | undefined;
  let changes = 0;
  let dropped = 0;
  let lost: string | undefined;
  let stopped = false;
  const initial = (async (): Promise<ClusterContext> => {
    let timer: NodeJS.Timeout | undefined;
    const { apiErrorText, loadKubeConfig } = await import('../k8s/kubeconfig.js');
    const { ClusterWatch, WatchStartError } = await import('../k8s/watch-cache.js');
    const { endpointSliceInfo, nodeInfo, podInfo, serviceInfo } = await import('../k8s/objects.js');
    const asRecord = (kind: string, o: Record<string, any>): unknown =>
      kind === 'pods' ? (podInfo(o) ?? null) : kind === 'services' ? serviceInfo(o) : kind === 'nodes' ? nodeInfo(o) : (endpointSliceInfo(o) ?? null);
    try {
      const cfg = loadKubeConfig(flags);
      const w = new ClusterWatch(cfg.kc, {
        context: cfg.context,
        // A recording outlives short outages: keep retrying for minutes, then say changes stopped.
        giveUpMs: 5 * 60_000,
        onFatal: (e) => (lost = apiErrorText(e)),
        onEvent: (kind, type, o) => {
          if (stopped || !out) return;
          if (changes >= max) {
            dropped++;
            return;
          }
          changes++;
          const object = type === 'DELETED' ? { namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '' } : asRecord(kind, o);
          out.write(`${JSON.stringify({ t: new Date().toISOString(), kind, type, object })}\n`);
        },
      });
      watch = w;
      const started = w.start();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from ${cfg.server} within ${timeoutMs / 1000} s`)), timeoutMs);
      });
      await Promise.race([started, timeout]);
      if (!stopped) {
        out = createWriteStream(join(dir, CLUSTER_CHANGES_FILE));
        // A full disk here must not end the recording: the summary says the changes stopped.
        out.on('error', (e) => (lost ??= `cannot write ${CLUSTER_CHANGES_FILE}: ${e.message}`));
      }
      return { cluster: w.snapshot() };
    } catch (caught) {
      watch?.stop();
      watch = undefined;
      const scope = caught instanceof WatchStartError ? `${caught.message}: ` : '';
      const err = caught instanceof WatchStartError ? caught.error : caught;
      const httpFailure = typeof (err as { code?: unknown })?.code === 'number';
      const text = httpFailure ? apiErrorText(err) : String((err as Error)?.message ?? err).split('\n')[0];
      return { clusterError: scope + text };
    } finally {
      if (timer) clearTimeout(timer);
    }
  })();
  return {
    initial,
    async stop() {
      stopped = true;
      await initial;
      watch?.stop();
      if (!out) return undefined;
      const o = out;
      await new Promise<void>((r) => o.end(() => r()));
      return { file: CLUSTER_CHANGES_FILE, changes, dropped, ...(lost ? { error: lost } : {}) };
    },
  };
}
