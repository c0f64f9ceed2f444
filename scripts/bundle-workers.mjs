// Bundles each worker thread's module graph into one file next to it
// (dist/dissect/parallel/worker.bundle.js, dist/tap/live-worker.bundle.js),
// which src/dissect/parallel/worker-entry.ts prefers (why: there). Packages
// stay external (resolved from node_modules as before). Run after tsc:
// `npm run build` does.
//
// Only the workers: a command bundled in one file hoists the packages its
// lazily imported modules need (the Kubernetes client, the terminal UI) to
// its top, loaded on every run (`dissect` started 0.35 s slower); split into
// shared chunks, the bundles lost the speed the workers' bundles gain.
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
