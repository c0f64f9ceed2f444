// CEL's comprehension macros in KFL2: `list.exists(x, pred)`, `all`, `exists_one`, `filter` and
// `map(x, expr)` / `map(x, pred, expr)`, as CEL users write them (`dns_questions.exists(q,
// q.endsWith(".svc.cluster.local"))`). Over a list they range over its items, over a map over its
// keys (as CEL does); over anything else they are CEL's error, which Kubeshark takes for a
// non-match: false for the tests, [] for filter and map.
//
// The loop variable is a slot the body's closures read (compile.ts looks names up in the scope
// first); the body is compiled once, like the rest of the expression.
//
// Entries come from anyone and a macro's body may hold another macro, so the work of one entry is
// bounded: past MAX_MACRO_STEPS items visited the entry is a non-match, counted (MacroBudget) and
// told at the end of the run, never a hang (`dns_answers.all(a, dns_answers.all(b, …))` on an
// entry of 100,000 answers would be 10¹⁰ steps). A step is about a microsecond: 100,000 keep an
// entry under a tenth of a second, and a single pass over any list an entry holds in practice.

import type { Entry } from '../model/entry.js';
import type { Node } from './ast.js';
import { FilterSyntaxError } from './errors.js';
import { celTruthy } from './values.js';
import { CelEvalError } from './cel-errors.js';

type Fn = (e: Entry) => unknown;

export const MACROS = new Set(['all', 'exists', 'exists_one', 'filter', 'map']);

/** Items all the macros of one entry's evaluation may visit together. */
export const MAX_MACRO_STEPS = 100_000;

/** A loop variable's current value. */
export interface Slot {
  value: unknown;
}

/** The steps left to the entry being evaluated, and the entries that ran out. */
export class MacroBudget {
  left = MAX_MACRO_STEPS;
  entriesOver = 0;
}

/** Thrown when the budget is spent: the predicate (compile.ts) catches it and answers false. */
export const OVER_BUDGET = Symbol('macro budget spent');

/**
 * `range.name(var, …)`: `compileBody` compiles a body node with the variable's slot in scope.
 */
export function compileMacro(
  n: Extract<Node, { kind: 'call' }>,
  range: Fn,
  budget: MacroBudget,
  compileBody: (body: Node, name: string, slot: Slot) => Fn,
): Fn {
  const [v, ...rest] = n.args;
  const most = n.name === 'map' ? 2 : 1;
  if (v === undefined || rest.length < 1 || rest.length > most) {
    throw new FilterSyntaxError(`${n.name}() takes a variable and ${n.name === 'map' ? 'an expression (or a test and an expression)' : 'a test'}, e.g. ${n.name}(x, x > 0)`, n.col);
  }
  if (v.kind !== 'ident' && v.kind !== 'protocol') throw new FilterSyntaxError(`${n.name}() takes a variable name first`, v.col);
  const name = v.name;
  const slot: Slot = { value: undefined };
  const bodies = rest.map((b) => compileBody(b, name, slot));
  const items = (e: Entry): unknown[] | undefined => {
    const c = range(e);
    if (Array.isArray(c)) return c;
    if (c !== null && typeof c === 'object') return Object.keys(c);
    return undefined;
  };
  // Each item: the slot holds it while the body runs (saved and put back: a body may evaluate this
  // same macro again through nothing, but an outer one's slot must survive an inner one's loop).
  const each = (e: Entry, visit: (item: unknown) => boolean): boolean => {
    const list = items(e);
    if (list === undefined) return false;
    const saved = slot.value;
    try {
      for (const item of list) {
        if (--budget.left < 0) throw OVER_BUDGET;
        slot.value = item;
        if (!visit(item)) break;
      }
    } finally {
      slot.value = saved;
    }
    return true;
  };
  const test = bodies[0];
  switch (n.name) {
    // As CEL's: an item whose test is an error (`x / 0`) is outweighed by one that decides (a false
    // for all, a true for exists); with none, the macro is that error.
    case 'all':
      return (e) => {
        let all = true;
        let error: CelEvalError | undefined;
        const iterable = each(e, () => {
          try {
            all = celTruthy(test(e));
          } catch (x) {
            if (!(x instanceof CelEvalError)) throw x;
            error ??= x;
          }
          return all;
        });
        if (iterable && all && error) throw error;
        return iterable && all;
      };
    case 'exists':
      return (e) => {
        let found = false;
        let error: CelEvalError | undefined;
        each(e, () => {
          try {
            found = celTruthy(test(e));
          } catch (x) {
            if (!(x instanceof CelEvalError)) throw x;
            error ??= x;
          }
          return !found;
        });
        if (!found && error) throw error;
        return found;
      };
    case 'exists_one':
      return (e) => {
        let n1 = 0;
        each(e, () => (n1 += celTruthy(test(e)) ? 1 : 0) < 2);
        return n1 === 1;
      };
    case 'filter':
      return (e) => {
        const out: unknown[] = [];
        each(e, (item) => (celTruthy(test(e)) && out.push(item), true));
        return out;
      };
    default: {
      // map(x, expr) or map(x, test, expr)
      const expr = bodies[bodies.length - 1];
      const keep = bodies.length === 2 ? bodies[0] : undefined;
      return (e) => {
        const out: unknown[] = [];
        each(e, () => ((keep === undefined || celTruthy(keep(e))) && out.push(expr(e)), true));
        return out;
      };
    }
  }
}
