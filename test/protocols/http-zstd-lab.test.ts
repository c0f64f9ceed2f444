// HTTP bodies sent with Content-Encoding: zstd (Chrome, curl and CDNs negotiate it
// now) between real parts in the lab: a python server whose bodies Debian's zstd
// command packs (test/fixtures/zstd-http/server.py), curl asking for them with
// --compressed. Node 20 has no zstd, so shark's own decoder reads them: the body
// in the entry is the document curl printed, and the password inside it is
// redacted like any JSON body's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labIdentity, startLab, type Lab } from '../helpers/lab.js';
import { repoRoot } from '../helpers/paths.js';
import { runCli } from '../helpers/cli.js';

const PORT = 8087;
const SECRET = 'zstd-lab-hunter2';
const { prefix, net } = labIdentity('shz');
let lab: Lab | undefined;
let server: ChildProcess | undefined;
let dir = '';
let pcap = '';
let doc = '';
/** Larger than a zstd block (128 KB), and than --max-body: cut in the capture's entry, and decoded as far as it goes. */
let big = '';
const printed: Record<string, string> = {};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shark-zstd-lab-'));
  // A document that compresses well (~35 KB to a few KB).
  const items = Array.from({ length: 400 }, (_, i) => ({ id: i, sku: `sku-${(i * 7919) % 10007}`, title: 'lorem ipsum dolor sit amet', price: (i * 37) % 1000 }));
  doc = JSON.stringify({ items, account: { user: 'alice', password: SECRET } });
  writeFileSync(join(dir, 'doc.json'), doc);
  big = JSON.stringify(Array.from({ length: 6000 }, (_, i) => ({ id: i, sku: `sku-${(i * 7919) % 10007}`, note: `${(i * 2654435761) % 4294967296}` })));
  writeFileSync(join(dir, 'big.json'), big);
  lab = await startLab({ prefix, net, nodes: 1 });
  const web = lab.pod('web');
  const client = lab.pod('client0').ns;
  pcap = join(dir, 'zstd.pcap');
  const capture = await lab.capture(0, pcap, { filter: `tcp port ${PORT}` });
  server = spawn('ip', ['netns', 'exec', web.ns, 'timeout', '90', '/usr/bin/python3', join(repoRoot, 'test', 'fixtures', 'zstd-http', 'server.py'), web.ip, String(PORT), join(dir, 'doc.json'), join(dir, 'big.json')], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 40; i++) {
      const r = await lab.exec(client, `curl -s -o /dev/null --max-time 1 http://${web.ip}:${PORT}/ready`);
      if (r.code === 0) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    for (const path of ['/plain', '/chunked', '/big']) {
      const r = await lab.exec(client, `curl -s --compressed --max-time 10 http://${web.ip}:${PORT}${path}`, { timeoutMs: 15_000 });
      assert.equal(r.code, 0, r.stderr);
      printed[path] = r.stdout;
    }
  } finally {
    await capture.stop();
    server.kill('SIGTERM');
  }
});

after(async () => {
  server?.kill('SIGKILL');
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('zstd-encoded bodies (with a length, and chunked) come out as the document curl printed, the password redacted', async () => {
  for (const path of ['/plain', '/chunked']) assert.equal(printed[path], doc, `curl ${path}`);
  assert.equal(printed['/big'], big, 'curl /big');
  const r = await runCli(['dissect', '--max-body', '64KB', '--no-redact', pcap]);
  assert.equal(r.code, 0, r.stderr);
  const calls = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.protocol === 'http' && e.request.path !== '/ready');
  assert.deepEqual(calls.map((e) => e.request.path), ['/plain', '/chunked', '/big']);
  for (const e of calls.slice(0, 2)) {
    assert.equal(e.response.headers['content-encoding'], 'zstd');
    // It went packed: a few KB on the wire for a ~30 KB document.
    assert.ok(e.responseSize < doc.length / 3, `${e.request.path}: ${e.responseSize} bytes on the wire, document ${doc.length}`);
    assert.equal(e.response.body, doc, e.request.path);
    assert.equal(e.response.bodyEncoding, undefined);
    assert.equal(e.warnings, undefined, `${e.request.path}: ${e.warnings}`);
  }
  // Past --max-body the packed body is cut: the blocks before the cut decode, shown up to --max-body.
  const cut = await runCli(['dissect', '--max-body', '40KB', pcap]);
  const bigCall = cut.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.request?.path === '/big');
  assert.equal(bigCall.response.bodyTruncated, true);
  assert.equal(bigCall.warnings, undefined, String(bigCall.warnings));
  assert.ok(bigCall.response.body.length > 1000 && big.startsWith(bigCall.response.body), `${bigCall.response.body.length} bytes, a prefix of the document`);
  const redacted = await runCli(['dissect', '--max-body', '64KB', pcap]);
  assert.equal(redacted.code, 0, redacted.stderr);
  assert.ok(!redacted.stdout.includes(SECRET));
  const bodies = redacted.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.request?.path === '/plain' || e.request?.path === '/chunked');
  for (const e of bodies) {
    const body = JSON.parse(e.response.body);
    assert.equal(body.account.password, '[REDACTED]');
    assert.equal(body.items.length, 400);
  }
});
