// PHP's serialized data, as PHP applications keep sessions and caches in Redis and memcached and
// Laravel queues its jobs: `a:2:{s:8:"username";s:5:"alice";s:8:"password";s:9:"…";}` (serialize)
// and the session handler's own `token|s:32:"…";` (session.serialize_handler = php). The name is a
// string of its own before the value's, so neither JSON nor `name=value` rules see a pair: a string
// value after a sensitive name goes, its declared length kept (the text still reads as what it was).
// One regex walk, linear: no class overlaps the literal after it.

import type { SensitiveNames } from './names.js';
import { REDACTED } from './redacted.js';

/** A name (`s:8:"password";` or `password|`) and the start of the string value after it (`s:9:"`). */
const PAIR = /(?:s:\d{1,6}:"([A-Za-z0-9_.\-[\]]{1,96})";|(?:^|[;}])([A-Za-z0-9_.-]{1,96})\|)s:(\d{1,7}):"/g;

export function redactPhpSerialized(s: string, names: SensitiveNames): string {
  if (s.indexOf(':"') < 0 || (s.indexOf('";s:') < 0 && s.indexOf('|s:') < 0)) return s;
  let out = '';
  let copied = 0;
  PAIR.lastIndex = 0;
  for (let m = PAIR.exec(s); m; m = PAIR.exec(s)) {
    const name = m[1] ?? m[2];
    const from = m.index + m[0].length;
    // The declared length counts bytes; a value of other than ASCII is shorter in characters.
    const declared = Number(m[3]);
    let to = s.startsWith('";', from + declared) ? from + declared : s.indexOf('";', from);
    if (to < 0) to = s.length;
    if (!names.test(name, 'field') || to === from || s.startsWith(REDACTED, from)) {
      PAIR.lastIndex = Math.max(PAIR.lastIndex, to);
      continue;
    }
    out += s.slice(copied, from) + REDACTED;
    copied = to;
    PAIR.lastIndex = to;
  }
  return copied === 0 ? s : out + s.slice(copied);
}
