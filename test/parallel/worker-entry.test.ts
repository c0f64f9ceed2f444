// Which file a worker runs: the build's bundle, unless it is older than the
// module (a `tsc` run alone since the last build would run old code), else
// the module; from the TypeScript sources, the .ts file through tsx. Found
// from the package's root, wherever the calling code was bundled.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workerEntry } from '../../src/dissect/parallel/worker-entry.js';
import { packageRoot } from '../../src/cli/package-root.js';
import { repoRoot } from '../helpers/paths.js';

test('the bundle when it is at least as new as the module; else the module; .ts through tsx', () => {
  const root = mkdtempSync(join(tmpdir(), 'shark-worker-entry-'));
  try {
    const dir = join(root, 'dist', 'dissect', 'parallel');
    mkdirSync(dir, { recursive: true });
    const at = (name: string) => workerEntry('dissect/parallel/worker', root, false).url.pathname === join(dir, name);
    writeFileSync(join(dir, 'worker.js'), '');
    assert.ok(at('worker.js'), 'no bundle: the module');
    writeFileSync(join(dir, 'worker.bundle.js'), '');
    utimesSync(join(dir, 'worker.js'), 1000, 1000);
    utimesSync(join(dir, 'worker.bundle.js'), 2000, 2000);
    assert.ok(at('worker.bundle.js'), 'a newer bundle');
    assert.deepEqual(workerEntry('dissect/parallel/worker', root, false).execArgv, []);
    utimesSync(join(dir, 'worker.js'), 3000, 3000);
    assert.ok(at('worker.js'), 'a bundle older than the module is not run');
    const ts = workerEntry('dissect/parallel/worker', root, true);
    assert.equal(ts.url.pathname, join(root, 'src', 'dissect', 'parallel', 'worker.ts'));
    assert.deepEqual(ts.execArgv, ['--import', 'tsx']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the package root is the directory of package.json', () => {
  assert.equal(packageRoot(), repoRoot.replace(/\/$/, ''));
});
