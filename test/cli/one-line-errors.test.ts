// Failures outside a command's own work, as a user meets them: writing to a
// full disk, an input that fails to read, a stdin that is a directory or
// closed, a mistyped command or a missing argument, `--help` into a full
// disk, and `view` of a missing file. Each is one line on stderr with a
// documented exit code (README "Exit codes"), never "internal error … a bug",
// a stack trace, or an empty success.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runShell } from '../helpers/cli.js';
import { cliBin, repoRoot } from '../helpers/paths.js';

const shark = `node ${cliBin}`;
const capture = 'examples/bookinfo-mix.pcap';
let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-one-line-'));
  mkdirSync(join(dir, 'folder'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** stderr's lines (none empty). */
const lines = (stderr: string) => stderr.split('\n').filter((l) => l !== '');

test('export --har into a full disk: one line naming what failed, exit 6, for -o FILE and for stdout', async () => {
  const toFile = await runShell(`${shark} export --har -o /dev/full ${capture}`);
  assert.equal(toFile.code, 6, toFile.stderr);
  assert.deepEqual(lines(toFile.stderr), ['export: /dev/full: cannot write (no space left on device)']);
  const toStdout = await runShell(`${shark} export --har ${capture} > /dev/full`);
  assert.equal(toStdout.code, 6, toStdout.stderr);
  assert.equal(lines(toStdout.stderr).length, 1, toStdout.stderr);
  assert.match(toStdout.stderr, /^export: cannot write output: .*no space left on device/);
});

test('an input that fails to read (EIO) is one line naming it and the byte, exit 3, in every reader', async () => {
  // Reading /proc/self/mem at offset 0 fails with EIO: address 0 is never mapped.
  for (const cmd of ['dissect', 'dissect --workers 2', 'filter true', 'merge -w /dev/null', 'export --har']) {
    const r = await runShell(`${shark} ${cmd} /proc/self/mem > /dev/null`);
    assert.equal(r.code, 3, `${cmd}: ${r.stderr}`);
    const name = cmd.split(' ')[0];
    assert.deepEqual(lines(r.stderr), [`${name}: /proc/self/mem: read failed (input/output error) at byte 0`], cmd);
  }
});

test('a stdin that is a directory or closed is a usage error (exit 2), and an explicit /dev/null is an empty input', async () => {
  const folder = join(dir, 'folder');
  for (const cmd of ['stats', 'dissect', 'filter true', 'map', 'merge -', 'record -o x --name x']) {
    const r = await runShell(`cd ${dir} && ${shark} ${cmd} < ${folder}`);
    assert.equal(r.code, 2, `${cmd} < dir: ${r.stderr}`);
    assert.deepEqual(lines(r.stderr), [`${cmd.split(' ')[0]}: <stdin>: is a directory`], cmd);
  }
  for (const cmd of ['dissect', 'dissect --workers 2', 'dissect --packets', 'stats', 'catalog', 'merge -']) {
    const r = await runShell(`${shark} ${cmd} <&-`);
    assert.equal(r.code, 2, `${cmd} <&-: ${r.stderr}`);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^\w+: <stdin>: closed: give a file, or pipe a capture or entries into stdin$/m, cmd);
    assert.equal(r.stdout, '', `${cmd}: no table or output for no input`);
  }
  const empty = await runShell(`${shark} dissect < /dev/null`);
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout + empty.stderr, '');
});

test('oclif says nothing in its own voice: a missing argument, an unknown command and a missing --har are one clean line, exit 2', async () => {
  const missing = await runShell(`${shark} diff ${capture}`);
  assert.equal(missing.code, 2, missing.stderr);
  assert.deepEqual(lines(missing.stderr), ['diff: missing argument CANDIDATE (candidate: entries, capture or recording folder) (see --help)']);
  const unknown = await runShell(`${shark} nosuchcmd`);
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.deepEqual(lines(unknown.stderr), ['shark: nosuchcmd: no such command (see shark --help)']);
  // oclif looks up "record:out.pcap" for `record out.pcap`: the user hears of their words, not of that id.
  const extra = await runShell(`${shark} record out.pcap; ${shark} nosuchcmd more words`);
  assert.equal(extra.code, 2, extra.stderr);
  assert.deepEqual(lines(extra.stderr), [
    'shark: record: unexpected argument "out.pcap": it takes none (see shark record --help)',
    'shark: nosuchcmd: no such command (see shark --help)',
  ]);
  const format = await runShell(`${shark} export ${capture}`);
  assert.equal(format.code, 2, format.stderr);
  assert.deepEqual(lines(format.stderr), ['export: name the format: --har']);
});

test('--help and --version into a full disk: one line and exit 6, no stack trace', async () => {
  for (const args of ['--help', '--version', 'dissect --help']) {
    const r = await runShell(`${shark} ${args} > /dev/full`);
    assert.equal(r.code, 6, `${args}: ${r.stderr}`);
    assert.deepEqual(lines(r.stderr), ['shark: cannot write output: ENOSPC: no space left on device, write'], args);
  }
  const help = await runShell(`${shark} --help`);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^USAGE/m);
});

test('view of a missing file says so at once, before taking the screen (exit 2)', async () => {
  // A terminal for view (script gives it one); before, it drew the screen and waited for q.
  const r = await runShell(`cd ${dir} && timeout 30 script -qec "${shark} view /nonexistent.pcap" /dev/null < /dev/null`);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(r.stdout.replace(/\r/g, '').trim(), 'view: /nonexistent.pcap: no such file');
});

test('checking a piped stdin leaves module resolution alone: a package behind a symlink is still loaded by its real path', async () => {
  // A plain fstat of a pipe left its mode where fs.realpathSync reads (nodejs/node#51142), and
  // modules loaded after it were not resolved through symlinks: with a linked node_modules,
  // `… | shark view` loaded a second React and failed on its first hook.
  const app = join(dir, 'app');
  // `first` is a plain folder: resolving it fills the loader's realpath cache with the folders above.
  await runShell(`mkdir -p ${dir}/store/linked ${app}/node_modules/first && touch ${app}/node_modules/first/index.js ${dir}/store/linked/index.js && ln -sfn ${dir}/store/linked ${app}/node_modules/linked`);
  const script = [
    `import { stdinProblem } from ${JSON.stringify(join(repoRoot, 'src', 'input', 'stdin.ts'))};`,
    `import { isFifo } from ${JSON.stringify(join(repoRoot, 'src', 'input', 'entries.ts'))};`,
    'import { createRequire } from "node:module";',
    `const require = createRequire(${JSON.stringify(join(app, 'main.js'))});`,
    'require.resolve("first");',
    'const said = [stdinProblem() ?? "fine", isFifo("/dev/stdin")];',
    'console.log(said.join(" "), require.resolve("linked"));',
  ].join('\n');
  const r = await runShell(`echo entries | node --import tsx --input-type=module -e '${script}'`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `fine true ${join(dir, 'store', 'linked', 'index.js')}`);
});
