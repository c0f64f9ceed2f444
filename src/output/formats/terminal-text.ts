// Text from traffic on a person's terminal. Anything a captured packet
// carries is attacker-written, and a terminal obeys escape sequences: an ESC
// in a header could recolour, move the cursor, retitle the window or (on some
// terminals) write files. So every character that is not printable text is
// shown escaped (`\x1b`, `\u202e`), and widths are measured in terminal
// columns so lines can be fitted to the window.

/** C0/C1 controls, DEL, and Unicode format characters (bidi overrides, zero-width joiners…), lone surrogates. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|[\uD800-\uDFFF]/gu;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Printable text only: every unsafe character becomes a visible escape. */
export function escapeForTerminal(text: string): string {
  UNSAFE.lastIndex = 0;
  if (!UNSAFE.test(text)) return text;
  return text.replace(UNSAFE, (ch) => {
    if (NAMED[ch]) return NAMED[ch];
    const cp = ch.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
  });
}

/** Like escapeForTerminal, but keeps line breaks (for multi-line bodies in the detail view). */
export function escapeKeepingLines(text: string): string[] {
  return text.split(/\r?\n/).map((l) => escapeForTerminal(l));
}

const WIDE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff01-\uff60\uffe0-\uffe6\p{Extended_Pictographic}]/u;
const ZERO = /[\p{M}]/u;
// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;

/** Terminal columns taken by text that is already escaped (colour codes count 0). */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text.replace(SGR, '')) {
    if (ch.charCodeAt(0) < 0x7f) width++;
    else if (ZERO.test(ch)) continue;
    else width += WIDE.test(ch) ? 2 : 1;
  }
  return width;
}

/**
 * Cut a (possibly coloured) line to `columns` terminal columns, ending in "…"
 * when cut. Colour codes are kept (they take no room) and reset at the cut.
 */
export function fitToWidth(line: string, columns: number): string {
  if (columns <= 0 || displayWidth(line) <= columns) return line;
  let out = '';
  let width = 0;
  let coloured = false;
  for (let i = 0; i < line.length; ) {
    if (line.charCodeAt(i) === 0x1b) {
      SGR.lastIndex = i;
      const m = SGR.exec(line);
      if (m && m.index === i) {
        out += m[0];
        coloured = m[0] !== '\x1b[0m';
        i += m[0].length;
        continue;
      }
    }
    const ch = unitAt(line, i);
    const w = displayWidth(ch);
    if (width + w > columns - 1) break;
    out += ch;
    width += w;
    i += ch.length;
  }
  return out + '…' + (coloured ? '\x1b[0m' : '');
}

/**
 * Cut plain (already escaped, uncoloured) text to `columns` by taking out its
 * middle: "/api/v2/users/12345/orders" → "/api/v2…/orders". For what is read at
 * both ends: a path, a host name, a pod name with its port.
 */
export function cutMiddle(text: string, columns: number): string {
  if (displayWidth(text) <= columns) return text;
  if (columns <= 1) return columns === 1 ? '…' : '';
  const chars = units(text);
  const back = Math.floor((columns - 1) / 2);
  let front = '';
  let width = 0;
  for (const ch of chars) {
    const w = displayWidth(ch);
    if (width + w > columns - 1 - back) break;
    front += ch;
    width += w;
  }
  let end = '';
  for (let i = chars.length - 1; i >= 0; i--) {
    const w = displayWidth(chars[i]);
    if (width + w > columns - 1) break;
    end = chars[i] + end;
    width += w;
  }
  return front + '…' + end;
}

// An escape escapeForTerminal wrote (`\x1b`, `\u202e`, `\n`): cut as one character, so a cut never leaves
// half of one (`\x…`, `…1b`), which reads as different text. A backslash sent as text is not escaped, so
// `\x41` written by a client is kept whole too: harmless.
const ESCAPE = /\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|[nrt])/y;

/** The character, or the whole escape, that starts at `i`. */
function unitAt(text: string, i: number): string {
  if (text.charCodeAt(i) === 0x5c) {
    ESCAPE.lastIndex = i;
    const m = ESCAPE.exec(text);
    if (m) return m[0];
  }
  return String.fromCodePoint(text.codePointAt(i)!);
}

/** Text as the characters and whole escapes a cut may keep or leave out. */
function units(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    const u = unitAt(text, i);
    out.push(u);
    i += u.length;
  }
  return out;
}

/** Pad (already escaped) text with spaces to `width` columns. */
export function padEnd(text: string, width: number): string {
  const w = displayWidth(text);
  return w >= width ? text : text + ' '.repeat(width - w);
}

export function padStart(text: string, width: number): string {
  const w = displayWidth(text);
  return w >= width ? text : ' '.repeat(width - w) + text;
}
