// A JSON Web Key's private members (RFC 7518 §6): an RSA key's `d`, `p`,
// `q`, `dp`, `dq`, `qi` and `oth`, an EC or OKP key's `d`, a symmetric
// (`oct`) key's `k`. Their names say nothing to the name rules; a JWK Set
// served with its private halves (a misconfigured issuer, an identity
// provider's admin API, a token service's own keys) hands out every token
// it will ever sign. Public members (`n`, `e`, `x`, `y`, `kid`, `alg`) stay.

import { REDACTED } from './redacted.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** Is `o` a JSON Web Key (its `kty` says so)? */
export function isJwk(o: Record<string, unknown>): boolean {
  return typeof o.kty === 'string' && o.kty.length <= 8;
}

/** The key with its private members redacted; `o` itself when it has none. */
export function redactJwk(o: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const m of PRIVATE_MEMBERS) {
    if (Object.hasOwn(o, m) && o[m] !== REDACTED && o[m] !== null && o[m] !== undefined) (copy ??= { ...o })[m] = REDACTED;
  }
  return copy ?? o;
}
