// What an aggregate keeps of a name from traffic (a service, a Host header, a path): at most
// MAX_NAME_CHARS characters. A name in an entry file can be 20 MB (a crafted service name);
// `map` keyed, copied and escaped it whole (280 MB for one entry). Kubernetes names are at most
// 253 characters and no real path or host comes near the bound, so only crafted names are cut.

export const MAX_NAME_CHARS = 1024;

/**
 * `s` if it is short; else its start and "…" (MAX_NAME_CHARS in all, never inside a surrogate
 * pair), as a string of its own: a slice would keep the whole entry's text alive in V8.
 */
export function boundedName(s: string): string {
  // Entry files are not type-checked: an "ip" may be a number, kept as it came.
  if (typeof s !== 'string' || s.length <= MAX_NAME_CHARS) return s;
  let end = MAX_NAME_CHARS - 1;
  const code = s.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  // JSON round trip: an exact copy (lone surrogates too) that shares no memory with `s`.
  return (JSON.parse(JSON.stringify(s.slice(0, end))) as string) + '…';
}

/** What stats and catalog say on stderr when DNS or Host names learned for addresses were cut (NameBook.cutNames). */
export function cutNamesNote(n: number): string {
  return `${n} DNS or Host name(s) longer than ${MAX_NAME_CHARS} characters kept cut (…)`;
}
