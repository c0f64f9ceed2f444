// Small helpers the dissectors share for turning wire bytes into entry text.

/** Shorten `s` to `max` characters, marking the cut with "…". */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, Math.max(0, max - 1)) + '…';
}

/**
 * True when the bytes read as text: valid UTF-8 without control characters
 * other than tab/CR/LF. Only the first `limit` bytes are checked, so a binary
 * tail after a long text head is missed, which is acceptable for display.
 */
export function looksLikeText(buf: Buffer, limit = 4096): boolean {
  const n = Math.min(buf.length, limit);
  for (let i = 0; i < n; i++) {
    const c = buf[i];
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
    if (c === 0x7f) return false;
  }
  // A cut in the middle of a multi-byte sequence at `limit` is not an error.
  const head = buf.subarray(0, n);
  return isUtf8Prefix(head);
}

function isUtf8Prefix(buf: Buffer): boolean {
  let i = 0;
  while (i < buf.length) {
    const c = buf[i];
    let extra: number;
    if (c < 0x80) extra = 0;
    else if (c >= 0xc2 && c <= 0xdf) extra = 1;
    else if (c >= 0xe0 && c <= 0xef) extra = 2;
    else if (c >= 0xf0 && c <= 0xf4) extra = 3;
    else return false;
    if (i + extra >= buf.length) return true; // cut at the end: fine
    for (let k = 1; k <= extra; k++) if ((buf[i + k] & 0xc0) !== 0x80) return false;
    i += extra + 1;
  }
  return true;
}

/** Printable ASCII rendering of a short token (non-printables as \xNN), for warnings and junk fields. */
export function printable(buf: Buffer, max = 64): string {
  let out = '';
  for (let i = 0; i < buf.length && out.length < max; i++) {
    const c = buf[i];
    out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '\\x' + c.toString(16).padStart(2, '0');
  }
  return truncate(out, max);
}
