// Which file a worker runs: the build's bundle, unless it is older than the
// module (a `tsc` run alone since the last build would run old code), else
// the module; from the TypeScript sources, the .ts file through tsx.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { workerEntry } from '../../src/dissect/parallel/worker-entry.js';

test('the bundle when it is at least as new as the module; else the module; .ts through tsx', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-worker-entry-'));
  try {
    const base = pathToFileURL(join(dir, 'pool.js')).href;
    const at = (name: string) => workerEntry(base, './worker').url.pathname === join(dir, name);
    writeFileSync(join(dir, 'worker.js'), '');
    assert.ok(at('worker.js'), 'no bundle: the module');
    writeFileSync(join(dir, 'worker.bundle.js'), '');
    utimesSync(join(dir, 'worker.js'), 1000, 1000);
    utimesSync(join(dir, 'worker.bundle.js'), 2000, 2000);
    assert.ok(at('worker.bundle.js'), 'a newer bundle');
    assert.deepEqual(workerEntry(base, './worker').execArgv, []);
    utimesSync(join(dir, 'worker.js'), 3000, 3000);
    assert.ok(at('worker.js'), 'a bundle older than the module is not run');
    const ts = workerEntry(pathToFileURL(join(dir, 'pool.ts')).href, './worker');
    assert.equal(ts.url.pathname, join(dir, 'worker.ts'));
    assert.deepEqual(ts.execArgv, ['--import', 'tsx']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
