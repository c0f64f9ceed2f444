// No planted secret leaves shark, whichever command writes: dissect, filter,
// stats (row names, --check details, JUnit), map (--paths labels), merge of
// entry files and record's entry files; bodies kept as base64 are decoded (and
// gunzipped) before they are searched. The same runs with --no-redact show them, so the capture does
// reach each output; and what is not a secret stays readable.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { brotliDecompressSync, gunzipSync, constants as zlibConstants } from 'node:zlib';
import { runCli, type CliResult } from '../helpers/cli.js';
import { snappyDecompress, snappyFramedDecompress } from '../../src/dissect/protocols/util/snappy.js';
import { SECRETS, VISIBLE, writePlantedCapture } from './planted-capture.js';

/**
 * The Redis dissector masks AUTH and HELLO … AUTH passwords itself: they never reach any output. Nor does
 * a body whose Content-Encoding does not decode (here a brotli bomb): its compressed bytes are not shown.
 */
const MASKED_AT_DISSECTOR = new Set(['Zq34secretVal', 'Zq35secretVal', 'Zq54secretVal', 'Zq64secretVal']);

let dir = '';
let pcap = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-redact-'));
  pcap = join(dir, 'planted.pcap');
  writePlantedCapture(pcap);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The bytes of every base64 body in NDJSON lines, gunzipped or unzstd'd when they are so, and every
 * gzip'd value shown with \xNN escapes (Redis), gunzipped: where a secret could hide from a plain search.
 */
function hiddenBodies(text: string): string {
  let out = '';
  for (const line of text.split('\n')) {
    if (!line.includes('\\\\x1f\\\\x8b')) continue;
    const strings: string[] = [];
    JSON.parse(line, (_k, v: unknown) => (typeof v === 'string' && v.startsWith('\\x1f\\x8b') && strings.push(v), v));
    for (const s of strings) {
      const bytes = Buffer.from(s.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
      out += gunzipSync(bytes, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).toString('latin1');
    }
  }
  for (const line of text.split('\n')) {
    if (!line.includes('Encoding":"base64"')) continue;
    // Bodies (bodyEncoding) and memcached items (valueEncoding), wherever they sit in the entry.
    const encoded: string[] = [];
    JSON.parse(line, (_k, v: unknown) => {
      const o = v as Record<string, unknown> | null;
      if (o && typeof o === 'object' && o.bodyEncoding === 'base64' && typeof o.body === 'string') encoded.push(o.body);
      if (o && typeof o === 'object' && o.valueEncoding === 'base64' && typeof o.value === 'string') encoded.push(o.value);
      return v;
    });
    for (const b64 of encoded) {
      const bytes = Buffer.from(b64, 'base64');
      out += bytes.toString('latin1');
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) out += gunzipSync(bytes).toString('latin1');
      if (bytes.length > 4 && bytes.readUInt32LE(0) === 0xfd2fb528) out += unzstd(bytes);
      // Codings with no magic number to find them by: a reader tries them all.
      for (const unpack of [
        () => snappyDecompress(bytes, 1 << 24, true),
        () => snappyFramedDecompress(bytes, 1 << 24, true),
        () => brotliDecompressSync(bytes, { finishFlush: zlibConstants.BROTLI_OPERATION_FLUSH }),
      ]) {
        try {
          out += unpack().toString('latin1');
        } catch {
          // not in this coding
        }
      }
    }
  }
  // Text bodies in a framing a reader strips (S3's aws-chunked: a secret split across two chunks).
  for (const line of text.split('\n')) {
    if (!line.includes('chunk-signature=')) continue;
    JSON.parse(line, (_k, v: unknown) => {
      if (typeof v === 'string' && v.includes('chunk-signature=')) out += v.replace(/\r\n[0-9a-fA-F]+;chunk-signature=[0-9a-f]+\r\n/g, '');
      return v;
    });
  }
  return out;
}

/** What a reader of the output gets from zstd bytes: the zstd command's output, as far as it goes. */
function unzstd(bytes: Buffer): string {
  const r = spawnSync('zstd', ['-d', '-c', '-q'], { input: bytes });
  return r.stdout.toString('latin1');
}

function leaked(text: string): string[] {
  const all = text + hiddenBodies(text);
  return SECRETS.filter((s) => all.includes(s));
}

async function ok(args: string[], input?: Buffer): Promise<CliResult> {
  const r = await runCli(args, { input, timeoutMs: 60_000 });
  assert.ok(r.code === 0 || (args.includes('--check') && r.code === 1), `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  return r;
}

test('dissect and filter: at least 29 planted secrets, none in the output; all of them with --no-redact; non-secrets stay', async () => {
  assert.ok(SECRETS.length >= 29);
  const raw = await ok(['dissect', '--no-redact', pcap]);
  const shown = leaked(raw.stdout);
  assert.deepEqual(SECRETS.filter((s) => !shown.includes(s) && !MASKED_AT_DISSECTOR.has(s)), [], 'the capture carries every secret to the output');
  const rawFile = join(dir, 'raw.ndjson');
  writeFileSync(rawFile, raw.stdout);

  const red = await ok(['dissect', pcap]);
  assert.equal(red.stdout.split('\n').length, raw.stdout.split('\n').length, 'the number of entries never changes');
  assert.deepEqual(leaked(red.stdout), []);
  for (const v of VISIBLE) assert.ok(red.stdout.includes(v), `${v} was redacted`);

  // filter redacts what it writes, from a capture and from entries written with --no-redact.
  for (const input of [pcap, rawFile]) {
    const f = await ok(['filter', '', input]);
    assert.equal(f.stdout.split('\n').length, raw.stdout.split('\n').length);
    assert.deepEqual(leaked(f.stdout), [], `filter ${input}`);
  }
});

test('merge: entry files written with --no-redact merge into entries without a secret; --no-redact keeps them', async () => {
  const raw = await ok(['dissect', '--no-redact', pcap]);
  const lines = raw.stdout.trim().split('\n');
  const a = join(dir, 'merge-a.ndjson');
  const b = join(dir, 'merge-b.ndjson');
  writeFileSync(a, lines.filter((_, i) => i % 2 === 0).join('\n') + '\n');
  writeFileSync(b, lines.filter((_, i) => i % 2 === 1).join('\n') + '\n');
  // The plain form runs without oclif (src/cli/fast-merge.ts), -w through oclif's flags too.
  const merged = await ok(['merge', a, b]);
  assert.equal(merged.stdout.trim().split('\n').length, lines.length, 'the number of entries never changes');
  assert.deepEqual(leaked(merged.stdout), []);
  for (const v of VISIBLE) assert.ok(merged.stdout.includes(v), `${v} was redacted`);
  const out = join(dir, 'merged.ndjson');
  await ok(['merge', '--redact', 'x-none', '-w', out, a, b]);
  assert.deepEqual(leaked(readFileSync(out, 'utf8')), []);
  const kept = await ok(['merge', '--no-redact', a, b]);
  assert.deepEqual(leaked(kept.stdout).sort(), leaked(raw.stdout).sort());
});

test('stats: row names (--by fields, JSONata) and --check details and JUnit hold no secret', async () => {
  const bys = ['request.headers.authorization', 'request.url', 'summary', 'request.path', 'endpoint', 'request.query.access_token', '$string(request.args)', 'request.headers."x-api-key"'];
  const out = (await Promise.all(bys.map((by) => ok(['stats', '--format', 'json', '--by', by, pcap])))).map((r) => r.stdout).join('');
  assert.deepEqual(leaked(out), []);
  assert.ok(out.includes('[REDACTED]'));
  const raw = await ok(['stats', '--no-redact', '--format', 'json', '--by', 'request.headers.authorization', pcap]);
  assert.ok(raw.stdout.includes('Bearer Zq04secretVal'), raw.stdout);

  const rules = join(dir, 'rules.yaml');
  writeFileSync(rules, 'rules:\n  - { name: no-pg, type: forbid, filter: "postgresql" }\n  - { name: no-grpc, type: forbid, filter: "grpc" }\n  - { name: no-mysql, type: forbid, filter: "mysql" }\n');
  const junit = join(dir, 'report.xml');
  const check = await ok(['stats', '--check', rules, '--junit', junit, pcap]);
  assert.equal(check.code, 1);
  const report = readFileSync(junit, 'utf8');
  assert.deepEqual(leaked(check.stdout + report), []);
  assert.match(report, /forbidden entries; first: /);
  const rawCheck = await ok(['stats', '--no-redact', '--check', rules, '--junit', junit, pcap]);
  assert.ok(leaked(rawCheck.stdout + readFileSync(junit, 'utf8')).length >= 3, 'the rules quote the secrets without redaction');
});

test('map: --paths labels (DOT and JSON) hold no secret', async () => {
  const dot = await ok(['map', '--paths', pcap]);
  const json = await ok(['map', '--paths', '--format', 'json', pcap]);
  assert.deepEqual(leaked(dot.stdout + json.stdout), []);
  assert.ok(dot.stdout.includes('/pkg.Svc/Call?access_token=[REDACTED]'), dot.stdout);
  const raw = await ok(['map', '--no-redact', '--paths', pcap]);
  assert.ok(raw.stdout.includes('Zq25secretVal'));
});

test('record: the entry files hold no secret (the pcap files keep the packets as captured)', async () => {
  const input = readFileSync(pcap);
  const read = async (name: string, extra: string[]) => {
    await ok(['record', '--name', name, '--out', dir, '--no-kube', '-q', ...extra], input);
    const folder = readdirSync(dir).find((f) => f.startsWith(`${name}-`))!;
    const files = readdirSync(join(dir, folder)).filter((f) => f.endsWith('.ndjson'));
    assert.ok(files.length > 0);
    return files.map((f) => readFileSync(join(dir, folder, f), 'utf8')).join('');
  };
  const entries = await read('red', []);
  assert.deepEqual(leaked(entries), []);
  assert.ok(entries.includes('visible-redis-key'));
  assert.ok(leaked(await read('raw', ['--no-redact'])).length > 0);
});

/** The text of every base64 `content`/`postData` in a HAR document, decoded (and gunzipped): where a secret could hide from a plain search. */
function harHidden(har: string): string {
  let out = '';
  JSON.parse(har, (_k, v: unknown) => {
    const o = v as Record<string, unknown> | null;
    if (o && typeof o === 'object' && o.encoding === 'base64' && typeof o.text === 'string') {
      const bytes = Buffer.from(o.text, 'base64');
      out += bytes.toString('latin1');
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) out += gunzipSync(bytes, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).toString('latin1');
    }
    return v;
  });
  return out;
}

test('the other writers: -o compact, wide and detail, export --har, catalog --openapi and diff hold no secret; --no-redact shows them', async () => {
  const texts: string[] = [];
  for (const format of ['compact', 'wide', 'detail']) texts.push((await ok(['dissect', '-o', format, pcap])).stdout);
  const har = (await ok(['export', '--har', pcap])).stdout;
  texts.push(har, harHidden(har));
  texts.push((await ok(['catalog', '--openapi', pcap])).stdout);
  texts.push((await ok(['diff', pcap, pcap])).stdout);
  // Tables and documents, not entries: searched as they are (HAR's base64 bodies decoded above).
  const plain = (text: string) => SECRETS.filter((x) => text.includes(x));
  assert.deepEqual(plain(texts.join('\n')), []);
  assert.ok(texts[2].includes('visible-ws-user') && texts[2].includes('visible-realm'), 'detail shows what is not a secret');
  // The same writers without redaction: the secrets do reach them (the newest planted ones included).
  const rawDetail = (await ok(['dissect', '--no-redact', '-o', 'detail', pcap])).stdout;
  const rawHar = (await ok(['export', '--har', '--no-redact', pcap])).stdout;
  const shown = plain(rawDetail + rawHar + harHidden(rawHar));
  for (const n of [141, 142, 143, 144, 145, 146, 147, 149, 150, 151, 152, 153]) assert.ok(shown.includes(`Zq${n}secretVal`), `Zq${n}secretVal reaches detail or HAR`);
});
