// Bodies the redactor searched and found nothing in. Traffic repeats its
// bodies (a health check's answer, the same page, the same error page, a
// poll's unchanged reply), and searching a page for secrets costs far more
// than recognising it. Only clean texts are kept: a text that held a secret is
// searched every time, so what the redactor remembers of an entry's secrets
// (to scrub its summary) is never skipped.
//
// A text is looked up by a fingerprint of its length and a few of its
// characters, then compared whole: a Set would hash every character of every
// body (each is a new string), which costs half as much as the search saved.

/** Texts shorter than this are searched again: cheap to search, and too many to keep. */
const MIN_LENGTH = 256;
/** Texts kept under one fingerprint: texts built to share one are compared with at most this many. */
const MAX_ALIKE = 4;
/** Characters sampled for the fingerprint, spread over the text. */
const SAMPLES = 16;

export class CleanTexts {
  private readonly texts = new Map<number, string[]>();
  private chars = 0;

  /** `maxChars`: what all kept texts may add up to (the bound on this set's memory); past it the set starts over. */
  constructor(private readonly maxChars = 2 * 1024 * 1024) {}

  /** Was `s` searched and found clean? */
  has(s: string): boolean {
    if (s.length < MIN_LENGTH) return false;
    const kept = this.texts.get(fingerprint(s));
    if (kept === undefined) return false;
    for (const t of kept) if (t === s) return true;
    return false;
  }

  /** Keep `s`, searched and found clean. */
  add(s: string): void {
    if (s.length < MIN_LENGTH || s.length > this.maxChars / 16) return;
    if (this.chars + s.length > this.maxChars) {
      this.texts.clear();
      this.chars = 0;
    }
    const key = fingerprint(s);
    const kept = this.texts.get(key);
    if (kept === undefined) this.texts.set(key, [s]);
    else if (kept.length < MAX_ALIKE) kept.push(s);
    else return;
    this.chars += s.length;
  }
}

/** The length and SAMPLES characters at even steps (the last one included), mixed into 31 bits. */
function fingerprint(s: string): number {
  const n = s.length;
  let h = n | 0;
  const step = (n - 1) / (SAMPLES - 1);
  for (let k = 0; k < SAMPLES; k++) h = (Math.imul(h, 31) + s.charCodeAt(Math.floor(k * step))) | 0;
  return h & 0x7fffffff;
}
