// A full disk under a small output (issue 22, found again with fresh inputs):
// a merge of two entries or one tiny capture to -w /dev/full is written only
// when the file is closed, and the error there must still be exit 6 with one
// line, not a silent exit 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runShell } from '../helpers/cli.js';
import { cliBin } from '../helpers/paths.js';
import { rawPcapBytes, udpPacket } from '../helpers/pcap-wire.js';

const shark = `node ${cliBin}`;
let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-small-full-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('merge of a few entries or one small capture to a full disk: exit 6, one line naming the file', async () => {
  const entry = (t: number) => JSON.stringify({ id: String(t), timestamp: t, protocol: 'dns', transport: 'udp', summary: 'A q.example' });
  const entries = join(dir, 'two.ndjson');
  writeFileSync(entries, `${entry(1)}\n${entry(2)}\n`);
  const capture = join(dir, 'one.pcap');
  writeFileSync(capture, rawPcapBytes([udpPacket(1_700_000_000_000, 1, 1, 5353, 53, Buffer.from('x'))]));
  for (const cmd of [`merge -w /dev/full ${entries} ${entries}`, `merge -F pcap -w /dev/full ${capture}`, `merge -w /dev/full ${capture} ${capture}`]) {
    const r = await runShell(`${shark} ${cmd}`);
    assert.equal(r.code, 6, `${cmd}: ${r.stderr}`);
    assert.deepEqual(r.stderr.trim().split('\n'), ['merge: /dev/full: cannot write (no space left on device)'], cmd);
  }
  const ok = await runShell(`${shark} merge -w ${join(dir, 'out.ndjson')} ${entries} ${entries}`);
  assert.equal(ok.code, 0, ok.stderr);
});
