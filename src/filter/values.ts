// Value helpers shared by both dialects' compiled closures: path lookups (with
// case-insensitive header names), Kubeshark's loose KFL1 coercions, and CEL-ish
// equality/ordering for KFL2.

import { LinearRegex } from './linear-regex.js';

/** A KFL1 field the entry lacks: tests touching it are "unknown" (three-valued logic, as SQL's NULL). */
export const MISSING: unique symbol = Symbol('missing');
export type Missing = typeof MISSING;

export interface PathStep {
  key: string | number;
  /** Look the key up ignoring case (HTTP header and cookie names). */
  ci: boolean;
}

/** Read one step; undefined when absent. Headers may be an object or an array of {name, value}. */
export function step(v: unknown, s: PathStep): unknown {
  if (v === null || typeof v !== 'object') return undefined;
  if (Array.isArray(v)) {
    if (typeof s.key === 'number') return v[s.key < 0 ? v.length + s.key : s.key];
    if (s.ci) {
      const want = s.key.toLowerCase();
      for (const h of v) {
        if (h && typeof h === 'object' && typeof h.name === 'string' && h.name.toLowerCase() === want) return h.value;
      }
    }
    return undefined;
  }
  const o = v as Record<string, unknown>;
  const direct = o[s.key as string];
  if (direct !== undefined || !s.ci) return direct;
  const want = String(s.key).toLowerCase();
  for (const k in o) if (k.toLowerCase() === want) return o[k];
  return undefined;
}

/** A compiled path reader: returns undefined when any step is absent. */
export function pathReader(steps: PathStep[]): (root: unknown) => unknown {
  if (steps.every((s) => !s.ci && typeof s.key === 'string')) {
    const keys = steps.map((s) => s.key as string);
    if (keys.length === 1) {
      const [a] = keys;
      return (r) => (r !== null && typeof r === 'object' ? (r as any)[a] : undefined);
    }
    if (keys.length === 2) {
      const [a, b] = keys;
      return (r) => {
        const x = r !== null && typeof r === 'object' ? (r as any)[a] : undefined;
        return x !== null && typeof x === 'object' ? x[b] : undefined;
      };
    }
  }
  return (r) => {
    let v = r;
    for (const s of steps) {
      v = step(v, s);
      if (v === undefined) return undefined;
    }
    return v;
  };
}

/** Path segments whose children are looked up ignoring case. */
export const CASE_INSENSITIVE_PARENTS = new Set(['headers', 'cookies']);

// ---------- KFL1 (basenine) coercions ----------

/** basenine's boolOperand: non-empty string, true, positive number; anything else false. */
export function kfl1Truthy(v: unknown): boolean {
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'string':
      return v !== '';
    case 'number':
      return v > 0;
    default:
      return false;
  }
}

/** basenine's stringOperand (null → "null", numbers in shortest form). */
export function kfl1String(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** basenine's float64Operand: numeric strings parse, true is 1, anything else 0. */
export function kfl1Number(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const n = Number(v);
    return v.trim() !== '' && !Number.isNaN(n) ? n : 0;
  }
  if (v === true) return 1;
  return 0;
}

/** KFL1 `==`: regexes match (unanchored, like Go's MatchString), numbers match numeric strings, else string equality. */
export function kfl1Equal(a: unknown, b: unknown): boolean {
  if (a instanceof LinearRegex) return a.test(kfl1String(b));
  if (b instanceof LinearRegex) return b.test(kfl1String(a));
  if (typeof a === 'number' && typeof b === 'string') return numStrEqual(a, b);
  if (typeof b === 'number' && typeof a === 'string') return numStrEqual(b, a);
  return kfl1String(a) === kfl1String(b);
}

function numStrEqual(n: number, s: string): boolean {
  if (String(n) === s) return true;
  const m = Number(s);
  return s.trim() !== '' && !Number.isNaN(m) && m === n;
}

// ---------- KFL2 (CEL) semantics ----------

/** Truthiness in a boolean position (CEL would reject non-booleans; shark is lenient). */
export function celTruthy(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v !== '';
  if (Array.isArray(v)) return v.length > 0;
  if (v !== null && typeof v === 'object') return Object.keys(v).length > 0;
  return false;
}

/** A missing value (undefined) takes the default of the type it is compared with. */
export function defaultLike(other: unknown): unknown {
  switch (typeof other) {
    case 'string':
      return '';
    case 'number':
      return 0;
    case 'boolean':
      return false;
    default:
      if (Array.isArray(other)) return [];
      if (other !== null && typeof other === 'object') return {};
      return null;
  }
}

export function celEqual(a: unknown, b: unknown): boolean {
  if (a === undefined) a = defaultLike(b);
  if (b === undefined) b = defaultLike(a);
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!celEqual(a[i], b[i])) return false;
    return true;
  }
  if (typeof a === 'object') {
    if (Array.isArray(b)) return false;
    const ka = Object.keys(a as object);
    const kb = Object.keys(b as object);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!celEqual((a as any)[k], (b as any)[k])) return false;
    return true;
  }
  return false;
}

/** Ordering: numbers with numbers, strings with strings; anything else is not ordered (false). */
export function celCompare(a: unknown, b: unknown): number | undefined {
  if (a === undefined) a = defaultLike(b);
  if (b === undefined) b = defaultLike(a);
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return undefined;
}

export function celSize(v: unknown): number {
  if (typeof v === 'string') return [...v].length;
  if (Array.isArray(v)) return v.length;
  if (v !== null && typeof v === 'object') return Object.keys(v).length;
  return 0;
}

export function celString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

// ---------- time ----------

const DURATION_UNITS: Record<string, number> = { h: 3600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, 'µs': 0.001, ns: 0.000001 };

/** CEL/Go duration text ("5m", "1h30m", "1.5s", "-2s") → milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^([+-])?((?:\d+(?:\.\d*)?|\.\d+)(?:h|ms|us|µs|ns|m|s))+$/.exec(text.trim());
  if (!m) return text.trim() === '0' ? 0 : undefined;
  let total = 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)/g;
  for (let p = re.exec(text); p; p = re.exec(text)) total += Number(p[1]) * DURATION_UNITS[p[2]];
  return m[1] === '-' ? -total : total;
}

/** RFC 3339 text → Unix ms; undefined when malformed. */
export function parseTimestamp(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) return undefined;
  const t = Date.parse(text.trim());
  return Number.isNaN(t) ? undefined : t;
}

/** KFL1 datetime("10/19/2021, 6:29:02.593 PM") (Kubeshark's layout, UTC) → Unix ms; also accepts RFC 3339. */
export function parseKfl1Datetime(text: string): number | undefined {
  const m = /^\s*(\d{1,2})\/(\d{1,2})\/(\d{4}),\s*(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?\s*([AaPp][Mm])\s*$/.exec(text);
  if (!m) return parseTimestamp(text);
  let hour = Number(m[4]) % 12;
  if (m[8].toUpperCase() === 'PM') hour += 12;
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  return Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2]), hour, Number(m[5]), Number(m[6]), ms);
}
