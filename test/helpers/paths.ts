// Paths tests use: the repo root, the shared capture corpus beside it, the CLI.
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

// `node --test` on a terminal sets FORCE_COLOR=1 for each test file (for its
// reporter's colours), and the CLI honours FORCE_COLOR as Node and chalk do: the
// CLI a test spawns would colour its pipes only when the suite runs on a
// terminal. Tests that want colour ask for it (--color always, a pty).
delete process.env.FORCE_COLOR;
// Likewise COLUMNS, exported by some shells and CI runners: tables now fit it
// into a pipe too. Tests that want a width pass COLUMNS (or a pty's size).
delete process.env.COLUMNS;

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedCaptures = resolve(repoRoot, '..', 'shared', 'captures');
export const examplesDir = join(repoRoot, 'examples');
export const cliBin = join(repoRoot, 'bin', 'run.js');

export function sharedCapture(name: string): string {
  return join(sharedCaptures, name);
}
