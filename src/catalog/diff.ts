// `shark diff A B`: what changed between two catalogues (baseline A,
// candidate B), per service and endpoint. Every judgement that could be
// noise needs evidence:
//  - status mix: an error class's share (HTTP 4xx/5xx, any other non-OK
//    status) changes by at least 1 percentage point, both sides have at least
//    `minSamples` calls, and a two-proportion z-test gives p < alpha;
//  - latency: p95 (or the chosen quantile) moves by at least the threshold
//    (relative) and the floor (absolute ms), both sides have `minSamples`
//    answered calls, and a Mann-Whitney U test on the endpoints' bounded
//    reservoirs (512 samples each) gives p < alpha;
//  - HTTP status mix: the share of a class (1xx, 2xx, 3xx) among the answers
//    that are not errors moves by at least 1 percentage point, with the same
//    guard and test (a 200 that became a 302 is a change even though neither
//    is an error; error shares are the errors line's, not counted twice);
//  - new error codes, new HTTP statuses, new and vanished endpoints, JSON
//    body fields added, removed or of another type: facts, no test (a field
//    seen once is seen).

import { OTHER_ENDPOINT, endpointKey, type Catalog, type EndpointStats, type BodyShape } from './endpoints.js';
import { SchemaNode } from './schema-infer.js';
import { SharedNames, type NameConflict } from './shared-names.js';

export const CHANGE_KINDS = ['new-endpoint', 'vanished', 'errors', 'status', 'latency', 'schema'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface Change {
  kind: ChangeKind;
  service: string;
  protocol: string;
  endpoint: string;
  /** One human line. */
  detail: string;
  /** A regression: slower (latency), more errors, fewer 2xx answers (status), a breaking contract change (schema); only these fail `--fail-on` of those kinds. */
  regression: boolean;
  data?: Record<string, unknown>;
}

export interface DiffOptions {
  /** Relative change of the latency quantile that counts (0.2 = 20 %). */
  latencyThreshold: number;
  /** Absolute change (ms) below which latency never counts: sub-millisecond jitter is not a regression. */
  latencyFloorMs: number;
  /** The quantile compared (0.95). */
  quantile: number;
  /** Fewest calls on each side before rates or latencies are compared. */
  minSamples: number;
  /** Significance level of the tests. */
  alpha: number;
}

export const DEFAULT_DIFF_OPTIONS: DiffOptions = { latencyThreshold: 0.2, latencyFloorMs: 5, quantile: 0.95, minSamples: 10, alpha: 0.01 };

export interface DiffResult {
  baseline: { entries: number; endpoints: number };
  candidate: { entries: number; endpoints: number };
  changes: Change[];
  /** IPs the two sides name differently (each side kept its own name): the command warns about them. */
  nameConflicts: NameConflict[];
}

/**
 * Compare two catalogues. Both are re-templated with the union of their
 * folding decisions first, and their servers named with the union of the
 * names each learnt (shared-names.ts).
 */
export function diffCatalogs(a: Catalog, b: Catalog, opts: DiffOptions = DEFAULT_DIFF_OPTIONS): DiffResult {
  const foldedA = a.templater.foldedPositions();
  a.templater.adoptFolded(b.templater.foldedPositions());
  b.templater.adoptFolded(foldedA);
  const names = new SharedNames(a.names, b.names);
  const listA = a.list(names.forBaseline());
  const listB = b.list(names.forCandidate());
  const mapA = new Map(listA.map((e) => [endpointKey(e.protocol, e.service, e.name), e]));
  const mapB = new Map(listB.map((e) => [endpointKey(e.protocol, e.service, e.name), e]));
  const changes: Change[] = [];
  const keys = [...new Set([...mapA.keys(), ...mapB.keys()])].sort();
  for (const key of keys) {
    const ea = mapA.get(key);
    const eb = mapB.get(key);
    const ref = (eb ?? ea)!;
    if (ref.name === OTHER_ENDPOINT) continue;
    const at = { service: ref.service, protocol: ref.protocol, endpoint: ref.name };
    if (!ea) {
      changes.push({ kind: 'new-endpoint', ...at, detail: `new endpoint (${calls(eb!.calls)})`, regression: true, data: { calls: eb!.calls } });
      continue;
    }
    if (!eb) {
      changes.push({ kind: 'vanished', ...at, detail: `vanished (${calls(ea.calls)} in the baseline)`, regression: true, data: { calls: ea.calls } });
      continue;
    }
    changes.push(...statusChanges(ea, eb, opts).map((c) => ({ ...at, ...c })));
    changes.push(...statusMixChanges(ea, eb, opts).map((c) => ({ ...at, ...c })));
    const lat = latencyChange(ea, eb, opts);
    if (lat) changes.push({ ...at, ...lat });
    changes.push(...schemaChanges(ea, eb).map((c) => ({ ...at, ...c })));
  }
  return {
    baseline: { entries: a.entries, endpoints: listA.length },
    candidate: { entries: b.entries, endpoints: listB.length },
    changes,
    nameConflicts: names.conflicts(),
  };
}

type Found = Omit<Change, 'service' | 'protocol' | 'endpoint'>;

function isHttp(protocol: string): boolean {
  return protocol === 'http' || protocol === 'http2' || protocol === 'http3' || protocol === 'graphql';
}

/** Is this status an error of its protocol? */
export function isErrorStatus(protocol: string, status: string): boolean {
  const http = isHttp(protocol);
  if (/^\d{3}$/.test(status) && http) return Number(status) >= 400;
  // An HTTP status the capture lost is unknown, not a new error.
  if (status === '?' && http) return false;
  return !['OK', '0', 'NOERROR', 'no request'].includes(status);
}

/** The class a status is counted in for the mix: 5xx, 4xx, … for HTTP, the status itself otherwise. */
function statusClass(protocol: string, status: string): string {
  if (/^\d{3}$/.test(status) && isHttp(protocol)) return `${status[0]}xx`;
  return status;
}

function statusChanges(a: EndpointStats, b: EndpointStats, o: DiffOptions): Found[] {
  const out: Found[] = [];
  const newCodes = [...b.statuses.keys()].filter((s) => isErrorStatus(b.protocol, s) && !a.statuses.has(s)).sort();
  if (newCodes.length) {
    out.push({ kind: 'errors', detail: `new error status ${newCodes.map((s) => `${s} (${b.statuses.get(s)}×)`).join(', ')}`, regression: true, data: { newStatuses: newCodes } });
  }
  const classes = (e: EndpointStats) => {
    const m = new Map<string, number>();
    for (const [s, n] of e.statuses) if (isErrorStatus(e.protocol, s)) m.set(statusClass(e.protocol, s), (m.get(statusClass(e.protocol, s)) ?? 0) + n);
    return m;
  };
  if (a.calls < o.minSamples || b.calls < o.minSamples) return out;
  const ca = classes(a);
  const cb = classes(b);
  for (const cls of [...new Set([...ca.keys(), ...cb.keys()])].sort()) {
    const pa = (ca.get(cls) ?? 0) / a.calls;
    const pb = (cb.get(cls) ?? 0) / b.calls;
    if (Math.abs(pb - pa) < 0.01) continue;
    const p = twoProportionP(ca.get(cls) ?? 0, a.calls, cb.get(cls) ?? 0, b.calls);
    if (p >= o.alpha) continue;
    out.push({
      kind: 'errors',
      detail: `${cls} ${pct(pa)} → ${pct(pb)} (n=${a.calls}→${b.calls}, p=${p.toPrecision(2)})`,
      regression: pb > pa,
      data: { class: cls, baseline: pa, candidate: pb, p },
    });
  }
  return out;
}

/**
 * HTTP answers that are not errors (1xx-3xx): a new status is a fact (a
 * redirect a client never got before); a class whose share of these answers
 * moved is tested as the error shares are. The shares are of the non-error
 * answers only, so a 200 that became a 503 is the errors line's alone, and a
 * 200 that became a 302 is this one's. Fewer 2xx answers is the regression
 * (oasdiff rates a removed success status breaking).
 */
function statusMixChanges(a: EndpointStats, b: EndpointStats, o: DiffOptions): Found[] {
  if (!isHttp(b.protocol)) return [];
  const answers = (e: EndpointStats) => new Map([...e.statuses].filter(([s]) => /^\d{3}$/.test(s) && !isErrorStatus(e.protocol, s)));
  const sa = answers(a);
  const sb = answers(b);
  const out: Found[] = [];
  const newCodes = [...sb.keys()].filter((s) => !sa.has(s)).sort();
  if (newCodes.length) {
    out.push({ kind: 'status', detail: `new status ${newCodes.map((s) => `${s} (${sb.get(s)}×)`).join(', ')}`, regression: false, data: { newStatuses: newCodes } });
  }
  const total = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
  const na = total(sa);
  const nb = total(sb);
  if (na < o.minSamples || nb < o.minSamples) return out;
  const classes = (m: Map<string, number>) => {
    const c = new Map<string, number>();
    for (const [s, n] of m) c.set(`${s[0]}xx`, (c.get(`${s[0]}xx`) ?? 0) + n);
    return c;
  };
  const ca = classes(sa);
  const cb = classes(sb);
  const moved: { class: string; baseline: number; candidate: number; p: number }[] = [];
  for (const cls of [...new Set([...ca.keys(), ...cb.keys()])].sort()) {
    const pa = (ca.get(cls) ?? 0) / na;
    const pb = (cb.get(cls) ?? 0) / nb;
    if (Math.abs(pb - pa) < 0.01) continue;
    const p = twoProportionP(ca.get(cls) ?? 0, na, cb.get(cls) ?? 0, nb);
    if (p < o.alpha) moved.push({ class: cls, baseline: pa, candidate: pb, p });
  }
  if (!moved.length) return out;
  // One line for one shift (2xx down and 3xx up are the same change); the largest p of the classes listed.
  const p = Math.max(...moved.map((m) => m.p));
  out.push({
    kind: 'status',
    detail: `${moved.map((m) => `${m.class} ${pct(m.baseline)} → ${pct(m.candidate)}`).join(', ')} of non-error answers (n=${na}→${nb}, p=${p.toPrecision(2)})`,
    regression: moved.some((m) => m.class === '2xx' && m.candidate < m.baseline),
    data: { classes: moved, n: [na, nb], p },
  });
  return out;
}

function latencyChange(a: EndpointStats, b: EndpointStats, o: DiffOptions): Found | undefined {
  if (a.latency.count < o.minSamples || b.latency.count < o.minSamples) return undefined;
  const qa = a.latency.quantile(o.quantile)!;
  const qb = b.latency.quantile(o.quantile)!;
  const delta = qb - qa;
  if (Math.abs(delta) < o.latencyFloorMs) return undefined;
  const rel = qa > 0 ? delta / qa : Infinity;
  if (Math.abs(rel) < o.latencyThreshold) return undefined;
  const p = mannWhitneyP(a.samples.values, b.samples.values);
  if (p >= o.alpha) return undefined;
  const q = `p${Math.round(o.quantile * 100)}`;
  return {
    kind: 'latency',
    detail: `${q} ${ms(qa)} → ${ms(qb)} (${rel >= 0 ? '+' : ''}${Number.isFinite(rel) ? Math.round(rel * 100) : '∞'}%, n=${a.latency.count}→${b.latency.count}, Mann-Whitney p=${p.toPrecision(2)})`,
    regression: delta > 0,
    data: { quantile: o.quantile, baselineMs: qa, candidateMs: qb, relative: rel, p, n: [a.latency.count, b.latency.count] },
  };
}

/**
 * Contract changes of JSON bodies and query parameters, split as oasdiff
 * splits an OpenAPI diff: a change that can break a client that worked
 * against the baseline is `breaking` (regression: true, what `--fail-on
 * schema` fails on), the rest is reported as compatible.
 *  - response: a field removed or of another type, an enum value added
 *    (clients may not know it) break; a field added, an enum value no longer
 *    seen do not;
 *  - request: a field of another type, a new field every call sends (a new
 *    required property), an enum value no longer accepted break; an optional
 *    new field or a field no longer sent do not;
 *  - query: a parameter every candidate call sends that no baseline call did
 *    (a new required parameter) breaks; an optional or dropped one does not.
 */
function schemaChanges(a: EndpointStats, b: EndpointStats): Found[] {
  const out: Found[] = [];
  // One change per place (a renamed field is one change), breaking parts first.
  const push = (where: string, breaking: string[], compatible: string[], data: Record<string, unknown>) => {
    if (!breaking.length && !compatible.length) return;
    const detail = `${where}${breaking.length ? ' (breaking)' : ''}: ${[...breaking, ...compatible].join('; ')}`;
    out.push({ kind: 'schema', detail, regression: breaking.length > 0, data: { where, breaking, compatible, ...data } });
  };
  const compare = (where: string, side: 'request' | 'response', sa: SchemaNode | undefined, sb: SchemaNode | undefined) => {
    if (!sa || !sb || sa.count === 0 || sb.count === 0) return;
    const fa = sa.fieldFacts();
    const fb = sb.fieldFacts();
    const added = [...fb.keys()].filter((k) => !fa.has(k)).sort();
    const removed = [...fa.keys()].filter((k) => !fb.has(k)).sort();
    const both = [...fa.keys()].filter((k) => fb.has(k)).sort();
    const changed = both.filter((k) => fa.get(k)!.type !== fb.get(k)!.type && fa.get(k)!.type !== 'null' && fb.get(k)!.type !== 'null');
    const enumAdded: string[] = [];
    const enumRemoved: string[] = [];
    for (const k of both) {
      const ea = fa.get(k)!.enum;
      const eb = fb.get(k)!.enum;
      if (!ea || !eb) continue; // an enum on one side only is a matter of how often values repeated
      const plus = eb.filter((v) => !ea.includes(v));
      const minus = ea.filter((v) => !eb.includes(v));
      if (plus.length) enumAdded.push(`${k} ${plus.map((v) => JSON.stringify(v)).join(', ')}`);
      if (minus.length) enumRemoved.push(`${k} ${minus.map((v) => JSON.stringify(v)).join(', ')}`);
    }
    const breaking: string[] = [];
    const compatible: string[] = [];
    const part = (to: string[], label: string, list: string[]) => {
      if (list.length) to.push(`${label} ${list.join(', ')}`);
    };
    if (side === 'response') {
      part(breaking, 'removed', removed);
      part(breaking, 'type changed', changed.map((k) => `${k} ${fa.get(k)!.type}→${fb.get(k)!.type}`));
      part(breaking, 'enum value added', enumAdded);
      part(compatible, 'added', added);
      part(compatible, 'enum value no longer seen', enumRemoved);
    } else {
      const required = added.filter((k) => fb.get(k)!.always);
      part(breaking, 'type changed', changed.map((k) => `${k} ${fa.get(k)!.type}→${fb.get(k)!.type}`));
      part(breaking, 'new required field', required);
      part(breaking, 'enum value removed', enumRemoved);
      part(compatible, 'added optional', added.filter((k) => !required.includes(k)));
      part(compatible, 'no longer sent', removed);
      part(compatible, 'enum value added', enumAdded);
    }
    push(where, breaking, compatible, { added, removed, changed, enumAdded, enumRemoved });
  };
  compare('request body', 'request', jsonSchemaOf(a.requestBodies), jsonSchemaOf(b.requestBodies));
  for (const status of [...a.responseBodies.keys()].filter((s) => b.responseBodies.has(s)).sort()) {
    compare(`response ${status}`, 'response', jsonSchemaOf(a.responseBodies.get(status)!), jsonSchemaOf(b.responseBodies.get(status)!));
  }
  // Query parameters: only with details on both sides (a side read without them knows none).
  if (a.detailed > 0 && b.detailed > 0) {
    const added = [...b.query.keys()].filter((k) => !a.query.has(k)).sort();
    const required = added.filter((k) => b.query.get(k)!.count >= b.detailed);
    const optional = added.filter((k) => !required.includes(k));
    const dropped = [...a.query.keys()].filter((k) => !b.query.has(k)).sort();
    const breaking = required.length ? [`new required parameter ${required.join(', ')}`] : [];
    const compatible = [...(optional.length ? [`new optional parameter ${optional.join(', ')}`] : []), ...(dropped.length ? [`parameter no longer sent ${dropped.join(', ')}`] : [])];
    push('query', breaking, compatible, { added, removed: dropped, changed: [] });
  }
  return out;
}

/** The JSON bodies of a message kind as one schema (every JSON content type merged). */
function jsonSchemaOf(byType: Map<string, BodyShape>): SchemaNode | undefined {
  let out: SchemaNode | undefined;
  for (const b of byType.values()) {
    if (b.schema.count === 0) continue;
    (out ??= new SchemaNode()).merge(b.schema);
  }
  return out;
}

// ---- statistics -------------------------------------------------------------

/** Two-sided p-value of the difference of two proportions (pooled z-test). */
export function twoProportionP(x1: number, n1: number, x2: number, n2: number): number {
  const p = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
  if (se === 0) return x1 / n1 === x2 / n2 ? 1 : 0;
  const z = (x2 / n2 - x1 / n1) / se;
  return 2 * (1 - normalCdf(Math.abs(z)));
}

/** Two-sided p-value of the Mann-Whitney U test (normal approximation with tie correction). */
export function mannWhitneyP(a: number[], b: number[]): number {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return 1;
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const n = all.length;
  let r1 = 0;
  let ties = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && all[j + 1].v === all[i].v) j++;
    const rank = (i + j + 2) / 2;
    const t = j - i + 1;
    if (t > 1) ties += t * t * t - t;
    for (let k = i; k <= j; k++) if (all[k].g === 0) r1 += rank;
    i = j + 1;
  }
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1))));
  if (sigma === 0) return 1;
  // Continuity correction.
  const z = (Math.abs(u1 - mu) - 0.5) / sigma;
  return Math.min(1, 2 * (1 - normalCdf(Math.max(0, z))));
}

/** Φ(z) via the Abramowitz–Stegun 7.1.26 erf approximation (|error| < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

function pct(p: number): string {
  return `${(p * 100).toFixed(1)} %`;
}

function ms(v: number): string {
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
}

/** Does a change fail the run under `--fail-on kinds`? Latency only when slower, errors when more, status when fewer 2xx, schema when breaking. */
export function failsOn(c: Change, kinds: Set<ChangeKind>): boolean {
  if (!kinds.has(c.kind)) return false;
  return c.kind === 'new-endpoint' || c.kind === 'vanished' ? true : c.regression;
}

/** `1 call`, `3 calls`. */
function calls(n: number): string {
  return `${n} call${n === 1 ? '' : 's'}`;
}
