// Secrets in XML and HTML: the text of an element whose name is sensitive
// (`<password>…</password>`, SOAP's `<wsse:Password>…</wsse:Password>`, a
// CDATA section in one), and the value of a name/value element
// (`<add key="DbPassword" value="…"/>` in .NET configuration, Spring's
// `<property name="password" value="…"/>`, `<entry key="token">…</entry>`, a
// page's `<meta name="csrf-token" content="…">`, a form's
// `<input name="password" value="…">`). Attributes named as secrets
// (`<auth password="…">`) are inline pairs (inline-pairs.ts).
//
// One walk over the tags, each found by indexOf; a tag's attributes are read
// once. Linear in the text.

import type { SensitiveNames } from './names.js';
import { REDACTED, isRedacted } from './redacted.js';
import { isSecretName } from './inline-pairs.js';

/** Could `s` be markup with elements (a closing tag, an empty-element tag, or HTML's `<input>` and `<meta>`, which have neither)? */
export function mayBeMarkup(s: string): boolean {
  return s.indexOf('<') >= 0 && (s.indexOf('</') >= 0 || s.indexOf('/>') >= 0 || VOID_HINT.test(s));
}
const VOID_HINT = /<(?:input|meta)\s/i;

/** `s` with the text of sensitive elements and the values of sensitive name/value elements redacted; `s` itself when none. */
export function redactXml(s: string, names: SensitiveNames): string {
  if (!mayBeMarkup(s)) return s;
  const html = isHtml(s);
  let out = '';
  let copied = 0;
  let lt = s.indexOf('<');
  while (lt >= 0) {
    const nameStart = lt + 1;
    let nameEnd = nameStart;
    while (nameEnd < s.length && TAG_NAME_CHAR[s.charCodeAt(nameEnd)] === 1) nameEnd++;
    // `</x>`, `<!-- -->`, `<?xml ?>` and a '<' in text open no element.
    if (nameEnd === nameStart) {
      lt = s.indexOf('<', lt + 1);
      continue;
    }
    const gt = s.indexOf('>', nameEnd);
    if (gt < 0) break;
    const selfClosing = s.charCodeAt(gt - 1) === SLASH;
    // Most tags have no attributes, and most elements of a page open with another tag rather than text:
    // neither is read further.
    const equals = s.indexOf('=', nameEnd);
    const attrs = equals >= 0 && equals < gt ? readAttributes(s, nameEnd, selfClosing ? gt - 1 : gt) : NO_ATTRIBUTES;
    // The element's name/key attribute, or its own name, says what its value is.
    const named = attrs.name !== undefined && isSecretName(attrs.name, names);
    if ((named || attrs.password) && attrs.value) {
      if (attrs.value[0] >= copied) {
        out += s.slice(copied, attrs.value[0]) + REDACTED;
        copied = attrs.value[1];
      }
    } else if (!selfClosing && (named || !html)) {
      const opensWithText = s.charCodeAt(gt + 1) !== LT || s.startsWith(CDATA, gt + 1);
      const sensitive = named || isSensitiveElement(s, nameStart, nameEnd, names);
      const text = sensitive && opensWithText ? elementText(s, gt + 1) : undefined;
      if (text) {
        out += s.slice(copied, text[0]) + REDACTED;
        copied = text[1];
      } else if (sensitive && opensChild(s, gt + 1)) {
        // `<password><value>…</value></password>`: the secret is one element down. Every text
        // inside goes, to the element's end; the elements inside are not read again.
        const close = s.indexOf(`</${s.slice(nameStart, nameEnd)}`, gt + 1);
        const end = close < 0 ? s.length : close;
        for (const [a, b] of textsWithin(s, gt + 1, end)) {
          if (a < copied) continue;
          out += s.slice(copied, a) + REDACTED;
          copied = b;
        }
        lt = close < 0 ? -1 : s.indexOf('<', close + 2);
        continue;
      }
    }
    lt = s.indexOf('<', gt + 1);
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** Is the element named s[start, end) sensitive, by its local name (`wsse:Password` → `Password`)? */
function isSensitiveElement(s: string, start: number, end: number, names: SensitiveNames): boolean {
  // A name longer than any key's is judged by nothing (and is not kept in the names' cache).
  if (end - start > MAX_NAME) return false;
  const colon = s.lastIndexOf(':', end - 1);
  return isSecretName(s.slice(colon >= start ? colon + 1 : start, end), names);
}

interface Attributes {
  /** The value of a `name` or `key` attribute. */
  name?: string;
  /** Where the value of a `value` or `content` attribute lies (inside its quotes). */
  value?: [number, number];
  /** `type="password"`: a form's password field, whatever its name (`pw`, `j_password`, `login[p]`). */
  password?: boolean;
}

/** The name/value attributes of the tag between `from` and `to` (its attributes' part). */
function readAttributes(s: string, from: number, to: number): Attributes {
  const found: Attributes = {};
  let i = from;
  while (i < to) {
    while (i < to && TAG_NAME_CHAR[s.charCodeAt(i)] !== 1) i++;
    const start = i;
    while (i < to && TAG_NAME_CHAR[s.charCodeAt(i)] === 1) i++;
    const end = i;
    while (i < to && (s.charCodeAt(i) === SPACE || s.charCodeAt(i) === EQUALS)) i++;
    const q = s.charCodeAt(i);
    if (q !== QUOTE && q !== APOSTROPHE) continue;
    let close = s.indexOf(s[i], i + 1);
    if (close < 0 || close > to) close = to;
    if ((isWord(s, start, end, 'name') || isWord(s, start, end, 'key')) && close - i - 1 <= MAX_NAME) found.name = s.slice(i + 1, close);
    else if ((isWord(s, start, end, 'value') || isWord(s, start, end, 'content')) && close > i + 1 && !isRedacted(s, i + 1, close)) found.value = [i + 1, close];
    else if (isWord(s, start, end, 'type') && isWord(s, i + 1, close, 'password')) found.password = true;
    i = close + 1;
  }
  return found;
}

/** Is s[start, end) the lower-case `word`, in any case? Compared in place (a page has thousands of attributes). */
function isWord(s: string, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let k = 0; k < word.length; k++) if ((s.charCodeAt(start + k) | 0x20) !== word.charCodeAt(k)) return false;
  return true;
}

/** An HTML page (its doctype or `<html>` first): no element of HTML holds a secret by its name, so only name/value elements are read. */
function isHtml(s: string): boolean {
  let i = 0;
  while (i < s.length && WHITESPACE[s.charCodeAt(i)] === 1) i++;
  return s.charCodeAt(i) === LT && (isWord(s, i + 1, i + 5, 'html') || isWord(s, i + 1, i + 10, '!doctype h'));
}

/** The text an element opens with at `from` (a CDATA section's inside), when there is any. */
function elementText(s: string, from: number): [number, number] | undefined {
  if (s.startsWith(CDATA, from)) {
    const end = s.indexOf(']]>', from);
    const stop = end < 0 ? s.length : end;
    return stop > from + CDATA.length ? [from + CDATA.length, stop] : undefined;
  }
  let end = s.indexOf('<', from);
  if (end < 0) end = s.length;
  let start = from;
  while (start < end && WHITESPACE[s.charCodeAt(start)] === 1) start++;
  let stop = end;
  while (stop > start && WHITESPACE[s.charCodeAt(stop - 1)] === 1) stop--;
  if (stop <= start || isRedacted(s, start, stop)) return undefined;
  return [start, stop];
}

/** Does the element's content, from `from`, open with a child element (after white space)? */
function opensChild(s: string, from: number): boolean {
  let i = from;
  while (i < s.length && WHITESPACE[s.charCodeAt(i)] === 1) i++;
  return s.charCodeAt(i) === LT && TAG_NAME_CHAR[s.charCodeAt(i + 1)] === 1;
}

/** The texts between tags in s[from, to), without their white space (CDATA sections' insides included). */
function textsWithin(s: string, from: number, to: number): [number, number][] {
  const found: [number, number][] = [];
  let i = from;
  while (i < to) {
    if (s.startsWith(CDATA, i)) {
      const end = s.indexOf(']]>', i);
      const stop = end < 0 || end > to ? to : end;
      if (stop > i + CDATA.length) found.push([i + CDATA.length, stop]);
      i = stop + 3;
      continue;
    }
    if (s.charCodeAt(i) === LT) {
      const gt = s.indexOf('>', i);
      i = gt < 0 || gt >= to ? to : gt + 1;
      continue;
    }
    let end = s.indexOf('<', i);
    if (end < 0 || end > to) end = to;
    const text = trimmed(s, i, end);
    if (text && !isRedacted(s, text[0], text[1])) found.push(text);
    i = end;
  }
  return found;
}

function trimmed(s: string, from: number, to: number): [number, number] | undefined {
  let a = from;
  while (a < to && WHITESPACE[s.charCodeAt(a)] === 1) a++;
  let b = to;
  while (b > a && WHITESPACE[s.charCodeAt(b - 1)] === 1) b--;
  return b > a ? [a, b] : undefined;
}

/** The longest element or name attribute judged as a name. */
const MAX_NAME = 96;
const CDATA = '<![CDATA[';
const NO_ATTRIBUTES: Attributes = {};
const SLASH = 0x2f;
const LT = 0x3c;
const SPACE = 0x20;
const EQUALS = 0x3d;
const QUOTE = 0x22;
const APOSTROPHE = 0x27;

/** Letters, digits, `_`, `-`, `.`, `:`: element and attribute names. */
const TAG_NAME_CHAR = new Uint8Array(65536);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:') TAG_NAME_CHAR[c.charCodeAt(0)] = 1;

const WHITESPACE = new Uint8Array(65536);
for (const c of ' \t\r\n') WHITESPACE[c.charCodeAt(0)] = 1;
