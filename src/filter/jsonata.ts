// `--jsonata EXPR` (filter) and a JSONata `stats --by`: for what KFL cannot
// say. jsonata 2.x evaluates asynchronously, so the expression is compiled
// once and awaited per entry.
//
// A JSONata expression is a program, and the user's (or a rules author's)
// program may never end: `($f := function($x){$f($x)}; $f(1))` is a tail
// call JSONata turns into a loop. So every evaluation runs under limits:
//  - a time limit and a depth limit per entry (JSONata's own guardrails);
//  - regexes on RE2 (linear time), checked when the expression is compiled;
//  - a yield to the event loop every few milliseconds (JSONata's
//    `__evaluate_entry` hook), because an evaluation is one long chain of
//    microtasks that would otherwise keep SIGINT/SIGTERM from being handled.
// An entry that hits a limit is a non-match, reported once; an expression that
// hits a limit on every one of the first entries is refused (exit 2).

import { createRequire } from 'node:module';
import type jsonataModule from 'jsonata';
import { ExitCode, UserError } from '../cli/errors.js';
import type { Entry } from '../model/entry.js';
import { FilterSyntaxError } from './errors.js';
import { LinearRegExpForJsonata } from './linear-regex.js';

export type AsyncPredicate = (e: Entry) => Promise<boolean>;

export interface JsonataLimits {
  /** Per-entry evaluation time limit (ms). */
  timeoutMs: number;
  /** Per-entry evaluation depth limit (nested evaluation steps, non-tail recursion). */
  depth: number;
  /** Longest sequence an evaluation may build. */
  sequence: number;
}

export const DEFAULT_JSONATA_LIMITS: JsonataLimits = { timeoutMs: 500, depth: 300, sequence: 1_000_000 };

/** Entries that must all hit a limit, with none evaluated in time, before the expression is refused. */
const REFUSE_AFTER = 3;
/** Give the event loop a turn (signals, stdout) at least this often during one evaluation. */
const YIELD_EVERY_MS = 20;

export interface JsonataOptions {
  limits?: Partial<JsonataLimits>;
  /** Evaluation stops (the entry is a non-match) once this is aborted: Ctrl-C, SIGTERM. */
  signal?: AbortSignal;
  /** Told once, the first time an entry hits a limit. */
  onWarning?: (message: string) => void;
  /** Prefix for messages: `JSONata` (filter) or `--by` (stats). */
  what?: string;
}

/** A compiled expression that evaluates one entry under the limits: its value, or `LIMIT_HIT`. */
export type GuardedEvaluate = (e: Entry) => Promise<unknown>;
export const LIMIT_HIT: unique symbol = Symbol('jsonata limit hit');

/** Compile with RE2 regexes and evaluation limits; a bad expression throws FilterSyntaxError (exit 2). */
export function compileGuardedJsonata(expr: string, opts: JsonataOptions = {}): GuardedEvaluate {
  const what = opts.what ?? 'JSONata';
  const limits = { ...DEFAULT_JSONATA_LIMITS, ...opts.limits };
  // Loaded only when an expression uses it: the module costs ~50 ms of every start.
  const jsonata = createRequire(import.meta.url)('jsonata') as typeof jsonataModule;
  let compiled: ReturnType<typeof jsonataModule>;
  try {
    compiled = jsonata(expr, {
      RegexEngine: LinearRegExpForJsonata as unknown as RegExpConstructor,
      timeout: limits.timeoutMs,
      stack: limits.depth,
      sequence: limits.sequence,
    } as Parameters<typeof jsonataModule>[1]);
  } catch (err) {
    if (err instanceof RangeError) throw new FilterSyntaxError(`${what}: expression nested too deeply`, 1);
    const e = err as { message?: string; position?: number; token?: string };
    // jsonata's position is the 1-based column of the offending token's last character.
    const pos = e.position ?? 0;
    const col = e.token === undefined ? pos : e.token === '(end)' ? pos + 1 : pos - String(e.token).length + 1;
    throw new FilterSyntaxError(`${what}: ${firstLine(e.message)}`, Math.max(1, col));
  }
  checkRegexes(compiled.ast(), what);

  let lastYield = Date.now();
  compiled.assign(Symbol.for('jsonata.__evaluate_entry') as unknown as string, async () => {
    if (opts.signal?.aborted) throw CANCELLED;
    if (Date.now() - lastYield >= YIELD_EVERY_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastYield = Date.now();
      if (opts.signal?.aborted) throw CANCELLED;
    }
  });

  let hits = 0;
  let inTime = 0;
  return async (entry) => {
    try {
      const v = await compiled.evaluate(entry);
      inTime++;
      return v;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (err === CANCELLED) return LIMIT_HIT;
      if (code !== 'D1011' && code !== 'D1012' && code !== 'D2014' && code !== 'D2015' && !(err instanceof RangeError)) {
        // A runtime type error on one entry (e.g. arithmetic on a missing string) is a non-match.
        return undefined;
      }
      hits++;
      const limit = limitName(code, limits);
      if (hits === 1) opts.onWarning?.(`${what}: an entry hit the expression's ${limit}; such entries are treated as non-matches`);
      if (inTime === 0 && hits >= REFUSE_AFTER) {
        throw new UserError(`${what}: the expression hit its ${limit} on every entry (${hits} of ${hits}); refusing to go on`, ExitCode.USAGE);
      }
      return LIMIT_HIT;
    }
  };
}

/** `filter --jsonata`: true when the entry matches. */
export function compileJsonata(expr: string, opts: JsonataOptions = {}): AsyncPredicate {
  const evaluate = compileGuardedJsonata(expr, opts);
  return async (entry) => {
    const v = await evaluate(entry);
    return v !== LIMIT_HIT && truthy(v);
  };
}

const CANCELLED = { code: 'shark.cancelled' };

function limitName(code: string | undefined, limits: JsonataLimits): string {
  if (code === 'D1012') return `time limit (${limits.timeoutMs} ms per entry)`;
  if (code === 'D2014' || code === 'D2015') return `sequence limit (${limits.sequence} items)`;
  return `depth limit (${limits.depth})`;
}

/** Regex literals are compiled on RE2 now, so a pattern RE2 rejects (backreferences, lookaround) is a usage error, not a per-entry non-match. */
function checkRegexes(ast: unknown, what: string): void {
  const seen = new Set<unknown>();
  const stack: unknown[] = [ast];
  while (stack.length > 0) {
    const n = stack.pop();
    if (n === null || typeof n !== 'object' || seen.has(n)) continue;
    seen.add(n);
    const node = n as { type?: string; value?: unknown; position?: number };
    if (node.type === 'regex' && node.value instanceof RegExp) {
      try {
        new LinearRegExpForJsonata(node.value);
      } catch (err) {
        throw new FilterSyntaxError(`${what}: bad regular expression /${node.value.source}/ (${(err as Error).message}; RE2 syntax: no backreferences or lookaround)`, Math.max(1, node.position ?? 1));
      }
      continue;
    }
    for (const v of Object.values(n)) if (v !== null && typeof v === 'object') stack.push(v);
  }
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
