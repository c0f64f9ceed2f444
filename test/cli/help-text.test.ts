import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Config, Help } from '@oclif/core';
import { runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';
import { prose } from '../../src/cli/prose.js';

/** oclif's help as `shark CMD --help` prints it at `width` columns, rendered in this process (no CLI start per page). */
class CapturedHelp extends Help {
  readonly lines: string[] = [];
  protected override log(...args: string[]): void {
    this.lines.push(args.join(' '));
  }
}
async function helpText(config: Config, cmd: string, width: number): Promise<string> {
  const help = new CapturedHelp(config, { maxWidth: width, stripAnsi: true });
  await help.showHelp([cmd]);
  return `${help.lines.join('\n')}\n`;
}

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
  const config = await Config.load(repoRoot);
  for (const width of [80, 140]) {
    // The page rendered here is the one the CLI prints (checked on one command per width).
    const cli = await runCli(['dissect', '--help'], { env: { OCLIF_COLUMNS: String(width) } });
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(await helpText(config, 'dissect', width), cli.stdout, `dissect --help at ${width} columns: rendered here as the CLI does`);
    for (const cmd of COMMANDS) {
      const text = await helpText(config, cmd, width);
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
