// What a KFL run says at its end about the entries its expression left out without a verdict:
// those that took the macros over their step limit (cel-macros.ts) and those that met a CEL
// evaluation error (cel-errors.ts). One place for the wording, so `filter`, `stats --check`,
// `map --filter`, the agents' `--kfl` and a cluster tap's CLI-side filter say the same thing.

import { MAX_MACRO_STEPS } from './cel-macros.js';
import { evalErrorWarning } from './cel-errors.js';

/** The counters of one compiled filter (CompiledFilter's, plus what workers counted). */
export interface EvalCounts {
  overLimit: number;
  errors: number;
  firstError: string | undefined;
}

/** The counters a compiled filter holds so far (zero when it has neither macros nor error sites). */
export function evalCounts(f: { entriesOverLimit?: () => number; evalErrors?: () => { entries: number; first: string | undefined } }): EvalCounts {
  const errors = f.evalErrors?.();
  return { overLimit: f.entriesOverLimit?.() ?? 0, errors: errors?.entries ?? 0, firstError: errors?.first };
}

/** The warning lines (each starting "warning: "), none when every entry had a verdict. */
export function evalReport(c: EvalCounts): string[] {
  const lines: string[] = [];
  const n = c.overLimit;
  if (n > 0) lines.push(`warning: ${n} ${n === 1 ? 'entry' : 'entries'} took the expression's macros over ${MAX_MACRO_STEPS.toLocaleString('en-US')} steps and did not match`);
  const failed = evalErrorWarning(c.errors, c.firstError);
  if (failed) lines.push(failed);
  return lines;
}
