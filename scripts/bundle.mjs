// After tsc, for speed (why: src/dissect/parallel/worker-entry.ts):
//  - each worker thread's module graph is bundled into one file beside it
//    (*.bundle.js, which worker-entry.ts prefers);
//  - each command module oclif loads (dist/commands/*.js), and the plain
//    `shark merge` bin/run.js runs without oclif, is replaced by a bundle of
//    itself and every shark module it imports.
// Packages stay external, loaded from node_modules as before.
//
// A command is left as tsc wrote it when its bundle would load a heavy
// package at start: a module it imports lazily (`await import(…)`: the
// Kubernetes client, the terminal UI) is inlined, and the packages it needs
// are hoisted to the bundle's top (`dissect` started 0.35 s slower). Shared
// chunks (esbuild's splitting) keep them lazy but lost the speed.
import { build } from 'esbuild';
import { readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
/** Packages a command loads only when a feature needs them. */
const LAZY_PACKAGES = ['@kubernetes/client-node', 'ink', 'react', 'ora'];
// Source maps follow tsc's back to src/.
const options = { bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', sourcemap: 'linked', logLevel: 'warning' };

for (const worker of ['dissect/parallel/worker', 'tap/live-worker']) {
  await build({ ...options, entryPoints: [`${dist}${worker}.js`], outfile: `${dist}${worker}.bundle.js` });
}

const entries = [...readdirSync(dist + 'commands').filter((f) => f.endsWith('.js')).map((f) => `commands/${f}`), 'cli/fast-merge.js'];
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
console.log(`bundled: 2 workers, ${bundled.join(' ')}; left as modules: ${kept.join(', ')}`);
