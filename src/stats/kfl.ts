// KFL expressions (stats rules, map --filter) compiled through src/filter.
// Loaded lazily so that `stats` without rules never pays for the compiler.

import type { Entry } from '../model/entry.js';

export type EntryPredicate = (e: Entry) => boolean;

/** Compile a KFL1/KFL2 expression; syntax errors are UserErrors (exit 2) whose message ends "at column N". */
export async function compileKfl(expr: string): Promise<EntryPredicate> {
  const { compileFilter } = await import('../filter/index.js');
  return compileFilter(expr).predicate;
}
