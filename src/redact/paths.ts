// Field paths named by the user (`--redact request.headers.x-tenant`, KFL1
// `redact("request.body")`): the value there becomes [REDACTED] whatever it is.

import type { Entry } from '../model/entry.js';
import { REDACTED } from './urls.js';

/** `request.headers.x`, `request.headers["x-y"]`, `a.b[0]` → segments. */
export function parseFieldPath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  const re = /\[\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(-?\d+))\s*\]|\.?([^.[\]]+)/g;
  for (let m = re.exec(path); m; m = re.exec(path)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(m[2]);
    else if (m[3] !== undefined) out.push(Number(m[3]));
    else if (m[4] !== undefined) out.push(m[4]);
  }
  return out;
}

/** Replace the value at a path (header names ignore case) with [REDACTED], copying along the path. */
export function redactPath(e: Entry, path: Array<string | number>): Entry {
  const set = (node: unknown, i: number): unknown => {
    if (node === null || typeof node !== 'object') return node;
    let key: string | number | undefined = path[i];
    if (Array.isArray(node)) {
      if (typeof key !== 'number' || node[key] === undefined) return node;
    } else if (typeof key === 'string' && !(key in node)) {
      const lower = key.toLowerCase();
      key = Object.keys(node).find((k) => k.toLowerCase() === lower);
      if (key === undefined) return node;
    }
    const cur = (node as any)[key as any];
    const next = i === path.length - 1 ? (cur === REDACTED ? cur : REDACTED) : set(cur, i + 1);
    if (next === cur) return node;
    const copy: any = Array.isArray(node) ? [...node] : { ...node };
    copy[key as any] = next;
    return copy;
  };
  return path.length === 0 ? e : (set(e, 0) as Entry);
}
