// Password hashes in the Modular Crypt Format, whatever line or name holds them: an `.htpasswd`
// (`admin:$apr1$…`), `/etc/shadow` (`root:$6$…`), a bcrypt column in a JSON answer, an Argon2 hash in a
// log line. A weak password falls to an offline crack of its hash, so the hash is a secret as the
// password is. The scheme's id stays readable (`$2y$[REDACTED]`), the salt, cost and digest go.
// The same for RFC 2307's `{SCHEME}` form, as `htpasswd -s`, LDAP's userPassword and Dovecot write it
// (`bob:{SHA}qUqP5cyx…=`, `{SSHA512}…`): `{SHA}[REDACTED]`.
// One indexOf walk over the `$` signs and one over the `{`, each look bounded: linear.

import { REDACTED } from './redacted.js';

/** Scheme ids after the first `$` (`$1$` MD5-crypt, `$apr1$` Apache, `$5$`/`$6$` SHA-crypt, bcrypt, yescrypt, scrypt, Argon2, PBKDF2). */
const SCHEMES = new Set(['1', 'apr1', '5', '6', '2a', '2b', '2x', '2y', 'y', 'gy', '7', 'argon2i', 'argon2d', 'argon2id', 'pbkdf2', 'pbkdf2-sha256', 'pbkdf2-sha512', 'scrypt', 'sha1', 'md5-crypt']);
/** The longest id above, and what a hash may hold after it: crypt's base64 (`./0-9A-Za-z`), `$`, and Argon2's `=`, `,`, `+`. */
const MAX_ID = 16;
const HASH_CHAR = new Uint8Array(128);
for (const c of './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz$=,+-') HASH_CHAR[c.charCodeAt(0)] = 1;
/** Shorter runs after the id are not hashes (`$5$ off`, a price). */
const MIN_HASH = 16;

/** RFC 2307 scheme names (upper case as written; Dovecot's `-CRYPT` ones hold a crypt hash after the brace). */
const BRACE_SCHEMES = new Set([
  'SHA', 'SSHA', 'SHA256', 'SSHA256', 'SHA384', 'SSHA384', 'SHA512', 'SSHA512', 'MD5', 'SMD5', 'PBKDF2', 'PBKDF2-SHA256',
  'PBKDF2-SHA512', 'ARGON2', 'ARGON2I', 'ARGON2ID', 'BLF-CRYPT', 'SHA256-CRYPT', 'SHA512-CRYPT', 'MD5-CRYPT', 'CRYPT', 'CRAM-MD5',
]);
const MAX_BRACE_ID = 14;
/** What a digest after a brace scheme holds: base64 (`+/=`), hex, and the crypt characters of the -CRYPT schemes. */
const BRACE_HASH_CHAR = new Uint8Array(128);
for (const c of './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz$=+') BRACE_HASH_CHAR[c.charCodeAt(0)] = 1;

/** Could `s` hold a crypt hash? The cheap test: a `$` or `{` with room after it for a hash. */
export function mayHoldCryptHash(s: string): boolean {
  const at = s.indexOf('$');
  if (at >= 0 && s.length - at > MIN_HASH) return true;
  for (let brace = s.indexOf('{'); brace >= 0 && s.length - brace > MIN_HASH; brace = s.indexOf('{', brace + 1)) {
    const first = s.charCodeAt(brace + 1);
    if (first >= 0x41 && first <= 0x5a) return true;
  }
  return false;
}

/** `s` with each Modular Crypt Format or `{SCHEME}` hash's salt and digest redacted; `s` when none. `onSecret` hears each. */
export function redactCryptHashes(s: string, onSecret?: (hash: string) => void): string {
  if (!mayHoldCryptHash(s)) return s;
  return redactBraceHashes(redactDollarHashes(s, onSecret), onSecret);
}

/** `{SHA}…`, `{SSHA512}…`: the scheme stays, the digest (at least MIN_HASH characters) goes. */
function redactBraceHashes(s: string, onSecret?: (hash: string) => void): string {
  const schemeEnd = (at: number): number => {
    // Every scheme starts with a capital (JSON's `{"` is passed at once); the `}` is looked for only
    // as far as the longest scheme: a text of many `{` and one `}` at its end stays linear.
    const first = s.charCodeAt(at + 1);
    if (!(first >= 0x41 && first <= 0x5a)) return -1;
    let close = at + 1;
    while (close < s.length && close - at - 1 <= MAX_BRACE_ID && s.charCodeAt(close) !== 0x7d /* } */) close++;
    return close < s.length && s.charCodeAt(close) === 0x7d && BRACE_SCHEMES.has(s.slice(at + 1, close)) ? close : -1;
  };
  return redactDigests(s, '{', schemeEnd, BRACE_HASH_CHAR, (hash) => hash.length >= MIN_HASH && !hash.startsWith(REDACTED), onSecret);
}

/** `$id$salt$digest`: the id stays, the rest goes. */
function redactDollarHashes(s: string, onSecret?: (hash: string) => void): string {
  const schemeEnd = (at: number): number => {
    // A hash starts a run: not glued to a word or to another hash's characters before it.
    const before = at > 0 ? s.charCodeAt(at - 1) : 0x20;
    if (before < 128 && HASH_CHAR[before] === 1 && before !== 0x2d /* - */) return -1;
    const close = s.indexOf('$', at + 1);
    return close >= 0 && close - at - 1 <= MAX_ID && SCHEMES.has(s.slice(at + 1, close)) ? close : -1;
  };
  // A salt or cost and a digest: another `$` in it, and length enough.
  return redactDigests(s, '$', schemeEnd, HASH_CHAR, (hash) => hash.length >= MIN_HASH && hash.indexOf('$') >= 0 && hash !== REDACTED, onSecret);
}

/**
 * One walk over `opener` in `s`: where `schemeEnd` finds a known scheme (the index of its last
 * character, or -1), the run of `chars` after it is the digest, redacted when `isDigest` says so.
 */
function redactDigests(s: string, opener: string, schemeEnd: (at: number) => number, chars: Uint8Array, isDigest: (hash: string) => boolean, onSecret?: (hash: string) => void): string {
  let out = '';
  let copied = 0;
  for (let at = s.indexOf(opener); at >= 0 && at < s.length; at = s.indexOf(opener, at + 1)) {
    const close = schemeEnd(at);
    if (close < 0) continue;
    let end = close + 1;
    while (end < s.length && s.charCodeAt(end) < 128 && chars[s.charCodeAt(end)] === 1) end++;
    const hash = s.slice(close + 1, end);
    at = end - 1;
    if (!isDigest(hash)) continue;
    onSecret?.(hash);
    out += s.slice(copied, close + 1) + REDACTED;
    copied = end;
  }
  return copied === 0 ? s : out + s.slice(copied);
}
