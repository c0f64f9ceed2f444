// Secrets in configuration text: YAML (`password: …`, a ConfigMap's
// application.yml), .env and properties files (`DB_PASSWORD=…`,
// `export API_TOKEN=…`, `spring.datasource.password=…`), header-like lines
// (STOMP's `passcode:…`, HTTP in a text body), one name and value a line.
// Query-string rules see `a=b&c=d` but not a second line's name; these lines
// are read here. YAML goes further than one line in two places:
// - a block scalar under a sensitive name (`tls.key: |` or `password: >-` and
//   the more indented lines below it) is redacted whole, and a mapping under a
//   name only secrets have (`credentials:`, `secureJsonData:`) loses every value;
// - a Kubernetes Secret written as YAML (a document with `kind: Secret`, as
//   `kubectl get secret -o yaml` prints it, or a manifest in a ConfigMap or a
//   GitOps repository's response) has every value of its `data` and
//   `stringData` maps redacted, whatever their keys are called; so are those
//   maps written in flow style (`data: {password: …}`, or the whole Secret as
//   `{apiVersion: v1, kind: Secret, data: {…}}`), on one line or several.
// A walk over line starts with indexOf: linear.

import type { SensitiveNames } from './names.js';
import { REDACTED, isRedacted } from './redacted.js';

/** A name this long or longer is not a configuration key. */
const MAX_NAME = 96;
/** How far an .npmrc line's registry scope (`//host/path/:`) is read for its `:`. */
const MAX_NPMRC_SCOPE = 512;

/** Multi-line text with a `name: value` or `name=value` line whose name is sensitive gets that value redacted. */
export function redactNamedLines(s: string, names: SensitiveNames): string {
  s = redactFlowSecretMaps(s);
  if (s.indexOf('\n') < 0) {
    // A process's environment as /proc/<pid>/environ holds it (`PATH=…\0DB_PASSWORD=…\0`), sent as a
    // JSON string or text: its NUL-separated settings are read as lines, and the NULs put back.
    if (s.indexOf('\0') >= 0) {
      const lines = s.replaceAll('\0', '\n');
      const red = redactNamedLines(lines, names);
      return red === lines ? s : red.replaceAll('\n', '\0');
    }
    return redactHeaderLine(s, names);
  }
  const secretDocuments = mayHoldYamlSecret(s) ? findSecretDocuments(s) : undefined;
  let out = '';
  let copied = 0;
  const redact = (from: number, to: number): void => {
    out += s.slice(copied, from) + REDACTED;
    copied = to;
  };
  /** A block scalar being redacted: its key's indent, and its content's extent so far. */
  let block: { indent: number; from: number; to: number } | undefined;
  /** The indent of the `data:` or `stringData:` key of a Secret (or of a secret's own mapping) whose values are being redacted; -1: none. */
  let dataIndent = -1;
  /** The key indent of a list item `- name: DB_PASSWORD` whose `value:` is to go; -1: none. */
  let namedItem = -1;
  let document = 0;
  for (let start = 0; start < s.length; ) {
    let end = s.indexOf('\n', start);
    if (end < 0) end = s.length;
    let textEnd = end;
    if (s.charCodeAt(textEnd - 1) === CR) textEnd--;
    let first = start;
    while (first < textEnd && (s[first] === ' ' || s[first] === '\t')) first++;
    const blank = first === textEnd;
    const indent = first - start;
    const next = end + 1;
    if (block) {
      if (blank) {
        start = next;
        continue;
      }
      if (indent > block.indent) {
        if (block.from < 0) block.from = first;
        block.to = textEnd;
        start = next;
        continue;
      }
      if (block.from >= 0) redact(block.from, block.to);
      block = undefined;
    }
    if (isDocumentStart(s, start, textEnd)) {
      document++;
      dataIndent = -1;
    }
    if (dataIndent >= 0 && !blank && indent <= dataIndent) dataIndent = -1;
    const line = blank ? undefined : readLine(s, start, textEnd);
    start = next;
    if (!line) continue;
    if (secretDocuments?.has(document) && line.separator === ':' && line.valueEnd <= line.valueStart && (line.name === 'data' || line.name === 'stringData')) {
      dataIndent = line.keyIndent;
      continue;
    }
    const inSecretData = dataIndent >= 0 && line.keyIndent > dataIndent && line.separator === ':';
    // `- name: DB_PASSWORD` then `value: …` (a container's env as `kubectl get -o yaml` prints it, a
    // HAR header in YAML): the name is a value here, and the item's `value:` goes.
    if (namedItem >= 0 && line.keyIndent < namedItem) namedItem = -1;
    if (!inSecretData && line.separator === ':' && line.name === 'name') {
      namedItem = line.valueEnd - line.valueStart <= MAX_NAME && names.test(unquoted(s, line.valueStart, line.valueEnd), 'field') ? line.keyIndent : -1;
      continue;
    }
    const namedValue = namedItem === line.keyIndent && line.separator === ':' && line.name === 'value';
    if (!inSecretData && !namedValue && (line.code || !names.test(line.name, 'field'))) continue;
    if (line.separator === ':' && isBlockIndicator(s, line.valueStart, line.valueEnd)) {
      block = { indent: line.keyIndent, from: -1, to: -1 };
      continue;
    }
    // A mapping under a name only secrets have (`credentials:`, Grafana's `secureJsonData:` with its
    // `httpHeaderValue1`): every value below it goes, as the same object in JSON would.
    if (line.valueEnd <= line.valueStart && !inSecretData && !namedValue && line.separator === ':' && names.test(line.name, 'structure')) {
      dataIndent = line.keyIndent;
      continue;
    }
    if (line.valueEnd <= line.valueStart || isRedacted(s, line.valueStart, line.valueEnd)) continue;
    redact(line.valueStart, line.valueEnd);
  }
  if (block && block.from >= 0) redact(block.from, block.to);
  return copied === 0 ? s : out + s.slice(copied);
}

/**
 * A text that is one HTTP header line and nothing else (`X-Vault-Token: s.…`, `X-Api-Key: …`: a body
 * that quotes a header, a log field): its value redacted when the name is sensitive. Text of one line
 * is otherwise prose or a value (`token: expired`), so only a header's shape counts: a name with a
 * hyphen, a colon, and one word with a digit or a symbol in it (`X-Auth-Token: missing` stays).
 */
function redactHeaderLine(s: string, names: SensitiveNames): string {
  if (s.length > MAX_HEADER_LINE) return s;
  const m = HEADER_LINE.exec(s);
  if (!m || !/[^A-Za-z]/.test(m[3]) || !names.test(m[1], 'header')) return s;
  const from = m[2].length;
  const to = from + m[3].length;
  return isRedacted(s, from, to) ? s : s.slice(0, from) + REDACTED + s.slice(to);
}
/** Longer than this, a text is not one header line (a header is a few KB at most). */
const MAX_HEADER_LINE = 16384;
/** `Name-With-Hyphen: value`: the name, what precedes the value, the value (one word). Linear: no class overlaps its neighbour. */
const HEADER_LINE = /^(?=[ \t]*([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+))([ \t]*[A-Za-z0-9-]+[ \t]*:[ \t]*)([^ \t\r\n]+)[ \t\r]*$/;

interface NamedLine {
  name: string;
  separator: ':' | '=';
  /** The name's column: a list item's `- ` counts as indentation. */
  keyIndent: number;
  valueStart: number;
  valueEnd: number;
  /** Code rather than configuration (see readLine): judged by name only inside a Secret's data. */
  code: boolean;
}

/** The name and value of line s[start, end), when it is a `name: value` or `name=value` line. */
function readLine(s: string, start: number, end: number): NamedLine | undefined {
  let i = start;
  while (i < end && (s[i] === ' ' || s[i] === '\t')) i++;
  const indented = i > start;
  if (s[i] === '-' && s[i + 1] === ' ') i += 2; // a YAML list item
  if (s.startsWith('export ', i)) i += 7;
  // An .npmrc setting scoped to a registry (`//registry.npmjs.org/:_authToken=…`, `//host/:_password=…`):
  // the name is what follows the scope's `:`. A registry's URL is short: looked for that far only.
  if (s[i] === '/' && s[i + 1] === '/') {
    const colon = s.slice(i, Math.min(end, i + MAX_NPMRC_SCOPE)).indexOf(':_');
    if (colon > 2) i += colon + 1;
  }
  const keyIndent = i - start;
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
  // Code is not configuration: `  _ubd.cookie="__utma="+a;` in a script, `token: this.token,` in an
  // object literal. A `name=value` line starts its line; neither form ends in ; { or ,.
  const last = s[end - 1];
  const code = (separator === '=' && indented) || last === ';' || last === '{' || last === ',';
  return { name, separator, keyIndent, valueStart: i, valueEnd: end, code };
}

/** s[from, to) without the quotes around it, if any. */
function unquoted(s: string, from: number, to: number): string {
  let a = from;
  let b = to;
  while (b > a && (s[b - 1] === ' ' || s[b - 1] === '\t')) b--;
  if (b - a >= 2 && (s[a] === '"' || s[a] === "'") && s[b - 1] === s[a]) {
    a++;
    b--;
  }
  return s.slice(a, b);
}

/** `|`, `>`, `|-`, `>+`, `|2` (and a comment after it): a YAML block scalar, whose content is the lines below. */
function isBlockIndicator(s: string, from: number, to: number): boolean {
  const c = s[from];
  if (from >= to || (c !== '|' && c !== '>')) return false;
  for (let i = from + 1; i < to; i++) {
    const d = s[i];
    if (d === '#') return s[i - 1] === ' ' || s[i - 1] === '\t';
    if (d !== '-' && d !== '+' && d !== ' ' && d !== '\t' && !(d >= '0' && d <= '9')) return false;
  }
  return true;
}

/** A quick test: could the text hold a YAML document of kind Secret? */
function mayHoldYamlSecret(s: string): boolean {
  return s.indexOf('Secret') >= 0;
}

/** The YAML documents (numbered from 0, one more at each `---` line) with a `kind: Secret` line. */
function findSecretDocuments(s: string): Set<number> {
  const found = new Set<number>();
  let document = 0;
  for (let start = 0; start < s.length; ) {
    let end = s.indexOf('\n', start);
    if (end < 0) end = s.length;
    if (isDocumentStart(s, start, end)) document++;
    let i = start;
    while (i < end && (s[i] === ' ' || s[i] === '\t' || (s[i] === '-' && s[i + 1] === ' '))) i++;
    if (s.startsWith('kind:', i)) {
      let kind = s.slice(i + 5, end).trim();
      if (kind.length >= 2 && (kind[0] === '"' || kind[0] === "'") && kind[kind.length - 1] === kind[0]) kind = kind.slice(1, -1);
      if (kind === 'Secret') found.add(document);
    }
    start = end + 1;
  }
  return found;
}

/** `kind: Secret` anywhere (a flow mapping has it mid-line): bounded, linear. */
const SECRET_KIND = /kind["']?:[ \t]{0,8}["']?Secret\b/;
/** A `data` or `stringData` key opening a flow mapping. */
const FLOW_DATA = /\b(?:data|stringData)["']?:[ \t]{0,8}\{/g;

/**
 * A text that names a Secret's kind: the values of every `data: {…}` and `stringData: {…}` flow
 * mapping in it are redacted (their keys stay), quoted or plain, to the `,` or `}` that ends each.
 * One walk: each mapping is read once from its `{`, and the search resumes after it.
 */
export function redactFlowSecretMaps(s: string): string {
  if (s.indexOf('Secret') < 0 || s.indexOf('{') < 0 || !SECRET_KIND.test(s)) return s;
  let out = '';
  let copied = 0;
  FLOW_DATA.lastIndex = 0;
  for (let m = FLOW_DATA.exec(s); m; m = FLOW_DATA.exec(s)) {
    let i = m.index + m[0].length;
    const n = s.length;
    while (i < n) {
      while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r' || s[i] === ',')) i++;
      if (i >= n || s[i] === '}') break;
      // The key: quoted, or plain up to its `:`.
      if (s[i] === '"' || s[i] === "'") i = closingFlowQuote(s, i + 1, s[i]) + 1;
      while (i < n && s[i] !== ':' && s[i] !== ',' && s[i] !== '}' && s[i] !== '\n') i++;
      if (s[i] !== ':') continue;
      i++;
      while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
      let from = i;
      let to: number;
      if (s[i] === '"' || s[i] === "'") {
        from = i + 1;
        to = closingFlowQuote(s, from, s[i]);
        i = to + 1;
      } else {
        // A plain scalar (base64 in `data`), or a nested collection whole, to its closing bracket.
        let depth = 0;
        while (i < n) {
          const c = s[i];
          if (c === '{' || c === '[') depth++;
          else if ((c === '}' || c === ']') && depth > 0) depth--;
          else if (depth === 0 && (c === ',' || c === '}' || c === '\n')) break;
          i++;
        }
        to = i;
        while (to > from && (s[to - 1] === ' ' || s[to - 1] === '\t' || s[to - 1] === '\r')) to--;
      }
      if (to > from && !isRedacted(s, from, to)) {
        out += s.slice(copied, from) + REDACTED;
        copied = to;
      }
    }
    FLOW_DATA.lastIndex = Math.max(i, m.index + m[0].length);
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** Where a flow scalar quoted with `quote` from `from` closes (`''` in single quotes, `\` in double), or the end. */
function closingFlowQuote(s: string, from: number, quote: string): number {
  for (let i = from; i < s.length; i++) {
    const c = s[i];
    if (quote === '"' && c === '\\') i++;
    else if (c === quote) {
      if (quote === "'" && s[i + 1] === "'") i++;
      else return i;
    }
  }
  return s.length;
}

/** `---` alone on its line (or before a comment or a document's content): a new YAML document. */
function isDocumentStart(s: string, start: number, end: number): boolean {
  if (!s.startsWith('---', start)) return false;
  const c = s[start + 3];
  return start + 3 >= end || c === ' ' || c === '\t' || c === '\r';
}

const CR = 0x0d;

/** Letters, digits, `_`, `-`, `.`: what configuration keys are made of. */
const NAME_CHAR = new Uint8Array(65536);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.') NAME_CHAR[c.charCodeAt(0)] = 1;
