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

import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

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

/**
 * Semi-space (MB) for a main thread that dissects or reads entries in bulk.
 * The 1 MB V8 starts with (kept by `--semi-space-growth-factor=1`) scavenges
 * so often that a call's objects, alive from request to response, are copied
 * and promoted before they die. One thread, bench capture (3 alternating
 * runs): `dissect` 3.88–4.09 s → 3.31–3.61 s; `map` and `filter` of its
 * NDJSON 5–12 % quicker; floods 2–20 % quicker. Peak RSS +5–19 MB (the 1M
 * SYN flood 143 → 162 MB, under its 200 MB target). 4 MB gained nothing; with
 * workers the main thread only routes and gains nothing either
 * (docs/performance.md, round 18).
 */
//
// What this reaches is 4 MB semi-spaces: `space_size` (newSpaceBytes) counts
// both semi-spaces once grown, so 8 here stops at 4 MB allocated between
// scavenges (--trace-gc-nvp's `allocated`). Truly 8 and 16 MB (the capacity,
// used + available, checked instead) were measured in round 31: no less CPU
// on the bench capture (medians 5.51, 5.59, 5.68 s), 0 and +19 MB peak RSS.
const BULK_SEMI_SPACE_MB = 8;
/** What growing may keep alive at most (MB): the bound if V8 will not grow (a user's --max-semi-space-size). */
const GROW_LIVE_LIMIT_MB = 24;
let grown = false;

/**
 * Grows this thread's young generation to BULK_SEMI_SPACE_MB, once. V8 reads
 * its size flags only when an isolate is made, and the main one is made
 * before any of shark runs; but V8 doubles a semi-space whenever most of what
 * a scavenge sees survives. So a few MB kept alive for a moment, while growth
 * is allowed, grow it, and `--semi-space-growth-factor=1` keeps it there.
 * It takes about 7 ms, so callers do it only once a run has shown it is long
 * (thousands of packets or entries). Worker threads are sized when they are
 * made (parallel/pool.ts).
 */
export function growYoungGeneration(): void {
  if (grown || !isMainThread) return;
  grown = true;
  const target = BULK_SEMI_SPACE_MB * 1024 * 1024;
  const chunk = 2048; // small integers: 16 KB an array
  const maxChunks = (GROW_LIVE_LIMIT_MB * 1024 * 1024) / (chunk * 8);
  setFlagsFromString('--semi-space-growth-factor=2');
  try {
    const live: number[][] = [];
    for (let i = 0; i < maxChunks; i++) {
      if (i % 32 === 0 && newSpaceBytes() >= target) break;
      live.push(new Array<number>(chunk).fill(0));
    }
    live.length = 0;
  } finally {
    setFlagsFromString('--semi-space-growth-factor=1');
  }
}

function newSpaceBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? Infinity;
}
