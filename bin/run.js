#!/usr/bin/env node
// Entry point: hand argv to oclif; failures are mapped to exit codes by the commands themselves,
// and those before a command runs by src/cli/main.ts.
// V8's heap settings (src/cli/heap-flags.ts says which and why), before any bulk allocation.
import { applyHeapFlags } from '../dist/cli/heap-flags.js';

applyHeapFlags();
// A plain `shark merge FILE…` starts without oclif (see src/cli/fast-merge.ts); it returns only
// when it leaves the arguments to oclif.
if (process.argv[2] === 'merge') {
  const { fastMerge } = await import('../dist/cli/fast-merge.js');
  await fastMerge(process.argv.slice(3));
}
// oclif checks the Node version against its own "engines" on every start, loading
// semver (~50 modules, ~30 ms); shark's package.json already requires Node >= 20.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
// oclif runs the command; what fails before one runs is reported as the commands report theirs (src/cli/main.ts).
const { main } = await import('../dist/cli/main.js');
await main(process.argv.slice(2), import.meta.url);
