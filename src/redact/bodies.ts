// Secrets in message bodies: JSON at any depth (through the caller's walker),
// form-encoded, multipart/form-data parts by field name, and URLs in plain
// text. A JSON body is parsed only when a quick scan finds a key that could be
// sensitive, and re-serialised only when something changed.

import type { SensitiveNames } from './names.js';
import { REDACTED, hasSensitiveParam, redactUrlText } from './urls.js';

/** Redacts a parsed JSON value; returns the same value when nothing changed. */
export type JsonRedactor = (value: object) => object;

/** A body string: JSON, multipart, else form-encoded or text (parameters and userinfo). */
export function redactBodyText(s: string, names: SensitiveNames, json: JsonRedactor, nested = false): string {
  const first = firstNonSpace(s);
  if (first === '{' || first === '[') return redactJsonText(s, names, json);
  if (!nested && s.startsWith('--')) return redactMultipart(s, names, json);
  return redactUrlText(s, names);
}

/** A JSON document (or one cut short) with every sensitive key's value redacted. */
export function redactJsonText(s: string, names: SensitiveNames, json: JsonRedactor): string {
  if (!mayHoldSecret(s, names)) return s;
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch {
    return redactUrlText(looseJson(s, names), names);
  }
  if (parsed === null || typeof parsed !== 'object') return s;
  const red = json(parsed);
  return red === parsed ? s : JSON.stringify(red);
}

/** Keys of a JSON text (without escapes; an escape anywhere means "maybe"). */
const JSON_KEY = /"([^"\\]{1,256})"\s*:/g;

/**
 * Could this JSON text hold a secret? False only when it certainly cannot: no
 * sensitive key, no escape that could spell one, no URL with userinfo and no
 * URL parameter that could be sensitive.
 */
export function mayHoldSecret(s: string, names: SensitiveNames): boolean {
  if (s.indexOf('\\u') >= 0) return true;
  JSON_KEY.lastIndex = 0;
  for (let m = JSON_KEY.exec(s); m; m = JSON_KEY.exec(s)) if (names.test(m[1], 'field')) return true;
  if (s.indexOf('://') >= 0 && s.indexOf('@') >= 0) return true;
  return hasSensitiveParam(s, names);
}

/** Truncated JSON cannot be parsed: redact `"key": value` pairs textually. */
function looseJson(s: string, names: SensitiveNames): string {
  return s.replace(/"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)/g, (all, name: string, colon: string) =>
    names.test(name, 'field') ? `"${name}"${colon}"${REDACTED}"` : all,
  );
}

/** At most this many parts are looked at; the rest of a body is left as it is (and counted by no one: it is the body's own size cap that bounds it). */
const MAX_PARTS = 1000;

/**
 * multipart/form-data: the content of each part whose field name is sensitive
 * becomes [REDACTED]; other parts' contents are redacted as bodies themselves
 * (a JSON part). The boundary is the body's first line.
 */
export function redactMultipart(s: string, names: SensitiveNames, json: JsonRedactor): string {
  const eol = s.indexOf('\n');
  if (eol < 3) return redactUrlText(s, names);
  const delimiter = s.slice(0, s[eol - 1] === '\r' ? eol - 1 : eol);
  let out = '';
  let copied = 0;
  let at = 0;
  for (let parts = 0; at >= 0 && parts < MAX_PARTS; parts++) {
    const headStart = at + delimiter.length;
    if (s.startsWith('--', headStart)) break; // the closing delimiter
    const crlf = s.indexOf('\r\n\r\n', headStart);
    const lf = s.indexOf('\n\n', headStart);
    const headEnd = crlf >= 0 && (lf < 0 || crlf <= lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
    if (headEnd < 0) break;
    const next = s.indexOf(delimiter, headEnd);
    // The content ends before the line break that precedes the next delimiter (or at the end of a body cut short).
    let contentEnd = next < 0 ? s.length : next;
    if (next >= 0 && s[contentEnd - 1] === '\n') contentEnd--;
    if (next >= 0 && s[contentEnd - 1] === '\r') contentEnd--;
    const name = /\bname="([^"]{0,256})"/i.exec(s.slice(headStart, headEnd))?.[1];
    const content = s.slice(headEnd, contentEnd);
    const red = name !== undefined && names.test(name, 'param') ? REDACTED : redactBodyText(content, names, json, true);
    if (red !== content) {
      out += s.slice(copied, headEnd) + red;
      copied = contentEnd;
    }
    at = next;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** The first character that is not white space or a byte order mark (however many lead). */
function firstNonSpace(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== ' ' && c !== '\t' && c !== '\r' && c !== '\n' && c !== '\ufeff') return c;
  }
  return '';
}
