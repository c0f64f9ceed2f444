// The package's root directory (the one holding its package.json), found
// from this module's own place: dist/cli/ in a build, src/cli/ under tsx, or
// inside a command bundled into dist/commands/ (scripts/bundle.mjs). Native
// helpers (build/…) and worker files (dist/…) are found from here, whatever
// file the running code was loaded from.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The root directory, without a trailing slash. */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return (cached = dir);
    // No package.json above (files copied without it): the layout's own depth.
    if (dirname(dir) === dir) return (cached = join(start, '..', '..'));
  }
}

/** True when running from the TypeScript sources (tsx), not a build. */
export function fromSources(): boolean {
  return import.meta.url.endsWith('.ts');
}
