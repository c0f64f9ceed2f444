// Entry ids (`<frame>-<seq>`) are unique within one run (docs/entry.md), also
// when the run reads several captures: frames restart at 1 in every file, so
// the sequence goes on from one file to the next. A lone file's ids are what
// they always were, and --workers N gives one thread's bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';

const a = 'examples/node-a.pcap';
const b = 'examples/node-b.pcap';
const ids = (ndjson: string) => ndjson.trim().split('\n').map((l) => JSON.parse(l).id as string);
const repeated = (list: string[]) => list.filter((id, i) => list.indexOf(id) !== i);

test('ids are unique across the inputs of one run, the first input keeps its own, and --workers 2 gives the same bytes', async () => {
  const alone = await runCli(['dissect', a]);
  const both = await runCli(['dissect', a, b]);
  assert.equal(both.code, 0, both.stderr);
  const list = ids(both.stdout);
  assert.ok(list.length > ids(alone.stdout).length);
  assert.deepEqual(repeated(list), []);
  // node-a's entries come first (node-b's start later), with the ids a run of node-a alone gives.
  assert.deepEqual(list.slice(0, ids(alone.stdout).length), ids(alone.stdout));
  const workers = await runCli(['dissect', '--workers', '2', a, b]);
  assert.equal(workers.code, 0, workers.stderr);
  assert.equal(workers.stdout, both.stdout, '--workers 2 gives one thread\'s bytes');

  // The consumers that show ids: filter's entries and export's HAR (_shark.id).
  const filtered = await runCli(['filter', 'true', a, b]);
  assert.deepEqual(ids(filtered.stdout), list);
  const har = await runCli(['export', '--har', a, b]);
  const harIds = JSON.parse(har.stdout).log.entries.map((e: any) => e._shark.id as string);
  assert.ok(harIds.length > 0);
  assert.deepEqual(repeated(harIds), []);
});
