// `shark merge` against mergecap on the same inputs (order, count, bytes,
// interfaces as tshark reads them), NDJSON merging, and the refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { mergeOrdered } from '../../src/merge/merge.js';
import { mergeEntries } from '../../src/merge/entries.js';
import { readNdjson } from '../../src/ndjson/read.js';
import { LineSink } from '../../src/output/stdout-sink.js';
import { cliBin, examplesDir, repoRoot } from '../helpers/paths.js';
import { readCapture, sharedPath, tsharkFields } from '../capture/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'shark-merge-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = ['frame.time_epoch', 'frame.cap_len', 'frame.len', 'frame.interface_id', 'frame.encap_type', 'frame.md5_hash'];
const MD5 = ['-o', 'frame.generate_md5_hash:TRUE'];

function shark(args: string[], input?: string | Buffer): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [cliBin, ...args], { cwd: repoRoot, input, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

async function sameAsMergecap(name: string, inputs: string[], extra: string[] = []): Promise<number> {
  const ours = join(dir, `${name}-shark`);
  const theirs = join(dir, `${name}-mergecap`);
  const r = shark(['merge', ...extra, '-w', ours, ...inputs]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  execFileSync('mergecap', [...extra, '-w', theirs, ...inputs], { stdio: 'ignore' });
  const [a, b] = await Promise.all([tsharkFields(ours, FIELDS, MD5), tsharkFields(theirs, FIELDS, MD5)]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stderr.trim(), '', 'tshark reads our output without complaint');
  const i = a.rows.findIndex((row, k) => row.join(' ') !== b.rows[k]?.join(' '));
  assert.equal(i, -1, `${name}: packet ${i + 1}: shark ${a.rows[i]?.join(' ')} / mergecap ${b.rows[i]?.join(' ')}`);
  assert.equal(a.rows.length, b.rows.length);
  return a.rows.length;
}

test('k-way merge is ordered and stable (equal keys keep input order)', async () => {
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
  const inputs = Array.from({ length: 5 }, (_, source) => {
    const keys = Array.from({ length: 200 + rand(300) }, () => rand(50)).sort((x, y) => x - y);
    return keys.map((key, i) => ({ key, source, i }));
  });
  const asBatches = async function* (items: { key: number; source: number; i: number }[]) {
    for (let i = 0; i < items.length; ) {
      const n = rand(40); // includes empty batches
      yield items.slice(i, i + n);
      i += n;
    }
  };
  const got: { key: number; source: number; i: number }[] = [];
  for await (const b of mergeOrdered(inputs.map(asBatches), (x, y) => x.key - y.key, { batchSize: 33 })) {
    b.items.forEach((item, k) => assert.equal(b.sources[k], item.source));
    got.push(...b.items);
  }
  // Reference: a stable sort of the concatenation in input order.
  const expected = inputs.flat().sort((x, y) => x.key - y.key);
  assert.deepEqual(got, expected);
});

test('same packets in the same order as mergecap: one link type', async () => {
  const n = await sameAsMergecap('ether', [
    join(examplesDir, 'node-a.pcap'),
    join(examplesDir, 'node-b.pcap'),
    sharedPath('tcpdump-dns_tcp.pcap'),
    sharedPath('zeek-http-pipelined-requests.pcap'),
    sharedPath('arkime-bigendian.pcap'),
  ]);
  assert.ok(n > 100, `${n} packets`);
});

test('same packets in the same order as mergecap when timestamps tie across inputs', async () => {
  // Three pcaps whose packets share timestamps in every combination (2 and 3 inputs tied, at the start and later).
  const times = [
    [0, 1, 1, 2, 5, 5, 7],
    [0, 1, 2, 2, 5, 6, 7],
    [1, 1, 2, 4, 5, 7, 7],
  ];
  const files = times.map((ts, f) => {
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(65535, 16);
    header.writeUInt32LE(1, 20);
    const records = ts.map((t, i) => {
      const rec = Buffer.alloc(16 + 60);
      rec.writeUInt32LE(1_700_000_000 + t, 0);
      rec.writeUInt32LE(0, 4);
      rec.writeUInt32LE(60, 8);
      rec.writeUInt32LE(60, 12);
      rec[16 + 12] = 0x88; // an EtherType nobody parses; the bytes only tell packets apart
      rec[16 + 13] = 0xb5;
      rec[16 + 14] = f;
      rec[16 + 15] = i;
      return rec;
    });
    const path = join(dir, `ties-${f}.pcap`);
    writeFileSync(path, Buffer.concat([header, ...records]));
    return path;
  });
  assert.equal(await sameAsMergecap('ties', files), 21);
  assert.equal(await sameAsMergecap('ties-reversed', [...files].reverse()), 21);
});

test('same packets in the same order as mergecap: mixed link types and formats, ns, several interfaces', async () => {
  const n = await sameAsMergecap('mixed', [
    sharedPath('arkime-http2-nghttp2.pcap'),
    sharedPath('lab-http-sll2.pcapng'),
    sharedPath('ndpi-http2.pcapng'),
    sharedPath('tcpdump-tcp-handshake-nano.pcap'),
    sharedPath('lab-multi-interface.pcapng'),
    sharedPath('suricata-tls-alpn-log-detect-02.pcap'),
  ]);
  assert.ok(n > 100, `${n} packets`);
});

test('--format pcap: like mergecap -F pcap for one link type; refused for mixed', async () => {
  const inputs = [join(examplesDir, 'node-a.pcap'), join(examplesDir, 'node-b.pcap')];
  const r = shark(['merge', '--format', 'pcap', ...inputs]);
  assert.equal(r.code, 0, r.stderr);
  const ours = join(dir, 'ab.pcap');
  writeFileSync(ours, r.stdout);
  const theirs = join(dir, 'ab-mergecap.pcap');
  execFileSync('mergecap', ['-F', 'pcap', '-w', theirs, ...inputs]);
  assert.ok(readFileSync(ours).equals(readFileSync(theirs)), 'byte-identical to mergecap -F pcap');

  const mixed = [sharedPath('tcpdump-dns_udp.pcap'), sharedPath('arkime-http2-nghttp2.pcap')];
  const refused = shark(['merge', '-F', 'pcap', ...mixed]);
  assert.equal(refused.code, 2);
  assert.equal(refused.stdout.length, 0);
  assert.match(refused.stderr, /^merge: cannot write pcap: the inputs have different link types \(.*tcpdump-dns_udp\.pcap: 1, .*arkime-http2-nghttp2\.pcap: 0\); use --format pcapng\n$/);
  const mc = spawnSync('mergecap', ['-F', 'pcap', '-w', join(dir, 'x.pcap'), ...mixed]);
  assert.notEqual(mc.status, 0, 'mergecap refuses too');
});

test('NDJSON inputs merge by timestamp, stable, stdin as "-"', async () => {
  const a = [1, 3, 3, 7].map((t, i) => JSON.stringify({ id: `a${i}`, timestamp: t }));
  const b = [2, 3, 9].map((t, i) => JSON.stringify({ id: `b${i}`, timestamp: t }));
  const aPath = join(dir, 'a.ndjson');
  writeFileSync(aPath, a.join('\n') + '\n');
  const r = shark(['merge', aPath, '-'], b.join('\n') + '\n');
  assert.equal(r.code, 0, r.stderr);
  const ids = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l).id);
  // Each id carries its input's number, so ids from different inputs never collide.
  assert.deepEqual(ids, ['1:a0', '2:b0', '1:a1', '1:a2', '2:b1', '1:a3', '2:b2']);

  // The other input order puts b's timestamp-3 entry first (library level: no CLI start-up).
  const lines: string[] = [];
  const sink = new LineSink(new Writable({ write: (chunk, _enc, cb) => (lines.push(...chunk.toString().trim().split('\n')), cb()) }));
  const source = (list: string[]) => readNdjson(Readable.from([Buffer.from(list.join('\n') + '\n')]), 'x');
  assert.equal(await mergeEntries([source(b), source(a)], sink), 7);
  assert.deepEqual(lines.map((l) => JSON.parse(l).id), ['2:a0', '1:b0', '1:b1', '2:a1', '2:a2', '2:a3', '1:b2']);
});

test('entries dissected from two nodes merge with unique ids; one input keeps its ids', () => {
  const a = shark(['dissect', join(examplesDir, 'node-a.pcap')]);
  const b = shark(['dissect', join(examplesDir, 'node-b.pcap')]);
  const idsOf = (out: Buffer | string) => out.toString().trim().split('\n').map((l) => JSON.parse(l).id as string);
  const aIds = idsOf(a.stdout);
  const bIds = idsOf(b.stdout);
  assert.ok(aIds.some((id) => bIds.includes(id)), 'the two runs number their calls alike');
  const aPath = join(dir, 'node-a.ndjson');
  writeFileSync(aPath, a.stdout);
  const r = shark(['merge', aPath, '-'], b.stdout);
  assert.equal(r.code, 0, r.stderr);
  const ids = idsOf(r.stdout);
  assert.equal(ids.length, aIds.length + bIds.length);
  assert.equal(new Set(ids).size, ids.length, 'ids unique');
  assert.deepEqual(ids.filter((id) => id.startsWith('1:')).map((id) => id.slice(2)), aIds);
  assert.deepEqual(ids.filter((id) => id.startsWith('2:')).map((id) => id.slice(2)), bIds);
  assert.deepEqual(idsOf(shark(['merge', aPath]).stdout), aIds);
});

test('refusals: NDJSON with captures, binary to a terminal', () => {
  const aPath = join(dir, 'e.ndjson');
  writeFileSync(aPath, '{"timestamp":1}\n');
  const mixed = shark(['merge', aPath, join(examplesDir, 'node-a.pcap')]);
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /^merge: cannot merge packet captures \(.*node-a\.pcap\) with NDJSON entries \(.*e\.ndjson\)/);
  assert.equal(mixed.stderr.split('\n').length, 2, 'one line');

  // `script` gives the command a terminal as stdout.
  const tty = spawnSync('script', ['-qec', `${process.execPath} ${cliBin} merge ${join(examplesDir, 'node-a.pcap')}`, '/dev/null'], { encoding: 'utf8' });
  assert.equal(tty.status, 2);
  assert.match(tty.stdout, /merge: refusing to write a binary capture to a terminal/);

});

test('a damaged input: the good packets are merged, one line names the byte, exit 3', async () => {
  const out = join(dir, 'damaged.pcapng');
  const r = shark(['merge', '-w', out, sharedPath('tcpdump-dns_udp.pcap'), sharedPath('ndpi-fuzz-2021-10-13.pcap')]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^merge: \S*ndpi-fuzz-2021-10-13\.pcap: truncated packet record at byte 237\n$/);
  const back = await readCapture(out);
  assert.equal(back.error, undefined);
  assert.equal(back.packets.length, 3);
});

test('a reader that goes away (| head -c) ends the merge quietly with status 0', async () => {
  const big = sharedPath('lab-bookinfo-mix.pcap');
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      'bash',
      ['-c', `set -o pipefail; "${process.execPath}" "${cliBin}" merge "${big}" "${big}" | head -c 1000 | wc -c; echo "status \${PIPESTATUS[0]}"`],
      { timeout: 60_000 },
      (err, out, errOut) => (err ? reject(err) : resolve({ stdout: out, stderr: errOut })),
    );
  });
  assert.match(stdout, /^1000\nstatus 0\n$/);
  assert.equal(stderr, '');
});

test('-w names one of the inputs: it is read whole before it is replaced; a refused run leaves an existing file as it was', async () => {
  const { copyFileSync, chmodSync, readdirSync } = await import('node:fs');
  const work = mkdtempSync(join(dir, 'in-place-'));
  // 2.6 MB, far more than one read: writing into it as it was read cut it to its first packets (exit 3).
  const big = join(work, 'big.pcap');
  copyFileSync(sharedPath('suricata-decode-sll2-02.pcap'), big);
  chmodSync(big, 0o644);
  const small = sharedPath('zeek-linux_dlt_sll2.pcap');
  const fresh = join(work, 'fresh.pcapng');
  assert.equal(shark(['merge', big, small, '-w', fresh]).code, 0);
  const inPlace = shark(['merge', big, small, '-w', big]);
  assert.equal(inPlace.code, 0, inPlace.stderr);
  assert.ok(readFileSync(big).equals(readFileSync(fresh)), 'the same bytes as a merge into a new file');
  // Refused (exit 2, pcap of two link types) with an existing -w file: it keeps its bytes; nothing is left beside it.
  const before = readFileSync(fresh);
  const refused = shark(['merge', '-F', 'pcap', fresh, sharedPath('tcpdump-dns_udp.pcap'), '-w', fresh]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /different link types/);
  assert.ok(readFileSync(fresh).equals(before));
  assert.deepEqual(readdirSync(work).sort(), ['big.pcap', 'fresh.pcapng']);
});
