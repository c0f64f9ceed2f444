// `--workers N` on the commands that dissect captures on the fly (filter,
// stats, map): the entries they see come from the worker pool
// (src/input/parallel-entries.ts), and must be the ones one thread gives, so
// each command's output is byte-identical with --workers 1 and 2. Real
// captures from the shared corpus (TLS with its key log, HTTP, DNS, a mix).
// Needs `npm run build` (workers run the built JavaScript).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { sharedCaptures } from '../helpers/paths.js';

const CAPTURES = ['lab-bookinfo-mix.pcap', 'zeek-http-methods.pcap', 'hotplace-tls13-aes128gcm-http2.pcapng', 'tcpdump-dns_udp.pcap'];

function keyFlags(name: string): string[] {
  const keys = join(sharedCaptures, name.replace(/\.pcap(ng)?$/, '.keys'));
  return existsSync(keys) ? ['--tls-keylog', keys] : [];
}

const COMMANDS: { what: string; args: string[] }[] = [
  { what: 'stats --format json', args: ['stats', '--format', 'json'] },
  { what: 'stats --by endpoint', args: ['stats', '--format', 'json', '--by', 'endpoint'] },
  { what: 'filter', args: ['filter', 'http or dns or http2 or grpc'] },
  { what: 'map --format json', args: ['map', '--format', 'json'] },
];

for (const name of CAPTURES) {
  const path = join(sharedCaptures, name);
  test(`filter/stats/map: --workers 2 gives one thread's output on ${name}`, { skip: !existsSync(path) && 'shared capture missing' }, async () => {
    for (const c of COMMANDS) {
      const one = await runCli([...c.args, '--workers', '1', ...keyFlags(name), path], { timeoutMs: 60_000 });
      const two = await runCli([...c.args, '--workers', '2', ...keyFlags(name), path], { timeoutMs: 60_000 });
      assert.equal(one.code, 0, `${c.what} ${name}: ${one.stderr}`);
      assert.equal(two.code, one.code, `${c.what} ${name} --workers 2: ${two.stderr}`);
      assert.ok(one.stdout.length > 0, `${c.what} ${name}: no output to compare`);
      assert.equal(two.stdout, one.stdout, `${c.what} ${name}: --workers 2 differs`);
    }
  });
}

test('filter --workers 2 --first stops the pool and exits', async () => {
  const r = await runCli(['filter', 'http', '--workers', '2', '--first', '2', join(sharedCaptures, 'lab-bookinfo-mix.pcap')], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 2);
});

test('stats/map/filter: --workers lots is a usage error naming the flag', async () => {
  for (const args of [['stats'], ['map'], ['filter', 'http']]) {
    const bad = await runCli([...args, '--workers', 'lots', join(sharedCaptures, 'tcpdump-dns_udp.pcap')]);
    assert.equal(bad.code, 2, `${args[0]}: ${bad.stderr}`);
    assert.match(bad.stderr, /--workers: 'lots' is not auto or a number/);
  }
});

// catalog, export and diff read captures through the same pool (src/catalog/read.ts → consumeEntries).
for (const name of ['lab-bookinfo-mix.pcap', 'hotplace-tls13-aes128gcm-http2.pcapng']) {
  const path = join(sharedCaptures, name);
  test(`catalog/export/diff: --workers 2 gives one thread's output on ${name}`, { skip: !existsSync(path) && 'shared capture missing' }, async () => {
    for (const args of [['catalog', '--format', 'json'], ['export', '--har'], ['diff', path]]) {
      const one = await runCli([...args, '--workers', '1', ...keyFlags(name), path], { timeoutMs: 60_000 });
      const two = await runCli([...args, '--workers', '2', ...keyFlags(name), path], { timeoutMs: 60_000 });
      assert.equal(one.code, 0, `${args[0]} ${name}: ${one.stderr}`);
      assert.ok(one.stdout.length > 0, `${args.join(' ')} ${name}: no output to compare`);
      assert.equal(two.code, one.code, `${args[0]} ${name} --workers 2: ${two.stderr}`);
      assert.equal(two.stdout, one.stdout, `${args.join(' ')} ${name}: --workers 2 differs`);
    }
  });
}

// A consumer projects a capture's entries as they are emitted (src/input/dissect-stream.ts):
// it must see what it sees of the same entries as NDJSON, `dissect X | stats` (issue 16).
test('stats/map of a capture equal stats/map of its dissected NDJSON, one thread and two', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'shark-project-'));
  try {
    for (const name of ['lab-bookinfo-mix.pcap', 'zeek-http-methods.pcap']) {
      const path = join(sharedCaptures, name);
      if (!existsSync(path)) continue;
      const ndjson = join(dir, `${name}.ndjson`);
      const dissected = await runCli(['dissect', path], { timeoutMs: 60_000 });
      assert.equal(dissected.code, 0, dissected.stderr);
      writeFileSync(ndjson, dissected.stdout);
      for (const args of [['stats', '--format', 'json', '--by', 'endpoint'], ['stats', '--format', 'json', '--by', 'service'], ['map', '--format', 'json']]) {
        const fromLines = await runCli([...args, ndjson], { timeoutMs: 60_000 });
        assert.equal(fromLines.code, 0, fromLines.stderr);
        for (const workers of ['1', '2']) {
          const fromCapture = await runCli([...args, '--workers', workers, path], { timeoutMs: 60_000 });
          assert.equal(fromCapture.code, 0, fromCapture.stderr);
          assert.equal(fromCapture.stdout, fromLines.stdout, `${args.join(' ')} --workers ${workers} ${name}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
