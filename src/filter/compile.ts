// AST → closure tree, once per expression. Both dialects produce the same
// predicate form, `(entry) => boolean`; they differ in value semantics:
//  - KFL1 follows Kubeshark's basenine: loose string/number coercion, regexes
//    with `==`. A test on a field the entry lacks is "unknown", as SQL's NULL:
//    never true, not even negated, but `unknown or true` is true. (basenine
//    makes the whole expression false there; the two differ only when an `or`
//    would rescue it.)
//  - KFL2 follows CEL as Kubeshark uses it: typed comparisons, and a variable
//    the entry lacks takes its type's default.

import { LinearRegex } from './linear-regex.js';
import type { Entry } from '../model/entry.js';
import type { Node } from './ast.js';
import { FilterSyntaxError } from './errors.js';
import { KFL2_VARIABLES, ENTRY_ROOTS, queryMap, typeDefault } from './kfl2-variables.js';
import { compileRegex } from './parser.js';
import { compileMacro, MACROS, MacroBudget, MAX_MACRO_STEPS as MAX_STEPS, OVER_BUDGET, type Slot } from './cel-macros.js';
import { CelEvalError, EvalErrors } from './cel-errors.js';
import {
  CASE_INSENSITIVE_PARENTS,
  MISSING,
  celCompare,
  celEqual,
  celSize,
  celString,
  celTruthy,
  defaultLike,
  kfl1Equal,
  kfl1Number,
  kfl1String,
  kfl1Truthy,
  parseDuration,
  parseKfl1Datetime,
  parseTimestamp,
  pathReader,
  step,
  type PathStep,
} from './values.js';

type Fn = (e: Entry) => unknown;

export interface CompileContext {
  /** now() in KFL2, fixed when the filter starts (Unix ms). */
  now: number;
  /** Set by KFL1 limit(N). */
  limit?: number;
  /** Paths given to KFL1 redact("…"). */
  redactions: string[];
  warnings: string[];
  /** KFL2: the loop variables of the macros around the node being compiled (cel-macros.ts). */
  scope?: ReadonlyMap<string, Slot>;
  /** KFL2: set when the expression has a macro; bounds each entry's work. */
  macros?: MacroBudget;
  /** KFL2: CEL's evaluation errors (`x / 0`, `1 + "a"`), their sites and the entries that met one (cel-errors.ts). */
  errors?: EvalErrors;
}

const always = (v: unknown): Fn => () => v;

// =====================================================================
// KFL1
// =====================================================================

export function compileKfl1(ast: Node | null, ctx: CompileContext): (e: Entry) => boolean {
  if (!ast) return () => true;
  const f = k1(ast, ctx);
  return (e) => {
    const v = f(e);
    return v !== MISSING && kfl1Truthy(v);
  };
}

function k1(n: Node, ctx: CompileContext): Fn {
  switch (n.kind) {
    case 'literal':
      return always(n.value);
    case 'regex':
      return always(n.re);
    case 'protocol': {
      const p = n.name;
      return (e) => e.protocol === p;
    }
    case 'ident':
    case 'member':
    case 'index':
      return k1Path(n, ctx);
    case 'call':
      return k1Call(n, ctx);
    case 'unary': {
      const a = k1(n.arg, ctx);
      if (n.op === '!') {
        return (e) => {
          const v = a(e);
          return v === MISSING ? MISSING : !kfl1Truthy(v);
        };
      }
      return (e) => {
        const v = a(e);
        return v === MISSING ? MISSING : -kfl1Number(v);
      };
    }
    case 'logical': {
      // Three-valued, like SQL's NULL: a test on a missing field is unknown
      // (MISSING); `unknown and false` is false, `unknown or true` is true,
      // anything else with unknown stays unknown, and unknown never matches.
      // Terms run left to right and stop at the first that decides.
      const terms = n.terms.map((t) => k1(t, ctx));
      const decides = n.op === 'or';
      return (e) => {
        let unknown = false;
        for (const term of terms) {
          const v = term(e);
          if (v === MISSING) unknown = true;
          else if (kfl1Truthy(v) === decides) return decides;
        }
        return unknown ? MISSING : !decides;
      };
    }
    case 'binary':
      return k1Binary(n, ctx);
    default:
      throw new FilterSyntaxError(`'${n.kind}' is not KFL1`, n.col);
  }
}

function k1Binary(n: Extract<Node, { kind: 'binary' }>, ctx: CompileContext): Fn {
  const l = k1(n.left, ctx);
  const op = n.op;
  if (op === '==' || op === '!=') {
    const neg = op === '!=';
    const lit = n.right.kind === 'literal' ? n.right.value : n.right.kind === 'regex' ? n.right.re : MISSING;
    if (typeof lit === 'string') {
      return (e) => {
        const v = l(e);
        if (v === MISSING) return MISSING;
        return (typeof v === 'string' ? v === lit : kfl1Equal(v, lit)) !== neg;
      };
    }
    if (typeof lit === 'number') {
      return (e) => {
        const v = l(e);
        if (v === MISSING) return MISSING;
        return (typeof v === 'number' ? v === lit : kfl1Equal(v, lit)) !== neg;
      };
    }
    if (lit instanceof LinearRegex) {
      return (e) => {
        const v = l(e);
        if (v === MISSING) return MISSING;
        return lit.test(kfl1String(v)) !== neg;
      };
    }
    const r = k1(n.right, ctx);
    return (e) => {
      const a = l(e);
      if (a === MISSING) return MISSING;
      const b = r(e);
      if (b === MISSING) return MISSING;
      return kfl1Equal(a, b) !== neg;
    };
  }
  const cmp = ORDER[op as keyof typeof ORDER];
  if (!cmp) throw new FilterSyntaxError(`operator '${op}' is not KFL1`, n.col);
  // null has no order (an HTTP status the capture lost is null): unknown, as a missing field, not 0.
  if (n.right.kind === 'literal' && typeof n.right.value === 'number') {
    const lit = n.right.value;
    return (e) => {
      const v = l(e);
      if (v === MISSING || v === null) return MISSING;
      return cmp(typeof v === 'number' ? v : kfl1Number(v), lit);
    };
  }
  const r = k1(n.right, ctx);
  return (e) => {
    const a = l(e);
    if (a === MISSING || a === null) return MISSING;
    const b = r(e);
    if (b === MISSING || b === null) return MISSING;
    return cmp(kfl1Number(a), kfl1Number(b));
  };
}

const ORDER = {
  '<': (a: number, b: number) => a < b,
  '<=': (a: number, b: number) => a <= b,
  '>': (a: number, b: number) => a > b,
  '>=': (a: number, b: number) => a >= b,
};

/** `a.b["c"][0]` → a reader over the entry (or over a helper's result, e.g. `body.json().x`). */
function k1Path(n: Node, ctx: CompileContext): Fn {
  const steps: PathStep[] = [];
  let cur: Node = n;
  let parentName = '';
  const names: string[] = [];
  for (;;) {
    if (cur.kind === 'member') {
      names.unshift(cur.name);
      steps.unshift({ key: cur.name, ci: false });
      cur = cur.target;
    } else if (cur.kind === 'index') {
      const idx = cur.index;
      if (idx.kind !== 'literal' || (typeof idx.value !== 'string' && typeof idx.value !== 'number')) {
        throw new FilterSyntaxError('an index must be a number or a string', idx.col);
      }
      names.unshift(String(idx.value));
      steps.unshift({ key: idx.value, ci: false });
      cur = cur.target;
    } else break;
  }
  let base: Fn | null = null;
  if (cur.kind === 'ident') {
    steps.unshift({ key: cur.name, ci: false });
    names.unshift(cur.name);
    warnUnknownRoot(names, ctx);
  } else base = k1(cur, ctx);
  for (let i = 1; i < steps.length; i++) {
    parentName = names[i - 1];
    if (CASE_INSENSITIVE_PARENTS.has(parentName) && typeof steps[i].key === 'string') steps[i].ci = true;
  }
  const read = pathReader(steps);
  if (!base) {
    return (e) => {
      const v = read(e);
      return v === undefined ? MISSING : v;
    };
  }
  const b = base;
  return (e) => {
    const root = b(e);
    if (root === MISSING) return MISSING;
    const v = read(root);
    return v === undefined ? MISSING : v;
  };
}

/** Entry fields some entries carry (docs/entry.schema.json) beyond the roots KFL2 paths may start with. */
const OTHER_ENTRY_FIELDS = new Set(['mesh', 'peerProcess', 'process', 'tapped', 'tls']);

/**
 * A KFL1 path that cannot exist in shark's entries matches nothing, silently: a typo, a Kubeshark
 * KFL2 variable shark lacks (`local_process_name`), or a KFL2 path written with `and` (`src.pod.name`).
 * Said once on stderr; still read, for entries from elsewhere that carry such a field.
 */
function warnUnknownRoot(names: string[], ctx: CompileContext): void {
  let note: string | undefined;
  if (!ENTRY_ROOTS.has(names[0]) && !OTHER_ENTRY_FIELDS.has(names[0])) {
    note = `'${names[0]}' is not a field of shark's entries${KFL2_VARIABLES.has(names[0]) ? '' : ' nor a KFL2 variable'}: it matches only entries from elsewhere that carry it`;
  } else if ((names[0] === 'src' || names[0] === 'dst') && ['pod', 'service', 'node'].includes(names[1]) && names.length > 2) {
    note = `${names.slice(0, 3).join('.')} is KFL2 (${names[0]}.${names[1]} is a name in shark's entries): in KFL1 write ${names[0]}.${names[2] === 'namespace' ? 'namespace' : names[1]}`;
  }
  if (note && !ctx.warnings.includes(note)) ctx.warnings.push(note);
}

function k1Call(n: Extract<Node, { kind: 'call' }>, ctx: CompileContext): Fn {
  const args = n.args;
  const literalArg = (i: number, type: 'string' | 'number'): string | number => {
    const a = args[i];
    if (!a || a.kind !== 'literal' || typeof a.value !== type) {
      throw new FilterSyntaxError(`${n.name}() takes a ${type} literal`, a?.col ?? n.col);
    }
    return a.value as string | number;
  };
  const arity = (min: number, max = min): void => {
    if (args.length < min || args.length > max) {
      throw new FilterSyntaxError(`${n.name}() takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'}`, n.col);
    }
  };
  if (n.target) {
    const t = k1(n.target, ctx);
    switch (n.name) {
      case 'startsWith':
      case 'endsWith':
      case 'contains': {
        arity(1);
        const a = k1(args[0], ctx);
        const test = STRING_TESTS[n.name];
        return (e) => {
          const v = t(e);
          if (v === MISSING) return false;
          const x = a(e);
          return x !== MISSING && test(kfl1String(v), kfl1String(x));
        };
      }
      case 'json':
        arity(0);
        return (e) => {
          const v = t(e);
          return v === MISSING ? MISSING : parseJsonValue(v);
        };
      case 'len':
      case 'size':
        arity(0);
        return (e) => {
          const v = t(e);
          return v === MISSING ? MISSING : celSize(v);
        };
      default:
        throw new FilterSyntaxError(`unknown helper '${n.name}()'`, n.col);
    }
  }
  switch (n.name) {
    case 'datetime': {
      arity(1);
      const text = literalArg(0, 'string') as string;
      const t = parseKfl1Datetime(text);
      if (t === undefined) throw new FilterSyntaxError(`datetime() cannot read ${JSON.stringify(text)} (use "1/2/2006, 3:04:05.000 PM" or RFC 3339)`, args[0].col);
      return always(t);
    }
    case 'limit': {
      arity(1);
      const lim = literalArg(0, 'number') as number;
      if (!Number.isInteger(lim) || lim < 0) throw new FilterSyntaxError('limit() takes a whole number', args[0].col);
      ctx.limit = lim;
      return always(true);
    }
    case 'rlimit':
    case 'leftOff':
      ctx.warnings.push(`${n.name}() is a Kubeshark database option and is ignored here`);
      return always(true);
    case 'redact':
      if (args.length === 0) throw new FilterSyntaxError('redact() takes field paths', n.col);
      for (let i = 0; i < args.length; i++) ctx.redactions.push(literalArg(i, 'string') as string);
      return always(true);
    case 'len':
    case 'size': {
      arity(1);
      const a = k1(args[0], ctx);
      return (e) => {
        const v = a(e);
        return v === MISSING ? MISSING : celSize(v);
      };
    }
    case 'json': {
      arity(1);
      const a = k1(args[0], ctx);
      return (e) => {
        const v = a(e);
        return v === MISSING ? MISSING : parseJsonValue(v);
      };
    }
    default:
      throw new FilterSyntaxError(`unknown helper '${n.name}()'`, n.col);
  }
}

const STRING_TESTS = {
  startsWith: (s: string, x: string) => s.startsWith(x),
  endsWith: (s: string, x: string) => s.endsWith(x),
  contains: (s: string, x: string) => s.includes(x),
};

/** json(): a string holding JSON (or base64 of JSON, as Kubeshark tries) → value; objects pass through. */
function parseJsonValue(v: unknown): unknown {
  if (typeof v !== 'string') return v !== null && typeof v === 'object' ? v : MISSING;
  const s = v.trim();
  try {
    if (s.startsWith('{') || s.startsWith('[')) return JSON.parse(s);
    const decoded = Buffer.from(s, 'base64').toString('utf8').trim();
    if (decoded.startsWith('{') || decoded.startsWith('[')) return JSON.parse(decoded);
  } catch {
    // not JSON: treated like a missing field
  }
  return MISSING;
}

// =====================================================================
// KFL2 (CEL subset)
// =====================================================================

export function compileKfl2(ast: Node | null, ctx: CompileContext): (e: Entry) => boolean {
  if (!ast) return () => true;
  const errors = (ctx.errors ??= new EvalErrors());
  const f = k2(ast, ctx);
  const budget = ctx.macros;
  if (!budget && errors.sites === 0) return (e) => celTruthy(f(e));
  return (e) => {
    if (budget) budget.left = MAX_STEPS;
    try {
      return celTruthy(f(e));
    } catch (err) {
      // An entry that met CEL's error, or took the macros over their steps, is a non-match, counted.
      if (err instanceof CelEvalError) errors.count(err);
      else if (err === OVER_BUDGET && budget) budget.entriesOver++;
      else throw err;
      return false;
    }
  };
}

/** The run's evaluation errors, made on first use (k2 may be reached without compileKfl2 in tests). */
function errorsOf(ctx: CompileContext): EvalErrors {
  return (ctx.errors ??= new EvalErrors());
}

function k2(n: Node, ctx: CompileContext): Fn {
  switch (n.kind) {
    case 'literal':
      return always(n.value);
    case 'regex':
      return always(n.re);
    case 'protocol': {
      const p = n.name;
      const slot = ctx.scope?.get(p);
      if (slot) return () => slot.value;
      return (e) => e.protocol === p;
    }
    case 'list': {
      const items = n.items.map((i) => k2(i, ctx));
      if (n.items.every((i) => i.kind === 'literal')) {
        const v = n.items.map((i) => (i as { value: unknown }).value);
        return always(v);
      }
      return (e) => items.map((f) => f(e));
    }
    case 'map': {
      const entries = n.entries.map(([k, v]) => [k2(k, ctx), k2(v, ctx)] as const);
      return (e) => {
        const o: Record<string, unknown> = {};
        for (const [k, v] of entries) o[celString(k(e))] = v(e);
        return o;
      };
    }
    case 'ident':
    case 'member':
      return k2Name(n, ctx);
    case 'index': {
      const t = queryMapRead(n.target, ctx) ?? k2(n.target, ctx);
      const ci = isHeaderMap(n.target);
      // A list has no value past its end in CEL (`[1, 2][5]`, `dns_questions[0]` of an entry without
      // questions): an error, counted, not the default a missing map key or field gives.
      // (A site only where the index can be a number: `request.headers["a"]` stays free of the catching path.)
      const numeric = !(n.index.kind === 'literal' && typeof n.index.value === 'string');
      const outOfRange = numeric ? errorsOf(ctx).site('index out of range', n.index.col) : undefined;
      const listItem = (list: unknown[], key: number) => {
        if (!Number.isInteger(key) || key < 0 || key >= list.length) throw outOfRange;
        return list[key];
      };
      if (n.index.kind === 'literal' && (typeof n.index.value === 'string' || typeof n.index.value === 'number')) {
        const s: PathStep = { key: n.index.value, ci };
        if (typeof s.key === 'number') {
          const key = s.key;
          return (e) => {
            const v = t(e);
            return Array.isArray(v) ? listItem(v, key) : step(v, s);
          };
        }
        return (e) => step(t(e), s);
      }
      const i = k2(n.index, ctx);
      return (e) => {
        const key = i(e);
        if (typeof key === 'number') {
          const v = t(e);
          return Array.isArray(v) ? listItem(v, key) : step(v, { key, ci });
        }
        return typeof key === 'string' ? step(t(e), { key, ci }) : undefined;
      };
    }
    case 'call':
      return k2Call(n, ctx);
    case 'unary': {
      const a = k2(n.arg, ctx);
      if (n.op === '!') return (e) => !celTruthy(a(e));
      const err = errorsOf(ctx).site("'-' of a value that is not a number", n.col);
      return (e) => {
        const v = a(e);
        if (typeof v === 'number') return -v;
        if (v === undefined || v === null) return 0;
        throw err;
      };
    }
    case 'logical': {
      const errors = errorsOf(ctx);
      const sitesBefore = errors.sites;
      const terms = n.terms.map((t) => k2(t, ctx));
      const decides = n.op === 'or';
      if (errors.sites === sitesBefore) {
        return (e) => {
          for (const term of terms) if (celTruthy(term(e)) === decides) return decides;
          return !decides;
        };
      }
      // CEL's || and && are commutative over errors: a term that decides wins over an error in
      // another (on either side); with none deciding, the first error is the answer.
      return (e) => {
        let error: CelEvalError | undefined;
        for (const term of terms) {
          try {
            if (celTruthy(term(e)) === decides) return decides;
          } catch (x) {
            if (!(x instanceof CelEvalError)) throw x;
            error ??= x;
          }
        }
        if (error) throw error;
        return !decides;
      };
    }
    case 'cond': {
      const t = k2(n.test, ctx);
      const a = k2(n.then, ctx);
      const b = k2(n.else, ctx);
      return (e) => (celTruthy(t(e)) ? a(e) : b(e));
    }
    case 'binary':
      return k2Binary(n, ctx);
  }
}

const NO_PARAMETERS: Readonly<Record<string, string>> = Object.freeze(Object.create(null));

/**
 * `query_string` is text in shark (`query_string.contains("id=7")`, as users of shark wrote it) and a
 * map in Kubeshark (`query_string["id"]`): where the expression asks for a map — an index, a field,
 * `in`, map_get(), a macro, has() — it reads the map (kfl2-variables.ts queryMap), elsewhere the text.
 */
function queryMapRead(n: Node, ctx: CompileContext): Fn | undefined {
  if (n.kind !== 'ident' || n.name !== 'query_string' || ctx.scope?.has('query_string')) return undefined;
  return (e) => queryMap(e) ?? NO_PARAMETERS;
}

function isHeaderMap(n: Node): boolean {
  const name = n.kind === 'member' ? n.name : n.kind === 'ident' ? n.name : '';
  return CASE_INSENSITIVE_PARENTS.has(name);
}

/** Dotted names resolve to the longest known variable; the rest selects fields of its value. */
function k2Name(n: Node, ctx: CompileContext): Fn {
  const names: string[] = [];
  let cur: Node = n;
  while (cur.kind === 'member') {
    names.unshift(cur.name);
    cur = cur.target;
  }
  if (cur.kind !== 'ident') {
    // A field of a computed value: `map_get(m, "k", {}).x`, `request.headers["a"].b`.
    const base = k2(cur, ctx);
    const steps = names.map((key, i) => ({ key, ci: i === 0 ? isHeaderMap(cur) : CASE_INSENSITIVE_PARENTS.has(names[i - 1]) }));
    const read = pathReader(steps);
    return (e) => read(base(e));
  }
  // A macro's loop variable (`q` in `dns_questions.exists(q, q.endsWith(".local"))`) comes first.
  const slot = ctx.scope?.get(cur.name);
  if (slot) {
    const read = pathReader(names.map((key, i) => ({ key, ci: i === 0 ? false : CASE_INSENSITIVE_PARENTS.has(names[i - 1]) })));
    return () => read(slot.value);
  }
  if (names.length > 0) {
    const params = queryMapRead(cur, ctx);
    if (params) {
      const read = pathReader(names.map((key) => ({ key, ci: false })));
      return (e) => read(params(e));
    }
  }
  names.unshift(cur.name);
  for (let len = names.length; len > 0; len--) {
    const name = names.slice(0, len).join('.');
    const v = KFL2_VARIABLES.get(name);
    if (!v) continue;
    const dflt = v.fallback ?? typeDefault(v.type);
    const get = v.get;
    const base: Fn = (e) => {
      const x = get(e);
      return x === undefined || x === null ? dflt : x;
    };
    if (len === names.length) return base;
    const rest = names.slice(len);
    const steps = rest.map((key, i) => ({ key, ci: CASE_INSENSITIVE_PARENTS.has(i === 0 ? names[len - 1] : rest[i - 1]) }));
    const read = pathReader(steps);
    return (e) => read(base(e));
  }
  if (ENTRY_ROOTS.has(names[0])) {
    const steps = names.map((key, i) => ({ key, ci: i > 0 && CASE_INSENSITIVE_PARENTS.has(names[i - 1]) }));
    return pathReader(steps) as Fn;
  }
  throw new FilterSyntaxError(`unknown variable '${names[0]}'`, firstCol(n));
}

function firstCol(n: Node): number {
  return n.kind === 'member' ? firstCol(n.target) : n.col;
}

function k2Binary(n: Extract<Node, { kind: 'binary' }>, ctx: CompileContext): Fn {
  const l = k2(n.left, ctx);
  const r = (n.op === 'in' ? queryMapRead(n.right, ctx) : undefined) ?? k2(n.right, ctx);
  const rightLit = n.right.kind === 'literal' ? n.right.value : undefined;
  switch (n.op) {
    case '==':
    case '!=': {
      const neg = n.op === '!=';
      if (typeof rightLit === 'string') grpcPathNote(n.left, rightLit, ctx);
      if (typeof rightLit === 'string' || typeof rightLit === 'number') {
        const lit = rightLit;
        return (e) => {
          const v = l(e);
          return (v === lit || (typeof v !== typeof lit && celEqual(v, lit))) !== neg;
        };
      }
      return (e) => celEqual(l(e), r(e)) !== neg;
    }
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const cmp = ORDER[n.op];
      if (typeof rightLit === 'number') {
        const lit = rightLit;
        return (e) => {
          const v = l(e);
          return typeof v === 'number' ? cmp(v, lit) : v === undefined ? cmp(0, lit) : false;
        };
      }
      return (e) => {
        const c = celCompare(l(e), r(e));
        return c !== undefined && cmp(c, 0);
      };
    }
    case 'in': {
      // Header and cookie names ignore case here as in lookups (`"Host" in request.headers`), whether the
      // headers are a map or HTTP/2's [{name, value}] list.
      if (isHeaderMap(n.right)) {
        return (e) => {
          const c = r(e);
          if (c === null || typeof c !== 'object') return false;
          return step(c, { key: celString(l(e)), ci: true }) !== undefined;
        };
      }
      // A list written out in the expression is looked up in a Set: `x in [15,000 paths]` compared each
      // entry with every item (0.35 ms an entry). A missing field (equal to an item's default) takes the walk.
      if (n.right.kind === 'list' && n.right.items.length > 8 && n.right.items.every((i) => i.kind === 'literal')) {
        const items = n.right.items.map((i) => (i as { value: unknown }).value);
        const set = new Set(items);
        return (e) => {
          const x = l(e);
          if (x === undefined) return items.some((y) => celEqual(x, y));
          return (x === null || typeof x !== 'object') && set.has(x);
        };
      }
      return (e) => {
        const x = l(e);
        const c = r(e);
        if (Array.isArray(c)) return c.some((y) => celEqual(x, y));
        if (typeof c === 'string') return c.includes(celString(x));
        if (c !== null && typeof c === 'object') return Object.prototype.hasOwnProperty.call(c, celString(x));
        return false;
      };
    }
    case '+': {
      // CEL adds numbers, joins strings and lists; anything else (`1 + "a"`) is an error. A missing
      // field (undefined, or a null the capture lost) takes the other side's default, as in comparisons.
      const err = errorsOf(ctx).site("'+' of values of different types", n.col);
      return (e) => {
        let a = l(e);
        let b = r(e);
        if (a === undefined || a === null) a = b === undefined || b === null ? 0 : defaultLike(b);
        if (b === undefined || b === null) b = defaultLike(a);
        if (typeof a === 'number' && typeof b === 'number') return a + b;
        if (typeof a === 'string' && typeof b === 'string') return a + b;
        if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
        throw err;
      };
    }
    case '-':
    case '*': {
      const err = errorsOf(ctx).site(`'${n.op}' of a value that is not a number`, n.col);
      const times = n.op === '*';
      return (e) => {
        const a = num(l(e), err);
        const b = num(r(e), err);
        return times ? a * b : a - b;
      };
    }
    case '/':
    case '%': {
      const errors = errorsOf(ctx);
      const err = errors.site(`'${n.op}' of a value that is not a number`, n.col);
      const byZero = errors.site(n.op === '/' ? 'division by zero' : 'modulus by zero', n.col);
      const divide = n.op === '/';
      // CEL divides ints as ints (`7 / 2 == 3`, `elapsed_time / 1000000 >= 1` is "a whole second"),
      // truncating toward zero; a double on either side (`7 / 2.0`, double(x)) divides as doubles.
      const ints = divide && !isDouble(n.left) && !isDouble(n.right);
      return (e) => {
        const a = num(l(e), err);
        const b = num(r(e), err);
        if (b === 0) throw byZero;
        if (!divide) return a % b;
        return ints && Number.isInteger(a) && Number.isInteger(b) ? Math.trunc(a / b) : a / b;
      };
    }
  }
}

/**
 * True when CEL would type `n` a double: a double literal, double(), or arithmetic on one. Numbers
 * read from entries are ints when whole (KFL2's numeric variables are ints), doubles otherwise.
 */
function isDouble(n: Node): boolean {
  switch (n.kind) {
    case 'literal':
      return n.double === true;
    case 'call':
      return n.name === 'double';
    case 'unary':
      return isDouble(n.arg);
    case 'binary':
      return ['+', '-', '*', '/', '%'].includes(n.op) && (isDouble(n.left) || isDouble(n.right));
    case 'cond':
      return isDouble(n.then) || isDouble(n.else);
    default:
      return false;
  }
}

/** An arithmetic operand: a number, 0 for a missing field, else CEL's error. */
function num(v: unknown, err: CelEvalError): number {
  if (typeof v === 'number') return v;
  if (v === undefined || v === null) return 0;
  throw err;
}

/**
 * shark's grpc_method was the whole path until it followed Kubeshark's (the method's name alone):
 * `grpc_method == "/pkg.Svc/Get"` now matches nothing, so say what to write instead.
 */
function grpcPathNote(left: Node, lit: string, ctx: CompileContext): void {
  if (left.kind !== 'ident' || left.name !== 'grpc_method' || !lit.includes('/') || ctx.scope?.has('grpc_method')) return;
  const note = `grpc_method is the method's name alone, as in Kubeshark (${JSON.stringify(lit.slice(lit.lastIndexOf('/') + 1))}); the whole path is path == ${JSON.stringify(lit)}`;
  if (!ctx.warnings.includes(note)) ctx.warnings.push(note);
}

function k2Call(n: Extract<Node, { kind: 'call' }>, ctx: CompileContext): Fn {
  const args = n.args;
  const arity = (min: number, max = min): void => {
    if (args.length < min || args.length > max) {
      throw new FilterSyntaxError(`${n.name}() takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'}`, n.col);
    }
  };
  const stringLiteral = (i: number): string => {
    const a = args[i];
    if (a.kind !== 'literal' || typeof a.value !== 'string') throw new FilterSyntaxError(`${n.name}() takes a string literal`, a.col);
    return a.value;
  };
  if (n.target) {
    // has(x.y) is a macro on its argument, not a method; methods below.
    const t = k2(n.target, ctx);
    if (MACROS.has(n.name)) {
      const budget = (ctx.macros ??= new MacroBudget());
      return compileMacro(n, queryMapRead(n.target, ctx) ?? t, budget, (body, name, slot) => k2(body, { ...ctx, errors: errorsOf(ctx), scope: new Map(ctx.scope ?? []).set(name, slot) }));
    }
    switch (n.name) {
      case 'contains':
      case 'startsWith':
      case 'endsWith': {
        arity(1);
        const test = STRING_TESTS[n.name];
        if (args[0].kind === 'literal' && typeof args[0].value === 'string') {
          const lit = args[0].value;
          return (e) => {
            const v = t(e);
            return typeof v === 'string' ? test(v, lit) : test(celString(v), lit);
          };
        }
        const a = k2(args[0], ctx);
        return (e) => test(celString(t(e)), celString(a(e)));
      }
      case 'matches': {
        arity(1);
        const re = compileRegex(stringLiteral(0), args[0].col);
        return (e) => re.test(celString(t(e)));
      }
      case 'size':
        arity(0);
        return (e) => celSize(t(e));
      case 'lowerAscii':
        arity(0);
        return (e) => celString(t(e)).toLowerCase();
      case 'upperAscii':
        arity(0);
        return (e) => celString(t(e)).toUpperCase();
      case 'trim':
        arity(0);
        return (e) => celString(t(e)).trim();
      default:
        throw new FilterSyntaxError(`unknown method '${n.name}()'`, n.col);
    }
  }
  switch (n.name) {
    case 'size': {
      arity(1);
      const a = k2(args[0], ctx);
      return (e) => celSize(a(e));
    }
    case 'map_get': {
      arity(3);
      const m = queryMapRead(args[0], ctx) ?? k2(args[0], ctx);
      const k = k2(args[1], ctx);
      const d = k2(args[2], ctx);
      return (e) => {
        const o = m(e);
        const key = k(e);
        if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
          const v = (o as Record<string, unknown>)[celString(key)];
          if (v !== undefined) return v;
        }
        return d(e);
      };
    }
    case 'timestamp': {
      arity(1);
      const text = stringLiteral(0);
      const t = parseTimestamp(text);
      if (t === undefined) throw new FilterSyntaxError(`timestamp() cannot read ${JSON.stringify(text)} (RFC 3339 expected)`, args[0].col);
      return always(t);
    }
    case 'duration': {
      arity(1);
      const text = stringLiteral(0);
      const d = parseDuration(text);
      if (d === undefined) throw new FilterSyntaxError(`duration() cannot read ${JSON.stringify(text)} (e.g. "5m", "1h30m", "250ms")`, args[0].col);
      return always(d);
    }
    case 'now':
      arity(0);
      return always(ctx.now);
    case 'string': {
      arity(1);
      const a = k2(args[0], ctx);
      return (e) => celString(a(e));
    }
    case 'int':
    case 'double': {
      arity(1);
      const a = k2(args[0], ctx);
      const whole = n.name === 'int';
      return (e) => {
        const v = a(e);
        const x = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : typeof v === 'boolean' ? Number(v) : 0;
        if (Number.isNaN(x)) return 0;
        return whole ? Math.trunc(x) : x;
      };
    }
    case 'has': {
      arity(1);
      const a = args[0];
      if (a.kind !== 'member') throw new FilterSyntaxError('has() takes a field selection like has(request.headers.x)', a.col);
      const target = queryMapRead(a.target, ctx) ?? k2(a.target, ctx);
      const s: PathStep = { key: a.name, ci: isHeaderMap(a.target) };
      return (e) => step(target(e), s) !== undefined;
    }
    default:
      throw new FilterSyntaxError(`unknown function '${n.name}()'`, n.col);
  }
}
