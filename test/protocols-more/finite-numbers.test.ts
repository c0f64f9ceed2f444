// Numbers read from the wire as text (a status, a flags field, a position)
// once became NaN when the bytes were damaged, which JSON writes as null: a
// field documented as a number silently turned into nothing. Every capture
// of the corpus, as it is and with random bytes flipped by Wireshark's
// editcap (-E, seeded), is dissected here and every number in every entry
// must be finite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedCaptures } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import { loadKeyLogFile } from '../../src/dissect/tls/keylog.js';

/** Paths (a.b[2].c) of the numbers in `v` that are NaN or infinite. */
function nonFinite(v: unknown, path: string, out: string[]): void {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) out.push(`${path} = ${v}`);
  } else if (Array.isArray(v)) v.forEach((x, i) => nonFinite(x, `${path}[${i}]`, out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) nonFinite(x, path ? `${path}.${k}` : k, out);
}

test('no entry of the corpus, damaged or not, holds a NaN or infinite number', { timeout: 300_000 }, async () => {
  const names = readdirSync(sharedCaptures).filter((n) => /\.pcap(ng)?$/.test(n)).sort();
  assert.ok(names.length > 20, `the corpus is there (${names.length} captures)`);
  const dir = mkdtempSync(join(tmpdir(), 'shark-finite-'));
  let entries = 0;
  const found: string[] = [];
  try {
    for (const name of names) {
      const original = join(sharedCaptures, name);
      const keys = original.replace(/\.pcap(ng)?$/, '.keys');
      const tlsKeys = existsSync(keys) ? loadKeyLogFile(keys, () => {}) : undefined;
      const variants = [original];
      for (const [rate, seed] of [['0.01', '1'], ['0.003', '2'], ['0.03', '3'], ['0.05', '4']]) {
        const damaged = join(dir, `${seed}-${name.replace(/\.pcap(ng)?$/, '')}.pcapng`);
        try {
          execFileSync('editcap', ['-E', rate, '--seed', seed, original, damaged], { stdio: 'ignore' });
          variants.push(damaged);
        } catch {
          // editcap refuses the corpus's own damaged files: they are checked as they are.
        }
      }
      for (const path of variants) {
        const { entries: got } = await dissectFile(path, { tlsKeys });
        entries += got.length;
        for (const e of got) {
          const bad: string[] = [];
          nonFinite(e, '', bad);
          if (bad.length > 0) found.push(`${name} (${path === original ? 'as is' : 'damaged'}) ${e.protocol} ${e.id}: ${bad.slice(0, 3).join(', ')}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(entries > 5000, `entries were made (${entries})`);
  assert.deepEqual(found.slice(0, 20), []);
});
