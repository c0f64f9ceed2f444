// PostgreSQL's password file (`~/.pgpass`, `PGPASSFILE`), as a ConfigMap, a Secret's decoded value or
// a file server's answer carries it: `hostname:port:database:username:password` a line, the password
// under no name at all. A line is read as one when it has five fields, its port is digits or `*` and
// its host looks like one (`*`, `localhost`, a name with a dot, an address, a socket directory):
// `user:1:profile:name:x` (a Redis key) is no such line. Its password goes, to the end of the line.
// One walk over the lines.

import { REDACTED, isRedacted } from './redacted.js';

/** A quick test: a port (or `*`) between colons. Linear: one class between two fixed characters. */
const PORT_FIELD = /:(?:[0-9]{1,5}|\*):/;
const PORT = /^(?:[0-9]{1,5}|\*)$/;
/** What a host field may be: `*`, `localhost`, a name with a dot or an IPv4 address, a socket directory. */
const HOST = /^(?:\*|localhost|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+\.?|\/[^\s:]*)$/;
/** Longer lines are not a password file's. */
const MAX_LINE = 1024;

export function redactPgpass(s: string): string {
  if (s.indexOf(':') < 0 || !PORT_FIELD.test(s)) return s;
  let out = '';
  let copied = 0;
  for (let start = 0; start < s.length; ) {
    let end = s.indexOf('\n', start);
    if (end < 0) end = s.length;
    let lineEnd = end;
    if (s.charCodeAt(lineEnd - 1) === 0x0d) lineEnd--;
    const from = lineEnd - start <= MAX_LINE ? passwordField(s, start, lineEnd) : -1;
    if (from >= 0 && from < lineEnd && !isRedacted(s, from, lineEnd)) {
      out += s.slice(copied, from) + REDACTED;
      copied = lineEnd;
    }
    start = end + 1;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** Where the password of s[start, end) starts when the line is a password file's; -1 when not. */
function passwordField(s: string, start: number, end: number): number {
  const colons: number[] = [];
  for (let i = start; i < end && colons.length <= 4; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) i++; // `\:` is a colon inside a field
    else if (c === 0x3a) colons.push(i);
    else if (c === 0x20 || c === 0x09) {
      // Fields before the password hold no blank (a log line's time, prose).
      if (colons.length < 4) return -1;
    }
  }
  if (colons.length !== 4) return -1;
  if (!HOST.test(s.slice(start, colons[0])) || !PORT.test(s.slice(colons[0] + 1, colons[1]))) return -1;
  // The database and user: something each.
  if (colons[2] === colons[1] + 1 || colons[3] === colons[2] + 1) return -1;
  return colons[3] + 1;
}
