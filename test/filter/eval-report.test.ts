// Every command that runs a KFL expression tells the entries it left out without a verdict (a CEL
// evaluation error, the macros' step limit), as `filter` does: stats --check rules, map --filter,
// view's filter, a cluster tap's CLI-side -f (the agents' --kfl: test/live/agent-pushdown.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryStore } from '../../src/view/entry-store.js';
import { pushdownArgs } from '../../src/k8s/pushdown.js';
import { runCli } from '../helpers/cli.js';

const http = { id: '1-1', protocol: 'http', request: { method: 'GET', path: '/a' }, response: { status: 200 } } as never;
const dns = { id: '2-1', protocol: 'dns', request: { questions: [{ name: 'a.svc', type: 'A' }] }, response: { answers: [] } } as never;

test('view and a cluster tap filtering in the CLI count the calls their filter could not decide', () => {
  const store = new EntryStore(100);
  store.add([http, dns]);
  assert.equal(store.undecided(), undefined);
  assert.deepEqual(store.setFilter('status_code / 0 == 1 || dns'), {});
  assert.equal(store.size, 1);
  assert.deepEqual(store.undecided(), { calls: 1, why: 'division by zero at column 13' });
  store.add([http]);
  assert.deepEqual(store.undecided(), { calls: 2, why: 'division by zero at column 13' });
  // A new filter starts its own count.
  store.setFilter('dns');
  assert.equal(store.undecided(), undefined);

  const p = pushdownArgs({ filter: 'src.namespace == "a" || 1 / 0 == 1' });
  assert.ok(p.keep && p.report, 'the filter reads names: it runs in the CLI');
  assert.deepEqual(p.report(), []);
  p.keep(http);
  assert.deepEqual(p.report(), ['warning: 1 entry met an evaluation error of the expression (division by zero at column 27) and did not match']);
});

test('stats --check and map --filter say on stderr how many entries their filter left out by an evaluation error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-eval-report-'));
  try {
    const entries = join(dir, 'e.ndjson');
    writeFileSync(entries, [http, dns, http].map((e) => JSON.stringify(e)).join('\n') + '\n');
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, 'rules:\n  - { name: seen, type: expect, filter: "dns" }\n  - { name: odd, type: forbid, filter: "status_code / 0 == 1 || redis" }\n');
    const [stats, map] = await Promise.all([
      runCli(['stats', '--check', rules, entries]),
      runCli(['map', '--format', 'json', '--filter', 'dns || [1][status_code] == 1', entries]),
    ]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /odd\s+│ forbid\s+│ PASS/);
    const told = 'warning: 3 entries met an evaluation error of the expression (division by zero at column 13) and did not match';
    assert.equal(stats.stderr, `stats: rule "odd" (${rules}:3): ${told}\n`);
    assert.equal(map.code, 0, map.stderr);
    assert.equal(JSON.parse(map.stdout).entries, 1);
    assert.equal(map.stderr, 'map: --filter: warning: 2 entries met an evaluation error of the expression (index out of range at column 12) and did not match\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
