// Pull a few fields out of one NDJSON line's bytes without JSON.parse.
// JSON.parse builds every string and object of an entry (headers, bodies…)
// when `map` or `stats` read a dozen fields: that, not the arithmetic, was
// their cost. This scanner walks the raw bytes once, validating all of them
// as strictly as JSON.parse does, and materialises only the wanted fields,
// with exactly the values JSON.parse would give them. Whatever it is not sure
// of (a control character, a bad escape, deep nesting, bad JSON) it declines
// (undefined) and the caller parses the line with JSON.parse, which then also
// reports the bad line as before. So results never depend on the path taken.
//
// Bytes are UTF-8: a byte ≥ 0x80 never decodes to an ASCII character, so
// JSON's structure can be walked on bytes, and a string value decoded alone
// equals the same string decoded as part of its line.

/** Which fields to keep: a nested key set; `true` keeps the whole value. */
export interface FieldSpec {
  [key: string]: FieldSpec | true | KeyTest;
}

/**
 * Keep (whole) every key of an object for which `test` holds: e.g. any
 * spelling of a Host header. `lengths`: the byte lengths a plain ASCII key
 * can have to pass (others are not decoded to be tested).
 */
export class KeyTest {
  constructor(
    readonly test: (key: string) => boolean,
    readonly lengths: number[],
  ) {}
}

/** A compiled FieldSpec level. */
interface Level {
  names: string[];
  /** The key's bytes (wanted keys are ASCII). */
  bytes: Uint8Array[];
  below: Array<Level | null>;
  /** Wanted key indexes by byte length (longer keys: none). */
  byLength: number[][];
  test?: KeyTest;
}

const MAX_KEY = 64;

function compile(spec: FieldSpec | KeyTest): Level {
  const byLength = Array.from({ length: MAX_KEY + 1 }, () => [] as number[]);
  if (spec instanceof KeyTest) return { names: [], bytes: [], below: [], byLength, test: spec };
  const level: Level = { names: [], bytes: [], below: [], byLength };
  for (const [k, v] of Object.entries(spec)) {
    if (!/^[\x20-\x7e]*$/.test(k) || k.includes('"') || k.includes('\\') || k.length > MAX_KEY) {
      throw new Error(`field spec: key ${JSON.stringify(k)} must be plain ASCII, at most ${MAX_KEY} characters`);
    }
    byLength[k.length].push(level.names.length);
    level.names.push(k);
    level.bytes.push(Buffer.from(k, 'latin1'));
    level.below.push(v === true ? null : compile(v));
  }
  return level;
}

/** Declined: the line goes to JSON.parse. A constant, not an exception, on the hot path. */
const NO = -1;
/** match(): a key nobody wants / a key the level's KeyTest wants. */
const SKIP = -1;
const TESTED = -2;

/** A projector: the wanted fields of the object on buf[start, end), or undefined to use JSON.parse. */
export type Projector = (buf: Buffer, start: number, end: number) => Record<string, unknown> | undefined;

export function makeProjector(spec: FieldSpec): Projector {
  const top = compile(spec);
  // One scanner per projector, reset per line: its string cache is what makes repeated values cheap.
  const s = new Scanner();
  return (buf, start, end) => {
    // The scanner may peek at buf[end]: it must not be a byte JSON could continue with.
    if (end < buf.length && buf[end] !== 0x0a && buf[end] !== 0x0d) {
      buf = buf.subarray(start, end);
      end -= start;
      start = 0;
    }
    s.b = buf;
    s.end = end;
    try {
      let i = s.ws(start);
      if (buf[i] !== 0x7b) return undefined;
      const out: Record<string, unknown> = {};
      i = s.object(i, top, out);
      if (i === NO || s.ws(i) !== end) return undefined;
      return out;
    } catch (err) {
      // Nesting deeper than the stack: JSON.parse copes (it does not recurse).
      if (err instanceof RangeError) return undefined;
      throw err;
    }
  };
}

/** Slots of the string cache (a power of two). */
const CACHE_SLOTS = 4096;
/** Longest string value the cache holds. */
const CACHE_MAX = 64;

class Scanner {
  b: Buffer = Buffer.alloc(0);
  end = 0;
  /**
   * Values repeat (IPs, namespaces, pod names, paths): a direct-mapped cache
   * from a value's bytes to its string saves making a new string for each.
   */
  private readonly cache: string[] = new Array<string>(CACHE_SLOTS).fill('');
  /** Set by string(): the last string held a backslash escape / a byte ≥ 0x80. */
  escaped = false;
  high = false;
  /** Set by match() when it returns TESTED: the key's decoded name. */
  keyName = '';

  ws(i: number): number {
    const b = this.b;
    const end = this.end;
    while (i < end) {
      const c = b[i];
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      i++;
    }
    return i;
  }

  /** Object at b[i] ('{'); wanted keys of `level` go into `out`. Index after '}', or NO. */
  object(i: number, level: Level | null, out: Record<string, unknown> | null): number {
    const b = this.b;
    i = this.ws(i + 1);
    if (b[i] === 0x7d) return i + 1;
    for (;;) {
      if (b[i] !== 0x22) return NO;
      const keyStart = i;
      i = this.string(i);
      if (i === NO) return NO;
      const k = level === null ? SKIP : this.match(keyStart, i, level);
      i = this.ws(i);
      if (b[i] !== 0x3a) return NO;
      i = this.ws(i + 1);
      if (k === SKIP) i = this.value(i);
      else if (k === TESTED) {
        // A key the level's test wants: kept whole under its decoded name.
        const name = this.keyName;
        const valueStart = i;
        i = this.value(i);
        if (i === NO) return NO;
        out![name] = this.materialise(valueStart, i);
      } else {
        const below = level!.below[k];
        if (below !== null && b[i] === 0x7b) {
          // A fresh object each time: with a duplicate key JSON.parse keeps only the last one.
          const sub: Record<string, unknown> = {};
          i = this.object(i, below, sub);
          out![level!.names[k]] = sub;
        } else {
          const valueStart = i;
          i = this.value(i);
          if (i === NO) return NO;
          out![level!.names[k]] = this.materialise(valueStart, i);
        }
      }
      if (i === NO) return NO;
      i = this.ws(i);
      const c = b[i];
      if (c === 0x2c) {
        i = this.ws(i + 1);
        continue;
      }
      if (c === 0x7d) return i + 1;
      return NO;
    }
  }

  /** Index of the wanted key spelled by the string just scanned, b[ks, ke) (quotes included); else SKIP or TESTED. */
  private match(ks: number, ke: number, level: Level): number {
    const b = this.b;
    const len = ke - ks - 2;
    if (!this.escaped) {
      if (len <= MAX_KEY) {
        const candidates = level.byLength[len];
        for (let c = 0; c < candidates.length; c++) {
          const k = candidates[c];
          const w = level.bytes[k];
          let j = 0;
          while (j < len && b[ks + 1 + j] === w[j]) j++;
          if (j === len) return k;
        }
      }
      if (!level.test || (!this.high && !level.test.lengths.includes(len))) return SKIP;
    }
    // An escaped key (`"\u0070rotocol"`) can still be a wanted one; so can anything the test accepts.
    const name = this.text(ks, ke);
    const k = level.names.indexOf(name);
    if (k >= 0) return k;
    if (!level.test?.test(name)) return SKIP;
    this.keyName = name;
    return TESTED;
  }

  /** The string just scanned, b[ks, ke) (quotes included), as JSON.parse decodes it. */
  private text(ks: number, ke: number): string {
    if (this.escaped) return JSON.parse(this.b.toString('utf8', ks, ke)) as string;
    if (this.high) return this.b.toString('utf8', ks + 1, ke - 1);
    return this.ascii(ks + 1, ke - 1);
  }

  /** ASCII bytes b[s, e) as a string, from the cache when the same bytes were seen before. */
  private ascii(s: number, e: number): string {
    const b = this.b;
    const len = e - s;
    if (len > CACHE_MAX) return b.toString('latin1', s, e);
    let h = len;
    for (let j = s; j < e; j++) h = (Math.imul(h, 31) + b[j]) | 0;
    const slot = (h ^ (h >>> 12)) & (CACHE_SLOTS - 1);
    const hit = this.cache[slot];
    if (hit.length === len) {
      let j = 0;
      while (j < len && hit.charCodeAt(j) === b[s + j]) j++;
      if (j === len) return hit;
    }
    return (this.cache[slot] = b.toString('latin1', s, e));
  }

  /** The value just scanned, b[vs, ve), as JSON.parse gives it. */
  private materialise(vs: number, ve: number): unknown {
    const b = this.b;
    const c = b[vs];
    if (c === 0x22) return this.text(vs, ve);
    if (c === 0x74) return true;
    if (c === 0x66) return false;
    if (c === 0x6e) return null;
    if (c === 0x7b || c === 0x5b) return JSON.parse(b.toString('utf8', vs, ve));
    // A plain integer of up to 15 digits is exact in a double; anything else as JSON.parse reads it.
    let j = c === 0x2d ? vs + 1 : vs;
    if (ve - j <= 15) {
      let n = 0;
      for (; j < ve; j++) {
        const d = b[j] - 0x30;
        if (d < 0 || d > 9) return Number(b.toString('latin1', vs, ve));
        n = n * 10 + d;
      }
      return c === 0x2d ? -n : n;
    }
    return Number(b.toString('latin1', vs, ve));
  }

  /**
   * Skip the value at b[i], validating it: index after it, or NO. A loop with
   * the open containers as bits of a number (1 = object), not recursion: most
   * of a line is skipped, and calls per token were most of the cost.
   */
  value(i: number): number {
    const b = this.b;
    const end = this.end;
    let open = 1; // a sentinel bit under the containers
    for (;;) {
      // A value.
      let c = b[i];
      if (c === 0x22) i = this.string(i);
      else if (c === 0x7b || c === 0x5b) {
        const isObject = c === 0x7b;
        if (open >= 0x40000000) return NO; // deeper than 29: JSON.parse decides
        open = (open << 1) | (isObject ? 1 : 0);
        i = this.ws(i + 1);
        if (b[i] === (isObject ? 0x7d : 0x5d)) {
          i++;
          open >>>= 1;
        } else if (isObject) {
          i = this.key(i);
          if (i === NO) return NO;
          continue;
        } else continue;
      } else if (c === 0x74) i = this.literal(i, TRUE);
      else if (c === 0x66) i = this.literal(i, FALSE);
      else if (c === 0x6e) i = this.literal(i, NULL);
      else i = this.number(i);
      // After a value: close containers until one goes on with ','.
      for (;;) {
        if (i === NO) return NO;
        if (open === 1) return i;
        while (i < end && ((c = b[i]) === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d)) i++;
        c = b[i];
        const inObject = (open & 1) === 1;
        if (c === 0x2c) {
          i = this.ws(i + 1);
          if (inObject) i = this.key(i);
          break;
        }
        if (c !== (inObject ? 0x7d : 0x5d)) return NO;
        i++;
        open >>>= 1;
      }
      if (i === NO) return NO;
    }
  }

  /** `"key" :` at b[i], skipped: index of the value after it, or NO. */
  private key(i: number): number {
    const b = this.b;
    if (b[i] !== 0x22) return NO;
    i = this.string(i);
    if (i === NO) return NO;
    if (b[i] !== 0x3a) {
      i = this.ws(i);
      if (b[i] !== 0x3a) return NO;
    }
    return this.ws(i + 1);
  }

  /** String at b[i] ('"'): index after the closing quote, or NO (control character, bad escape, no end). */
  string(i: number): number {
    const b = this.b;
    const end = this.end;
    let escaped = false;
    let high = false;
    i++;
    while (i < end) {
      const c = b[i];
      if (c === 0x22) {
        this.escaped = escaped;
        this.high = high;
        return i + 1;
      }
      if (c === 0x5c) {
        escaped = true;
        const e = b[i + 1];
        if (e === 0x75) {
          if (i + 6 > end || !isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) || !isHex(b[i + 5])) return NO;
          i += 6;
          continue;
        }
        if (e !== 0x22 && e !== 0x5c && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) return NO;
        i += 2;
        continue;
      }
      if (c < 0x20) return NO;
      if (c >= 0x80) high = true;
      i++;
    }
    return NO;
  }

  private literal(i: number, word: Uint8Array): number {
    const b = this.b;
    if (i + word.length > this.end) return NO;
    for (let j = 1; j < word.length; j++) if (b[i + j] !== word[j]) return NO;
    return i + word.length;
  }

  /** JSON number grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? */
  private number(i: number): number {
    const b = this.b;
    if (b[i] === 0x2d) i++;
    if (b[i] === 0x30) i++;
    else if (b[i] >= 0x31 && b[i] <= 0x39) i = this.digits(i);
    else return NO;
    if (b[i] === 0x2e) {
      const j = this.digits(i + 1);
      if (j === i + 1) return NO;
      i = j;
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      i++;
      if (b[i] === 0x2b || b[i] === 0x2d) i++;
      const j = this.digits(i);
      if (j === i) return NO;
      i = j;
    }
    return i;
  }

  private digits(i: number): number {
    const b = this.b;
    const end = this.end;
    while (i < end && b[i] >= 0x30 && b[i] <= 0x39) i++;
    return i;
  }
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** One spec wanting every field of both (a consumer made of several readers). */
export function mergeSpecs(...specs: FieldSpec[]): FieldSpec {
  const out: FieldSpec = {};
  for (const spec of specs) {
    for (const [k, v] of Object.entries(spec)) {
      const cur = out[k];
      if (cur === undefined) out[k] = v;
      else if (cur === true || v === true) out[k] = true;
      else if (cur instanceof KeyTest || v instanceof KeyTest) {
        if (cur !== v) throw new Error(`field spec: "${k}" has two different key tests`);
      } else out[k] = mergeSpecs(cur, v);
    }
  }
  return out;
}
