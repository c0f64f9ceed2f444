// After tsc, for speed (why: src/dissect/parallel/worker-entry.ts):
//  - each worker thread's module graph (and the JSONata child process's) is
//    bundled into one file beside it (*.bundle.js, which worker-entry.ts prefers);
//  - the command modules measured faster bundled (BUNDLED_COMMANDS) are
//    replaced by a bundle of themselves and every shark module they import.
// Packages stay external, loaded from node_modules as before.
//
// Which commands, measured (docs/performance.md, round 15, alternating runs):
// `stats` 6 % faster with 2 workers, `map`, `catalog` and `diff` 5-6 %.
// `filter` on NDJSON was 12 % *slower* bundled, `merge` and `export` the
// same: left as tsc wrote them. A command is never bundled when its bundle
// would load a lazily imported package at start (a module it imports with
// `await import(…)` is inlined, and the packages it needs are hoisted to the
// bundle's top: `dissect` started 0.35 s slower with the Kubernetes client).
// Shared chunks (esbuild's splitting) kept those lazy but lost the speed.
import { build } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
/** Packages a command loads only when a feature needs them. */
const LAZY_PACKAGES = ['@kubernetes/client-node', 'ink', 'react', 'ora'];
// Source maps follow tsc's back to src/.
const options = { bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', sourcemap: 'linked', logLevel: 'warning' };

for (const worker of ['dissect/parallel/worker', 'tap/live-worker', 'filter/jsonata-child']) {
  await build({ ...options, entryPoints: [`${dist}${worker}.js`], outfile: `${dist}${worker}.bundle.js` });
}

const BUNDLED_COMMANDS = ['stats', 'map', 'catalog', 'diff'];
// `shark merge FILE…` without oclif (bin/run.js): one file to open rather than ~60. The ESM loader
// reads a module's imports all at once, and a merge run with a low `ulimit -n` (the inputs are held
// open) ran out of descriptors loading its own modules once the graph grew (no speed change).
const entries = [...BUNDLED_COMMANDS.map((c) => `commands/${c}.js`), 'cli/fast-merge.js'];
const bundled = [];
const kept = [];
for (const entry of entries) {
  const path = dist + entry;
  const out = await build({ ...options, entryPoints: [path], outfile: path, write: false, allowOverwrite: true });
  const js = out.outputFiles.find((f) => f.path === path);
  const text = js.text;
  const hoisted = LAZY_PACKAGES.filter((p) => new RegExp(`^import [^;]*from "${p}"`, 'm').test(text));
  if (hoisted.length > 0) {
    kept.push(`${entry} (${hoisted.join(', ')})`);
    continue;
  }
  for (const f of out.outputFiles) writeFileSync(f.path, f.contents);
  bundled.push(entry);
}
if (kept.length > 0) console.error(`bundle: not bundled, a lazily imported package would load at start: ${kept.join(', ')}`);
console.log(`bundled: 3 worker entries, ${bundled.join(' ')}`);
