// What `shark view` shows, without the screen: the calls read so far (a
// bounded window: the oldest go first, counted), the filter typed in the
// filter box (compiled as the user types; an error keeps the last good one),
// per-protocol counts, and which call is selected. The terminal UI
// (app.ts) only draws this state and sends keys to it.

import type { Entry } from '../model/entry.js';
import { compileFilter } from '../filter/index.js';
import { FilterSyntaxError } from '../filter/errors.js';

export interface FilterState {
  /** The expression in effect ("" = everything). */
  text: string;
  predicate: ((e: Entry) => boolean) | undefined;
}

export class EntryStore {
  private all: Entry[] = [];
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

  constructor(private readonly capacity = 20_000) {}

  add(batch: Entry[]): void {
    for (const e of batch) {
      const protocol = typeof e.protocol === 'string' ? e.protocol : '?';
      this.counts.set(protocol, (this.counts.get(protocol) ?? 0) + 1);
      this.all.push(e);
      if (this.matches(e)) this.shown.push(this.start + this.all.length - 1);
    }
    const excess = this.all.length - this.capacity;
    if (excess > 0) this.evict(excess);
    if (this.follow) this.selected = Math.max(0, this.shown.length - 1);
  }

  private evict(n: number): void {
    this.all.splice(0, n);
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
      this.apply({ text: trimmed, predicate: f.predicate });
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
