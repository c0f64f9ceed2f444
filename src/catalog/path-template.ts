// Turns observed URL paths into templates: `/api/v1/users/42/orders` →
// `/api/v1/users/{id}/orders`. Two steps, as API catalogue tools do it:
//  1. a segment that *looks* like a value is replaced by its kind: numbers
//     `{id}`, UUIDs `{uuid}`, hex hashes `{hash}`, dates `{date}`, long opaque
//     tokens `{token}`; no statistics needed, so it works on the first call.
//  2. a position that shows more distinct literal values than the threshold
//     (slugs: `/books/hamlet`, `/books/macbeth`, …) is folded to `{param}`.
//     Counting happens per (scope, templated prefix), with at most
//     threshold + 1 values remembered per position, so memory stays bounded
//     by the number of distinct endpoints, never by the number of calls.

export const DEFAULT_FOLD_THRESHOLD = 20;
/** Positions tracked for folding (each holds ≤ threshold + 1 values); beyond, no new position is learned. */
export const MAX_FOLD_NODES = 50_000;
/**
 * Segments of one path that are templated; the rest of a deeper path is kept as it came. A crafted
 * path of 2 million segments (4 MB, `/a/a/a…`) was split, tested and keyed a segment at a time: 5 s
 * and 270 MB for one call. No API route is a hundred segments deep.
 */
export const MAX_TEMPLATED_SEGMENTS = 128;
/** Longest templated prefix a position is learned under (it is part of the position's key); deeper positions are not learned. */
export const MAX_LEARNED_PREFIX_CHARS = 4096;

const NUMERIC = /^-?\d+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Git object ids, sha256 digests, Mongo ObjectIds (24), md5 (32): hex with at least one digit.
const HEX = /^(?=[^0-9]*[0-9])[0-9a-f]{16,}$/i;
const DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
// Base64url/JWT-ish tokens: long, mixed letters and digits, no dictionary shape.
const TOKEN = /^(?=.*[0-9])(?=.*[a-zA-Z])[A-Za-z0-9_.~=-]{24,}$/;

/** The kind a single segment's value shows, or undefined for a literal. */
export function segmentKind(segment: string): string | undefined {
  if (segment === '') return undefined;
  if (segment.startsWith('{') && segment.endsWith('}')) return segment.slice(1, -1);
  if (NUMERIC.test(segment)) return 'id';
  if (UUID.test(segment)) return 'uuid';
  if (DATE.test(segment)) return 'date';
  if (HEX.test(segment)) return 'hash';
  if (TOKEN.test(segment)) return 'token';
  return undefined;
}

/** The path without query string or fragment, percent-decoding left alone. */
export function pathOnly(path: string): string {
  let end = path.length;
  const q = path.indexOf('?');
  if (q >= 0) end = q;
  const h = path.indexOf('#');
  if (h >= 0 && h < end) end = h;
  const p = path.slice(0, end);
  return p === '' ? '/' : p;
}

/**
 * A path from the wire with its literal `{` and `}` percent-encoded. Braces
 * in a template mean placeholders (`/users/{id}`): a client that sent
 * `/a/{b}/c` as it is must not invent a parameter `b` (nor `/{}` one with no
 * name, which no OpenAPI tool accepts). RFC 3986 does not allow them
 * unencoded anyway, so `%7B`/`%7D` is what a correct client would have sent.
 */
export function literalBraces(path: string): string {
  return path.replace(/[{}]/g, (c) => (c === '{' ? '%7B' : '%7D'));
}

/**
 * A path's segments (split at '/'), at most MAX_TEMPLATED_SEGMENTS of them: when the path is
 * deeper, the last one holds the rest of the path as it came, slashes and all (`deep`).
 */
function boundedSegments(path: string): { segs: string[]; deep: boolean } {
  const segs: string[] = [];
  let start = 0;
  for (;;) {
    const slash = path.indexOf('/', start);
    if (slash < 0) break;
    if (segs.length === MAX_TEMPLATED_SEGMENTS - 1) return { segs: [...segs, path.slice(start)], deep: true };
    segs.push(path.slice(start, slash));
    start = slash + 1;
  }
  segs.push(path.slice(start));
  return { segs, deep: false };
}

/** Step 1 with the path's depth told: `deep` when its last element is the untemplated rest (MAX_TEMPLATED_SEGMENTS). */
function templatedSegments(path: string): { segs: string[]; deep: boolean } {
  const { segs, deep } = boundedSegments(pathOnly(path));
  const last = deep ? segs.length - 1 : segs.length;
  for (let i = 0; i < last; i++) {
    const kind = segmentKind(segs[i]);
    if (kind) segs[i] = `{${kind}}`;
  }
  return { segs, deep };
}

/** What catalog and diff say on stderr about paths templated only so far (PathTemplater.deepPaths). */
export function deepPathsNote(n: number): string {
  return `${n} path${n === 1 ? '' : 's'} deeper than ${MAX_TEMPLATED_SEGMENTS} segments or ${MAX_LEARNED_PREFIX_CHARS} characters: templated up to there, the rest kept as it came`;
}

/** Step 1 only: kinds of value-like segments, no learning (past MAX_TEMPLATED_SEGMENTS, the rest as it came). */
export function templateSegments(path: string): string[] {
  return templatedSegments(path).segs;
}

/**
 * Learns which path positions are high-cardinality and templates paths with
 * what it has learned. `scope` separates services and methods: `/{param}` on
 * one service says nothing about another.
 */
export class PathTemplater {
  /** (scope, depth, prefix) → distinct literal values seen there; `null` once folded. */
  private readonly nodes = new Map<string, Set<string> | null>();
  /** Positions that could not be tracked because MAX_FOLD_NODES was reached. */
  untracked = 0;
  /** Paths deeper than MAX_TEMPLATED_SEGMENTS, or whose prefix outgrew MAX_LEARNED_PREFIX_CHARS: templated and learned only so far. */
  deepPaths = 0;
  /** Bumped whenever a position folds: templates made before may now fold further. */
  generation = 0;

  constructor(
    readonly threshold = DEFAULT_FOLD_THRESHOLD,
    private readonly maxNodes = MAX_FOLD_NODES,
  ) {}

  /** Template a path and learn from it. */
  learn(scope: string, path: string): string {
    return this.apply(scope, path, true);
  }

  /** Template a path with what was learned, without learning (re-templating stored keys). */
  template(scope: string, path: string): string {
    return this.apply(scope, path, false);
  }

  /** The folded positions (to carry one templater's decisions over to another: diff's two sides). */
  foldedPositions(): string[] {
    return [...this.nodes].filter(([, v]) => v === null).map(([k]) => k);
  }

  /** Mark positions as folded (keys from another templater's foldedPositions). */
  adoptFolded(keys: Iterable<string>): void {
    for (const k of keys) {
      if (this.nodes.get(k) !== null) {
        this.nodes.set(k, null);
        this.generation++;
      }
    }
  }

  private apply(scope: string, path: string, learn: boolean): string {
    const { segs, deep } = templatedSegments(path);
    // segs[0] is '' (the leading slash); a relative or '*' target stays as it is.
    let prefix = '';
    const learned = deep ? segs.length - 1 : segs.length;
    if (deep && learn) this.deepPaths++;
    for (let i = 1; i < learned; i++) {
      if (prefix.length > MAX_LEARNED_PREFIX_CHARS) {
        if (learn && !deep) this.deepPaths++;
        break;
      }
      const s = segs[i];
      const key = `${scope}\u0000${i}\u0000${prefix}`;
      if (s !== '' && !s.startsWith('{')) {
        const node = this.nodes.get(key);
        if (node === null) segs[i] = '{param}';
        else if (learn) {
          if (node === undefined) {
            if (this.nodes.size < this.maxNodes) this.nodes.set(key, new Set([s]));
            else this.untracked++;
          } else if (!node.has(s)) {
            node.add(s);
            if (node.size > this.threshold) {
              this.nodes.set(key, null);
              this.generation++;
              segs[i] = '{param}';
            }
          }
        }
      }
      prefix += `/${segs[i]}`;
    }
    return segs.join('/');
  }
}

/** Unique OpenAPI parameter names for a template's placeholders: `{id}`, `{id}` → `{id}`, `{id2}`. */
export function nameParameters(template: string): { path: string; params: Array<{ name: string; kind: string }> } {
  const seen = new Map<string, number>();
  const params: Array<{ name: string; kind: string }> = [];
  const path = template.replace(/\{([^}/]*)\}/g, (_m, kind: string) => {
    const n = (seen.get(kind) ?? 0) + 1;
    seen.set(kind, n);
    const name = n === 1 ? kind : `${kind}${n}`;
    params.push({ name, kind });
    return `{${name}}`;
  });
  return { path, params };
}

// ---- shapes of non-HTTP calls ---------------------------------------------

/**
 * A SQL statement with its literals replaced by `?`: strings, numbers,
 * hex/bit literals, `$1` placeholders stay placeholders; IN lists collapse to
 * `(?)`; whitespace is squeezed and the text capped (256 chars).
 */
export function sqlShape(query: string, opts: { doubleQuotedStrings?: boolean } = {}): string {
  // MySQL reads "…" as a string by default; PostgreSQL (and the standard) as an identifier.
  const quotes = opts.doubleQuotedStrings ? `'"` : "'";
  let out = '';
  let i = 0;
  const n = Math.min(query.length, 8192);
  while (i < n) {
    const c = query[i];
    if (quotes.includes(c)) {
      // '…' with '' escapes (and backslash escapes MySQL allows)
      i++;
      while (i < n) {
        if (query[i] === '\\') i += 2;
        else if (query[i] === c && query[i + 1] === c) i += 2;
        else if (query[i] === c) break;
        else i++;
      }
      i++;
      out += '?';
      continue;
    }
    if (c === '-' && query[i + 1] === '-') {
      while (i < n && query[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && query[i + 1] === '*') {
      const end = query.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (/[0-9]/.test(c) && !/[A-Za-z0-9_$]/.test(out[out.length - 1] ?? ' ')) {
      while (i < n && /[0-9a-fA-FxX.eE]/.test(query[i])) i++;
      out += '?';
      continue;
    }
    if (/\s/.test(c)) {
      if (out !== '' && !out.endsWith(' ')) out += ' ';
      i++;
      continue;
    }
    out += c;
    i++;
  }
  // IN lists and rows of literals are one shape however long: (?), and VALUES (?), (?) → VALUES (?).
  out = out.trim().replace(/\(\s*\?(\s*,\s*\?)*\s*\)/g, '(?)').replace(/\(\?\)(\s*,\s*\(\?\))+/g, '(?)').replace(/\s*;$/, '');
  return out.length > 256 ? `${out.slice(0, 255)}…` : out;
}

/** Redis commands whose second word is part of the command (`CLIENT SETNAME`, `CONFIG GET`). */
const REDIS_SUBCOMMANDS = new Set(['CLIENT', 'CONFIG', 'CLUSTER', 'COMMAND', 'XINFO', 'XGROUP', 'OBJECT', 'MEMORY', 'SCRIPT', 'ACL', 'FUNCTION', 'MODULE', 'PUBSUB', 'SLOWLOG', 'LATENCY', 'DEBUG']);

/** A Redis call's shape: the command (and subcommand), with the key templated (`GET session:{id}`). */
export function redisShape(command: string, args: unknown, key: unknown): string {
  const cmd = command.toUpperCase();
  const list = Array.isArray(args) ? args : [];
  if (REDIS_SUBCOMMANDS.has(cmd) && typeof list[0] === 'string') return `${cmd} ${list[0].toUpperCase()}`;
  if (typeof key === 'string' && key !== '') return `${cmd} ${keyShape(key)}`;
  return cmd;
}

/**
 * A Redis key (or DNS name) with value-like parts folded: `session:8a7f…` → `session:{hash}`,
 * `user:42:cart` → `user:{id}:cart`. Not split at '-': UUIDs and dates hold dashes.
 */
export function keyShape(key: string): string {
  return key
    .slice(0, 200)
    .split(/([:/.|])/)
    .map((part, i) => {
      if (i % 2 === 1) return part;
      const kind = segmentKind(part);
      return kind ? `{${kind}}` : part;
    })
    .join('');
}
