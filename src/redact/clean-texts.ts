// Bodies the redactor searched and found nothing in. Traffic repeats its
// bodies (a health check's answer, the same page, the same error page, a
// poll's unchanged reply), and searching a page for secrets costs far more
// than finding it in a set. Only clean texts are kept: a text that held a
// secret is searched every time, so what the redactor remembers of an entry's
// secrets (to scrub its summary) is never skipped.

/** Texts shorter than this are searched again: cheap to search, and too many to keep. */
const MIN_LENGTH = 256;

export class CleanTexts {
  private readonly texts = new Set<string>();
  private chars = 0;

  /** `maxChars`: what all kept texts may add up to (the bound on this set's memory); past it the set starts over. */
  constructor(private readonly maxChars = 2 * 1024 * 1024) {}

  /** Was `s` searched and found clean? */
  has(s: string): boolean {
    return s.length >= MIN_LENGTH && this.texts.has(s);
  }

  /** Keep `s`, searched and found clean. */
  add(s: string): void {
    if (s.length < MIN_LENGTH || s.length > this.maxChars / 16) return;
    if (this.chars + s.length > this.maxChars) {
      this.texts.clear();
      this.chars = 0;
    }
    this.texts.add(s);
    this.chars += s.length;
  }
}
