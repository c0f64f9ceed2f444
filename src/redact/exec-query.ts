// `kubectl exec` sends the command to run as the exec URL's query, one
// `command=` parameter a word: `/api/v1/namespaces/db/pods/mysql-0/exec?
// command=mysql&command=-uroot&command=-p<password>&stdin=true`. No
// parameter name is sensitive there; the words are an argv, and are read as
// one (command-lines.ts: `-p…` for mysql, `--password …`, and each word as
// text: `PGPASSWORD=…`, `sh -c "…"`). The request line, `url`, `path` and the
// summary all carry it.

import type { SensitiveNames } from './names.js';
import { redactArgv } from './command-lines.js';
import { redactContentText } from './text.js';
import { safeDecode } from './urls.js';
import { REDACTED } from './redacted.js';

/** A pod's exec subresource with a query (the pod name is at most 253 characters: bounded, linear). */
const EXEC_PATH = /\/pods\/[^/?#\s]{1,253}\/exec\?/;
const COMMAND = 'command=';
/** Words of one exec command read; a hostile URL has any number. */
const MAX_WORDS = 256;

/** `s` with the secrets in the words of an exec URL's `command=` parameters redacted; `s` itself when none. */
export function redactExecCommand(s: string, names: SensitiveNames): string {
  if (s.indexOf(COMMAND) < 0 || s.indexOf('/exec') < 0 || !EXEC_PATH.test(s)) return s;
  const spans: Array<[number, number]> = [];
  for (let at = s.indexOf(COMMAND); at >= 0 && spans.length < MAX_WORDS; at = s.indexOf(COMMAND, at + COMMAND.length)) {
    const before = s[at - 1];
    if (before !== '?' && before !== '&') continue;
    const from = at + COMMAND.length;
    let to = from;
    while (to < s.length && !VALUE_END[s.charCodeAt(to)]) to++;
    spans.push([from, to]);
  }
  if (spans.length === 0) return s;
  const words = spans.map(([a, b]) => safeDecode(s.slice(a, b).replace(/\+/g, ' ')));
  const argv = redactArgv(words, names) ?? words;
  let out = '';
  let copied = 0;
  spans.forEach(([a, b], i) => {
    const word = argv[i] !== words[i] ? argv[i] : redactContentText(words[i], names);
    if (word === words[i]) return;
    out += s.slice(copied, a) + (word === REDACTED ? ENCODED_REDACTED : encodeURIComponent(word));
    copied = b;
  });
  return copied === 0 ? s : out + s.slice(copied);
}

const ENCODED_REDACTED = encodeURIComponent(REDACTED);
/** Where a query value ends: the next parameter, the fragment, or the end of a line or word (a summary). */
const VALUE_END = new Uint8Array(65536);
for (const c of '&#; \t\r\n') VALUE_END[c.charCodeAt(0)] = 1;
