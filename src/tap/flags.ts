// The flags `shark tap` parsed, as its three modes (local-command.ts,
// cluster-command.ts, tls-command.ts) read them: the command's own flag
// table is the one list, so a flag added there is typed here too.
import type { Interfaces } from '@oclif/core';
import type Tap from '../commands/tap.js';

export type TapFlags = Interfaces.InferredFlags<(typeof Tap)['flags']>;

/**
 * The first flag on the command line that only a cluster tap reads (its description starts `cluster:`),
 * as `--agent-memory`; undefined when none. A local run would ignore it in silence, so `tap -i eth0
 * --agent-memory 1Gi` is a usage error instead. Read from the tokens typed, not the parsed values: a
 * default or an environment variable (SHARK_AGENT_IMAGE) is no choice of this run's.
 */
export function clusterOnlyFlagGiven(raw: readonly { type: string; flag?: string }[], defs: Record<string, { description?: string }>): string | undefined {
  for (const token of raw) {
    if (token.type !== 'flag' || token.flag === undefined) continue;
    if (defs[token.flag]?.description?.startsWith('cluster:')) return `--${token.flag}`;
  }
  return undefined;
}
