// Bad expressions: one line, the column of the offending token, exit code 2.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter, FilterSyntaxError } from '../../src/filter/index.js';
import { JsonataFilter } from '../../src/filter/jsonata-guard.js';

const cases: Array<{ q: string; dialect: 'kfl1' | 'kfl2' | 'auto'; message: RegExp; column: number }> = [
  // The issue's own example: the stray ')' is at column 14.
  { q: 'http and dns )', dialect: 'kfl1', message: /^unexpected '\)'/, column: 14 },
  { q: 'response.status == 404)', dialect: 'kfl1', message: /^unexpected '\)'/, column: 23 },
  { q: 'http and (dns', dialect: 'kfl1', message: /^unexpected end of expression \(expected '\)'\)/, column: 14 },
  { q: 'request.path ==', dialect: 'kfl1', message: /^unexpected end of expression/, column: 16 },
  { q: 'dns and and http', dialect: 'kfl1', message: /^unexpected 'and'/, column: 9 },
  { q: 'request.path = "/x"', dialect: 'kfl1', message: /^unexpected '='/, column: 14 },
  { q: 'request.path == "/x', dialect: 'kfl1', message: /^unterminated string/, column: 17 },
  { q: 'request.path == r"(unclosed"', dialect: 'kfl1', message: /^bad regular expression/, column: 17 },
  { q: 'request.path.frobnicate("x")', dialect: 'kfl1', message: /^unknown helper 'frobnicate\(\)'/, column: 14 },
  { q: 'datetime("yesterday") < timestamp', dialect: 'kfl1', message: /^datetime\(\) cannot read/, column: 10 },
  { q: 'http && (status_code >= 500', dialect: 'kfl2', message: /^unexpected end of expression \(expected '\)'\)/, column: 28 },
  { q: 'http && status_code >= ', dialect: 'kfl2', message: /^unexpected end of expression/, column: 24 },
  { q: 'http && && dns', dialect: 'kfl2', message: /^unexpected '&&'/, column: 9 },
  { q: 'http && stauts_code == 200', dialect: 'kfl2', message: /^unknown variable 'stauts_code'/, column: 9 },
  { q: 'path.contains("/api"', dialect: 'kfl2', message: /^unexpected end of expression \(expected '\)'\)/, column: 21 },
  { q: 'timestamp > now() - duration("5 minutes")', dialect: 'kfl2', message: /^duration\(\) cannot read/, column: 30 },
  { q: 'http && path.matches("[")', dialect: 'kfl2', message: /^bad regular expression/, column: 22 },
  { q: 'dns && x ? 1', dialect: 'kfl2', message: /^unexpected end of expression \(expected ':'\)/, column: 13 },
  { q: 'http and status_code == 200', dialect: 'kfl2', message: /^unexpected 'and'/, column: 6 },
];

for (const c of cases) {
  test(`${c.dialect}: ${c.q}`, () => {
    assert.throws(
      () => compileFilter(c.q, { dialect: c.dialect }),
      (err: unknown) => {
        assert.ok(err instanceof FilterSyntaxError, `got ${String(err)}`);
        assert.match(err.message, c.message);
        assert.equal(err.column, c.column, err.message);
        assert.ok(err.message.endsWith(`at column ${c.column}`), err.message);
        assert.equal(err.exitCode, 2);
        assert.ok(!err.message.includes('\n'));
        return true;
      },
    );
  });
}

test('auto-detected dialects report columns too', () => {
  assert.throws(() => compileFilter('http && status_code >= )'), /unexpected '\)' at column 24/);
  assert.throws(() => compileFilter('dns and response.rcode !='), /unexpected end of expression at column 26/);
});

test('JSONata errors carry a column', () => {
  assert.throws(() => new JsonataFilter('response.status = 500 and )'), (err: unknown) => {
    assert.ok(err instanceof FilterSyntaxError);
    assert.equal(err.column, 27);
    assert.match(err.message, /^JSONata: .* at column 27$/);
    return true;
  });
});

test('KFL1 warns when and/or mix without parentheses, saying how it grouped', () => {
  const warnings: string[] = [];
  compileFilter('http and response.status == 500 or dns', { onWarning: (w) => warnings.push(w) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /read as http and \(response\.status == 500 or dns\)/);
  const none: string[] = [];
  compileFilter('(http and response.status == 500) or dns', { onWarning: (w) => none.push(w) });
  compileFilter('http and dns and redis', { onWarning: (w) => none.push(w) });
  assert.deepEqual(none, []);
});

test('KFL1 says once when a path cannot be in shark entries (a typo, a Kubeshark variable shark lacks, a KFL2 path)', () => {
  const warningsOf = (q: string) => compileFilter(q, { dialect: 'auto' }).warnings;
  assert.deepEqual(warningsOf('stauts_code == 200 or stauts_code == 404'), [
    "'stauts_code' is not a field of shark's entries nor a KFL2 variable: it matches only entries from elsewhere that carry it",
  ]);
  assert.match(warningsOf('local_process_name == "nginx"')[0], /^'local_process_name' is not a field of shark's entries/);
  assert.deepEqual(warningsOf('dns and src.pod.namespace == "kube-system"'), [
    "src.pod.namespace is KFL2 (src.pod is a name in shark's entries): in KFL1 write src.namespace",
  ]);
  // Fields of the entry format say nothing.
  for (const q of ['response.status == 200', 'tapped.pod == "x" and src.namespace == "a"', 'request.headers["x"] == "y"', 'node.name == "n"', 'dns']) {
    assert.deepEqual(warningsOf(q), [], q);
  }
});

test('a KFL1 regex written beside && is a KFL2 raw string: said once on stderr with what to write, not left to match nothing unsaid', () => {
  const warnings: string[] = [];
  const f = compileFilter('http && response.status == r"4.*" && request.path != r"/x"', { onWarning: (w) => warnings.push(w) });
  assert.equal(f.dialect, 'kfl2');
  assert.deepEqual(warnings, ['r"4.*" at column 28 is a raw string in KFL2 (CEL), compared as text, not a regex: write x.matches("4.*"), or use KFL1 (and, or, not)']);
  const quiet: string[] = [];
  compileFilter('http and response.status == r"4.*"', { onWarning: (w) => quiet.push(w) });
  compileFilter('http && request.path.matches(r"^/api/\\d+")', { onWarning: (w) => quiet.push(w) });
  assert.deepEqual(quiet, []);
});

test('string escapes as CEL and Go read them: three octal digits and \\U with eight hex digits; a bad one names its column', () => {
  const e = { id: '1', protocol: 'http', summary: 'A😀\n', request: {}, response: {} } as never;
  for (const q of ['summary == "\\101\\U0001F600\\012"', 'summary == "\\x41\\uD83D\\uDE00\\n"', 'summary.matches("^\\101")']) {
    assert.equal(compileFilter(q, { dialect: 'kfl2' }).predicate(e), true, q);
  }
  // One or two digits stay as written, as before (a regex's "\1" is RE2's to judge).
  assert.equal(compileFilter('summary == "\\10"', { dialect: 'kfl2' }).predicate({ ...(e as object), summary: '\\10' } as never), true);
  assert.throws(() => compileFilter('summary == "\\U0011FFFF"', { dialect: 'kfl2' }), /bad escape '\\U0011FFFF' at column 13/);
});
