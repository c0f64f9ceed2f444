// Paths tests use: the repo root, the shared capture corpus beside it, the CLI.
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedCaptures = resolve(repoRoot, '..', 'shared', 'captures');
export const examplesDir = join(repoRoot, 'examples');
export const cliBin = join(repoRoot, 'bin', 'run.js');

export function sharedCapture(name: string): string {
  return join(sharedCaptures, name);
}
