// DNS TXT records are free text that services use as configuration: SPF,
// DKIM and DMARC policies, verification tokens, and, in clusters that keep
// settings in DNS (service discovery, bootstrap records), `password=…` or
// `token=…`. A TXT record's items are `name=value`, separated by `;` or
// spaces; one whose name is sensitive as a JSON field's is (`key` too: in a
// TXT record it names a key, not an S3 object) has its value redacted. DKIM's
// `p=` (a public key) and SPF's terms have no such name and stay.

import type { SensitiveNames } from './names.js';
import { REDACTED } from './redacted.js';

/** A record's answers sections, each an array of `{type, data}`. */
const SECTIONS = ['answers', 'authorities', 'additionals'];

/** A DNS response with its TXT records' sensitive items redacted; the same object when none was there. */
export function redactDnsTxt(res: Record<string, any>, names: SensitiveNames, remember: (s: string) => void): Record<string, any> {
  let out: Record<string, any> | undefined;
  for (const section of SECTIONS) {
    const records = res[section];
    if (!Array.isArray(records)) continue;
    let copy: unknown[] | undefined;
    records.forEach((r, i) => {
      if (r === null || typeof r !== 'object' || r.type !== 'TXT' || typeof r.data !== 'string' || r.data.indexOf('=') < 0) return;
      const data = redactTxtItems(r.data, names, remember);
      if (data !== r.data) (copy ??= [...records])[i] = { ...r, data };
    });
    if (copy) (out ??= { ...res })[section] = copy;
  }
  return out ?? res;
}

/**
 * A record of several strings reads `"a=b" "password=c"` (dig's form): the quote that
 * ends one (followed by a space or the end; one inside is escaped `\"`) ends its last value.
 */
function closesString(s: string, i: number): boolean {
  return s[i] === '"' && (i + 1 === s.length || s[i + 1] === ' ');
}

/** `a=b; password=c token=d`: values of sensitive names redacted. One walk over the text. */
export function redactTxtItems(s: string, names: SensitiveNames, remember: (s: string) => void): string {
  let out = '';
  let copied = 0;
  const n = s.length;
  // Only a record of several strings is quoted (a lone string is its text as it came, quotes and all).
  const quoted = s[0] === '"';
  for (let i = 0; i < n; ) {
    while (i < n && (s[i] === ' ' || s[i] === ';' || s[i] === '\t' || s[i] === ',' || s[i] === '"')) i++;
    const start = i;
    while (i < n && s[i] !== '=' && s[i] !== ' ' && s[i] !== ';' && s[i] !== '\t' && s[i] !== ',') i++;
    if (s[i] !== '=') continue;
    const name = s.slice(start, i);
    i++;
    const from = i;
    while (i < n && s[i] !== ' ' && s[i] !== ';' && s[i] !== '\t' && s[i] !== ',' && !(quoted && closesString(s, i))) i += quoted && s[i] === '\\' ? 2 : 1;
    if (i > n) i = n;
    if (i > from && name.length > 0 && name.length <= 64 && names.test(name, 'field') && s.slice(from, i) !== REDACTED) {
      remember(s.slice(from, i));
      out += s.slice(copied, from) + REDACTED;
      copied = i;
    }
  }
  return copied === 0 ? s : out + s.slice(copied);
}
