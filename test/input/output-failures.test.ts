// Output that cannot be written is exit 6 with one line, for every command
// and every output (stdout, -w, --junit): /dev/full stands for a full disk.
// And merge given more inputs than it may open files: one line, exit 2.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runShell } from '../helpers/cli.js';
import { cliBin, examplesDir } from '../helpers/paths.js';

const capture = join(examplesDir, 'bookinfo-mix.pcap');
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-output-'));
  writeFileSync(join(dir, 'rules.yaml'), 'rules:\n  - {name: any, type: expect, filter: http, min: 1}\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const shark = `node ${cliBin}`;

test('a full disk on stdout or -w: exit 6 and one line, for every command', async () => {
  const rules = join(dir, 'rules.yaml');
  const cases: [string, RegExp][] = [
    [`stats ${capture} > /dev/full`, /^stats: cannot write output: ENOSPC/],
    [`stats --format json ${capture} > /dev/full`, /^stats: cannot write output: ENOSPC/],
    [`stats --check ${rules} ${capture} > /dev/full`, /^stats: cannot write output: ENOSPC/],
    [`stats --check ${rules} --junit /dev/full ${capture} > /dev/null`, /^stats: \/dev\/full: cannot write JUnit report/],
    [`map ${capture} > /dev/full`, /^map: cannot write output: ENOSPC/],
    [`map --format mermaid ${capture} > /dev/full`, /^map: cannot write output: ENOSPC/],
    [`dissect ${capture} > /dev/full`, /^dissect: cannot write output: ENOSPC/],
    [`dissect --packets ${capture} > /dev/full`, /^dissect: cannot write output: ENOSPC/],
    [`filter http ${capture} > /dev/full`, /^filter: cannot write output: ENOSPC/],
    [`filter --count http ${capture} > /dev/full`, /^filter: cannot write output: ENOSPC/],
    [`merge ${capture} ${capture} > /dev/full`, /^merge: <stdout>: cannot write \(no space left on device\)/],
    [`merge -w /dev/full ${capture} ${capture}`, /^merge: \/dev\/full: cannot write \(no space left on device\)/],
    [`merge -F pcap -w /dev/full ${capture}`, /^merge: \/dev\/full: cannot write \(no space left on device\)/],
  ];
  for (const [cmd, message] of cases) {
    const r = await runShell(`${shark} ${cmd}`);
    assert.equal(r.code, 6, `${cmd}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${cmd}: ${r.stderr}`);
    assert.match(lines[0], message, cmd);
  }
  // Entries merged to a full disk too.
  const entries = join(dir, 'e.ndjson');
  await runShell(`${shark} dissect ${capture} > ${entries}`);
  const r = await runShell(`${shark} merge -w /dev/full ${entries} ${entries}`);
  assert.equal(r.code, 6, r.stderr);
  assert.match(r.stderr, /^merge: .*(ENOSPC|no space left on device)/);
});

test('merge with more inputs than open files allowed: one line naming the limit, exit 2 (not 70)', async () => {
  const many = Array.from({ length: 80 }, () => capture).join(' ');
  const r = await runShell(`ulimit -n 40 && ${shark} merge -w ${join(dir, 'm.pcapng')} ${many}`);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^merge: .*bookinfo-mix\.pcap: cannot open: too many open files \(the merge holds every input open; raise `ulimit -n`/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});
