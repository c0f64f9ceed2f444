// A string of content (a text body, a JSON string value, a header value): every
// scan for secrets in free text, in one place. A summary is not content: it is
// shark's own line and keeps the URL rules only (urls.ts redactUrlText).

import type { SensitiveNames } from './names.js';
import { redactUrlText } from './urls.js';
import { redactXml } from './xml.js';
import { redactInlinePairs } from './inline-pairs.js';
import { redactCommandLines } from './command-lines.js';
import { redactCsvColumns } from './csv.js';
import { redactSql } from './commands.js';
import { redactEncodedPairs } from './percent-pairs.js';
import { redactCryptHashes } from './crypt-hashes.js';
import { redactPgpass } from './pgpass.js';
import { redactPhpSerialized } from './php-serialized.js';

/**
 * URLs, query strings, tokens and configuration lines (redactUrlText), then markup (before inline
 * pairs: `<add key="DbPassword" value="…"/>` is read by its `key` attribute before that attribute's
 * own value goes, `key` being a sensitive name), then `name=value` and `name: "value"` pairs, then
 * command lines (`--password …`, `mysql -p…`: command-lines.ts), SQL that sets a password
 * (commands.ts redactSql) and CSV columns by their header (csv.ts); last, pairs and userinfo that
 * stand percent-encoded where no parameter holds them (percent-pairs.ts: `"password%3D…"`),
 * password hashes in the Modular Crypt Format (crypt-hashes.ts: `admin:$apr1$…`) and the lines of
 * PostgreSQL's password file (pgpass.ts: `db.example:5432:app:app:…`), and PHP's serialized sessions
 * (php-serialized.ts: `s:8:"password";s:9:"…";`).
 */
export function redactContentText(s: string, names: SensitiveNames): string {
  const text = redactPhpSerialized(redactPgpass(redactCryptHashes(redactEncodedPairs(redactCommandLines(redactInlinePairs(redactXml(redactUrlText(s, names), names), names), names), names))), names);
  return redactCsvColumns(mayHoldSql(text) ? redactSql(text) : text, names);
}

/** SQL that sets a password (`CREATE USER … PASSWORD '…'`, `IDENTIFIED BY '…'`) in a log line or a migration: a quote and the word. */
export function mayHoldSql(s: string): boolean {
  return s.indexOf("'") >= 0 && SQL_HINT.test(s);
}
const SQL_HINT = /password|identified/i;
