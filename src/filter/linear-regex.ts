// Every regular expression a user (or an attacker) writes — KFL1 `r"…"`,
// KFL2 `.matches()`, JSONata `/…/`, a rules file's `path:`/`service:`, the
// tap pod regex — runs on RE2 (re2js): matching time is linear in the input,
// so no pattern can hang shark the way `^/(a+)+$` hangs a backtracking engine.
// The syntax is RE2's (Go's), as Kubeshark's filters use: no backreferences,
// no lookaround; `(?i)` and friends inside the pattern.
//
// Speed (measured on the filter path, docs/performance.md): V8's backtracking
// engine is 5–10× faster than re2js on ordinary patterns, so a pattern written
// in the plain syntax both engines read alike runs on V8 with V8's linear-time
// fallback switched on (`--enable-experimental-regexp-engine-on-excessive-backtracks`):
// after a bounded number of backtracks V8 reruns the match on its linear
// engine. Everything else — `(?i)`, Unicode classes, anything V8's linear
// engine cannot run — goes to re2js. Either way the time is linear.

import { setFlagsFromString } from 'node:v8';
import { RE2JS } from 're2js';

// Read when a RegExp is compiled and run, so setting them now covers every RegExp made after.
setFlagsFromString('--enable-experimental-regexp-engine');
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/**
 * The syntax V8 and RE2 read the same way: literals, `.`, anchors, groups
 * without `(?`, classes without POSIX `[:…:]`, quantifiers, and the escapes
 * \d \w \s \b (and their negations) or of punctuation. Anything else is left to re2js.
 */
const PLAIN_SYNTAX = /^(?:[^\\[(]|\\[dDwWsSbB./\-\\()[\]{}*+?|^$]|\((?!\?)|\[(?!:)(?:[^\\\][]|\\[dDwWs./\-\\\][^])*\])*$/;

/**
 * Inputs on which the two engines agree for the plain syntax: printable ASCII.
 * (They differ on `.` before `\r`/U+2028, on `\s` beyond ASCII, and on
 * surrogate pairs, none of which such a string holds.)
 */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function v8WithLinearFallback(source: string): RegExp | undefined {
  if (!PLAIN_SYNTAX.test(source)) return undefined;
  try {
    // Compiles only when V8's linear engine can run the pattern (no backreferences, lookaround…).
    // eslint-disable-next-line no-invalid-regexp -- 'l' (linear) is V8's, enabled above
    new RegExp(source, 'l');
    return new RegExp(source);
  } catch {
    return undefined;
  }
}

/** A compiled user regex: `test` finds a match anywhere (Go's MatchString). */
export class LinearRegex {
  private constructor(
    readonly source: string,
    private readonly re: RE2JS,
    /** The same pattern on V8 (with its linear fallback), when both engines read it alike. */
    private readonly fast: RegExp | undefined,
  ) {}

  /**
   * Compile RE2 syntax; throws `Error` with RE2's one-line reason when the
   * pattern is not valid RE2 (callers turn it into their usage error).
   */
  static compile(source: string, flags = 0): LinearRegex {
    try {
      const re = RE2JS.compile(source, flags);
      return new LinearRegex(source, re, flags === 0 ? v8WithLinearFallback(source) : undefined);
    } catch (err) {
      throw new Error(reason(err));
    }
  }

  test(input: string): boolean {
    return this.fast !== undefined && PRINTABLE_ASCII.test(input) ? this.fast.test(input) : this.re.test(input);
  }

  /** Match from `from` on: [start, end, ...groups] (undefined for a group that did not take part), or null. */
  execFrom(input: string, from: number): { index: number; end: number; groups: (string | undefined)[] } | null {
    const m = this.re.matcher(input);
    if (!m.find(from)) return null;
    const groups: (string | undefined)[] = [];
    for (let i = 0; i <= m.groupCount(); i++) {
      const g = m.group(i);
      groups.push(g === null ? undefined : g);
    }
    return { index: m.start(), end: m.end(), groups };
  }
}

/** RE2JS's flag bits for JavaScript regex flags (`i`, `m`, `s`); others are ignored. */
export function re2Flags(jsFlags: string): number {
  let f = 0;
  if (jsFlags.includes('i')) f |= RE2JS.CASE_INSENSITIVE;
  if (jsFlags.includes('m')) f |= RE2JS.MULTILINE;
  if (jsFlags.includes('s')) f |= RE2JS.DOTALL;
  return f;
}

/**
 * A stand-in for `RegExp` that JSONata accepts as its `RegexEngine` option:
 * it is constructed from the RegExp JSONata's parser made, and JSONata calls
 * only `exec` with `lastIndex` (its regexes are global).
 */
export class LinearRegExpForJsonata {
  lastIndex = 0;
  private readonly re: LinearRegex;

  constructor(pattern: RegExp | string, flags?: string) {
    const source = typeof pattern === 'string' ? pattern : pattern.source;
    this.re = LinearRegex.compile(source, re2Flags(flags ?? (typeof pattern === 'string' ? '' : pattern.flags)));
  }

  exec(input: string): RegExpExecArray | null {
    const from = this.lastIndex;
    const m = from <= input.length ? this.re.execFrom(input, from) : null;
    if (!m) {
      this.lastIndex = 0;
      return null;
    }
    // An empty match must still move on, as a global RegExp does.
    this.lastIndex = m.end === m.index ? m.end + 1 : m.end;
    const out = m.groups as unknown as RegExpExecArray;
    out.index = m.index;
    out.input = input;
    return out;
  }

  test(input: string): boolean {
    return this.exec(input) !== null;
  }
}

function reason(err: unknown): string {
  const e = err as { error?: string; input?: string; message?: string };
  // RE2JSSyntaxException: "error parsing regexp: <what>: `<where>`".
  return (e.message ?? String(err)).replace(/^error parsing regexp: /, '');
}
