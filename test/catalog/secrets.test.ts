import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../../src/model/entry.js';
import { runCli } from '../helpers/cli.js';
import { httpCall } from './entries.js';

const SECRETS = ['s3cr3t-bearer-7d1e', 's3cr3t-cookie-91aa', 's3cr3t-apikey-0c2b', 's3cr3t-password-55f0', 's3cr3t-token-e3d9', 's3cr3t-query-a8c4', 's3cr3t-client-6b71'];

function planted(variant: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < 30; i++) {
    out.push(
      httpCall({
        method: 'POST',
        path: '/api/login',
        query: { access_token: SECRETS[5], lang: 'en' },
        headers: { authorization: `Bearer ${SECRETS[0]}`, cookie: `session=${SECRETS[1]}`, 'x-api-key': SECRETS[2] },
        requestBody: { user: 'ann', password: SECRETS[3] },
        responseBody: variant ? { token: SECRETS[4], client_secret: SECRETS[6], user: 'ann' } : { token: SECRETS[4], user: 'ann' },
        i,
      }),
    );
    if (variant) out.push(httpCall({ path: '/api/keys', query: { api_key: SECRETS[2] }, headers: { authorization: `Basic ${SECRETS[0]}` }, responseBody: { secret: SECRETS[6] }, i: 100 + i }));
  }
  return out;
}

test('secrets planted in traffic never appear in catalog, OpenAPI, HAR or diff output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-secrets-'));
  try {
    const a = join(dir, 'a.ndjson');
    const b = join(dir, 'b.ndjson');
    writeFileSync(a, planted(0).map((e) => JSON.stringify(e)).join('\n') + '\n');
    writeFileSync(b, planted(1).map((e) => JSON.stringify(e)).join('\n') + '\n');
    const outputs: Array<[string, string]> = [];
    for (const args of [
      ['catalog', b],
      ['catalog', '--format', 'json', b],
      ['catalog', '--format', 'markdown', b],
      ['catalog', '--openapi', b],
      ['export', '--har', b],
      ['diff', '--format', 'json', a, b],
      ['diff', '--format', 'junit', '--fail-on', 'schema,new-endpoint', a, b],
      ['diff', b, a],
    ]) {
      const r = await runCli(args);
      assert.ok(r.code === 0 || r.code === 1, `${args.join(' ')}: ${r.code} ${r.stderr}`);
      outputs.push([args.join(' '), r.stdout + r.stderr]);
    }
    const specs = join(dir, 'specs');
    assert.equal((await runCli(['catalog', '--openapi', '--out', specs, b])).code, 0);
    for (const f of readdirSync(specs)) outputs.push([f, readFileSync(join(specs, f), 'utf8')]);
    for (const [what, text] of outputs) {
      assert.ok(text.length > 50, what);
      for (const s of SECRETS) assert.ok(!text.includes(s), `${what} shows ${s}`);
    }
    // The outputs did carry the traffic: with --no-redact the same commands show the secrets.
    const open = await runCli(['export', '--har', '--no-redact', b]);
    for (const s of SECRETS) assert.ok(open.stdout.includes(s), `--no-redact HAR lacks ${s}`);
    const openApi = await runCli(['catalog', '--openapi', '--no-redact', b]);
    assert.ok(openApi.stdout.includes(SECRETS[3]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
