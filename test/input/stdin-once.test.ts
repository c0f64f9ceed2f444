// Stdin reads once: `shark filter http - -` or `shark diff - -` read the second "-" empty, as if that
// input had no traffic (diff said every endpoint "vanished", exit 0). Naming it twice is a usage
// error before anything is read, as merge already said.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { checkInputs } from '../../src/input/entries.js';
import { UserError } from '../../src/cli/errors.js';
import { runFilter } from '../../src/filter/run.js';
import { runCli } from '../helpers/cli.js';

test('stdin named twice is exit 2 and one line for every reader, diff included', async () => {
  const stdin = Readable.from(['{}\n']);
  assert.throws(() => checkInputs(['-', 'a.ndjson', '-'], stdin), (err: unknown) => err instanceof UserError && err.exitCode === 2 && err.message === 'stdin ("-") can be given only once');
  assert.doesNotThrow(() => checkInputs(['-'], stdin));
  const entry = JSON.stringify({ id: '1-1', protocol: 'http', timestamp: 1795382102071, request: { method: 'GET', path: '/a' }, response: { status: 200 } }) + '\n';
  // filter reads through checkInputs too (in-process: one CLI spawn, diff's, is enough).
  await assert.rejects(runFilter({ inputs: ['-', '-'], expr: 'http', stdin: Readable.from([entry]) }), /stdin \("-"\) can be given only once/);
  const diff = await runCli(['diff', '-', '-'], { input: entry });
  assert.deepEqual([diff.code, diff.stdout, diff.stderr], [2, '', 'diff: stdin ("-") can be only one side: name a file for the other\n']);
});
