// Secrets in configuration text: YAML (`password: …`, a ConfigMap's
// application.yml), .env and properties files (`DB_PASSWORD=…`,
// `export API_TOKEN=…`, `spring.datasource.password=…`), header-like lines
// (STOMP's `passcode:…`, HTTP in a text body), one name and value a line.
// Query-string rules see `a=b&c=d` but not a second line's name; these lines
// are read here. A walk over line starts with indexOf: linear. A YAML block
// scalar (`password: |` and the lines below it) is not followed.

import type { SensitiveNames } from './names.js';
import { REDACTED } from './redacted.js';

/** A name this long or longer is not a configuration key. */
const MAX_NAME = 96;

/** Multi-line text with a `name: value` or `name=value` line whose name is sensitive gets that value redacted. */
export function redactNamedLines(s: string, names: SensitiveNames): string {
  if (s.indexOf('\n') < 0) return s;
  let out = '';
  let copied = 0;
  for (let start = 0; start < s.length; ) {
    let end = s.indexOf('\n', start);
    if (end < 0) end = s.length;
    const value = namedValue(s, start, end, names);
    if (value) {
      out += s.slice(copied, value[0]) + REDACTED;
      copied = value[1];
    }
    start = end + 1;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** Where the value of line s[start, end) lies when its name is sensitive. */
function namedValue(s: string, start: number, end: number, names: SensitiveNames): [number, number] | undefined {
  let i = start;
  while (i < end && (s[i] === ' ' || s[i] === '\t')) i++;
  const indented = i > start;
  if (s[i] === '-' && s[i + 1] === ' ') i += 2; // a YAML list item
  if (s.startsWith('export ', i)) i += 7;
  const quote = s[i] === '"' || s[i] === "'" ? s[i] : '';
  if (quote) i++;
  const nameStart = i;
  while (i < end && i - nameStart <= MAX_NAME && NAME_CHAR[s.charCodeAt(i)] === 1) i++;
  if (i === nameStart || i - nameStart > MAX_NAME) return undefined;
  const name = s.slice(nameStart, i);
  if (quote && s[i++] !== quote) return undefined;
  while (i < end && (s[i] === ' ' || s[i] === '\t')) i++;
  const separator = s[i];
  if (separator !== ':' && separator !== '=') return undefined;
  i++;
  // A URL (`http://x`) is not a name and value; STOMP's `passcode:x` and a header line `Cookie:x` are.
  if (separator === ':' && s[i] === '/' && s[i + 1] === '/') return undefined;
  while (i < end && (s[i] === ' ' || s[i] === '\t')) i++;
  let valueEnd = end;
  if (s[valueEnd - 1] === '\r') valueEnd--;
  // Code is not configuration: `  _ubd.cookie="__utma="+a;` in a script, `token: this.token,` in an
  // object literal. A `name=value` line starts its line; neither form ends in ; { or ,.
  if (separator === '=' && indented) return undefined;
  const last = s[valueEnd - 1];
  if (last === ';' || last === '{' || last === ',') return undefined;
  if (valueEnd <= i || s.slice(i, valueEnd) === REDACTED || !names.test(name, 'field')) return undefined;
  return [i, valueEnd];
}

/** Letters, digits, `_`, `-`, `.`: what configuration keys are made of. */
const NAME_CHAR = new Uint8Array(65536);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.') NAME_CHAR[c.charCodeAt(0)] = 1;
