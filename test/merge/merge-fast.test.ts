// The allocation-free merge path: RecordCursor walks every corpus capture
// exactly as the streaming reader does (packets, interfaces, the damage
// message), ByteSink's staging buffers keep bytes intact whether the stream
// copies or keeps what it is given, and the oclif-free start of `merge`
// (stdin, Ctrl-C, argument hand-off) behaves like the oclif command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ByteSink } from '../../src/capture/byte-sink.js';
import { FileSource, RecordCursor, StreamSource } from '../../src/capture/record-cursor.js';
import { RecordHeap } from '../../src/merge/record-heap.js';
import { parsePlainMergeArgs } from '../../src/cli/fast-merge.js';
import { cliBin, examplesDir, repoRoot } from '../helpers/paths.js';
import { idle } from '../helpers/process-state.js';
import { chunked, readCapture, sharedCaptureFiles, sharedPath } from '../capture/helpers.js';

async function walk(cursor: RecordCursor) {
  const packets: { tsSec: number; tsNsec: number; linkType: number; data: string; origLen: number; interfaceId: number; frame: number }[] = [];
  try {
    for (;;) {
      let r = cursor.advance();
      if (typeof r !== 'boolean') r = await r;
      if (!r) break;
      const { rec } = cursor;
      const data = cursor.buf.toString('hex', rec.dataOff, rec.dataOff + rec.caplen);
      packets.push({ tsSec: rec.tsSec, tsNsec: rec.tsNsec, linkType: rec.linkType, data, origLen: rec.origLen, interfaceId: rec.interfaceId, frame: rec.frame });
    }
  } catch (error) {
    return { packets, error: (error as Error).message, interfaces: cursor.interfaces };
  } finally {
    cursor.close();
  }
  return { packets, error: undefined, interfaces: cursor.interfaces };
}

test('RecordCursor reads every corpus capture as the streaming reader does (tiny windows, tiny chunks)', async () => {
  for (const file of sharedCaptureFiles()) {
    const path = sharedPath(file);
    const ref = await readCapture(path);
    const expected = {
      packets: ref.packets.map((p) => ({ tsSec: p.tsSec, tsNsec: p.tsNsec, linkType: p.linkType, data: p.data.toString('hex'), origLen: p.origLen, interfaceId: p.interfaceId, frame: p.frame })),
      error: ref.error?.message.replace(file, path),
      interfaces: ref.interfaces,
    };
    // A 64-byte window: nearly every record is cut by the window's end or larger than it.
    const fromFile = await walk(new RecordCursor(path, new FileSource(openSync(path, 'r')), Buffer.alloc(0), 64));
    assert.deepEqual(fromFile, expected, `${file} (file)`);
    const bytes = readFileSync(path);
    const fromStream = await walk(new RecordCursor(path, new StreamSource(chunked(bytes.subarray(5), 7)), bytes.subarray(0, 5), 4096));
    assert.deepEqual(fromStream, expected, `${file} (stream)`);
  }
});

test('RecordHeap: earliest (sec, nsec) first, ties to the input given last (as mergecap)', () => {
  const keys = [
    [5, 1],
    [5, 0],
    [4, 999],
    [5, 0],
    [4, 999],
  ];
  const heap = new RecordHeap(keys.length);
  keys.forEach(([s, n], i) => heap.push(i, s, n));
  const order: number[] = [];
  while (heap.size > 0) {
    order.push(heap.top);
    heap.pop();
  }
  assert.deepEqual(order, [4, 2, 3, 1, 0]);
  heap.push(0, 1, 0);
  heap.push(1, 2, 0);
  heap.replaceTop(3, 0);
  assert.equal(heap.top, 1);
});

for (const reuseAfterWrite of [false, true]) {
  test(`ByteSink staging buffers (reuseAfterWrite ${reuseAfterWrite}): every byte arrives intact`, async () => {
    const got: Buffer[] = [];
    // Keeps what it is given until a later turn (as a PassThrough would) and calls back late.
    const out = new Writable({
      highWaterMark: 64,
      write(chunk: Buffer, _enc, cb) {
        setImmediate(() => {
          got.push(reuseAfterWrite ? Buffer.from(chunk) : chunk);
          cb();
        });
      },
    });
    const staging = { buffers: [Buffer.alloc(100), Buffer.alloc(100)], reuseAfterWrite };
    const sink = new ByteSink(out, 100, undefined, staging);
    const expected: number[] = [];
    for (let i = 0; i < 500; i++) {
      const n = 1 + (i % 37);
      const wait = sink.room(n);
      for (let k = 0; k < n; k++) {
        sink.buf[sink.at + k] = (i + k) & 0xff;
        expected.push((i + k) & 0xff);
      }
      if (wait) await wait;
    }
    await sink.finish();
    out.end();
    await once(out, 'finish');
    assert.deepEqual([...Buffer.concat(got)], expected);
  });
}

test('plain merge arguments run without oclif; anything else is left to it', () => {
  assert.deepEqual(parsePlainMergeArgs(['a.pcap', '-w', 'o', 'b.pcap', '--format=pcap']), { paths: ['a.pcap', 'b.pcap'], write: 'o', format: 'pcap' });
  assert.deepEqual(parsePlainMergeArgs(['-', '--write', '-']), { paths: ['-'], write: '-', format: undefined });
  for (const argv of [[], ['--help'], ['a', '-h'], ['a', '-w'], ['a', '-w', 'x', '-w', 'y'], ['a', '-F', 'json'], ['a', '--', 'b'], ['a', '-wx'], ['a', '--bogus']]) {
    assert.equal(parsePlainMergeArgs(argv), undefined, argv.join(' '));
  }
});

function sharkRun(args: string[], input?: Buffer) {
  const r = spawnSync(process.execPath, [cliBin, ...args], { cwd: repoRoot, input, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

test('merge: stdin "-" and files give the same bytes; the oclif path (-wFILE form) the same again', () => {
  const a = join(examplesDir, 'node-a.pcap');
  const b = join(examplesDir, 'node-b.pcap');
  const files = sharkRun(['merge', a, b]);
  assert.equal(files.code, 0, files.stderr);
  const stdin = sharkRun(['merge', '-', b], readFileSync(a));
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.ok(stdin.stdout.equals(files.stdout), 'stdin input');
  const viaOclif = sharkRun(['merge', '-w-', a, b]);
  assert.equal(viaOclif.code, 0, viaOclif.stderr);
  assert.ok(viaOclif.stdout.equals(files.stdout), 'oclif path');
  const help = sharkRun(['merge', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout.toString(), /USAGE/);
  const dir = sharkRun(['merge', a, '/']);
  assert.equal(dir.code, 2);
  assert.equal(dir.stderr, 'merge: /: is a directory\n');
});

test('merge: an input that is neither a capture nor entries is refused with one line, exit 3, through both starts', () => {
  const a = join(examplesDir, 'node-a.pcap');
  for (const via of [[], ['-w-']]) {
    const r = sharkRun(['merge', ...via, a, '-'], Buffer.from('this is not a capture\n'));
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stderr, 'merge: <stdin>: not a pcap/pcapng capture or NDJSON entries\n');
    assert.equal(r.stdout.length, 0, 'nothing written before the refusal');
  }
});

test('merge: Ctrl-C while stdin stays open finishes the file with what was merged, status 0', async () => {
  const a = readFileSync(join(examplesDir, 'node-a.pcap'));
  const child = spawn(process.execPath, [cliBin, 'merge', '-'], { cwd: repoRoot });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => (err += c));
  child.stdin.write(a); // and never end it
  // Ctrl-C once merge waits for more: what was merged is then all that was written.
  await idle(child.pid!);
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.equal(code, 0, err);
  assert.equal(err, '');
  const back = await readCapture(join(examplesDir, 'node-a.pcap'));
  const merged = Buffer.concat(out);
  const tmp = join(mkdtempSync('/tmp/shark-sigint-'), 'out.pcapng');
  writeFileSync(tmp, merged);
  const got = await readCapture(tmp);
  assert.equal(got.error, undefined);
  assert.equal(got.packets.length, back.packets.length, 'every packet that arrived was written');
});
