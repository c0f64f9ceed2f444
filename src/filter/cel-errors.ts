// CEL's evaluation errors in KFL2: `x / 0`, `x % 0`, `1 + "a"`, `-"a"` have no value in CEL (a
// "division by zero" or "no such overload" error), so an entry that meets one matches nothing:
// `!(status_code / 0 == 1)` is not true, as it would be if the error were read as 0 or false.
// As in CEL, `||` and `&&` absorb an error when another term decides (`x / 0 == 1 || http` is
// true for HTTP entries), and so do the macros `exists` and `all`.
//
// An error is thrown (one object per site, made when the expression is compiled: no allocation per
// entry) and caught by the predicate, which counts the entry; the run says at the end how many
// entries met one and what the first was, so no entry is left out silently.

/** The error one site of the expression raises; `message` names the column. */
export class CelEvalError {
  constructor(readonly message: string) {}
}

/** The entries so far whose evaluation ended in an error, and the first error met. */
export class EvalErrors {
  entries = 0;
  first: string | undefined;
  /** Sites compiled so far that can raise an error: `||`/`&&` and the macros catch only around those. */
  sites = 0;

  /** A site at `col` raising `what`. */
  site(what: string, col: number): CelEvalError {
    this.sites++;
    return new CelEvalError(`${what} at column ${col}`);
  }

  count(err: CelEvalError): void {
    this.entries++;
    this.first ??= err.message;
  }
}

/** The warning a run prints at its end, or undefined when no entry met an error. */
export function evalErrorWarning(entries: number, first: string | undefined): string | undefined {
  if (entries === 0) return undefined;
  return `warning: ${entries} ${entries === 1 ? 'entry' : 'entries'} met an evaluation error of the expression (${first ?? 'an error'}) and did not match`;
}
