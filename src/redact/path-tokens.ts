// Tokens sent as URL path segments: a password reset link (`/reset/<token>`, Django's
// `/reset/<uidb64>/<token>/`), an e-mail confirmation or invitation (`/verify/<token>`,
// `/invite/<token>`), a magic login link, a token looked up by path (`/api/token/<token>`). The
// segment before names what follows; the token itself is known by looking random (long, letters and
// digits): `/reset/done`, `/verify/email` and `/token/refresh` stay. A JWT anywhere is found by its
// shape already (tokens.ts). One walk over the path, linear.

import { REDACTED } from './urls.js';

/** Segments (lower case, `-` and `_` dropped) after which the next one or two are a secret when they look random. */
const MARKERS = new Set([
  'token', 'accesstoken', 'authtoken', 'apitoken', 'reset', 'passwordreset', 'resetpassword', 'forgotpassword', 'setpassword',
  'verify', 'verifyemail', 'verification', 'confirm', 'confirmemail', 'confirmation', 'activate', 'activation', 'invite',
  'invitation', 'magic', 'magiclink', 'magiclogin', 'emaillogin',
]);
/** A token is at least this long (a Django uidb64 `MQ`, `/reset/done` are not). */
const MIN_TOKEN = 16;
const MAX_TOKEN = 1024;
/** Segments looked at after a marker: Django puts the user's id between the marker and the token. */
const AFTER_MARKER = 2;

/**
 * `path` (a request's path or URL; its query and fragment are left to the query rules) with each
 * random-looking segment after a marker redacted; `onSecret` hears each one taken out.
 */
export function redactPathTokens(path: string, onSecret: (s: string) => void): string {
  let end = path.length;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x3f /* ? */ || c === 0x23 /* # */) {
      end = i;
      break;
    }
  }
  let out = '';
  let copied = 0;
  let after = 0; // segments still to look at after a marker
  for (let start = 0; start < end; ) {
    let stop = path.indexOf('/', start);
    if (stop < 0 || stop > end) stop = end;
    const segment = path.slice(start, stop);
    if (after > 0 && looksRandom(segment)) {
      onSecret(segment);
      out += path.slice(copied, start) + REDACTED;
      copied = stop;
      after = 0;
    } else if (segment.length <= 24 && MARKERS.has(segment.toLowerCase().replace(/[-_]/g, ''))) after = AFTER_MARKER;
    else if (segment !== '') after--;
    start = stop + 1;
  }
  return copied === 0 ? path : out + path.slice(copied);
}

/** Long, of a token's characters, with letters and digits both (a word or a number is no token). */
function looksRandom(s: string): boolean {
  if (s.length < MIN_TOKEN || s.length > MAX_TOKEN) return false;
  let letter = false;
  let digit = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digit = true;
    else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) letter = true;
    // - _ ~ = %; not '.': a file's name (`app.3f2a1b9c.js`) is no token, and a JWT is found by its shape.
    else if (c !== 0x2d && c !== 0x5f && c !== 0x7e && c !== 0x3d && c !== 0x25) return false;
  }
  return letter && digit;
}
