// Which file a worker thread runs. The build bundles each worker's module
// graph into one file (scripts/bundle-workers.mjs). A worker otherwise loads
// ~200 ESM modules at every start, while the main thread is busy too; and in
// one file the modules' top-level `const`s become `var`s, which V8 need not
// check for their temporal dead zone at every use from a function. Together
// ~0.2 s of CPU less on a `stats` run of the bench capture
// (docs/performance.md, round 15). Without the bundle (a build that skipped
// it), the module itself; run from the TypeScript sources (tests), the .ts
// file through tsx.

import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface WorkerEntry {
  url: URL;
  execArgv: string[];
}

/** `name` (e.g. './worker') next to the module at `base` (its import.meta.url). */
export function workerEntry(base: string, name: string): WorkerEntry {
  if (base.endsWith('.ts')) return { url: new URL(`${name}.ts`, base), execArgv: ['--import', 'tsx'] };
  const bundle = new URL(`${name}.bundle.js`, base);
  const js = new URL(`${name}.js`, base);
  // Not a bundle older than the module (a `tsc` run alone since the last build): it would run old code.
  if (existsSync(fileURLToPath(bundle)) && mtime(bundle) >= mtime(js)) return { url: bundle, execArgv: [] };
  if (existsSync(fileURLToPath(js))) return { url: js, execArgv: [] };
  return { url: new URL(`${name}.ts`, base), execArgv: ['--import', 'tsx'] };
}

function mtime(url: URL): number {
  try {
    return statSync(url).mtimeMs;
  } catch {
    return 0;
  }
}
