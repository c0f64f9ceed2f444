// V8 heap settings shark runs with (set by bin/run.js at start-up, before any
// bulk allocation). shark streams: lots of short-lived garbage around a small
// working set.
//
// - `--heap-growing-percent=50`: V8's default old-generation growth (up to 4×
//   the live data after each full collection, from a large first limit) let
//   `dissect` peak at ~210 MB for a ~30 MB working set; growing by half keeps
//   it near 145 MB at no measurable cost in GC pauses (docs/performance.md).
// - `--semi-space-growth-factor=1`: V8 doubles each semi-space (up to 16 MB)
//   when much survives a scavenge, which a flood of flows or entries held for
//   ordering does; 2 × 16 MB of young space plus what it promotes was ~60 MB
//   of the 215 MB a 200k SYN flood peaked at. Kept at its first size it is
//   155 MB (300k DNS queries: 223 → 165 MB; clean captures 139 → 99 MB) for
//   ~10% more CPU on clean captures (more, cheaper scavenges; docs/security.md).
//
// Both flags are read at each collection, so setting them at run time works.
// But starting a worker thread undoes the young generation's (measured on
// Node 20: once a `new Worker(…)` is online, the main thread's young
// generation grows to 2 × 16 MB again, and so does each worker's: 337 MB peak
// for `dissect --workers 2`); the regular-expression flags of
// linear-regex.ts were measured to survive it. So `--workers N` applies its
// own (POOL_HEAP_FLAGS) once each worker is online, and these again when its
// pool closes (pool.ts); live workers apply these (tap/live-workers.ts).

import { setFlagsFromString } from 'node:v8';

export const HEAP_FLAGS = ['--heap-growing-percent=50', '--semi-space-growth-factor=1'] as const;

/**
 * While a file's workers run (dissect/parallel/pool.ts), V8's own
 * old-generation growth again. The main thread there only routes packets
 * and orders lines; its old generation is ~11 MB, and growing it by half
 * meant a full collection every few MB promoted: 33 of them (220 ms, and as
 * much again on V8's helper threads) in a `dissect --workers 2` run of the
 * bench capture, against 16 with V8's growth. On 2 cores those are wall
 * time: 2.90–3.17 s against 3.19–3.31 s, for 210–217 MB peak against
 * 191–199 MB (the goal is 256 MB). The young generation stays small, as it
 * is what a flood fills (docs/performance.md, round 16).
 */
export const POOL_HEAP_FLAGS = ['--heap-growing-percent=0', '--semi-space-growth-factor=1'] as const;

export function applyHeapFlags(flags: readonly string[] = HEAP_FLAGS): void {
  for (const flag of flags) setFlagsFromString(flag);
}
