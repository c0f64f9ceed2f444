// Command descriptions are written wrapped at source width (~110 columns);
// oclif wraps help text again at the terminal's width, so every hard line
// break inside a paragraph became a ragged short line in `--help` (and in
// the man pages made from the same text). `prose` joins the lines of each
// paragraph into one, leaving the wrapping to whoever shows it.

/**
 * Join the lines of each paragraph (paragraphs are separated by blank lines).
 * A line that starts with whitespace is neither joined nor joined to:
 * indented blocks are examples or tables meant to be shown as written.
 */
export function prose(text: string): string {
  return text
    .split(/\n[ \t]*\n/)
    .map((para) => {
      const out: string[] = [];
      for (const line of para.split('\n')) {
        const prev = out.length - 1;
        if (prev >= 0 && !/^[ \t]/.test(line) && !/^[ \t]/.test(out[prev])) out[prev] += ` ${line}`;
        else out.push(line);
      }
      return out.join('\n');
    })
    .join('\n\n');
}
