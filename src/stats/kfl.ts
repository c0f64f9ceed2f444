// KFL expressions (stats rules, map --filter) compiled through src/filter.
// Loaded lazily so that `stats` without rules never pays for the compiler.

import type { Entry } from '../model/entry.js';

export type EntryPredicate = (e: Entry) => boolean;

export interface CompiledKfl {
  predicate: EntryPredicate;
  /**
   * The warnings to print at the end of the run (filter/eval-report.ts): entries left out by a
   * CEL evaluation error or the macros' step limit, so none is left out silently.
   */
  report: () => string[];
}

/** Compile a KFL1/KFL2 expression; syntax errors are UserErrors (exit 2) whose message ends "at column N". */
export async function compileKfl(expr: string): Promise<CompiledKfl> {
  const [{ compileFilter }, { evalCounts, evalReport }] = await Promise.all([import('../filter/index.js'), import('../filter/eval-report.js')]);
  const f = compileFilter(expr);
  return { predicate: f.predicate, report: () => evalReport(evalCounts(f)) };
}
