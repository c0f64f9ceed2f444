// What `shark dissect` calls for --meta FILE (a saved snapshot) and --kube
// (list once, then watch): an enrich function plus a close.

import type { Entry } from '../model/entry.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { createEnricher, loadSnapshot } from './enrich.js';
import { apiUnreachable, loadKubeConfig } from './kubeconfig.js';
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

export async function makeEnrichment(flags: EnrichmentFlags): Promise<Enrichment | undefined> {
  if (flags.kube && flags.meta) throw new UserError('--kube and --meta cannot be used together', ExitCode.USAGE);
  if (flags.meta) {
    const snap = loadSnapshot(flags.meta);
    return { enrich: createEnricher(() => snap), close: async () => {} };
  }
  if (!flags.kube) return undefined;
  const cfg = loadKubeConfig(flags);
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
  return {
    enrich: createEnricher(() => watch.snapshot()),
    close: async () => watch.stop(),
  };
}
