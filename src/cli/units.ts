// Human units on the command line: sizes (16KB, 100MB, 5GB) and durations
// (500ms, 10s, 5m, 2h, 7d). Bad values are usage errors naming the flag.
// Sizes shark prints use the same units: KB = 1024 bytes, in flags, tables,
// map labels and summaries alike (one output never mixes kB and KB).
import { UserError } from './errors.js';

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4 };
const TIME_UNITS: Record<string, number> = { ms: 1, s: 1000, '': 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseSize(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UserError(`${flag}: '${text}' is not a size (use e.g. 512, 16KB, 100MB, 5GB)`);
  return Math.floor(Number(m[1]) * unit);
}

export function parseDuration(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? TIME_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UserError(`${flag}: '${text}' is not a duration (use e.g. 500ms, 10s, 5m, 2h, 7d)`);
  return Math.round(Number(m[1]) * unit);
}

const SIZE_NAMES = ['KB', 'MB', 'GB', 'TB', 'PB'];

/** 1536 → "1.5 KB", 5_000_000 → "4.8 MB": the units parseSize reads (powers of 1024), 2–3 significant digits. */
export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  let v = n;
  let i = -1;
  while (v >= 1024 && i < SIZE_NAMES.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${SIZE_NAMES[i]}`;
}
