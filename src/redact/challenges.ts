// A server's authentication challenge (`WWW-Authenticate`, `Proxy-Authenticate`) is no secret in
// itself (`Basic realm="api"`), so its name is not a sensitive one. But the connection-based schemes
// answer with a token in it: SPNEGO's `Negotiate <token>` (Kerberos mutual authentication: the AP-REP,
// sealed with the session key), NTLM's `NTLM <type 2 message>` (the server challenge an offline crack
// of the client's answer needs), and SCRAM's `data=` (RFC 7804: the server's nonce, salt and proof).
// Those token68 values go; the scheme and every other parameter stay readable.

import { REDACTED } from './redacted.js';

/** Header names whose value is a list of challenges (RFC 9110 §11.6.1, §11.7.1). */
const CHALLENGE_HEADERS = new Set(['www-authenticate', 'proxy-authenticate']);

/** Schemes whose token68 is a secret; others (`Bearer`, `Basic`) carry parameters only. */
const TOKEN_SCHEMES = new Set(['negotiate', 'ntlm', 'kerberos', 'nego2', 'mutual']);

/** One challenge of a list: `Negotiate oYG…`, `NTLM TlRM…`, a scheme, blanks and a token68 (RFC 9110 §11.2). */
const SCHEME_TOKEN = /^([ \t]*[A-Za-z][A-Za-z0-9_-]{0,31}[ \t]+)([A-Za-z0-9._~+/-]+=*)([ \t]*)$/;

/** SCRAM's parameters that carry the exchange (RFC 7804 §5): `data="…"`, `data=…`. */
const SCRAM_DATA = /(\bdata[ \t]*=[ \t]*)("[^"]*"|[^\s,]+)/gi;

export function isChallengeHeader(name: string): boolean {
  return CHALLENGE_HEADERS.has(name.toLowerCase());
}

/**
 * A challenge header's value with the tokens of connection-based schemes and SCRAM's `data` redacted;
 * the same string when there are none. `onSecret` is told each value taken out.
 */
export function redactChallenges(value: string, onSecret?: (s: string) => void): string {
  if (value.length < 8) return value;
  // Split at commas: a token68 holds none, and each piece is matched from its start to its end.
  const pieces = value.split(',');
  let changed = false;
  for (let i = 0; i < pieces.length; i++) {
    const m = SCHEME_TOKEN.exec(pieces[i]);
    if (!m || !TOKEN_SCHEMES.has(m[1].trim().toLowerCase())) continue;
    onSecret?.(m[2]);
    pieces[i] = `${m[1]}${REDACTED}${m[3]}`;
    changed = true;
  }
  let out = changed ? pieces.join(',') : value;
  if (/scram-/i.test(out)) {
    out = out.replace(SCRAM_DATA, (whole, name: string, data: string) => {
      if (data === REDACTED || data === `"${REDACTED}"`) return whole;
      onSecret?.(data.replace(/"/g, ''));
      return `${name}${data.startsWith('"') ? `"${REDACTED}"` : REDACTED}`;
    });
  }
  return out;
}
