// Reading the inputs of `catalog`, `diff` and `export`: files of entries or
// captures, stdin, and `shark record` recording folders. A recording is read
// from its entry files when it has plain ones (else its packet files), and
// its saved Kubernetes snapshot (manifest.json `cluster`) names the
// endpoints, as `dissect --meta` does.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Entry } from '../model/entry.js';
import { ExitCode, UserError, type InputError } from '../cli/errors.js';
import { consumeEntries, type ConsumeOptions } from '../stats/consume.js';
import { checkInputs } from '../input/entries.js';
import { createEnricher, loadSnapshot } from '../k8s/enrich.js';
import type { ClusterSnapshot } from '../model/cluster.js';
import type { Manifest } from '../record/manifest.js';

export interface InputGroup {
  /** What the user named (for messages). */
  label: string;
  files: string[];
  snapshot?: ClusterSnapshot;
}

/** A recording folder's readable files and saved cluster, or the path as one input. */
export function resolveInput(path: string): InputGroup {
  if (path === '-') return { label: '<stdin>', files: ['-'] };
  let dir = false;
  try {
    dir = statSync(path).isDirectory();
  } catch {
    return { label: path, files: [path] }; // the reader reports a missing file
  }
  if (!dir) return { label: path, files: [path] };
  const manifestPath = join(path, 'manifest.json');
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  } catch {
    throw new UserError(`${path}: is a directory without a readable manifest.json (not a shark recording)`, ExitCode.USAGE);
  }
  const files = Array.isArray(manifest.files) ? manifest.files : [];
  // Plain entry files are dissected already; gzip ones (record --gzip) are not read here, their pcaps are.
  const entries = files.filter((f) => f.kind === 'entries' && !f.name.endsWith('.gz')).map((f) => join(path, f.name));
  const packets = files.filter((f) => f.kind === 'pcap' || f.kind === 'pcapng').map((f) => join(path, f.name));
  const chosen = entries.length ? entries : packets;
  if (chosen.length === 0) throw new UserError(`${path}: the recording lists no entry or packet files`, ExitCode.BAD_INPUT);
  return { label: path, files: chosen, snapshot: manifest.cluster ? loadSnapshot(manifestPath) : undefined };
}

export interface ReadResult {
  damage?: InputError;
  badLines: number;
  stopped: boolean;
}

/**
 * Every entry of the inputs (recordings expanded), enriched from a
 * recording's snapshot or `meta`, through `onBatch`. Entries arrive
 * redacted when `opts.redact` is given.
 */
export async function readInputs(
  inputs: string[],
  onBatch: (batch: Entry[]) => void | Promise<void>,
  opts: ConsumeOptions & { meta?: string },
): Promise<ReadResult> {
  const groups = (inputs.length ? inputs : ['-']).map(resolveInput);
  checkInputs(groups.flatMap((g) => g.files), opts.stdin);
  const metaSnapshot = opts.meta ? loadSnapshot(opts.meta) : undefined;
  // Entry ids unique across every group's files, as across one group's (EngineOptions.numbering).
  opts = { ...opts, dissect: { ...opts.dissect, numbering: { seq: 0 } } };
  let badLines = 0;
  for (const g of groups) {
    const snap = g.snapshot ?? metaSnapshot;
    const enrich = snap ? createEnricher(() => snap) : undefined;
    const r = await consumeEntries(
      g.files,
      (batch) => {
        // Projected entries may lack an endpoint object; enrichment needs both.
        if (enrich) for (const e of batch) if (e.src && e.dst) enrich(e);
        return onBatch(batch);
      },
      opts,
    );
    badLines += r.badLines;
    if (r.damage || r.stopped) return { damage: r.damage, badLines, stopped: r.stopped };
  }
  return { badLines, stopped: false };
}
