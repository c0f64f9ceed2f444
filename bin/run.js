#!/usr/bin/env node
// Entry point: hand argv to oclif; failures are mapped to exit codes by the commands themselves.
import { setFlagsFromString } from 'node:v8';

// shark streams: lots of short-lived garbage around a small working set. V8's
// default heap growth (up to 4× the live data after each full collection, from
// a large first limit) let `dissect` peak at ~210 MB for a ~30 MB working set;
// growing the old generation by half instead keeps it near 145 MB at no
// measurable cost in GC pauses (docs/performance.md). The flag is read at each
// collection, so setting it here, before any bulk allocation, is enough.
setFlagsFromString('--heap-growing-percent=50');
// The young generation likewise: V8 doubles each semi-space (up to 16 MB) when
// much survives a scavenge, which a flood of flows or entries held for
// ordering does; 2 × 16 MB of young space plus what it promotes was ~60 MB of
// the 215 MB a 200k SYN flood peaked at. Kept at its first size it is 155 MB
// (300k DNS queries: 223 → 165 MB; clean captures 139 → 99 MB) for ~10% more
// CPU on clean captures (more, cheaper scavenges; docs/security.md).
setFlagsFromString('--semi-space-growth-factor=1');
// A plain `shark merge FILE…` starts without oclif (see src/cli/fast-merge.ts); it returns only
// when it leaves the arguments to oclif.
if (process.argv[2] === 'merge') {
  const { fastMerge } = await import('../dist/cli/fast-merge.js');
  await fastMerge(process.argv.slice(3));
}
// oclif checks the Node version against its own "engines" on every start, loading
// semver (~50 modules, ~30 ms); shark's package.json already requires Node >= 20.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
