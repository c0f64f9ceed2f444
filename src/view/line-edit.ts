// Editing the filter box's one line as a terminal user expects.

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * `s` without its last character as the user sees it (a grapheme cluster: an emoji with its
 * modifiers, a letter with its combining marks), not its last UTF-16 unit, which left half an emoji
 * (a lone surrogate) in the box.
 */
export function withoutLastCharacter(s: string): string {
  let last = -1;
  for (const { index } of graphemes.segment(s)) last = index;
  return last < 0 ? s : s.slice(0, last);
}
