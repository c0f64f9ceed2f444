// Streams entries into per-group counters. Memory depends on the number of
// groups (capped: past MAX_GROUPS, the alphabetically later keys fold into
// "(other)") and on the latency sketches (bounded), never on the number of
// entries. Nothing here depends on the order entries arrive in, so that
// workers can each aggregate their flows and the main thread merge their
// tables (toWire/mergeWire) into exactly the table one thread makes.

import { callLatency, type Entry } from '../model/entry.js';
import { LatencySketch, type SketchWire } from './latency-sketch.js';
import { NAME_FIELDS, NameBook, type NameBookWire } from './names.js';
import { groupFields, groupKey, jsonataKeys, resolveKey, type BatchKeys, type KeyOf } from './group-by.js';
import { FirstKeys } from './first-keys.js';
import { mergeSpecs, type FieldSpec } from '../ndjson/project.js';

export const MAX_GROUPS = 10_000;
export const OTHER_GROUP = '(other)';
/**
 * A row's name is cut here (and ends in `…`): a `--by` expression's value or a
 * field read from an entry may be megabytes long, and 10,000 rows of
 * `$pad(request.path, 200000, "x")` held 2 GB. Counted and said on stderr.
 */
export const MAX_KEY_CHARS = 1024;

/** The entry fields GroupStats.add reads (of `request` and `response` only whether they are there: empty specs). */
const GROUP_STATS_FIELDS: FieldSpec = { error: true, requestSize: true, responseSize: true, request: {}, response: {}, elapsedTime: true };

/** Every entry field a StatsAggregator grouping by `by` reads; undefined when that cannot be bounded (JSONata). */
export function statsFields(by: string): FieldSpec | undefined {
  const group = groupFields(by);
  return group && mergeSpecs(NAME_FIELDS, GROUP_STATS_FIELDS, { timestamp: true }, group);
}

/** GroupStats as plain data. */
export interface GroupWire {
  entries: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  latency: SketchWire;
}

/** A StatsAggregator's state as plain data: what a worker hands the main thread. */
export interface StatsWire {
  first: number;
  last: number;
  total: GroupWire;
  other: GroupWire;
  groups: [string, GroupWire][];
  names: NameBookWire;
  /** Entries whose group name was cut at MAX_KEY_CHARS. */
  cutKeys?: number;
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
    this.mergeWire(o.toWire());
  }

  toWire(): GroupWire {
    return { entries: this.entries, errors: this.errors, bytesIn: this.bytesIn, bytesOut: this.bytesOut, latency: this.latency.toWire() };
  }

  mergeWire(o: GroupWire): void {
    this.entries += o.entries;
    this.errors += o.errors;
    this.bytesIn += o.bytesIn;
    this.bytesOut += o.bytesOut;
    this.latency.mergeWire(o.latency);
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
  private readonly groups = new FirstKeys<GroupStats>(MAX_GROUPS);
  /** Entries of the groups past MAX_GROUPS. */
  private readonly other = new GroupStats();
  private readonly total = new GroupStats();
  private first = Infinity;
  private last = -Infinity;
  private readonly keyOf: KeyOf | undefined;
  /** A JSONata `--by`: keys come a batch at a time from the expression's process. */
  private readonly batchKeys: BatchKeys | undefined;
  /** Entries a JSONata `--by` gave no value (grouped as "(none)"). */
  valueless = 0;
  /** Entries whose group name was cut at MAX_KEY_CHARS. */
  cutKeys = 0;

  /** `signal`: a stop (Ctrl-C) ends a JSONata grouping's evaluation; the entries not yet keyed are left out. */
  constructor(
    readonly by: string = 'protocol',
    opts: { signal?: AbortSignal } = {},
  ) {
    this.keyOf = groupKey(by);
    if (!this.keyOf) this.batchKeys = jsonataKeys(by, opts.signal, () => this.valueless++);
  }

  async addBatch(batch: Entry[]): Promise<void> {
    if (this.keyOf) {
      for (const e of batch) this.addKeyed(e, this.keyOf(e));
      return;
    }
    const keys = await this.batchKeys!.keys(batch);
    for (let i = 0; i < batch.length; i++) if (keys[i] !== undefined) this.addKeyed(batch[i], keys[i]!);
  }

  /** One entry, for a built-in grouping (a JSONata one is evaluated in batches). */
  add(e: Entry): void {
    if (!this.keyOf) throw new Error(`stats: --by ${this.by} needs addBatch`);
    this.addKeyed(e, this.keyOf(e));
  }

  /** Ends a JSONata grouping's process. */
  close(): void {
    this.batchKeys?.close();
  }

  private addKeyed(e: Entry, key: string): void {
    if (key.length > MAX_KEY_CHARS) {
      key = `${key.slice(0, MAX_KEY_CHARS)}…`;
      this.cutKeys++;
    }
    this.names.learn(e);
    const t = e.timestamp;
    if (typeof t === 'number' && Number.isFinite(t)) {
      if (t < this.first) this.first = t;
      if (t > this.last) this.last = t;
    }
    this.group(key).add(e);
    this.total.add(e);
  }

  /** The group for a key, or "(other)" past MAX_GROUPS (a group displaced from the table joins it). */
  private group(key: string): GroupStats {
    return this.groups.admit(key, () => new GroupStats(), (_k, g) => this.other.merge(g)) ?? this.other;
  }

  toWire(): StatsWire {
    return {
      first: this.first,
      last: this.last,
      total: this.total.toWire(),
      other: this.other.toWire(),
      groups: [...this.groups.map].map(([k, g]): [string, GroupWire] => [k, g.toWire()]),
      names: this.names.toWire(),
      cutKeys: this.cutKeys,
    };
  }

  /** Add another aggregator's state (a worker's): the same table as one aggregator seeing both inputs. */
  mergeWire(w: StatsWire): void {
    this.first = Math.min(this.first, w.first);
    this.last = Math.max(this.last, w.last);
    this.total.mergeWire(w.total);
    this.other.mergeWire(w.other);
    for (const [key, g] of w.groups) this.group(key).mergeWire(g);
    this.names.mergeWire(w.names);
    this.cutKeys += w.cutKeys ?? 0;
  }

  get count(): number {
    return this.total.entries;
  }

  /** Entries counted in the "(other)" row: their groups came past MAX_GROUPS. */
  get folded(): number {
    return this.other.entries;
  }

  /** Rows named as well as the traffic seen so far allows, unsorted. */
  snapshot(): StatsSnapshot {
    // Several raw keys can resolve to one name (an IP seen before its DNS answer): merge them.
    const named = new Map<string, GroupStats>();
    const groups: [string, GroupStats][] = [...this.groups.map];
    if (this.other.entries > 0) groups.push([OTHER_GROUP, this.other]);
    for (const [key, g] of groups) {
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
