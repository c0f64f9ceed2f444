// `shark record -i` on a real veth pair: what the interface carried ends up in
// the rotated pcaps and the entries; SIGTERM (what cron/systemd send) finishes
// the recording cleanly; an unreachable cluster is noted, not fatal.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finish, makeVethLab, sharkIn, tsharkCount, waitForStderr, type VethLab } from '../live/netns.js';
import type { Manifest } from '../../src/record/manifest.js';

// A kubeconfig whose API server refuses connections (nothing listens on port 1).
const DEAD_KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: deadctx, context: {cluster: dead, user: u}}]
current-context: deadctx
users: [{name: u, user: {token: x}}]
`;

describe('shark record -i (live)', { timeout: 180_000 }, () => {
  let lab: VethLab;
  let tmp: string;
  before(async () => {
    lab = makeVethLab('t2', '198.18.34');
    tmp = mkdtempSync(join(tmpdir(), 'shark-live-record-'));
    lab.start(lab.nsB, [process.execPath, '-e', `require('http').createServer((q, s) => s.end('ok')).listen(8080, '${lab.ipB}')`]);
    const r = await lab.sh(lab.nsA, `for i in $(seq 50); do curl -s -m 1 http://${lab.ipB}:8080/ready && exit 0; sleep 0.2; done; exit 1`);
    assert.equal(r.code, 0, 'test HTTP server did not start');
  });
  after(() => {
    lab?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('records what crossed the interface; SIGTERM finishes; the dead cluster is noted in the manifest', async () => {
    const out = join(tmp, 'out');
    const kubeconfig = join(tmp, 'kubeconfig');
    writeFileSync(kubeconfig, DEAD_KUBECONFIG);
    const rec = sharkIn(lab, lab.nsA, [
      'record', '--name', 'live', '--out', out, '-i', lab.ifA, '--rotate-size', '8KB', '--duration', '120s', '--kubeconfig', kubeconfig,
    ]);
    const done = finish(rec);
    await waitForStderr(rec, /record: listening on/);
    const before = lab.packets(lab.nsA, lab.ifA);
    await lab.sh(lab.nsA, `for i in $(seq 10); do curl -s -m 2 -o /dev/null http://${lab.ipB}:8080/r$i; done; sleep 0.5`);
    const wire = lab.packets(lab.nsA, lab.ifA) - before;
    rec.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /record: live-\d{8}T\d{6}Z: \d+ packets?, \d+ entr(y|ies) in \d+ files? .* stopped: interrupted; no cluster snapshot \(.*ECONNREFUSED.*\)/);
    const folder = readdirSync(out).find((f) => f.startsWith('live-'))!;
    const path = join(out, folder);
    const m = JSON.parse(readFileSync(join(path, 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(m.status, 'complete');
    assert.equal(m.stopReason, 'interrupted');
    assert.deepEqual(m.source, { kind: 'live', interfaces: [lab.ifA] });
    assert.match(m.clusterError ?? '', /ECONNREFUSED/);
    assert.equal(m.cluster, undefined);
    assert.equal(m.dropped?.lost, 0);
    const pcaps = m.files.filter((f) => f.kind === 'pcap');
    assert.ok(pcaps.length >= 2, 'expected rotation at 8KB');
    let total = 0;
    for (const f of pcaps) {
      assert.ok(f.bytes <= 8 * 1024);
      const n = tsharkCount(join(path, f.name));
      assert.equal(n, f.count);
      total += n;
    }
    assert.equal(total, m.packets);
    // Everything the interface counted while we listened (nothing else talks on it).
    assert.equal(m.packets, wire);
    const entries = m.files
      .filter((f) => f.kind === 'entries')
      .flatMap((f) => readFileSync(join(path, f.name), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
    assert.equal(entries.length, m.entries);
    const paths = entries.filter((e) => e.protocol === 'http').map((e) => e.request.path).sort();
    assert.deepEqual(paths, Array.from({ length: 10 }, (_, i) => `/r${i + 1}`).sort());
    const check = spawnSync('sha256sum', ['-c', '--strict'], { cwd: path, input: m.files.map((f) => `${f.sha256}  ${f.name}\n`).join(''), encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  it('--workers 2: the entries are dissected on worker threads, one per call, the packets unchanged', async () => {
    const out = join(tmp, 'out-workers');
    const rec = sharkIn(lab, lab.nsA, ['record', '--name', 'wk', '--out', out, '-i', lab.ifA, '--workers', '2', '--duration', '120s']);
    const done = finish(rec);
    await waitForStderr(rec, /record: listening on/);
    const before = lab.packets(lab.nsA, lab.ifA);
    await lab.sh(lab.nsA, `for i in $(seq 10); do curl -s -m 2 -o /dev/null http://${lab.ipB}:8080/w$i; done; sleep 0.5`);
    const wire = lab.packets(lab.nsA, lab.ifA) - before;
    rec.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const path = join(out, readdirSync(out).find((f) => f.startsWith('wk-'))!);
    const m = JSON.parse(readFileSync(join(path, 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(m.packets, wire);
    const entries = m.files
      .filter((f) => f.kind === 'entries')
      .flatMap((f) => readFileSync(join(path, f.name), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
    assert.equal(entries.length, m.entries);
    assert.deepEqual(entries.filter((e) => e.protocol === 'http').map((e) => e.request.path).sort(), Array.from({ length: 10 }, (_, i) => `/w${i + 1}`).sort());
  });
});
