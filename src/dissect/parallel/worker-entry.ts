// Which file a worker thread runs. The build bundles each worker's module
// graph into one file (scripts/bundle.mjs). A worker otherwise loads ~200
// ESM modules at every start, while the main thread is busy too; and in one
// file the modules' top-level `const`s become `var`s, which V8 need not check
// for their temporal dead zone at every use from a function. Together ~0.2 s
// of CPU less on a `stats` run of the bench capture (docs/performance.md,
// round 15). Without the bundle, or with one older than the module (a `tsc`
// run alone since the last build: it would run old code), the module itself;
// run from the TypeScript sources (tests), the .ts file through tsx. Found
// from the package's root, not from the caller's place: the code calling
// this may itself be bundled into a command (scripts/bundle.mjs).

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fromSources, packageRoot } from '../../cli/package-root.js';

export interface WorkerEntry {
  url: URL;
  execArgv: string[];
}

/** The worker module `name`: its path under src/ or dist/, without extension (e.g. 'dissect/parallel/worker'). */
export function workerEntry(name: string, root = packageRoot(), sources = fromSources()): WorkerEntry {
  if (sources) return { url: pathToFileURL(join(root, 'src', `${name}.ts`)), execArgv: ['--import', 'tsx'] };
  const js = join(root, 'dist', `${name}.js`);
  const bundle = join(root, 'dist', `${name}.bundle.js`);
  return { url: pathToFileURL(existsSync(bundle) && mtime(bundle) >= mtime(js) ? bundle : js), execArgv: [] };
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}
