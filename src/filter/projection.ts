// Parse only what the predicate reads. JSON.parse of whole lines dominates a
// filter's cost, and most lines do not match; so for each line we first walk
// the raw JSON text, skipping every value the expression never looks at and
// building a small object with only the fields it does (e.g. `protocol` and
// `response.status`). The same compiled predicate runs on that object; because
// it reads nothing outside it, the answer is the same as on the full entry.
// Lines that match (and anything the scanner cannot walk) are then parsed in
// full with JSON.parse, which also reports bad lines.

import { MACROS } from './cel-macros.js';
import type { Entry } from '../model/entry.js';
import type { Node } from './ast.js';
import { children, type Dialect } from './parser.js';
import { CASE_INSENSITIVE_PARENTS } from './values.js';
import { ENTRY_ROOTS, KFL2_VARIABLES } from './kfl2-variables.js';
import { binaryToText } from '../ndjson/read.js';

/** key → sub-tree of needed keys, or WHOLE when the whole value is read. */
export type FieldTree = Map<string, FieldTree | typeof WHOLE>;
export const WHOLE = true as const;

class NotProjectable extends Error {}

/** The entry fields an expression reads, or undefined when that cannot be bounded. */
export function neededFields(ast: Node | null, dialect: Dialect): FieldTree | undefined {
  const tree: FieldTree = new Map();
  if (!ast) return tree;
  try {
    collect(ast, dialect, tree);
  } catch (err) {
    if (err instanceof NotProjectable) return undefined;
    throw err;
  }
  return tree;
}

function add(tree: FieldTree, path: string[]): void {
  let t = tree;
  for (let i = 0; i < path.length; i++) {
    const cur = t.get(path[i]);
    if (cur === WHOLE) return;
    if (i === path.length - 1) {
      t.set(path[i], WHOLE);
      return;
    }
    if (cur === undefined) {
      const sub: FieldTree = new Map();
      t.set(path[i], sub);
      t = sub;
    } else t = cur;
  }
}

/** `bound`: the loop variables of the KFL2 macros around `n` (cel-macros.ts); they read no field. */
function collect(n: Node, dialect: Dialect, tree: FieldTree, bound: ReadonlySet<string> = NONE): void {
  switch (n.kind) {
    case 'protocol':
      if (!bound.has(n.name)) add(tree, ['protocol']);
      return;
    case 'ident':
    case 'member':
    case 'index': {
      const chain = staticChain(n);
      if (!chain) {
        // A path over a computed value (`x.json().y`, `m[k]`): what the value is computed from is enough.
        for (const c of children(n)) collect(c, dialect, tree, bound);
        return;
      }
      if (bound.has(chain.keys[0])) return;
      if (dialect === 'kfl1') return add(tree, truncate(chain.keys));
      // KFL2: the longest known variable, else an entry path.
      for (let len = chain.keys.length; len > 0; len--) {
        const v = KFL2_VARIABLES.get(chain.keys.slice(0, len).join('.'));
        if (!v) continue;
        if (!v.reads) throw new NotProjectable();
        for (const r of v.reads) add(tree, r.split('.'));
        return;
      }
      if (ENTRY_ROOTS.has(chain.keys[0])) return add(tree, truncate(chain.keys));
      throw new NotProjectable();
    }
    case 'call':
      if (dialect === 'kfl2' && n.target && MACROS.has(n.name) && n.args.length > 0 && (n.args[0].kind === 'ident' || n.args[0].kind === 'protocol')) {
        // `range.exists(x, body)`: the range's fields, and the body's with x bound.
        collect(n.target, dialect, tree, bound);
        const inner = new Set(bound).add(n.args[0].name);
        for (const b of n.args.slice(1)) collect(b, dialect, tree, inner);
        return;
      }
      for (const c of children(n)) collect(c, dialect, tree, bound);
      return;
    default:
      for (const c of children(n)) collect(c, dialect, tree, bound);
  }
}

const NONE: ReadonlySet<string> = new Set();

/** `a.b["c"]` → ['a','b','c']; undefined when a step is computed. */
function staticChain(n: Node): { keys: string[] } | undefined {
  const keys: string[] = [];
  let cur: Node = n;
  for (;;) {
    if (cur.kind === 'member') {
      keys.unshift(cur.name);
      cur = cur.target;
    } else if (cur.kind === 'index') {
      if (cur.index.kind !== 'literal' || (typeof cur.index.value !== 'string' && typeof cur.index.value !== 'number')) return undefined;
      keys.unshift(typeof cur.index.value === 'number' ? '#' : cur.index.value);
      cur = cur.target;
    } else if (cur.kind === 'ident') {
      keys.unshift(cur.name);
      return { keys };
    } else return undefined;
  }
}

/** Stop at array indexes and at case-insensitive maps (headers): the whole value is read there. */
function truncate(keys: string[]): string[] {
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] === '#') return keys.slice(0, i);
    if (CASE_INSENSITIVE_PARENTS.has(keys[i])) return keys.slice(0, i + 1);
  }
  return keys;
}

// ---------------------------------------------------------------------
// The scanner: walks JSON text, materialising only the keys in the tree.
// ---------------------------------------------------------------------

/**
 * A function from a line to the projected entry, or undefined when the line
 * must be parsed in full. `binary`: lines are latin1-decoded bytes (see
 * readRawLines' `binary` option); values taken from them are UTF-8 decoded.
 */
export function makeProjector(tree: FieldTree, binary = false, protocols?: string[]): (line: string) => Entry | undefined {
  const conv = binary ? binaryToText : identity;
  const wanted = compileTree(tree, binary);
  // When the predicate can only be true for these protocols, a line whose
  // `protocol` is another one is decided as soon as that key is read: the rest
  // is not scanned (if the line at least ends like an object, i.e. is not cut short).
  const stop = protocols && wanted.names.includes('protocol') ? new Set(protocols) : undefined;
  return (line) => {
    try {
      let i = ws(line, 0);
      if (line.charCodeAt(i) !== 123 /* { */) return undefined;
      const out = Object.create(null) as Record<string, unknown>;
      i = object(line, i, wanted, out, conv, stop, true);
      if (i === DECIDED) return endsLikeObject(line) ? (out as unknown as Entry) : undefined;
      if (ws(line, i) !== line.length) return undefined;
      return out as unknown as Entry;
    } catch (err) {
      if (err instanceof ScanError || err instanceof SyntaxError) return undefined;
      throw err;
    }
  };
}

const identity = (s: string): string => s;

/** The keys wanted at one level: as spelled in the line (binary: their UTF-8 bytes), their names, what is wanted below. */
interface Wanted {
  spelled: string[];
  names: string[];
  below: Array<Wanted | typeof WHOLE>;
  /** The keys quoted as a line spells them, and the escape that could spell one otherwise (mayRepeat). */
  quoted: QuotedKey[];
  escape: string;
}

function compileTree(tree: FieldTree, binary: boolean): Wanted {
  const w: Wanted = { spelled: [], names: [], below: [], quoted: [], escape: '\\u' };
  for (const [k, v] of tree) {
    w.names.push(k);
    w.spelled.push(binary ? Buffer.from(k, 'utf8').toString('latin1') : k);
    w.below.push(v === WHOLE ? WHOLE : compileTree(v, binary));
    w.quoted.push(new QuotedKey(`"${w.spelled[w.spelled.length - 1]}"`));
    // `\/`, `\"` and `\\` spell a key's '/', '"' and '\' otherwise; `\u` any character.
    if (/[/"\\]/.test(k)) w.escape = '\\';
  }
  return w;
}

/** Which wanted key (index) the key string at s[i] (its '"') to keyEnd is; -1 when none. */
function match(s: string, i: number, keyEnd: number, w: Wanted, conv: (s: string) => string): number {
  const len = keyEnd - i - 2;
  for (let k = 0; k < w.spelled.length; k++) {
    const sp = w.spelled[k];
    if (sp.length === len && s.startsWith(sp, i + 1)) return k;
  }
  // A key written with escapes (`"\u0070rotocol"`) can still be a wanted one.
  for (let j = i + 1; j < keyEnd - 1; j++) {
    if (s.charCodeAt(j) === 92) return w.names.indexOf(JSON.parse(conv(s.slice(i, keyEnd))) as string);
  }
  return -1;
}

class ScanError extends Error {}
const SCAN_ERROR = new ScanError('scan');

function ws(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) i++;
    else return i;
  }
}

/** object() result when the line is decided before its end (see object()). */
const DECIDED = -1;

/** Longest needle indexOf is given: V8 searches for longer ones with tables it builds on every call (3× slower on entry lines). */
const NEEDLE = 6;

/** A key as a line spells it between its quotes, and the tail of that searched for it (holds()). */
class QuotedKey {
  readonly tail: string;
  constructor(readonly text: string) {
    this.tail = text.slice(Math.max(0, text.length - NEEDLE));
  }
}
const PROTOCOL_QUOTED = [new QuotedKey('"protocol"')];

/**
 * Whether the rest of a line, from `from`, may hold one of these keys again.
 * JSON.parse keeps the last of duplicate keys, and so must the projection, or a
 * crafted line read as `dns` here would be `http` to JSON.parse, jq and every
 * reader after the filter. Searched natively: a key's quoted spelling (never
 * found inside a string value, where a quote is escaped), and any escape with
 * which a key can be spelled otherwise (`"\u0070rotocol"`). A match anywhere
 * (a key of another object, a value) only means the rest is scanned.
 */
function mayRepeat(s: string, from: number, quoted: QuotedKey[], escape: string): boolean {
  for (const q of quoted) if (holds(s, from, q)) return true;
  return s.indexOf(escape, from) >= 0;
}

/** Whether s holds q from `from` on: its tail searched, the rest compared where the tail is found. */
function holds(s: string, from: number, q: QuotedKey): boolean {
  const back = q.text.length - q.tail.length;
  for (let j = s.indexOf(q.tail, from + back); j >= 0; j = s.indexOf(q.tail, j + 1)) {
    if (back === 0 || s.startsWith(q.text, j - back)) return true;
  }
  return false;
}

function endsLikeObject(s: string): boolean {
  let j = s.length - 1;
  while (j > 0 && (s.charCodeAt(j) === 32 || s.charCodeAt(j) === 9 || s.charCodeAt(j) === 13)) j--;
  return s.charCodeAt(j) === 125;
}

/**
 * Parse the object at s[i] ('{') keeping only the wanted keys; returns the
 * index after '}' (or DECIDED, see makeProjector). A key met again replaces
 * what was kept for it, as in JSON.parse, so every key of an object is read
 * (values not wanted are skipped). Only at the top may the line be decided
 * before its end: once every wanted key is read (bodies and headers after
 * the last wanted field are then never scanned), or once `protocol` rules
 * the line out; and only where no key that matters may come again after
 * (mayRepeat), else the rest is read too.
 */
function object(s: string, i: number, w: Wanted, out: Record<string, unknown>, conv: (s: string) => string, stop?: Set<string>, top = false): number {
  i = ws(s, i + 1);
  if (s.charCodeAt(i) === 125 /* } */) return i + 1;
  const wantedCount = w.names.length <= 30 ? w.names.length : Infinity;
  let seen = 0;
  let found = 0;
  for (;;) {
    if (s.charCodeAt(i) !== 34 /* " */) throw SCAN_ERROR;
    const keyEnd = stringEnd(s, i);
    const k = match(s, i, keyEnd, w, conv);
    i = ws(s, keyEnd);
    if (s.charCodeAt(i) !== 58 /* : */) throw SCAN_ERROR;
    i = ws(s, i + 1);
    if (k < 0) i = skip(s, i);
    else {
      const below = w.below[k];
      if (below !== WHOLE && s.charCodeAt(i) === 123) {
        const sub = Object.create(null) as Record<string, unknown>;
        i = object(s, i, below, sub, conv);
        out[w.names[k]] = sub;
      } else {
        const end = skip(s, i);
        const v = value(s, i, end, conv);
        out[w.names[k]] = v;
        i = end;
        if (stop && w.names[k] === 'protocol' && !stop.has(v as string)) {
          if (!mayRepeat(s, i, PROTOCOL_QUOTED, w.escape)) return DECIDED;
          stop = undefined;
        }
      }
      if (top && (seen & (1 << k)) === 0) {
        seen |= 1 << k;
        if (++found === wantedCount) {
          if (!mayRepeat(s, i, w.quoted, w.escape)) return DECIDED;
          top = false;
        }
      }
    }
    i = ws(s, i);
    const c = s.charCodeAt(i);
    if (c === 44 /* , */) {
      i = ws(s, i + 1);
      continue;
    }
    if (c === 125) return i + 1;
    throw SCAN_ERROR;
  }
}

/** The value in s[start, end): cheap forms directly, the rest through JSON.parse. */
function value(s: string, start: number, end: number, conv: (s: string) => string): unknown {
  const c = s.charCodeAt(start);
  if (c === 34) {
    const inner = conv(s.slice(start + 1, end - 1));
    return inner.indexOf('\\') < 0 ? inner : JSON.parse(`"${inner}"`);
  }
  return JSON.parse(conv(s.slice(start, end)));
}

/** Index after the string starting at s[i] ('"'). */
function stringEnd(s: string, i: number): number {
  let j = s.indexOf('"', i + 1);
  for (;;) {
    if (j < 0) throw SCAN_ERROR;
    // Escaped quote: an odd number of backslashes before it.
    let k = j - 1;
    while (s.charCodeAt(k) === 92) k--;
    if ((j - 1 - k) % 2 === 0) return j + 1;
    j = s.indexOf('"', j + 1);
  }
}

/** Index after the '}' or ']' closing the object or array that s[i] is inside of. */
function skipRest(s: string, i: number): number {
  let depth = 1;
  const n = s.length;
  while (i < n) {
    const d = s.charCodeAt(i);
    if (d === 34) {
      i = stringEnd(s, i);
      continue;
    }
    if (d === 123 || d === 91) depth++;
    else if (d === 125 || d === 93) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  throw SCAN_ERROR;
}

/** Index after the value starting at s[i]. */
function skip(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 34) return stringEnd(s, i);
  if (c === 123 || c === 91) return skipRest(s, i + 1);
  // Number, true, false, null: up to the next delimiter.
  const start = i;
  const n = s.length;
  while (i < n) {
    const d = s.charCodeAt(i);
    if (d === 44 || d === 125 || d === 93 || d === 32 || d === 9 || d === 10 || d === 13) break;
    i++;
  }
  if (i === start) throw SCAN_ERROR;
  return i;
}
