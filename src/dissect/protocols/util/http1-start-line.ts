// HTTP/1 start lines read by hand. These are what the regexes
//   status:  /^(HTTP)\/(\d)\.(\d) +(\d{3})(?: (.*))?$/i
//   request: /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) +(\S+) +(HTTP)\/(\d)\.(\d) *$/i
// matched, exactly (test/dissect/http1-start-line.test.ts runs both on random
// lines): every message has one, and the regexes' match arrays and the
// version built from their pieces were a fifth of what reading a head made.

/** The parts of a message head a start line sets. */
export interface StartLine {
  kind: 'request' | 'response';
  method: string;
  target: string;
  /** Null when unknown (a malformed status line; a request's head). */
  status: number | null;
  statusText: string;
  version: string;
  warnings: string[];
}

/** `HTTP/x.y` for the hundred versions two digits can say, made once. */
const VERSIONS = Array.from({ length: 100 }, (_, i) => `HTTP/${Math.floor(i / 10)}.${i % 10}`);

/**
 * A status line (`HTTP/1.1 404 Not Found`) into `head`: true if `line` is one.
 * "HTTP" is case-sensitive (RFC 9112 §2.3), yet some servers send "http/1.1"
 * and clients (curl, browsers, Zeek) accept it: so do we, with a warning.
 */
export function readStatusLine(line: string, head: StartLine): boolean {
  const n = line.length;
  if (n < 12 || !isHttpWord(line, 0)) return false;
  const version = versionAt(line, 4);
  if (version < 0) return false;
  let p = 8;
  if (line.charCodeAt(p) !== 0x20) return false;
  while (line.charCodeAt(p) === 0x20) p++;
  if (p + 3 > n || !isDigit(line.charCodeAt(p)) || !isDigit(line.charCodeAt(p + 1)) || !isDigit(line.charCodeAt(p + 2))) return false;
  const status = (line.charCodeAt(p) - 0x30) * 100 + (line.charCodeAt(p + 1) - 0x30) * 10 + (line.charCodeAt(p + 2) - 0x30);
  p += 3;
  let text = '';
  if (p < n) {
    // A reason phrase after one space, with no line end in it (`.` stops at CR and LF).
    if (line.charCodeAt(p) !== 0x20 || hasLineEnd(line, p + 1)) return false;
    text = line.slice(p + 1);
  }
  head.kind = 'response';
  head.version = VERSIONS[version];
  head.status = status;
  head.statusText = text;
  if (!line.startsWith('HTTP')) head.warnings.push(`nonstandard: "${line.slice(0, 4)}/" in status line`);
  return true;
}

/** A request line (`GET /path HTTP/1.1`) into `head`: true if `line` is one. */
export function readRequestLine(line: string, head: StartLine): boolean {
  const n = line.length;
  let p = 0;
  while (p < n && isTokenChar(line.charCodeAt(p))) p++;
  const methodEnd = p;
  if (methodEnd === 0 || line.charCodeAt(p) !== 0x20) return false;
  while (line.charCodeAt(p) === 0x20) p++;
  const targetStart = p;
  while (p < n && !isRegExpSpace(line.charCodeAt(p))) p++;
  const targetEnd = p;
  if (targetEnd === targetStart || line.charCodeAt(p) !== 0x20) return false;
  while (line.charCodeAt(p) === 0x20) p++;
  const word = p;
  if (p + 8 > n || !isHttpWord(line, p)) return false;
  const version = versionAt(line, p + 4);
  if (version < 0) return false;
  p += 8;
  while (line.charCodeAt(p) === 0x20) p++;
  if (p !== n) return false;
  head.kind = 'request';
  head.method = line.slice(0, methodEnd);
  head.target = line.slice(targetStart, targetEnd);
  head.version = VERSIONS[version];
  if (!line.startsWith('HTTP', word)) head.warnings.push(`nonstandard: "${line.slice(word, word + 4)}/" in request line`);
  return true;
}

/** `HTTP` in any case at `at`. */
function isHttpWord(s: string, at: number): boolean {
  return (
    (s.charCodeAt(at) | 0x20) === 0x68 &&
    (s.charCodeAt(at + 1) | 0x20) === 0x74 &&
    (s.charCodeAt(at + 2) | 0x20) === 0x74 &&
    (s.charCodeAt(at + 3) | 0x20) === 0x70
  );
}

/** `/x.y` at `at`: 10·x + y, else -1. */
function versionAt(s: string, at: number): number {
  if (s.charCodeAt(at) !== 0x2f || s.charCodeAt(at + 2) !== 0x2e) return -1;
  const major = s.charCodeAt(at + 1);
  const minor = s.charCodeAt(at + 3);
  return isDigit(major) && isDigit(minor) ? (major - 0x30) * 10 + (minor - 0x30) : -1;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hasLineEnd(s: string, from: number): boolean {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

/** RFC 9110 `tchar`. */
function isTokenChar(c: number): boolean {
  if (c >= 0x61 ? c <= 0x7a : c >= 0x41 ? c <= 0x5a || c === 0x5e || c === 0x5f || c === 0x60 : c >= 0x30 ? c <= 0x39 : false) return true;
  return c === 0x21 || c === 0x23 || c === 0x24 || c === 0x25 || c === 0x26 || c === 0x27 || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x7c || c === 0x7e;
}

/** What `\s` matches in a JavaScript regex. */
function isRegExpSpace(c: number): boolean {
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}
