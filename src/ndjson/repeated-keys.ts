// Whether an NDJSON line holds more than the entry JSON.parse made of it.
// JSON.parse keeps the last copy of a key given twice in one object, so the
// earlier copy is in the line but in no entry: redaction, which looks at the
// entry, never sees it, and a command that writes a line as it came (`filter`,
// when redaction changed nothing) would pass a secret in it on. shark never
// writes a key twice; an entry file from anywhere else may.
//
// Counted, not compared (serialising each kept entry again costs as much as
// parsing it): every ':' outside a string follows a key, and a ':' inside a
// string is in a key or a value the entry holds too. So a line whose keys
// are all in the entry holds exactly as many ':' as the entry has keys plus
// the ':' in its strings, and a repeated key adds at least its own. Only a
// \u escape can spell a ':' the line does not show: such a line is compared
// with the entry serialised instead.

/** Deeper than this the count gives up (true): redaction already cut whatever it let through to 64 levels. */
const MAX_DEPTH = 256;

/** Whether `line` holds keys (and what they name) that `entry`, JSON.parse's reading of it, does not. */
export function repeatsKeys(line: string, entry: unknown): boolean {
  if (line.includes('\\u')) return JSON.stringify(entry) !== line;
  const inEntry = colonsOf(entry, 0);
  return inEntry < 0 || colonsIn(line) !== inEntry;
}

/** The keys of `v` (one ':' each in a line) and the ':' in its keys and strings; -1 past MAX_DEPTH. */
function colonsOf(v: unknown, depth: number): number {
  if (typeof v === 'string') return colonsIn(v);
  if (v === null || typeof v !== 'object') return 0;
  if (depth >= MAX_DEPTH) return -1;
  let n = 0;
  if (Array.isArray(v)) {
    for (const x of v) {
      const c = colonsOf(x, depth + 1);
      if (c < 0) return -1;
      n += c;
    }
    return n;
  }
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue;
    const c = colonsOf((v as Record<string, unknown>)[k], depth + 1);
    if (c < 0) return -1;
    n += 1 + colonsIn(k) + c;
  }
  return n;
}

function colonsIn(s: string): number {
  let n = 0;
  for (let i = s.indexOf(':'); i >= 0; i = s.indexOf(':', i + 1)) n++;
  return n;
}
