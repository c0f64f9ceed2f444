// Bundles each worker thread's module graph into one file next to it
// (dist/dissect/parallel/worker.bundle.js, dist/tap/live-worker.bundle.js),
// which src/dissect/parallel/worker-entry.ts prefers: a worker otherwise
// loads ~200 ESM modules at every start. Packages stay external (resolved
// from node_modules as before). Run after tsc: `npm run build` does.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
for (const entry of ['dist/dissect/parallel/worker.js', 'dist/tap/live-worker.js']) {
  await build({
    entryPoints: [root + entry],
    outfile: root + entry.replace(/\.js$/, '.bundle.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
}
