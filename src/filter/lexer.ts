// One hand-written lexer for both dialects. The only dialect difference at
// this level: `r"…"` is a regular expression in KFL1 and a raw string in CEL.

import { FilterSyntaxError } from './errors.js';

export type TokenType = 'ident' | 'number' | 'string' | 'regex' | 'op' | 'eof';

export interface Token {
  type: TokenType;
  /** Identifier name, operator text, decoded string, or number. */
  value: string | number;
  /** The source text of the token (quoted in error messages). */
  text: string;
  /** 1-based column. */
  col: number;
}

const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '(', ')', '[', ']', '{', '}', '.', ',', '?', ':', '+', '-', '*', '/', '%'];

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', "'": "'", '\\': '\\', '/': '/', b: '\b', f: '\f', v: '\v', a: '\x07', '`': '`' };

export function tokenize(src: string, dialect: 'kfl1' | 'kfl2'): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const start = i;
    const col = i + 1;
    if (isIdentStart(c)) {
      // r"…" / r'…': regex (KFL1) or raw string (KFL2).
      if ((c === 'r' || c === 'R') && (src[i + 1] === '"' || src[i + 1] === "'")) {
        const { value, end } = readString(src, i + 1, true);
        tokens.push({ type: dialect === 'kfl1' ? 'regex' : 'string', value, text: src.slice(start, end), col });
        i = end;
        continue;
      }
      while (i < n && isIdentPart(src[i])) i++;
      const name = src.slice(start, i);
      tokens.push({ type: 'ident', value: name, text: name, col });
      continue;
    }
    if (isDigit(c) || (c === '.' && isDigit(src[i + 1] ?? ''))) {
      i = readNumber(src, i);
      const text = src.slice(start, i);
      const clean = text.replace(/[uU]$/, '');
      const value = /^0[xX]/.test(clean) ? parseInt(clean, 16) : Number(clean);
      if (Number.isNaN(value)) throw new FilterSyntaxError(`bad number '${text}'`, col);
      tokens.push({ type: 'number', value, text, col });
      continue;
    }
    if (c === '"' || c === "'" || (c === '`' && dialect === 'kfl1')) {
      const { value, end } = readString(src, i, c === '`');
      tokens.push({ type: 'string', value, text: src.slice(start, end), col });
      i = end;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (op) {
      tokens.push({ type: 'op', value: op, text: op, col });
      i += op.length;
      continue;
    }
    throw new FilterSyntaxError(`unexpected '${c}'`, col);
  }
  tokens.push({ type: 'eof', value: '', text: 'end of expression', col: n + 1 });
  return tokens;
}

function isIdentStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
}
function isIdentPart(c: string): boolean {
  return isIdentStart(c) || isDigit(c);
}
function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function readNumber(src: string, i: number): number {
  if (src[i] === '0' && (src[i + 1] === 'x' || src[i + 1] === 'X')) {
    i += 2;
    while (i < src.length && /[0-9a-fA-F]/.test(src[i])) i++;
  } else {
    while (i < src.length && isDigit(src[i])) i++;
    if (src[i] === '.' && isDigit(src[i + 1] ?? '')) {
      i++;
      while (i < src.length && isDigit(src[i])) i++;
    }
    if (src[i] === 'e' || src[i] === 'E') {
      let j = i + 1;
      if (src[j] === '+' || src[j] === '-') j++;
      if (isDigit(src[j] ?? '')) {
        i = j;
        while (i < src.length && isDigit(src[i])) i++;
      }
    }
  }
  if (src[i] === 'u' || src[i] === 'U') i++;
  return i;
}

/** Read a quoted string starting at the quote; triple quotes are CEL's multi-line strings. */
function readString(src: string, q: number, raw: boolean): { value: string; end: number } {
  const quote = src[q];
  const triple = src.startsWith(quote.repeat(3), q) && quote !== '`';
  const close = triple ? quote.repeat(3) : quote;
  let i = q + close.length;
  let out = '';
  while (i < src.length) {
    if (src.startsWith(close, i)) return { value: out, end: i + close.length };
    const c = src[i];
    if (c === '\\' && !raw) {
      const e = src[i + 1];
      if (e === undefined) break;
      if (e === 'u' || e === 'x' || e === 'U') {
        const len = e === 'u' ? 4 : e === 'U' ? 8 : 2;
        const hex = src.slice(i + 2, i + 2 + len);
        const code = /^[0-9a-fA-F]+$/.test(hex) && hex.length === len ? parseInt(hex, 16) : -1;
        if (code < 0 || code > 0x10ffff) throw new FilterSyntaxError(`bad escape '\\${e}${hex}'`, i + 1);
        out += String.fromCodePoint(code);
        i += 2 + len;
        continue;
      }
      // CEL's (and Go's) octal escape, three digits: "\101" is "A". One or two digits stay as written ("\1" in a regex).
      const octal = /^[0-3][0-7]{2}$/.exec(src.slice(i + 1, i + 4));
      if (octal) {
        out += String.fromCharCode(parseInt(octal[0], 8));
        i += 4;
        continue;
      }
      // Unknown escapes keep the backslash: regex sources like "\d" survive.
      out += e in ESCAPES ? ESCAPES[e] : `\\${e}`;
      i += 2;
      continue;
    }
    out += c;
    i++;
  }
  const shown = src.slice(q, Math.min(src.length, q + 12));
  throw new FilterSyntaxError(`unterminated string ${shown}${src.length > q + 12 ? '…' : ''}`, q + 1);
}
