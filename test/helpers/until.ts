// Poll until `get` returns something truthy (that value), or throw after `ms`
// naming what was awaited (and `detail()`: the state that explains it).
export async function until<T>(get: () => T | undefined | false, what: string, ms: number, detail?: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
