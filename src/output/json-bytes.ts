// Entries serialised straight to UTF-8 bytes, exactly as
// `Buffer.from(JSON.stringify(value))` would give them. JSON.stringify builds
// a string in pieces, flattens it, and a summary's "→" makes the whole line
// two bytes per character; then the line is encoded again to UTF-8. For
// `dissect` that was five bytes allocated per byte written, the largest
// source of garbage in the run. Here each value is written once, into a
// buffer that is reused; a caller that keeps the bytes copies them out.
//
// Exact for what JSON.stringify accepts: property order (for…in over own
// keys), omitted undefined/function/symbol members, `null` for them in
// arrays and for non-finite numbers, toJSON, escapes (\" \\ \b \f \n \r \t,
// \u00XX for other control characters, lone surrogates as \udXXX), numbers
// as Number.prototype.toString writes them. Anything else (boxed primitives,
// class instances, cycles, BigInt) is handed to JSON.stringify itself, which
// then also throws what it throws.

const INITIAL_BYTES = 64 * 1024;
const MAX_KEPT_BYTES = 1024 * 1024;
/** Nesting deeper than this is left to JSON.stringify (which reports a cycle properly). */
const MAX_DEPTH = 256;

const HEX = '0123456789abcdef';
/** Below this magnitude a double's spacing is under 0.0005 (2^41: spacing 2^-11), so three decimals name one double (JsonBytes.milli). */
const MILLI_EXACT_BELOW = 2 ** 41;
/** 1 for the ASCII characters JSON writes as they are (printable, not `"` or `\`). */
const PLAIN = new Uint8Array(128);
for (let c = 0x20; c < 0x80; c++) if (c !== 0x22 && c !== 0x5c) PLAIN[c] = 1;
/** From this length a string is first tested for anything to escape, and copied natively when there is nothing. */
const NATIVE_FROM = 48;
const NEEDS_WORK = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;
/**
 * `"key":` as bytes, for keys met before: an entry repeats the same few
 * dozen member names, and copying their bytes is quicker than encoding them
 * again. Bounded: keys may come from a capture (header names), so only short
 * ones are kept, and once full the cache stops growing (later keys are
 * encoded each time, as before).
 */
const KEY_CACHE_LIMIT = 4096;
const KEY_CACHE_MAX_LENGTH = 64;
const keyBytes = new Map<string, Uint8Array>();
const ESCAPES = new Map<number, number>([
  [0x22, 0x22],
  [0x5c, 0x5c],
  [0x08, 0x62],
  [0x0c, 0x66],
  [0x0a, 0x6e],
  [0x0d, 0x72],
  [0x09, 0x74],
]);

export class JsonBytes {
  private buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  private pos = 0;
  /**
   * Whether Object.prototype has an enumerable member (someone added one):
   * only then can for…in yield a key that is not the object's own, and only
   * then is each key checked (a check per key was a tenth of the writer).
   */
  private inherits = false;

  /**
   * `value` as JSON, UTF-8: a view of this writer's buffer, valid until the
   * next call (copy what is kept: a view kept would keep the buffer, and
   * what it cost, out of any count); undefined where JSON.stringify returns
   * undefined.
   */
  serialise(value: unknown): Buffer | undefined {
    // A huge value grew the buffer: do not keep that much for the next ones.
    if (this.buf.length > MAX_KEPT_BYTES) this.buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
    this.pos = 0;
    this.inherits = hasEnumerable(Object.prototype);
    if (!this.value(value, '', 0)) return undefined;
    return this.buf.subarray(0, this.pos);
  }

  /** Room for n more bytes, keeping what is written (copied into a bigger buffer). */
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Writes `v` as a member named `key` (toJSON called once); false (nothing written) where JSON leaves it out. */
  private value(v: unknown, key: string, depth: number): boolean {
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON(k: string): unknown }).toJSON(key);
    return this.plain(v, depth);
  }

  /** Writes `v` (toJSON already applied); false (nothing written) where JSON leaves it out. */
  private plain(v: unknown, depth: number): boolean {
    switch (typeof v) {
      case 'string':
        this.string(v);
        return true;
      case 'number':
        this.number(v);
        return true;
      case 'boolean':
        this.ascii(v ? 'true' : 'false');
        return true;
      case 'object':
        if (v === null) {
          this.ascii('null');
          return true;
        }
        if (depth >= MAX_DEPTH) return this.delegate(v);
        if (Array.isArray(v)) {
          if (Object.getPrototypeOf(v) !== Array.prototype) return this.delegate(v);
          this.array(v, depth);
          return true;
        }
        {
          const proto = Object.getPrototypeOf(v);
          if (proto !== Object.prototype && proto !== null) return this.delegate(v);
        }
        this.object(v as Record<string, unknown>, depth);
        return true;
      case 'bigint':
        return this.delegate(v);
      default:
        return false;
    }
  }

  /** JSON.stringify's own text for `v` (or its exception). */
  private delegate(v: unknown): boolean {
    const text = JSON.stringify(v);
    if (text === undefined) return false;
    this.ensure(text.length * 3);
    this.pos += this.buf.write(text, this.pos, 'utf8');
    return true;
  }

  private object(o: Record<string, unknown>, depth: number): void {
    this.ensure(1);
    this.buf[this.pos++] = 0x7b;
    let first = true;
    const inherits = this.inherits;
    for (const k in o) {
      if (inherits && !Object.hasOwn(o, k)) continue;
      let x = o[k];
      if (x !== null && typeof x === 'object' && typeof (x as { toJSON?: unknown }).toJSON === 'function') x = (x as { toJSON(k: string): unknown }).toJSON(k);
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
      const mark = this.pos;
      if (!first) {
        this.ensure(1);
        this.buf[this.pos++] = 0x2c;
      }
      this.key(k);
      if (!this.plain(x, depth + 1)) {
        // Cannot happen after the checks above, but never leave a key without its value.
        this.pos = mark;
        continue;
      }
      first = false;
    }
    this.ensure(1);
    this.buf[this.pos++] = 0x7d;
  }

  private array(a: unknown[], depth: number): void {
    this.ensure(1);
    this.buf[this.pos++] = 0x5b;
    for (let i = 0; i < a.length; i++) {
      if (i > 0) {
        this.ensure(1);
        this.buf[this.pos++] = 0x2c;
      }
      let x = a[i];
      if (x !== null && typeof x === 'object' && typeof (x as { toJSON?: unknown }).toJSON === 'function') x = (x as { toJSON(k: string): unknown }).toJSON(String(i));
      if (!this.plain(x, depth + 1)) this.ascii('null');
    }
    this.ensure(1);
    this.buf[this.pos++] = 0x5d;
  }

  private number(x: number): void {
    if (x >= 0 && x < 2147483648 && (x | 0) === x) {
      // Ports, sizes, frame numbers: small integers, in int arithmetic.
      this.ensure(10);
      const b = this.buf;
      const p = this.pos;
      const digits = decimalDigits(x);
      let n = x;
      for (let i = p + digits - 1; i >= p; i--) {
        const q = (n / 10) | 0;
        b[i] = 0x30 + (n - q * 10);
        n = q;
      }
      this.pos = p + digits;
      return;
    }
    if (!Number.isFinite(x)) {
      // As entryJson writes it (ndjson/stringify.ts): an infinite number is 1e309, which reads back as the same value.
      this.ascii(Number.isNaN(x) ? 'null' : x > 0 ? '1e309' : '-1e309');
      return;
    }
    if (x > -MILLI_EXACT_BELOW && x < MILLI_EXACT_BELOW && this.milli(x)) return;
    if (Number.isInteger(x) && x > -1e15 && x < 1e15) {
      this.ensure(17);
      const b = this.buf;
      let p = this.pos;
      let n = x;
      if (n < 0) {
        b[p++] = 0x2d;
        n = -n;
      }
      let digits = 1;
      for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
      for (let i = digits - 1; i >= 0; i--) {
        b[p + i] = 0x30 + (n % 10);
        n = Math.floor(n / 10);
      }
      this.pos = p + digits;
      return;
    }
    this.ascii(String(x));
  }

  /**
   * Writes `x` if it has at most three decimals, as Number.prototype.toString
   * would (true), else nothing (false). Timestamps and latencies in ms with
   * microsecond precision are most of an entry's numbers, and String(x)
   * (the shortest digits that read back as x) was most of the writer's time
   * on numbers. Exact: if r / 1000 === x, the decimal r·10⁻³ reads back as x;
   * below MILLI_EXACT_BELOW a double's spacing is under 0.0005, so no other
   * decimal with as few digits does, and the shortest is r·10⁻³ without
   * its trailing zeros.
   */
  private milli(x: number): boolean {
    const r = Math.round(x * 1000);
    if (r / 1000 !== x || r === 0) return false;
    this.ensure(24);
    const b = this.buf;
    let p = this.pos;
    let n = r;
    if (n < 0) {
      b[p++] = 0x2d;
      n = -n;
    }
    const whole = Math.floor(n / 1000);
    let frac = n - whole * 1000;
    let digits = 1;
    for (let t = whole; t >= 10; t = Math.floor(t / 10)) digits++;
    let w = whole;
    for (let i = digits - 1; i >= 0; i--) {
      const q = Math.floor(w / 10);
      b[p + i] = 0x30 + (w - q * 10);
      w = q;
    }
    p += digits;
    if (frac !== 0) {
      b[p++] = 0x2e;
      let width = 3;
      while (frac % 10 === 0) {
        frac /= 10;
        width--;
      }
      for (let i = width - 1; i >= 0; i--) {
        const q = Math.floor(frac / 10);
        b[p + i] = 0x30 + (frac - q * 10);
        frac = q;
      }
      p += width;
    }
    this.pos = p;
    return true;
  }

  /** `"k":` (from the cache when it was met before). */
  private key(k: string): void {
    const known = keyBytes.get(k);
    if (known === undefined) {
      const from = this.pos;
      this.string(k);
      this.ensure(1);
      this.buf[this.pos++] = 0x3a;
      if (k.length <= KEY_CACHE_MAX_LENGTH && keyBytes.size < KEY_CACHE_LIMIT) keyBytes.set(k, Uint8Array.prototype.slice.call(this.buf, from, this.pos));
      return;
    }
    const n = known.length;
    this.ensure(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = known[i];
    this.pos = p;
  }

  /** Text known to be ASCII with nothing to escape (literals, numbers). */
  private ascii(s: string): void {
    this.ensure(s.length);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  private string(s: string): void {
    const n = s.length;
    // Worst case: 6 bytes per UTF-16 unit (\u001f, a lone surrogate), and the quotes.
    this.ensure(6 * n + 2);
    const b = this.buf;
    // A long string with nothing to escape is copied natively, between quotes written here.
    // One to escape (a body: its line ends, its quotes) is escaped by the loop below, straight
    // into the buffer: JSON.stringify's copy, then the flat copy its UTF-8 write made of it, were
    // 250 MB of garbage in a run of the bench capture, and the loop is no slower (round 31).
    if (n >= NATIVE_FROM && !NEEDS_WORK.test(s)) {
      b[this.pos++] = 0x22;
      this.pos += b.write(s, this.pos, 'latin1');
      b[this.pos++] = 0x22;
      return;
    }
    let p = this.pos;
    b[p++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        if (PLAIN[c] === 1) {
          b[p++] = c;
          continue;
        }
        b[p++] = 0x5c;
        const short = ESCAPES.get(c);
        if (short !== undefined) b[p++] = short;
        else p = hex4(b, p, c);
      } else if (c < 0x800) {
        b[p++] = 0xc0 | (c >> 6);
        b[p++] = 0x80 | (c & 0x3f);
      } else if (c < 0xd800 || c > 0xdfff) {
        b[p++] = 0xe0 | (c >> 12);
        b[p++] = 0x80 | ((c >> 6) & 0x3f);
        b[p++] = 0x80 | (c & 0x3f);
      } else {
        const d = c <= 0xdbff && i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (d >= 0xdc00 && d <= 0xdfff) {
          const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
          b[p++] = 0xf0 | (cp >> 18);
          b[p++] = 0x80 | ((cp >> 12) & 0x3f);
          b[p++] = 0x80 | ((cp >> 6) & 0x3f);
          b[p++] = 0x80 | (cp & 0x3f);
          i++;
        } else {
          // A lone surrogate: JSON.stringify escapes it (well-formed JSON.stringify, ES2019).
          b[p++] = 0x5c;
          p = hex4(b, p, c);
        }
      }
    }
    b[p++] = 0x22;
    this.pos = p;
  }
}

/** How many decimal digits a non-negative int32 has. */
function decimalDigits(n: number): number {
  if (n < 100000) return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : 5;
  return n < 1000000 ? 6 : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
}

function hasEnumerable(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** `u` and four lowercase hex digits of c, as JSON.stringify escapes. */
function hex4(b: Buffer, p: number, c: number): number {
  b[p++] = 0x75;
  b[p++] = HEX.charCodeAt((c >> 12) & 15);
  b[p++] = HEX.charCodeAt((c >> 8) & 15);
  b[p++] = HEX.charCodeAt((c >> 4) & 15);
  b[p++] = HEX.charCodeAt(c & 15);
  return p;
}
