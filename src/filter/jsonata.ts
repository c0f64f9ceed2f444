// `--jsonata EXPR`: for what KFL cannot say. jsonata 2.x evaluates
// asynchronously, so the expression is compiled once and awaited per entry.

import jsonata from 'jsonata';
import type { Entry } from '../model/entry.js';
import { FilterSyntaxError } from './errors.js';

export type AsyncPredicate = (e: Entry) => Promise<boolean>;

export function compileJsonata(expr: string): AsyncPredicate {
  let compiled: ReturnType<typeof jsonata>;
  try {
    compiled = jsonata(expr);
  } catch (err) {
    const e = err as { message?: string; position?: number; token?: string };
    // jsonata's position is the 1-based column of the offending token's last character.
    const pos = e.position ?? 0;
    const col = e.token === undefined ? pos : e.token === '(end)' ? pos + 1 : pos - String(e.token).length + 1;
    throw new FilterSyntaxError(`JSONata: ${firstLine(e.message)}`, Math.max(1, col));
  }
  return async (entry) => {
    let v: unknown;
    try {
      v = await compiled.evaluate(entry);
    } catch {
      // A runtime type error on one entry (e.g. arithmetic on a missing string) is a non-match.
      return false;
    }
    return truthy(v);
  };
}

/** JSONata's own boolean casting ($boolean): empty arrays/strings/0 are false. */
function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(truthy);
  if (v === null || v === undefined) return false;
  if (typeof v === 'string') return v.length > 0;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'function') return false;
  return Object.keys(v as object).length > 0;
}

function firstLine(s: string | undefined): string {
  return (s ?? 'bad expression').split('\n')[0].trim();
}
