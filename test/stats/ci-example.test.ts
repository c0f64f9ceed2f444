// examples/ci: the rules file checks the example capture it ships with, and
// the job script is valid shell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { examplesDir } from '../helpers/paths.js';
import { loadRules } from '../../src/stats/rules.js';
import { RuleChecker } from '../../src/stats/check.js';
import { consumeEntries } from '../../src/stats/consume.js';

test('examples/ci/rules.yaml passes on examples/bookinfo-mix.pcap, and each rule saw traffic', async () => {
  const rules = await loadRules(join(examplesDir, 'ci', 'rules.yaml'));
  assert.ok(rules.some((r) => r.name === 'Productpage-Latency-SLO' && r.type === 'latency' && r.quantile === 1));
  const checker = new RuleChecker(rules);
  await consumeEntries([join(examplesDir, 'bookinfo-mix.pcap')], (b) => checker.add(b), {
    stop: new AbortController().signal,
    onWarning: () => undefined,
  });
  const results = checker.results();
  for (const r of results) assert.equal(r.passed, true, `${r.name}: ${r.detail}`);
  const by = Object.fromEntries(results.map((r) => [r.name, r]));
  // Figures from examples/README.md (tshark): 48 HTTP requests, 24 DNS queries, 32 Redis commands.
  assert.equal(by['http-error-rate'].matched, 48);
  assert.equal(by['dns-lookups-happened'].matched, 24);
  assert.equal(by['redis-in-use'].matched, 32);
  // The productpage calls are named only by a DNS answer (Host is the bare IP): all 4 count.
  assert.equal(by['Productpage-Latency-SLO'].matched, 4);
});

test('examples/ci/check.sh is valid POSIX shell', () => {
  const r = spawnSync('sh', ['-n', join(examplesDir, 'ci', 'check.sh')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
