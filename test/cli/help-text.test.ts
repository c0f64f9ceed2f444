import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';
import { prose } from '../../src/cli/prose.js';

const COMMANDS = ['agent', 'autocomplete', 'catalog', 'diff', 'dissect', 'export', 'filter', 'map', 'merge', 'record', 'stats', 'tap', 'view'];

/** The DESCRIPTION section of a help text: its paragraphs, each a list of lines (indentation kept). */
function descriptionParagraphs(help: string): string[][] {
  const lines = help.split('\n');
  const start = lines.indexOf('DESCRIPTION');
  assert.ok(start >= 0, help);
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (/^[A-Z]/.test(l)) break;
    body.push(l);
  }
  return body
    .join('\n')
    .split(/\n\s*\n/)
    .map((p) => p.split('\n').filter((l) => l.trim() !== ''))
    .filter((p) => p.length > 0);
}

test('--help descriptions are wrapped by the terminal width only: no ragged short lines inside a paragraph', async () => {
  for (const width of [80, 140]) {
    for (const cmd of COMMANDS) {
      const r = await runCli([cmd, '--help'], { env: { OCLIF_COLUMNS: String(width) } });
      assert.equal(r.code, 0, r.stderr);
      for (const para of descriptionParagraphs(r.stdout)) {
        for (let i = 0; i + 1 < para.length; i++) {
          const line = para[i];
          const next = para[i + 1];
          // Indented blocks (shell lines, tables) are shown as written.
          if (/^ {3,}/.test(line) || /^ {3,}/.test(next)) continue;
          const nextWord = next.trim().split(/\s+/)[0];
          // A line broke early when the next word would have fitted on it (oclif keeps a margin of a few columns).
          assert.ok(line.length + 1 + nextWord.length > width - 6, `${cmd} --help at ${width} columns breaks early:\n${line}\n${next}`);
        }
      }
    }
  }
});

test('prose joins the lines of a paragraph and keeps blank lines and indented lines', () => {
  assert.equal(prose('one\ntwo\n\nthree\n  $ shark x\n  $ shark y\nfour'), 'one two\n\nthree\n  $ shark x\n  $ shark y\nfour');
});
