// Which file a worker thread runs. The build bundles each worker's module
// graph into one file (scripts/bundle-workers.mjs): a worker starts by
// loading ~200 ESM modules otherwise, on every run, while the main thread is
// busy too (a bundled worker saved ~0.2 s of CPU on a `stats` run of the
// bench capture; docs/performance.md). Without the bundle (a build that
// skipped it), the module itself; run from the TypeScript sources (tests),
// the .ts file through tsx.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface WorkerEntry {
  url: URL;
  execArgv: string[];
}

/** `name` (e.g. './worker') next to the module at `base` (its import.meta.url). */
export function workerEntry(base: string, name: string): WorkerEntry {
  if (base.endsWith('.ts')) return { url: new URL(`${name}.ts`, base), execArgv: ['--import', 'tsx'] };
  const bundle = new URL(`${name}.bundle.js`, base);
  if (existsSync(fileURLToPath(bundle))) return { url: bundle, execArgv: [] };
  const js = new URL(`${name}.js`, base);
  if (existsSync(fileURLToPath(js))) return { url: js, execArgv: [] };
  return { url: new URL(`${name}.ts`, base), execArgv: ['--import', 'tsx'] };
}
