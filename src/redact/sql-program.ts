// PostgreSQL's `COPY … FROM PROGRAM '…'` and `COPY … TO PROGRAM '…'` run a shell command on the
// server: its text is a command line (`curl -u admin:pw …`, `PGPASSWORD=pw psql …`), read as a text
// body's would be (text.ts), inside the literal only. The rest of the statement stays as it is.

import type { SensitiveNames } from './names.js';
import { closingQuote } from './commands.js';
import { redactContentText } from './text.js';

/** `PROGRAM '`, `PROGRAM E'` (an escape string). */
const PROGRAM = /\bprogram[ \t\r\n]{1,16}[eE]?'/gi;

/** `sql` with the command of each `PROGRAM '…'` literal redacted as a command line; `sql` when nothing changed. */
export function redactSqlPrograms(sql: string, names: SensitiveNames): string {
  if (sql.length < 10 || !/program/i.test(sql)) return sql;
  PROGRAM.lastIndex = 0;
  let out = '';
  let copied = 0;
  for (let m = PROGRAM.exec(sql); m; m = PROGRAM.exec(sql)) {
    const open = m.index + m[0].length;
    // A statement cut short (a summary) leaves the literal open: read to the end.
    const end = closingQuote(sql, open, "'");
    const command = sql.slice(open, end);
    const red = redactContentText(command, names);
    if (red !== command) {
      out += sql.slice(copied, open) + red;
      copied = end;
    }
    PROGRAM.lastIndex = Math.max(PROGRAM.lastIndex, end);
  }
  return copied === 0 ? sql : out + sql.slice(copied);
}
