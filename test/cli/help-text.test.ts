import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command, Config, Help } from '@oclif/core';
import { runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';
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

/** oclif's own help renderer, in-process: the text `shark CMD --help` prints at `width` columns. */
class HelpText extends Help {
  text(command: Command.Loadable): string {
    return this.formatCommand(command);
  }
}

async function helpTexts(width: number): Promise<Map<string, string>> {
  const config = await Config.load(repoRoot);
  const help = new HelpText(config, { maxWidth: width });
  return new Map(COMMANDS.map((cmd) => [cmd, help.text(config.findCommand(cmd)!)]));
}

test('--help descriptions are wrapped by the terminal width only: no ragged short lines inside a paragraph', async () => {
  // The 26 help texts are rendered in-process (26 CLI starts took a minute on a loaded machine);
  // one real `--help` shows that the in-process text is the one the CLI prints.
  const texts = new Map([80, 140].map((w) => [w, helpTexts(w)] as const));
  const real = await runCli(['dissect', '--help'], { env: { OCLIF_COLUMNS: '80' } });
  assert.equal(real.code, 0, real.stderr);
  // The CLI prints the summary line above what formatCommand renders.
  const rendered = (await texts.get(80)!).get('dissect')!.trimEnd();
  assert.ok(real.stdout.trimEnd().endsWith(rendered) && real.stdout.length - rendered.length < 200, `in-process help differs from the CLI's:\n${real.stdout}`);
  for (const width of [80, 140]) {
    for (const [cmd, text] of await texts.get(width)!) {
      // Every command that reads entry files says so under ARGUMENTS (dissect said "capture files" only, though it reads NDJSON too).
      if (['catalog', 'dissect', 'export', 'map', 'stats', 'view'].includes(cmd)) {
        const args = text.slice(text.indexOf('ARGUMENTS'), text.indexOf('FLAGS'));
        assert.match(args, /NDJSON|entry files/, `${cmd} --help: ARGUMENTS name entry files\n${args}`);
      }
      for (const para of descriptionParagraphs(text)) {
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
