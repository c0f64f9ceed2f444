// What `shark view` shows, without the screen: the calls read so far (a
// bounded window, in calls and in bytes: the oldest go first, counted), the filter typed in the
// filter box (compiled as the user types; an error keeps the last good one),
// per-protocol counts, and which call is selected. The terminal UI
// (app.ts) only draws this state and sends keys to it.

import type { Entry } from '../model/entry.js';
import { compileFilter } from '../filter/index.js';
import { FilterSyntaxError } from '../filter/errors.js';
import { evalCounts, type EvalCounts } from '../filter/eval-report.js';

export interface FilterState {
  /** The expression in effect ("" = everything). */
  text: string;
  predicate: ((e: Entry) => boolean) | undefined;
  /** Its counters of calls left out without a verdict (an evaluation error, the macros' step limit). */
  counts?: () => EvalCounts;
}

/** The window's bytes (entrySize): 20,000 calls of 8 MB bodies held 20,000 × 8 MB before. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
/** Protocols counted by name in the counter bar; calls of later ones are counted as `(other)` (an entry file may name a million). */
export const MAX_PROTOCOLS = 64;
const OTHER = '(other)';

export class EntryStore {
  private all: Entry[] = [];
  /** entrySize of each call in `all`, and their sum. */
  private sizes: number[] = [];
  private bytes = 0;
  /** Indexes into `all` of the calls the filter keeps. */
  private shown: number[] = [];
  private start = 0;
  /** Calls let go because the window was full. */
  dropped = 0;
  readonly counts = new Map<string, number>();
  filter: FilterState = { text: '', predicate: undefined };
  selected = 0;
  /** Follow mode: the selection stays on the newest call as calls arrive. */
  follow = true;

  constructor(
    private readonly capacity = 20_000,
    private readonly maxBytes = DEFAULT_MAX_BYTES,
  ) {}

  add(batch: Entry[]): void {
    for (const e of batch) {
      let protocol = typeof e.protocol === 'string' ? e.protocol : '?';
      if (!this.counts.has(protocol) && this.counts.size >= MAX_PROTOCOLS) protocol = OTHER;
      this.counts.set(protocol, (this.counts.get(protocol) ?? 0) + 1);
      this.all.push(e);
      const size = entrySize(e);
      this.sizes.push(size);
      this.bytes += size;
      if (this.matches(e)) this.shown.push(this.start + this.all.length - 1);
    }
    let excess = Math.max(0, this.all.length - this.capacity);
    let held = this.bytes;
    for (let i = 0; i < excess; i++) held -= this.sizes[i];
    // Past the bytes too the oldest go; the newest call stays whatever its size.
    while (held > this.maxBytes && excess < this.all.length - 1) held -= this.sizes[excess++];
    if (excess > 0) this.evict(excess);
    if (this.follow) this.selected = Math.max(0, this.shown.length - 1);
  }

  private evict(n: number): void {
    this.all.splice(0, n);
    for (const size of this.sizes.splice(0, n)) this.bytes -= size;
    this.dropped += n;
    this.start += n;
    const firstKept = this.start;
    let cut = 0;
    while (cut < this.shown.length && this.shown[cut] < firstKept) cut++;
    if (cut > 0) {
      this.shown.splice(0, cut);
      this.selected = Math.max(0, this.selected - cut);
    }
  }

  private matches(e: Entry): boolean {
    if (!this.filter.predicate) return true;
    try {
      return this.filter.predicate(e);
    } catch {
      return false;
    }
  }

  /** Compile and apply `text`. Returns the error (with its column) when it does not parse; the old filter then stays. */
  setFilter(text: string): { error?: string; column?: number } {
    const trimmed = text.trim();
    if (trimmed === '') {
      this.apply({ text: '', predicate: undefined });
      return {};
    }
    try {
      const f = compileFilter(trimmed);
      this.apply({ text: trimmed, predicate: f.predicate, counts: () => evalCounts(f) });
      return {};
    } catch (err) {
      if (err instanceof FilterSyntaxError) return { error: err.problem, column: err.column };
      return { error: (err as Error).message };
    }
  }

  private apply(filter: FilterState): void {
    const keep = this.selectedEntry();
    this.filter = filter;
    this.shown = [];
    this.all.forEach((e, i) => {
      if (this.matches(e)) this.shown.push(this.start + i);
    });
    // Stay on the same call when it still matches; otherwise on the newest (follow) or the first.
    const at = keep ? this.shown.findIndex((i) => this.all[i - this.start] === keep) : -1;
    this.selected = at >= 0 ? at : this.follow ? Math.max(0, this.shown.length - 1) : 0;
  }

  /**
   * Calls the filter in effect left out without a verdict, and why (the first evaluation error), or
   * undefined when none: the counter bar says so, as `filter` says it on stderr.
   */
  undecided(): { calls: number; why: string } | undefined {
    const c = this.filter.counts?.();
    if (!c || c.overLimit + c.errors === 0) return undefined;
    const why = c.errors > 0 ? (c.firstError ?? 'an evaluation error') : 'the macros step limit';
    return { calls: c.overLimit + c.errors, why };
  }

  get size(): number {
    return this.shown.length;
  }

  get total(): number {
    return this.all.length + this.dropped;
  }

  at(i: number): Entry | undefined {
    const idx = this.shown[i];
    return idx === undefined ? undefined : this.all[idx - this.start];
  }

  selectedEntry(): Entry | undefined {
    return this.at(this.selected);
  }

  /** Move the selection; moving away from the newest call leaves follow mode, reaching it again resumes it. */
  move(delta: number): void {
    if (this.shown.length === 0) return;
    this.selected = Math.min(this.shown.length - 1, Math.max(0, this.selected + delta));
    this.follow = this.selected === this.shown.length - 1;
  }

  toEnd(): void {
    this.selected = Math.max(0, this.shown.length - 1);
    this.follow = true;
  }

  toStart(): void {
    this.selected = 0;
    this.follow = this.shown.length <= 1;
  }
}

/** Bytes a call holds, roughly: its strings' characters and 32 a value (an entry is walked once, when it is added). */
export function entrySize(e: Entry): number {
  let bytes = 0;
  const stack: unknown[] = [e];
  while (stack.length > 0) {
    const v = stack.pop();
    bytes += 32;
    if (typeof v === 'string') bytes += v.length;
    else if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (v !== null && typeof v === 'object') {
      for (const k in v) {
        bytes += k.length;
        stack.push((v as Record<string, unknown>)[k]);
      }
    }
  }
  return bytes;
}
