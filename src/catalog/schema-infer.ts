// JSON Schema (2020-12, as OpenAPI 3.1 uses it) inferred from observed JSON
// values, one value at a time: types seen, object properties with how often
// each was present (required = present in every observation, or in at least
// `requiredRatio` of them), array items, small sets of string values as
// `enum`, and the formats date-time, date, uuid and email when every value
// has them. Bounded: at most MAX_PROPERTIES properties per object, MAX_DEPTH
// levels, MAX_ENUM + 1 distinct strings per field; what is cut is counted.
// A body is written by whoever sent the request, and 16 KB of `[` nest 16,000
// levels deep: nothing here recurses past MAX_DEPTH, whatever the input.

export const MAX_PROPERTIES = 200;
export const MAX_DEPTH = 10;
/** At most this many distinct values make an enum… */
export const MAX_ENUM = 6;
/** …and only when each was seen this many times on average (3 values in 3 calls say nothing). */
const ENUM_MIN_REPEAT = 3;
const MAX_ENUM_LENGTH = 64;
const REDACTED_MARK = '[REDACTED]';

type JsonType = 'null' | 'boolean' | 'integer' | 'number' | 'string' | 'object' | 'array';

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{2,}$/;
const FORMATS: Array<[string, RegExp]> = [
  ['date-time', DATE_TIME],
  ['date', DATE],
  ['uuid', UUID],
  ['email', EMAIL],
];

export class SchemaNode {
  /** Observations of this node (values seen, null included). */
  count = 0;
  readonly types = new Map<JsonType, number>();
  properties?: Map<string, SchemaNode>;
  items?: SchemaNode;
  /** Distinct string values (null once more than MAX_ENUM were seen). */
  private strings: Set<string> | null = new Set();
  /** Strings seen, and how many matched each format. */
  private stringCount = 0;
  private readonly formatHits = new Map<string, number>();
  /** Properties not tracked because the object had MAX_PROPERTIES already. */
  cutProperties = 0;
  /** Objects and arrays at MAX_DEPTH whose contents were not described. */
  cutDeep = 0;

  /** Add one observed value; returns how many of its objects and arrays lay past MAX_DEPTH, undescribed. */
  add(value: unknown, depth = 0): number {
    this.count++;
    const type = typeOf(value);
    this.types.set(type, (this.types.get(type) ?? 0) + 1);
    if (depth >= MAX_DEPTH) {
      const deeper = (type === 'object' && Object.keys(value as object).length > 0) || (type === 'array' && (value as unknown[]).length > 0);
      if (deeper) this.cutDeep++;
      return deeper ? 1 : 0;
    }
    let cut = 0;
    if (type === 'string') this.addString(value as string);
    else if (type === 'object') {
      this.properties ??= new Map();
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        let p = this.properties.get(k);
        if (!p) {
          if (this.properties.size >= MAX_PROPERTIES) {
            this.cutProperties++;
            continue;
          }
          this.properties.set(k, (p = new SchemaNode()));
        }
        cut += p.add(v, depth + 1);
      }
    } else if (type === 'array') {
      this.items ??= new SchemaNode();
      // A long array's first items say what its items are.
      for (const v of (value as unknown[]).slice(0, 50)) cut += this.items.add(v, depth + 1);
    }
    return cut;
  }

  private addString(s: string): void {
    this.stringCount++;
    for (const [name, re] of FORMATS) if (re.test(s)) this.formatHits.set(name, (this.formatHits.get(name) ?? 0) + 1);
    if (this.strings) {
      // A redacted value is no value: listing "[REDACTED]" as the only allowed one would be a false contract.
      if (s.length > MAX_ENUM_LENGTH || s === REDACTED_MARK) this.strings = null;
      else {
        this.strings.add(s);
        if (this.strings.size > MAX_ENUM) this.strings = null;
      }
    }
  }

  merge(o: SchemaNode, depth = 0): void {
    this.count += o.count;
    for (const [t, n] of o.types) this.types.set(t, (this.types.get(t) ?? 0) + n);
    this.cutProperties += o.cutProperties;
    this.cutDeep += o.cutDeep;
    this.stringCount += o.stringCount;
    for (const [f, n] of o.formatHits) this.formatHits.set(f, (this.formatHits.get(f) ?? 0) + n);
    if (this.strings) {
      if (!o.strings) this.strings = null;
      else {
        for (const s of o.strings) this.strings.add(s);
        if (this.strings.size > MAX_ENUM) this.strings = null;
      }
    }
    if (depth >= MAX_DEPTH) return;
    if (o.properties) {
      this.properties ??= new Map();
      for (const [k, p] of o.properties) {
        let into = this.properties.get(k);
        if (!into) {
          if (this.properties.size >= MAX_PROPERTIES) {
            this.cutProperties++;
            continue;
          }
          this.properties.set(k, (into = new SchemaNode()));
        }
        into.merge(p, depth + 1);
      }
    }
    if (o.items) (this.items ??= new SchemaNode()).merge(o.items, depth + 1);
  }

  /** Observations of type object (the base of presence ratios). */
  get objectCount(): number {
    return this.types.get('object') ?? 0;
  }

  /** JSON Schema 2020-12 for what was observed. */
  toSchema(requiredRatio = 1): Record<string, unknown> {
    const types = [...this.types.keys()];
    // integer and number together are number.
    const t = types.includes('number') ? types.filter((x) => x !== 'integer') : types;
    const schema: Record<string, unknown> = {};
    if (t.length === 1) schema.type = t[0];
    else if (t.length > 1) schema.type = t.sort();
    if (this.types.has('string') && this.stringCount > 0) {
      const format = FORMATS.find(([name]) => this.formatHits.get(name) === this.stringCount)?.[0];
      if (format) schema.format = format;
      else {
        const strings = this.enumStrings();
        if (strings) schema.enum = this.types.has('null') ? [...strings, null] : strings;
      }
    }
    if (this.properties && this.properties.size > 0) {
      const props: Record<string, unknown> = {};
      const required: string[] = [];
      const base = this.objectCount;
      for (const [k, p] of [...this.properties].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        // defineProperty, not assignment: a body's "__proto__" key is a property like any other.
        Object.defineProperty(props, k, { value: p.toSchema(requiredRatio), enumerable: true, writable: true, configurable: true });
        if (base > 0 && p.count / base >= requiredRatio) required.push(k);
      }
      schema.properties = props;
      if (required.length) schema.required = required;
    }
    if (this.items && this.items.count > 0) schema.items = this.items.toSchema(requiredRatio);
    return schema;
  }

  /**
   * The string values that make this node an enum, sorted, or undefined: at
   * most MAX_ENUM of them, each seen ENUM_MIN_REPEAT times on average, and
   * nothing but strings (and null) seen, since an enum constrains every type.
   * A date, uuid … format wins over an enum (toSchema checks it first).
   */
  enumStrings(): string[] | undefined {
    if (!this.strings || this.strings.size === 0 || this.stringCount < ENUM_MIN_REPEAT * this.strings.size) return undefined;
    if (![...this.types.keys()].every((x) => x === 'string' || x === 'null')) return undefined;
    if (FORMATS.some(([name]) => this.formatHits.get(name) === this.stringCount)) return undefined;
    return [...this.strings].sort();
  }

  /**
   * What diff compares per field path: its type (as fieldTypes), whether it
   * was present in every object that could hold it (an array's items count
   * as one parent), and its enum values if it is one.
   */
  fieldFacts(prefix = '$', out = new Map<string, FieldFacts>(), always = true): Map<string, FieldFacts> {
    const types = [...new Set([...this.types.keys()].map((t) => (t === 'integer' ? 'number' : t)))].filter((t) => t !== 'null').sort();
    out.set(prefix, { type: types.join('|') || 'null', always, enum: this.enumStrings() });
    if (this.properties) {
      const base = this.objectCount;
      for (const [k, p] of this.properties) p.fieldFacts(`${prefix}.${k}`, out, always && base > 0 && p.count >= base);
    }
    if (this.items && this.items.count > 0) this.items.fieldFacts(`${prefix}[]`, out, always);
    return out;
  }

  /**
   * Field paths and their types, for diffs: `$.items[].price` → `number`.
   * integer is reported as number (a price of 3 then 3.5 is not a change of type).
   */
  fieldTypes(prefix = '$', out = new Map<string, string>()): Map<string, string> {
    const types = [...new Set([...this.types.keys()].map((t) => (t === 'integer' ? 'number' : t)))].filter((t) => t !== 'null').sort();
    out.set(prefix, types.join('|') || 'null');
    if (this.properties) for (const [k, p] of this.properties) p.fieldTypes(`${prefix}.${k}`, out);
    if (this.items && this.items.count > 0) this.items.fieldTypes(`${prefix}[]`, out);
    return out;
  }
}

/** One field of a body as diff sees it (SchemaNode.fieldFacts). */
export interface FieldFacts {
  /** `number`, `string`, `number|string` …; `null` when only null was seen. */
  type: string;
  /** Present in every observation of its parents (what OpenAPI would call required). */
  always: boolean;
  /** Its enum values when it has been inferred to be one. */
  enum?: string[];
}

function typeOf(v: unknown): JsonType {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'boolean':
      return 'boolean';
    case 'number':
      return Number.isInteger(v) ? 'integer' : 'number';
    case 'string':
      return 'string';
    default:
      return 'object';
  }
}

/**
 * True when `value` nests no deeper than `max` levels of objects and arrays
 * (a scalar is depth 0, `[]` and `[1]` depth 1). Walked with its own stack,
 * never recursion, and stops at the first value past `max`: callers check
 * before handing a value to JSON.stringify, which recurses.
 */
export function nestsWithin(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    // v is an object or array one level below `depth` of them.
    if (depth >= max) return false;
    for (const c of Array.isArray(v) ? v : Object.values(v)) if (c !== null && typeof c === 'object') stack.push([c, depth + 1]);
  }
  return true;
}

/**
 * JSON text longer than this is not parsed for its schema: JSON.parse makes
 * every key a property (the schema keeps MAX_PROPERTIES of them), and one
 * entry with a 59 MB body of 4M keys took `catalog --openapi` 59 s and 1.4 GB,
 * deaf to SIGTERM all along. Such bodies are counted and said on stderr.
 */
export const MAX_BODY_CHARS = 1024 * 1024;
/** jsonBody's answer for JSON text over MAX_BODY_CHARS. */
export const LARGE_BODY: unique symbol = Symbol('JSON body over MAX_BODY_CHARS');

/** The JSON value a body holds, undefined when it is not (whole) JSON, LARGE_BODY when it is too long to read. */
export function jsonBody(msg: Record<string, any> | null | undefined): unknown {
  if (!msg || msg.bodyTruncated || msg.bodyEncoding === 'base64') return undefined;
  const body = msg.body;
  if (body === undefined || body === null || body === '') return undefined;
  if (typeof body === 'object') return body;
  if (typeof body !== 'string') return undefined;
  const ct = contentTypeOf(msg);
  const first = body.trimStart()[0];
  if (!/json/i.test(ct) && first !== '{' && first !== '[') return undefined;
  if (body.length > MAX_BODY_CHARS) return LARGE_BODY;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** A message's media type without parameters, lower case ('' when unknown). */
export function contentTypeOf(msg: Record<string, any> | null | undefined): string {
  if (!msg) return '';
  let ct: unknown = msg.contentType;
  if (!ct && msg.headers && typeof msg.headers === 'object') ct = msg.headers['content-type'];
  if (Array.isArray(ct)) ct = ct[0];
  return typeof ct === 'string' ? ct.split(';')[0].trim().toLowerCase() : '';
}
