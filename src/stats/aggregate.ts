// Streams entries into per-group counters. Memory depends on the number of
// groups (capped: past MAX_GROUPS new keys fold into "(other)") and on the
// latency sketches (bounded), never on the number of entries.

import { callLatency, type Entry } from '../model/entry.js';
import { LatencySketch } from './latency-sketch.js';
import { NAME_FIELDS, NameBook } from './names.js';
import { groupFields, groupKey, resolveKey, type KeyOf } from './group-by.js';
import { mergeSpecs, type FieldSpec } from '../ndjson/project.js';

export const MAX_GROUPS = 10_000;
export const OTHER_GROUP = '(other)';

/** The entry fields GroupStats.add reads (of `request` and `response` only whether they are there: empty specs). */
const GROUP_STATS_FIELDS: FieldSpec = { error: true, requestSize: true, responseSize: true, request: {}, response: {}, elapsedTime: true };

/** Every entry field a StatsAggregator grouping by `by` reads; undefined when that cannot be bounded (JSONata). */
export function statsFields(by: string): FieldSpec | undefined {
  const group = groupFields(by);
  return group && mergeSpecs(NAME_FIELDS, GROUP_STATS_FIELDS, { timestamp: true }, group);
}

export class GroupStats {
  entries = 0;
  errors = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly latency = new LatencySketch();

  add(e: Entry): void {
    this.entries++;
    if (e.error) this.errors++;
    this.bytesIn += num(e.requestSize);
    this.bytesOut += num(e.responseSize);
    // Latency only means something for calls seen both ways (the others carry 0).
    const ms = callLatency(e);
    if (ms !== undefined) this.latency.add(ms);
  }

  merge(o: GroupStats): void {
    this.entries += o.entries;
    this.errors += o.errors;
    this.bytesIn += o.bytesIn;
    this.bytesOut += o.bytesOut;
    this.latency.merge(o.latency);
  }
}

export interface StatsRow {
  name: string;
  entries: number;
  successes: number;
  share: number;
  perSecond: number | null;
  bytesIn: number;
  bytesOut: number;
  errors: number;
  errorRate: number;
  latency: { avg: number | null; p50: number | null; p95: number | null; p99: number | null; max: number | null };
}

export interface StatsSnapshot {
  by: string;
  /** First and last entry time (Unix ms) and the span in seconds. */
  from: number | null;
  to: number | null;
  seconds: number;
  total: StatsRow;
  rows: StatsRow[];
  latencyRelativeError: number;
}

export class StatsAggregator {
  readonly names = new NameBook();
  private readonly groups = new Map<string, GroupStats>();
  private readonly total = new GroupStats();
  private first = Infinity;
  private last = -Infinity;
  private readonly keyOf: KeyOf;

  constructor(readonly by: string = 'protocol') {
    this.keyOf = groupKey(by);
  }

  async addBatch(batch: Entry[]): Promise<void> {
    for (const e of batch) {
      const k = this.keyOf(e);
      this.addKeyed(e, typeof k === 'string' ? k : await k);
    }
  }

  private addKeyed(e: Entry, key: string): void {
    this.names.learn(e);
    const t = e.timestamp;
    if (typeof t === 'number' && Number.isFinite(t)) {
      if (t < this.first) this.first = t;
      if (t > this.last) this.last = t;
    }
    let g = this.groups.get(key);
    if (!g) {
      if (this.groups.size >= MAX_GROUPS) key = OTHER_GROUP;
      g = this.groups.get(key);
      if (!g) this.groups.set(key, (g = new GroupStats()));
    }
    g.add(e);
    this.total.add(e);
  }

  get count(): number {
    return this.total.entries;
  }

  /** Rows named as well as the traffic seen so far allows, unsorted. */
  snapshot(): StatsSnapshot {
    // Several raw keys can resolve to one name (an IP seen before its DNS answer): merge them.
    const named = new Map<string, GroupStats>();
    for (const [key, g] of this.groups) {
      const name = resolveKey(key, this.names);
      const into = named.get(name);
      if (into) into.merge(g);
      else {
        const copy = new GroupStats();
        copy.merge(g);
        named.set(name, copy);
      }
    }
    const from = Number.isFinite(this.first) ? this.first : null;
    const to = Number.isFinite(this.last) ? this.last : null;
    const seconds = from !== null && to !== null ? (to - from) / 1000 : 0;
    const row = (name: string, g: GroupStats): StatsRow => ({
      name,
      entries: g.entries,
      successes: g.entries - g.errors,
      share: this.total.entries ? (100 * g.entries) / this.total.entries : 0,
      perSecond: seconds > 0 ? g.entries / seconds : null,
      bytesIn: g.bytesIn,
      bytesOut: g.bytesOut,
      errors: g.errors,
      errorRate: g.entries ? (100 * g.errors) / g.entries : 0,
      latency: {
        avg: g.latency.mean,
        p50: g.latency.quantile(0.5),
        p95: g.latency.quantile(0.95),
        p99: g.latency.quantile(0.99),
        max: g.latency.count ? g.latency.max : null,
      },
    });
    return {
      by: this.by,
      from,
      to,
      seconds,
      total: row('total', this.total),
      rows: [...named].map(([name, g]) => row(name, g)),
      latencyRelativeError: 0.01,
    };
  }
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
