// GraphQL requests pass secrets as variables: `mutation($p: String!) {
// login(password: $p) }` with `{"variables": {"p": "…"}}`. The variable's own
// name says nothing; the argument it is bound to does. Variables bound to a
// sensitive argument or input field are redacted. One walk over the query's
// `$` signs, each followed back over `name:`: linear.

import type { SensitiveNames } from './names.js';
import { isSecretName } from './inline-pairs.js';

/** A GraphQL request body (`query` text and a `variables` object): the names of variables bound to a sensitive argument. */
export function sensitiveGraphqlVariables(query: string, names: SensitiveNames): Set<string> | undefined {
  let found: Set<string> | undefined;
  for (let dollar = query.indexOf('$'); dollar >= 0; dollar = query.indexOf('$', dollar + 1)) {
    let varEnd = dollar + 1;
    while (varEnd < query.length && NAME_CHAR[query.charCodeAt(varEnd)] === 1) varEnd++;
    if (varEnd === dollar + 1) continue;
    // Back from `$`: spaces, the colon, spaces, the argument's name.
    let i = dollar;
    while (i > 0 && isSpace(query.charCodeAt(i - 1)) && dollar - i < 64) i--;
    if (query[i - 1] !== ':') continue;
    i--;
    while (i > 0 && isSpace(query.charCodeAt(i - 1)) && dollar - i < 128) i--;
    const nameEnd = i;
    while (i > 0 && NAME_CHAR[query.charCodeAt(i - 1)] === 1 && nameEnd - i < 96) i--;
    if (i === nameEnd || !isSecretName(query.slice(i, nameEnd), names)) continue;
    (found ??= new Set()).add(query.slice(dollar + 1, varEnd));
  }
  return found;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x2c; // GraphQL counts commas as white space
}

/** GraphQL names: letters, digits, `_`. */
const NAME_CHAR = new Uint8Array(65536);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_') NAME_CHAR[c.charCodeAt(0)] = 1;
