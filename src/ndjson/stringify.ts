// An entry as JSON text however deep it nests. JSON.stringify recurses once
// per level and throws past a few thousand (V8's stack), while JSON.parse
// reads any depth: an entry file's line nested 100,000 levels deep ended
// `merge --no-redact` and `dissect --no-redact` (which write entries they read
// anew) as an internal error, the entries after it never written. Past the
// stack the same text is built with a stack of its own.
//
// JSON.parse reads a number past a double's range (`1e309`, a 400-digit
// integer) as Infinity, and JSON.stringify writes Infinity as `null`: a line
// rewritten (redacted, merged) lost the number. Such a number is written
// back as `1e309` (`-1e309`), which every reader takes for the same value.

import { randomBytes } from 'node:crypto';

/** JSON.stringify(value), at any depth, numbers out of range kept (as ±1e309). */
export function entryJson(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return deepJson(value);
  }
  // Infinity can only have become a `null`; most entries hold none, and the walk is paid only by those that do.
  return text.includes('null') && holdsInfinity(value) ? withInfinities(value) : text;
}

/** Text for an out-of-range number: JSON has no infinity, and 1e309 is the shortest number every parser reads as one. */
function infinityJson(v: number): string {
  return v > 0 ? '1e309' : '-1e309';
}

/** Whether an infinite number is anywhere in `value` (a walk with a stack of its own: entries may nest deep). */
function holdsInfinity(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === Infinity || v === -Infinity) return true;
    if (v !== null && typeof v === 'object') {
      if (Array.isArray(v)) for (const item of v) stack.push(item);
      else for (const k in v) stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return false;
}

/** A string no entry can hold (its nonce is drawn per run), standing for an infinite number while JSON.stringify writes. */
const MARK = `\u0000shark-infinity-${randomBytes(12).toString('hex')}`;

/** JSON.stringify(value) with each infinite number written as ±1e309. */
function withInfinities(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_k, v: unknown) => (v === Infinity || v === -Infinity ? `${MARK}${v > 0 ? '+' : '-'}` : v));
    return text.replaceAll(JSON.stringify(`${MARK}+`), '1e309').replaceAll(JSON.stringify(`${MARK}-`), '-1e309');
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return deepJson(value);
  }
}

interface Frame {
  value: object;
  /** An object's own keys; undefined for an array. */
  keys: string[] | undefined;
  next: number;
  wroteOne: boolean;
}

/** What JSON.stringify writes for an object or array, without recursion. */
export function deepJson(value: unknown): string {
  const parts: string[] = [];
  const stack: Frame[] = [];
  const write = (v: unknown): void => {
    if (v === Infinity || v === -Infinity) parts.push(infinityJson(v));
    else if (v === null || typeof v !== 'object') parts.push(JSON.stringify(v) ?? 'null');
    else if (Array.isArray(v)) {
      parts.push('[');
      stack.push({ value: v, keys: undefined, next: 0, wroteOne: false });
    } else {
      parts.push('{');
      stack.push({ value: v, keys: Object.keys(v), next: 0, wroteOne: false });
    }
  };
  write(prepared(value, ''));
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.keys === undefined) {
      const items = top.value as unknown[];
      if (top.next >= items.length) {
        parts.push(']');
        stack.pop();
        continue;
      }
      const i = top.next++;
      if (top.wroteOne) parts.push(',');
      top.wroteOne = true;
      const v = prepared(items[i], String(i));
      if (leftOut(v)) parts.push('null');
      else write(v);
    } else {
      if (top.next >= top.keys.length) {
        parts.push('}');
        stack.pop();
        continue;
      }
      const key = top.keys[top.next++];
      const v = prepared((top.value as Record<string, unknown>)[key], key);
      if (leftOut(v)) continue;
      if (top.wroteOne) parts.push(',');
      top.wroteOne = true;
      parts.push(JSON.stringify(key), ':');
      write(v);
    }
  }
  return parts.join('');
}

/** A value after its toJSON, as JSON.stringify sees it. */
function prepared(v: unknown, key: string): unknown {
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') return (v as { toJSON(k: string): unknown }).toJSON(key);
  return v;
}

/** Members JSON.stringify leaves out of an object (and writes as null in an array). */
function leftOut(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}
