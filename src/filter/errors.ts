// A filter expression the user wrote is wrong: one line, with the column
// (1-based) and the offending token quoted, exit code 2 (usage).

import { ExitCode, UserError } from '../cli/errors.js';

export class FilterSyntaxError extends UserError {
  constructor(
    readonly problem: string,
    /** 1-based column of the offending token. */
    readonly column: number,
  ) {
    super(`${problem} at column ${column}`, ExitCode.USAGE);
    this.name = 'FilterSyntaxError';
  }
}
