// Evaluates `stats --check` rules over a stream of entries in one pass and
// reports each rule's verdict with the value it measured.

import { callLatency, type Entry } from '../model/entry.js';
import { LatencySketch } from './latency-sketch.js';
import { serviceMatches, type Rule } from './rules.js';
import { NameBook } from './names.js';
import { renderRows, humanMs, type Column } from '../output/table.js';

export interface RuleResult {
  name: string;
  type: Rule['type'];
  line: number;
  passed: boolean;
  /** Entries the rule's scope matched. */
  matched: number;
  /** The measured figure (ms, %, count); null when nothing was measured. */
  value: number | null;
  limit: number;
  /** One line: what was measured against what. */
  detail: string;
  scope: string;
}

class RuleState {
  matched = 0;
  errors = 0;
  readonly latency = new LatencySketch();
  /** Redacted: the result quotes its summary. */
  firstMatch: Entry | undefined;
  constructor(
    readonly rule: Rule,
    private readonly redact: (e: Entry) => Entry,
  ) {}

  add(e: Entry): void {
    this.matched++;
    if (e.error) this.errors++;
    const ms = callLatency(e);
    if (ms !== undefined) this.latency.add(ms);
    if (!this.firstMatch && this.rule.type === 'forbid') this.firstMatch = this.redact(e);
  }

  merge(o: RuleState): void {
    this.matched += o.matched;
    this.errors += o.errors;
    this.latency.merge(o.latency);
    this.firstMatch ??= o.firstMatch;
  }
}

/** A rule's state, plus per-IP states for entries whose destination only a later DNS answer may name. */
class RuleTracker {
  readonly state: RuleState;
  private readonly pending = new Map<string, RuleState>();
  constructor(
    readonly rule: Rule,
    private readonly redact: (e: Entry) => Entry,
  ) {
    this.state = new RuleState(rule, redact);
  }

  add(e: Entry, names: NameBook): void {
    if (!this.rule.matches(e)) return;
    const re = this.rule.service;
    if (!re || serviceMatches(e, re)) return this.state.add(e);
    const known = names.nameOf(e.dst?.ip ?? '');
    if (known && re.test(known)) return this.state.add(e);
    const ip = e.dst?.ip ?? '';
    let p = this.pending.get(ip);
    if (!p) this.pending.set(ip, (p = new RuleState(this.rule, this.redact)));
    p.add(e);
  }

  /** Fold in the entries whose destination the whole capture's DNS answers name as a match. */
  settle(names: NameBook): RuleState {
    const re = this.rule.service;
    for (const [ip, p] of this.pending) {
      const known = names.nameOf(ip);
      if (re && known && re.test(known)) this.state.merge(p);
    }
    this.pending.clear();
    return this.state;
  }
}

export class RuleChecker {
  private readonly trackers: RuleTracker[];
  private readonly names = new NameBook();
  /** `redact`: applied to the entries a result quotes (the first forbidden one); rules see entries unredacted. */
  constructor(rules: Rule[], redact: (e: Entry) => Entry = (e) => e) {
    this.trackers = rules.map((r) => new RuleTracker(r, redact));
  }

  add(batch: Entry[]): void {
    for (const e of batch) {
      this.names.learn(e);
      for (const t of this.trackers) t.add(e, this.names);
    }
  }

  results(): RuleResult[] {
    return this.trackers.map((t) => evaluate(t.settle(this.names)));
  }
}

function evaluate(s: RuleState): RuleResult {
  const r = s.rule;
  const base = { name: r.name, type: r.type, line: r.line, matched: s.matched, limit: r.limit, scope: r.scope };
  switch (r.type) {
    case 'latency': {
      const q = r.quantile ?? 1;
      const label = q === 1 ? 'max' : `p${+(q * 100).toFixed(3)}`;
      const value = s.latency.quantile(q);
      if (value === null)
        return { ...base, passed: true, value, detail: `no answered entries matched (${label} ≤ ${r.limit} ms not tested)` };
      const passed = value <= r.limit;
      return { ...base, passed, value, detail: `${label} ${humanMs(value)} ms ${passed ? '≤' : '>'} ${r.limit} ms over ${s.latency.count} calls` };
    }
    case 'error-rate': {
      if (s.matched === 0) return { ...base, passed: true, value: null, detail: `no entries matched (≤ ${r.limit}% not tested)` };
      const value = (100 * s.errors) / s.matched;
      const passed = value <= r.limit;
      return { ...base, passed, value, detail: `${value.toFixed(2)}% errors (${s.errors}/${s.matched}) ${passed ? '≤' : '>'} ${r.limit}%` };
    }
    case 'expect': {
      const passed = s.matched >= r.limit;
      return { ...base, passed, value: s.matched, detail: `${s.matched} matched, ${passed ? '≥' : '<'} ${r.limit} expected` };
    }
    case 'forbid': {
      const passed = s.matched === 0;
      const first = s.firstMatch;
      const example = first ? `; first: ${first.summary || first.protocol} (${first.src?.ip}:${first.src?.port} → ${first.dst?.ip}:${first.dst?.port})` : '';
      return { ...base, passed, value: s.matched, detail: `${s.matched} forbidden entries${example}` };
    }
  }
}

export type CheckFormat = 'table' | 'json' | 'csv' | 'markdown';

export function renderResults(results: RuleResult[], format: CheckFormat): string {
  if (format === 'json') {
    const failed = results.filter((r) => !r.passed).length;
    return JSON.stringify({ passed: failed === 0, failed, total: results.length, rules: results }) + '\n';
  }
  const columns: Column[] = [
    { title: 'rule' },
    { title: 'type' },
    { title: 'result' },
    { title: 'measured', align: 'right' },
    { title: 'limit', align: 'right' },
    { title: 'matched', align: 'right' },
    { title: 'detail' },
  ];
  const rows = results.map((r) => [
    r.name,
    r.type,
    r.passed ? 'PASS' : 'FAIL',
    formatValue(r),
    formatLimit(r),
    String(r.matched),
    r.detail,
  ]);
  return renderRows(columns, rows, format);
}

function formatValue(r: RuleResult): string {
  if (r.value === null) return '-';
  if (r.type === 'latency') return `${humanMs(r.value)} ms`;
  if (r.type === 'error-rate') return `${r.value.toFixed(2)}%`;
  return String(r.value);
}

function formatLimit(r: RuleResult): string {
  if (r.type === 'latency') return `≤ ${r.limit} ms`;
  if (r.type === 'error-rate') return `≤ ${r.limit}%`;
  if (r.type === 'expect') return `≥ ${r.limit}`;
  return '0';
}
