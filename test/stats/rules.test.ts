import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRules, parseRules } from '../../src/stats/rules.js';
import { RuleChecker, renderResults } from '../../src/stats/check.js';
import { mixedEntries } from './entries.js';

async function check(yaml: string) {
  const checker = new RuleChecker(await parseRules(yaml, 'rules.yaml'));
  checker.add(mixedEntries());
  return checker.results();
}

async function rulesError(yaml: string): Promise<{ message: string; exitCode: number }> {
  try {
    await parseRules(yaml, 'rules.yaml');
  } catch (err) {
    return err as { message: string; exitCode: number };
  }
  assert.fail('expected the rules file to be rejected');
}

test("Kubeshark's latency rule is accepted as written and checks every call (max)", async () => {
  const [r] = await check(`rules:
  - name: Catalogue-Latency-SLO
    type: latency
    path: /catalogue
    latency: 300
    service: "catalogue.*"
`);
  assert.equal(r.name, 'Catalogue-Latency-SLO');
  assert.equal(r.passed, true, 'nothing matched, nothing violated');
  assert.equal(r.matched, 0);

  const [slow, ok, p50] = await check(`rules:
  - { name: details-max, type: latency, path: ^/details, service: "details", latency: 99 }
  - { name: reviews, type: latency, service: "bookinfo/reviews", latency: 20 }
  - { name: details-p50, type: latency, path: /details, latency: 60, percentile: p50 }
`);
  assert.equal(slow.passed, false);
  assert.equal(slow.matched, 100);
  assert.equal(slow.value, 100, 'max latency is exact');
  assert.match(slow.detail, /max 100 ms > 99 ms/);
  assert.equal(ok.passed, true);
  assert.equal(ok.matched, 50);
  assert.equal(p50.passed, true);
  assert.ok(Math.abs(p50.value! - 50) <= 0.5, String(p50.value));
});

test('error-rate, expect and forbid rules with KFL scopes', async () => {
  const results = await check(`
- { name: http-errors, type: error-rate, scope: "http", max: 5 }
- { name: details-errors, type: error-rate, scope: 'dst.service == "details"', max: "10%" }
- { name: dns-happened, type: expect, filter: dns, min: 5 }
- { name: lots-of-dns, type: expect, filter: dns, min: 6 }
- { name: no-plain-auth, type: forbid, filter: 'http and dst.port != 443 and request.headers.authorization' }
- { name: no-egress, type: forbid, filter: 'dst.namespace == ""' }
`);
  const by = Object.fromEntries(results.map((r) => [r.name, r]));
  assert.equal(by['http-errors'].passed, false);
  assert.ok(Math.abs(by['http-errors'].value! - (100 * 10) / 170) < 1e-9);
  assert.equal(by['details-errors'].passed, true, '10% ≤ 10%');
  assert.equal(by['details-errors'].value, 10);
  assert.equal(by['dns-happened'].passed, true);
  assert.equal(by['lots-of-dns'].passed, false);
  assert.equal(by['lots-of-dns'].value, 5);
  assert.equal(by['no-plain-auth'].passed, true);
  assert.equal(by['no-egress'].passed, false);
  assert.equal(by['no-egress'].value, 20);
  assert.match(by['no-egress'].detail, /first: POST \/v1\/charge/);

  const table = renderResults(results, 'table');
  assert.match(table, /http-errors\s+│ error-rate │ FAIL/);
  const json = JSON.parse(renderResults(results, 'json'));
  assert.equal(json.failed, 3);
  assert.equal(json.passed, false);
});

test('bad rules files are usage errors (exit 2) naming the line and why', async () => {
  const cases: [string, RegExp][] = [
    ['rules:\n  - name: a\n    type: latncy\n    latency: 3\n', /rules\.yaml: unknown rule type "latncy" .* at line 3$/],
    ['rules:\n  - name: a\n    type: latency\n', /latency rule needs "latency" .* at line 2$/],
    ['rules:\n  - type: latency\n    latency: fast\n', /"latency" must be a number ≥ 0, not "fast" at line 3$/],
    ['rules:\n  - type: forbid\n    filter: dns\n    colour: red\n', /unknown key "colour" in a forbid rule .* at line 4$/],
    ['rules:\n  - type: error-rate\n    max: 5\n    scope: "http and ("\n', /scope: unexpected end of expression at column 11 at line 4$/],
    ['rules:\n  - type: latency\n    latency: 5\n    path: "(["\n', /bad regular expression in "path".* at line 4$/],
    ['rules:\n  - type: latency\n    latency: 5\n    percentile: p101\n', /bad percentile "p101" .* at line 4$/],
    ['rules:\n  - name: x\n    type: expect\n    filter: dns\n  - name: x\n    type: expect\n    filter: dns\n', /duplicate rule name "x" at line 5$/],
    ['rules:\n  - name: [unclosed\n', /bad YAML: .* at line \d+$/],
    [`rules: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, /bad YAML: nested deeper than 64 levels at line 1$/],
    ['rules: []\n', /the list of rules is empty at line 1$/],
    ['other: 1\n', /no "rules:" list at line 1$/],
    ['rules:\n  - just a string\n', /a rule must be a mapping .* at line 2$/],
    ['rules:\n  - type: expect\n', /expect rule needs "filter" .* at line 2$/],
  ];
  for (const [yaml, want] of cases) {
    const err = await rulesError(yaml);
    assert.equal(err.exitCode, 2, yaml);
    assert.match(err.message, want, yaml);
    assert.ok(!err.message.includes('\n'), 'one line');
  }
});

test('a service regex also matches calls made before the DNS answer that names the server', async () => {
  const [r] = await check('- { name: pay, type: latency, service: "^api\\\\.example\\\\.com$", latency: 150 }\n');
  assert.equal(r.matched, 20, '10 calls before and 10 after the answer');
  assert.equal(r.passed, true);
  const [none] = await check('- { name: other, type: error-rate, service: "^nothing$", max: 0 }\n');
  assert.equal(none.matched, 0);
});

test('a rules file is bounded: 256 KB (read no further, /dev/zero too), 1000 rules, 64 levels of YAML nesting', async () => {
  // Before: /dev/zero was read until 620 MB, 40,000 rules took 12 s and 550 MB,
  // and 1 MB of `[` took YAML's parser 10 s and 600 MB to refuse.
  const dir = mkdtempSync(join(tmpdir(), 's4k-rules-'));
  try {
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `rules:\n  - { type: expect, filter: dns }\n${'# padding\n'.repeat(30_000)}`);
    for (const file of [big, '/dev/zero']) {
      const err = await loadRules(file).then(() => assert.fail(`${file} accepted`), (e: { message: string; exitCode: number }) => e);
      assert.equal(err.exitCode, 2);
      assert.equal(err.message, `${file}: rules file larger than 256 KB (a rules file lists at most 1000 rules)`);
    }
    const rule = (i: number) => `  - { name: r${i}, type: expect, filter: dns }\n`;
    const fine = join(dir, 'fine.yaml');
    writeFileSync(fine, `rules:\n${Array.from({ length: 1000 }, (_, i) => rule(i)).join('')}`);
    assert.equal((await loadRules(fine)).length, 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const many = `rules:\n${Array.from({ length: 1001 }, (_, i) => `  - { name: r${i}, type: expect, filter: dns }\n`).join('')}`;
  assert.match((await rulesError(many)).message, /^rules\.yaml: more than 1000 rules at line 1002$/);
  const compact = `rules:\n  - ${'- '.repeat(70)}x\n`;
  assert.match((await rulesError(compact)).message, /^rules\.yaml: bad YAML: nested deeper than 64 levels at line 2$/);
  const flow = `rules:\n  - { type: expect, filter: dns, x: ${'{a: '.repeat(65)}1${'}'.repeat(65)} }\n`;
  assert.match((await rulesError(flow)).message, /^rules\.yaml: bad YAML: nested deeper than 64 levels at line 2$/);
  // Quoted brackets are text, not nesting.
  assert.equal((await parseRules(`rules:\n  - { type: expect, path: "${'['.repeat(80)}a${']'.repeat(80)}" }\n`, 'rules.yaml')).length, 1);
});
