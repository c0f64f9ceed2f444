// `--jsonata EXPR` (filter) and a JSONata `stats --by`: for what KFL cannot
// say. jsonata 2.x evaluates asynchronously; the expression is compiled once.
//
// A JSONata expression is a program, and the user's (or a rules author's)
// program may never end or may fill memory: `($f := function($x){$f($x)}; $f(1))`
// is a tail call JSONata turns into a loop, and one built-in call
// (`$string($spread([1..100000]))`, `$sort([1..200000])`) runs for minutes
// and gigabytes in a single synchronous step. So every evaluation runs under limits:
//  - JSONata's own time and depth limits and its sequence size limit, checked
//    between evaluation steps (cheap: the entry is a non-match, evaluation goes on);
//  - in a process of its own (jsonata-process.ts) with a heap limit, watched
//    from shark's: an evaluation still running past its time limit (a long
//    built-in call, where JSONata checks nothing) or past the heap limit ends
//    with that process, which is replaced; shark's own thread never runs the
//    expression, so it answers SIGINT/SIGTERM at once;
//  - regexes on RE2 (linear time), checked when the expression is compiled.
// An entry that hits a limit is a non-match (stats: no group), reported once;
// an expression that hits a limit on every one of the first entries is refused (exit 2).

import { createRequire } from 'node:module';
import type jsonataModule from 'jsonata';
import { ExitCode, UserError } from '../cli/errors.js';
import type { Entry } from '../model/entry.js';
import { FilterSyntaxError } from './errors.js';
import { LinearRegExpForJsonata } from './linear-regex.js';

export interface JsonataLimits {
  /** Per-entry evaluation time limit (ms). */
  timeoutMs: number;
  /** Per-entry evaluation depth limit (nested evaluation steps, non-tail recursion). */
  depth: number;
  /** Longest sequence an evaluation may build. */
  sequence: number;
  /** Heap of the evaluating process (MB): an evaluation that fills it ends with the process. */
  heapMb: number;
}

export const DEFAULT_JSONATA_LIMITS: JsonataLimits = { timeoutMs: 500, depth: 300, sequence: 1_000_000, heapMb: 64 };

/** Entries that must all hit a limit, with none evaluated in time, before the expression is refused. */
const REFUSE_AFTER = 3;

/**
 * What one entry's evaluation came to, as the evaluating process sends it:
 * `filter` gets whether it matched, `stats --by` its key (null: no value);
 * a number is one of OUTCOME's.
 */
export type Outcome = boolean | string | null | number;
export const OUTCOME = {
  /** The line is not an entry (not JSON, not an object, a field of the wrong type): the caller reports it. */
  BAD_LINE: 0,
  TIME: 1,
  DEPTH: 2,
  SEQUENCE: 3,
  MEMORY: 4,
  /** The run was stopped (Ctrl-C, SIGTERM) before this entry's answer came. */
  CANCELLED: 5,
} as const;

export interface JsonataOptions {
  limits?: Partial<JsonataLimits>;
  /** Evaluation stops (the entry is a non-match) once this is aborted: Ctrl-C, SIGTERM. */
  signal?: AbortSignal;
  /** Told once, the first time an entry hits a limit. */
  onWarning?: (message: string) => void;
  /** Prefix for messages: `JSONata` (filter) or `--by` (stats). */
  what?: string;
}

export type CompiledJsonata = ReturnType<typeof jsonataModule>;

/** Compile with RE2 regexes and evaluation limits; a bad expression throws FilterSyntaxError (exit 2). */
export function compileJsonataExpression(expr: string, limits: JsonataLimits, what = 'JSONata'): CompiledJsonata {
  // Loaded only when an expression uses it: the module costs ~50 ms of every start.
  const jsonata = createRequire(import.meta.url)('jsonata') as typeof jsonataModule;
  let compiled: CompiledJsonata;
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
  return compiled;
}

/**
 * One entry through the expression, in the process that runs it: its value,
 * or the OUTCOME code of the limit it hit. A runtime error on one entry (a
 * type error, arithmetic on a missing field) is no value (undefined).
 */
export async function evaluateEntry(compiled: CompiledJsonata, entry: Entry): Promise<{ value: unknown } | { limit: number }> {
  try {
    return { value: await compiled.evaluate(entry) };
  } catch (err) {
    if (err instanceof RangeError) return { limit: OUTCOME.DEPTH };
    // `$eval` wraps what went wrong in the expression it evaluated (D3121): the limit inside counts.
    let e = err as { code?: string; error?: unknown } | undefined;
    while (e && e.code === 'D3121' && e.error && typeof e.error === 'object') e = e.error as typeof e;
    if (e instanceof RangeError) return { limit: OUTCOME.DEPTH };
    switch (e?.code) {
      case 'D1012':
        return { limit: OUTCOME.TIME };
      case 'D1011':
        return { limit: OUTCOME.DEPTH };
      case 'D2014':
      case 'D2015':
        return { limit: OUTCOME.SEQUENCE };
      default:
        return { value: undefined };
    }
  }
}

/** A value to send back: whether it matched, or its key (what must cross is small and cloneable). */
export function outcomeOf(r: { value: unknown } | { limit: number }, mode: 'match' | 'key'): Outcome {
  if ('limit' in r) return r.limit;
  const v = r.value;
  if (mode === 'match') return truthy(v);
  if (v === undefined || v === null || typeof v === 'function') return null;
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? null;
  } catch {
    // Nested too deeply to write (built by the expression itself): no key.
    return null;
  }
}

/**
 * The limits' bookkeeping where the outcomes are read: said on the
 * first hit, refused (exit 2, that one line) when each of the first entries
 * hit one and none was evaluated in time, counted at the end.
 */
export class LimitAccount {
  private hits = 0;
  private inTime = 0;
  private readonly byLimit = new Map<number, number>();
  /** The first hit's note, held while it may yet be a refusal. */
  private pending: string | undefined;
  private refused = false;

  constructor(
    private readonly limits: JsonataLimits,
    private readonly what: string,
    private readonly onWarning?: (message: string) => void,
  ) {}

  /** One entry's outcome, in entry order; throws the refusal (exit 2). */
  note(o: Outcome): void {
    if (o === OUTCOME.CANCELLED || o === OUTCOME.BAD_LINE) return;
    if (typeof o !== 'number') {
      this.inTime++;
      this.say();
      return;
    }
    this.hits++;
    this.byLimit.set(o, (this.byLimit.get(o) ?? 0) + 1);
    const limit = this.limitName(o);
    if (this.hits === 1) this.pending = `${this.what}: an entry hit the expression's ${limit}; such entries are treated as non-matches`;
    if (this.inTime > 0) this.say();
    else if (this.hits >= REFUSE_AFTER) {
      this.pending = undefined;
      this.refused = true;
      throw new UserError(`${this.what}: the expression hit its ${limit} on every entry (${this.hits} of ${this.hits}); refusing to go on`, ExitCode.USAGE);
    }
  }

  /** At the end of the run: what is still to say, and how many entries hit which limit. */
  finish(): void {
    if (this.refused) return;
    this.say();
    if (this.hits > 1) {
      const each = [...this.byLimit].map(([code, n]) => `${this.limitName(code).replace(/ \(.*/, '')}: ${n}`).join(', ');
      this.onWarning?.(`${this.what}: ${this.hits} entries hit the expression's limits (${each}) and were treated as non-matches`);
    }
  }

  private say(): void {
    if (this.pending === undefined) return;
    this.onWarning?.(this.pending);
    this.pending = undefined;
  }

  private limitName(code: number): string {
    if (code === OUTCOME.TIME) return `time limit (${this.limits.timeoutMs} ms per entry)`;
    if (code === OUTCOME.SEQUENCE) return `sequence limit (${this.limits.sequence} items)`;
    if (code === OUTCOME.MEMORY) return `memory limit (${this.limits.heapMb} MB)`;
    return `depth limit (${this.limits.depth})`;
  }
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
