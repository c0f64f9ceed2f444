// What `shark dissect` calls for --meta FILE (a saved snapshot) and --kube
// (list once, then watch): an enrich function plus a close.

import type { Entry } from '../model/entry.js';
import type { ClusterSnapshot } from '../model/cluster.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { createEnricher, loadSnapshot } from './enrich.js';
import { apiUnreachable, loadKubeConfig } from './kubeconfig.js';
import { applyApiTimeouts } from './api-timeouts.js';
import { ClusterWatch, WatchStartError } from './watch-cache.js';

export interface EnrichmentFlags {
  kube?: boolean;
  meta?: string;
  context?: string;
  kubeconfig?: string;
}

export interface Enrichment {
  enrich(e: Entry): void;
  close(): Promise<void>;
}

/**
 * The names as one snapshot, for `dissect --workers` (each worker enriches
 * from it): the saved file for --meta; for --kube, the cluster listed once
 * (a capture file is named by today's cluster either way).
 */
export async function enrichmentSnapshot(flags: EnrichmentFlags): Promise<ClusterSnapshot | undefined> {
  if (flags.kube && flags.meta) throw new UserError('--kube and --meta cannot be used together', ExitCode.USAGE);
  if (flags.meta) return loadSnapshot(flags.meta);
  if (!flags.kube) return undefined;
  const enrichment = await startWatch(flags);
  try {
    return enrichment.watch.snapshot();
  } finally {
    enrichment.watch.stop();
  }
}

export async function makeEnrichment(flags: EnrichmentFlags): Promise<Enrichment | undefined> {
  if (flags.kube && flags.meta) throw new UserError('--kube and --meta cannot be used together', ExitCode.USAGE);
  if (flags.meta) {
    const snap = loadSnapshot(flags.meta);
    return { enrich: createEnricher(() => snap), close: async () => {} };
  }
  if (!flags.kube) return undefined;
  const { watch } = await startWatch(flags);
  return {
    enrich: createEnricher(() => watch.snapshot()),
    close: async () => watch.stop(),
  };
}

/** List the cluster and keep watching it (names for --kube). */
async function startWatch(flags: EnrichmentFlags): Promise<{ watch: ClusterWatch }> {
  const cfg = loadKubeConfig(flags);
  // A silent API server (a dead load balancer) ends the start with one line, as in `tap`.
  applyApiTimeouts(cfg.kc);
  const watch = new ClusterWatch(cfg.kc, {
    context: cfg.context,
    onFatal: (err) => {
      process.stderr.write(`shark: ${apiUnreachable(cfg.server, err, 'watch lost').message} (names no longer updated)\n`);
    },
  });
  try {
    await watch.start();
  } catch (err) {
    watch.stop();
    throw apiUnreachable(cfg.server, err instanceof WatchStartError ? err.error : err, 'cannot list cluster objects');
  }
  return { watch };
}
