// Shell completion as a user's shell runs it: bash through its own
// programmable completion (COMP_WORDS → the script's function → COMPREPLY),
// fish through `complete -C`, zsh loaded into compinit. Namespaces and pod
// names come from a cluster (the API-server fixture) at Tab time. And a man
// page per command that man renders.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin, repoRoot } from '../helpers/paths.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { findResource } from '../fixtures/apiserver/store.js';

const dir = mkdtempSync(join(tmpdir(), 'shark-complete-'));
// `shark` on PATH, as after `npm link`.
writeFileSync(join(dir, 'shark'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(cliBin)} "$@"\n`);
chmodSync(join(dir, 'shark'), 0o755);
const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
const script = (shell: string) => {
  const file = join(dir, `shark.${shell}`);
  writeFileSync(file, execFileSync(process.execPath, [cliBin, 'autocomplete', shell], { encoding: 'utf8' }));
  return file;
};

/** What bash offers for the command line `words` (the last word is the one being completed). */
function bashComplete(words: string[]): string[] {
  const file = script('bash');
  const program = `source ${JSON.stringify(file)}; COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')}); COMP_CWORD=${words.length - 1}; _shark_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', program], { encoding: 'utf8', env }).split('\n').filter(Boolean);
}

/** bashComplete without blocking this process: the API-server fixture answers from here. */
async function bashCompleteAsync(words: string[]): Promise<string[]> {
  const file = script('bash');
  const program = `source ${JSON.stringify(file)}; COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')}); COMP_CWORD=${words.length - 1}; _shark_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await promisify(execFile)('bash', ['-c', program], { encoding: 'utf8', env });
  return stdout.split('\n').filter(Boolean);
}

function fishComplete(line: string): string[] {
  const file = script('fish');
  return execFileSync('fish', ['-c', `source ${JSON.stringify(file)}; complete -C ${JSON.stringify(line)}`], { encoding: 'utf8', env })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t')[0]);
}

let fixture: ApiServerFixture | undefined;
after(() => fixture?.close());

test('bash completes commands, flags, -o formats, comma lists of protocols and files', () => {
  assert.deepEqual(bashComplete(['shark', 'dis']), ['dissect']);
  assert.ok(bashComplete(['shark', 'dissect', '--out']).includes('--output'));
  assert.deepEqual(bashComplete(['shark', 'dissect', '-o', 'c']), ['compact']);
  assert.deepEqual(bashComplete(['shark', 'filter', '--output', '']).sort(), ['compact', 'detail', 'json', 'ndjson', 'wide']);
  assert.deepEqual(bashComplete(['shark', 'dissect', '--protocols', 'http,re']), ['http,redis']);
  assert.ok(bashComplete(['shark', 'dissect', 'examples/book']).includes('examples/bookinfo-mix.pcap'));
  assert.deepEqual(bashComplete(['shark', 'autocomplete', 'f']), ['fish']);
});

test('fish completes commands, -o formats and protocols', () => {
  assert.ok(fishComplete('shark vi').includes('view'));
  assert.deepEqual(fishComplete('shark dissect -o w'), ['wide']);
  assert.ok(fishComplete('shark dissect --protocols ').includes('dns'));
});

test('zsh loads the script into compinit and registers it for shark', () => {
  const file = script('zsh');
  execFileSync('zsh', ['-n', file]);
  const out = execFileSync('zsh', ['-c', `autoload -U compinit && compinit -u -d ${JSON.stringify(join(dir, 'zcompdump'))}; source ${JSON.stringify(file)}; print -r -- $_comps[shark]`], { encoding: 'utf8', env });
  assert.equal(out.trim(), '_shark');
});

test('namespaces for -n and pod names for tap come from the cluster at Tab time', async () => {
  fixture = new ApiServerFixture();
  await fixture.listen();
  fixture.ensureNamespace('bookinfo');
  fixture.addPod({ namespace: 'bookinfo', name: 'productpage-v1-7f9c', ip: '198.19.200.10', node: 'node1', labels: { app: 'productpage' } });
  fixture.addPod({ namespace: 'bookinfo', name: 'reviews-v2-5d8b', ip: '198.19.200.11', node: 'node1', labels: { app: 'reviews' } });
  const kubeconfig = join(dir, 'kubeconfig');
  fixture.writeKubeconfig(kubeconfig);
  assert.deepEqual(await bashCompleteAsync(['shark', 'tap', '--kubeconfig', kubeconfig, '-n', 'book']), ['bookinfo']);
  assert.deepEqual(await bashCompleteAsync(['shark', 'tap', '--kubeconfig', kubeconfig, '-n', 'bookinfo', 'rev']), ['reviews-v2-5d8b']);
  // kubectl's deploy/NAME too (the fixture's Deployment controller names its pods after it).
  fixture.store.create(findResource('apps', 'deployments')!, 'bookinfo', {
    metadata: { name: 'ratings' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'ratings' } }, template: { metadata: { labels: { app: 'ratings' } }, spec: { containers: [{ name: 'r', image: 'registry.example/ratings:1' }] } } },
  });
  assert.deepEqual(await bashCompleteAsync(['shark', 'tap', '--kubeconfig', kubeconfig, '-n', 'bookinfo', 'deploy/']), ['deploy/ratings']);
  // No cluster reachable: nothing offered, quickly, and no error on the terminal.
  const none = execFileSync(process.execPath, [cliBin, 'autocomplete', '--values', 'namespaces', '--kubeconfig', join(dir, 'missing')], { encoding: 'utf8' });
  assert.equal(none, '');
});

test('a man page per command, rendered by man', () => {
  const pages = readdirSync(join(repoRoot, 'man', 'man1')).sort();
  const commands = readdirSync(join(repoRoot, 'src', 'commands')).map((f) => `shark-${f.replace(/\.ts$/, '')}.1`);
  for (const c of commands) assert.ok(pages.includes(c), `man page for ${c}`);
  assert.ok(pages.includes('shark.1'));
  const text = execFileSync('man', ['-l', join(repoRoot, 'man', 'man1', 'shark-dissect.1')], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '' } }).replace(new RegExp('.' + String.fromCharCode(8), 'g'), ''); // man's overstrike bold
  assert.match(text, /shark-dissect - Dissect pcap\/pcapng captures/);
  assert.match(text, /-o, --output=ndjson\|compact\|wide\|detail\|json/);
  assert.match(text, /EXAMPLES/);
  const pkg = JSON.parse(execFileSync('cat', [join(repoRoot, 'package.json')], { encoding: 'utf8' }));
  assert.deepEqual([...pkg.man].sort(), pages.map((p) => `./man/man1/${p}`).sort(), 'package.json "man" lists every page (npm link installs them)');
});
