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

/** `a=b; password=c token=d`: values of sensitive names redacted. One walk over the text. */
export function redactTxtItems(s: string, names: SensitiveNames, remember: (s: string) => void): string {
  let out = '';
  let copied = 0;
  const n = s.length;
  for (let i = 0; i < n; ) {
    while (i < n && (s[i] === ' ' || s[i] === ';' || s[i] === '\t' || s[i] === ',')) i++;
    const start = i;
    while (i < n && s[i] !== '=' && s[i] !== ' ' && s[i] !== ';' && s[i] !== '\t' && s[i] !== ',') i++;
    if (s[i] !== '=') continue;
    const name = s.slice(start, i);
    i++;
    const from = i;
    while (i < n && s[i] !== ' ' && s[i] !== ';' && s[i] !== '\t' && s[i] !== ',') i++;
    if (i > from && name.length > 0 && name.length <= 64 && names.test(name, 'field') && s.slice(from, i) !== REDACTED) {
      remember(s.slice(from, i));
      out += s.slice(copied, from) + REDACTED;
      copied = i;
    }
  }
  return copied === 0 ? s : out + s.slice(copied);
}
