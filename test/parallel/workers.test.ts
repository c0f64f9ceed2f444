// `--workers N` must give exactly the bytes one thread gives (ids included),
// on every capture of the shared corpus and examples/, on synthetic captures
// built to cross batch boundaries (a flow's segments out of order, IP
// fragments far apart), and must fail loudly (exit 70) when a worker dies.
// Needs `npm run build` (workers run the built JavaScript).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { cliBin, examplesDir, repoRoot, sharedCaptures } from '../helpers/paths.js';
import { runCli, runShell } from '../helpers/cli.js';
import { dissectBytes } from '../helpers/dissect-bytes.js';
import { Wire, httpRequest, httpResponse } from '../helpers/engine-wire.js';
import { ipv4Packet, udpPacket, writeRawPcap } from '../helpers/pcap-wire.js';
import { LinkType, type Packet } from '../../src/model/packet.js';

const dist = (p: string): string => join(repoRoot, 'dist', p);

/** Every capture of the corpus and examples/, with its key log when there is one. */
function corpus(): { path: string; keys?: string }[] {
  const out: { path: string; keys?: string }[] = [];
  for (const dir of [sharedCaptures, examplesDir]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      if (!/\.pcap(ng)?$/.test(name)) continue;
      const keys = join(dir, name.replace(/\.pcap(ng)?$/, '.keys'));
      out.push({ path: join(dir, name), keys: existsSync(keys) ? keys : undefined });
    }
  }
  return out;
}

test('--workers 2 and 3 give byte-identical output (and the same counters) to one thread on every capture', { timeout: 600_000 }, async () => {
  const all = corpus();
  assert.ok(all.length > 20, `the corpus is there (${all.length} captures)`);
  let entries = 0;
  // Workers started once for every capture (as one run over many inputs does).
  const { WorkerPool } = await import(dist('dissect/parallel/pool.js'));
  const pools = new Map([2, 3].map((n) => [n, new WorkerPool(n)]));
  try {
  for (const { path, keys } of all) {
    const one = await dissectBytes(path, keys, 1);
    entries += one.out.split('\n').length - 1;
    for (const n of [2, 3]) {
      const many = await dissectBytes(path, keys, n, pools.get(n));
      assert.equal(many.error, one.error, `${path}: the same error with ${n} workers`);
      assert.equal(many.counters, one.counters, `${path}: packets, entries and losses add up with ${n} workers`);
      assert.ok(many.out === one.out, `${path}: --workers ${n} output differs from one thread's`);
    }
  }
  } finally {
    for (const p of pools.values()) await p.close();
  }
  assert.ok(entries > 1000, `the comparison covered entries (${entries})`);
});

/**
 * A classic pcap's records changed as a lossy or hostile capture would have
 * them: records dropped, duplicated (as on 'any'), swapped, cut short, bytes
 * flipped, timestamps moved or stepped back for the rest of the file, and a
 * header byte overwritten. Seeded: a failure names its case.
 */
function mutatedPcap(bytes: Buffer, rand: () => number): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  const le = bytes.readUInt32LE(0) === 0xa1b2c3d4 || bytes.readUInt32LE(0) === 0xa1b23c4d;
  const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const setU32 = (b: Buffer, o: number, v: number): number => (le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
  const records: Buffer[] = [];
  for (let o = 24; o + 16 <= bytes.length; ) {
    const end = o + 16 + u32(bytes, o + 8);
    if (end > bytes.length) break;
    records.push(Buffer.from(bytes.subarray(o, end)));
    o = end;
  }
  const header = Buffer.from(bytes.subarray(0, 24));
  for (let k = 1 + int(8); k > 0 && records.length > 1; k--) {
    const i = int(records.length);
    const r = records[i];
    switch (int(8)) {
      case 0:
        for (let n = 1 + int(4); n > 0; n--) if (r.length > 16) r[16 + int(r.length - 16)] ^= 1 << int(8);
        break;
      case 1:
        records.splice(i, 1);
        break;
      case 2:
        records.splice(i, 0, Buffer.from(r));
        break;
      case 3:
        if (i + 1 < records.length) [records[i], records[i + 1]] = [records[i + 1], r];
        break;
      case 4:
        if (r.length > 40) {
          const cut = Buffer.from(r.subarray(0, 16 + int(r.length - 16)));
          setU32(cut, 8, cut.length - 16);
          records[i] = cut;
        }
        break;
      case 5:
        setU32(r, 0, Math.max(0, u32(r, 0) + int(7) - 3));
        break;
      case 6:
        for (let j = i; j < records.length; j++) setU32(records[j], 0, Math.max(0, u32(records[j], 0) - 1 - int(3)));
        break;
      default:
        header[int(24)] = [0, 0x7f, 0xff][int(3)];
    }
  }
  return Buffer.concat([header, ...records]);
}

test('captures mutated as lossy and hostile ones are (seeded): --workers 2 gives one thread\'s bytes, error and counters', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-workers-mutated-'));
  const { mulberry32 } = await import('../helpers/random.js');
  const { WorkerPool } = await import(dist('dissect/parallel/pool.js'));
  const pool = new WorkerPool(2);
  let cases = 0;
  let entries = 0;
  try {
    for (const { path } of corpus()) {
      const bytes = readFileSync(path);
      const magic = bytes.length >= 24 ? bytes.readUInt32LE(0) : 0;
      if (![0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1].includes(magic) || bytes.length > 1_000_000) continue;
      for (let v = 0; v < 2; v++) {
        const seed = cases + 1;
        const mutated = join(dir, `${seed}.pcap`);
        writeFileSync(mutated, mutatedPcap(bytes, mulberry32(seed)));
        const one = await dissectBytes(mutated, undefined, 1);
        const two = await dissectBytes(mutated, undefined, 2, pool);
        const which = `${path} mutated with seed ${seed}`;
        assert.equal(two.error, one.error, `${which}: the same error`);
        assert.equal(two.counters, one.counters, `${which}: packets, entries and losses`);
        assert.ok(two.out === one.out, `${which}: --workers 2 output differs from one thread's`);
        entries += one.out.split('\n').length - 1;
        cases++;
      }
    }
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(cases >= 60, `cases run (${cases})`);
  assert.ok(entries > 500, `the comparison covered entries (${entries})`);
});

test('captures cut short by a snaplen or with damaged bytes: --workers 2 and 3 give one thread\'s bytes', { timeout: 300_000 }, async () => {
  // Wireshark's editcap makes them: -s truncates every packet, -E flips random
  // bytes (seeded). Lost and damaged bytes leave reassembly holding segments
  // behind holes until the end of input, which then hands them on with their
  // own (earlier) frames: the workers once ordered such end-of-input calls by
  // that frame instead of the flow's last packet, as the one-thread engine does.
  const dir = mkdtempSync(join(tmpdir(), 'shark-workers-cut-'));
  try {
    const variants: [string, string[]][] = [
      ['lab-bookinfo-mix.pcap', ['-s', '80']],
      ['lab-bookinfo-mix.pcap', ['-E', '0.003', '--seed', '1']],
      ['suricata-websocket-basic.pcap', ['-s', '200']],
      ['suricata-websocket-basic.pcap', ['-E', '0.003', '--seed', '1']],
      ['zeek-http-methods.pcap', ['-E', '0.003', '--seed', '1']],
    ];
    const { execFileSync } = await import('node:child_process');
    const { WorkerPool } = await import(dist('dissect/parallel/pool.js'));
    const pools = new Map([2, 3].map((n) => [n, new WorkerPool(n)]));
    let entries = 0;
    try {
      for (const [i, [name, args]] of variants.entries()) {
        const path = join(dir, `${i}-${name}ng`);
        execFileSync('editcap', [...args, join(sharedCaptures, name), path], { stdio: 'ignore' });
        const one = await dissectBytes(path, undefined, 1);
        entries += one.out.split('\n').length - 1;
        assert.match(one.counters, /gap|malformed|truncated/, `${name} ${args.join(' ')}: the damage is there to test (${one.counters})`);
        for (const n of [2, 3]) {
          const many = await dissectBytes(path, undefined, n, pools.get(n));
          assert.equal(many.counters, one.counters, `${name} ${args.join(' ')}: packets, entries and losses with ${n} workers`);
          assert.ok(many.out === one.out, `${name} ${args.join(' ')}: --workers ${n} output differs from one thread's`);
        }
      }
    } finally {
      for (const p of pools.values()) await p.close();
    }
    assert.ok(entries > 1000, `the comparison covered entries (${entries})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A raw IPv4 UDP datagram split into two fragments (first carries 16 bytes of UDP). */
function fragments(p: Packet, secondAt: number, secondFrame: number): [Packet, Packet] {
  const ip = p.data;
  const udp = ip.subarray(20);
  const head = Buffer.concat([ip.subarray(0, 20), udp.subarray(0, 16)]);
  head.writeUInt16BE(head.length, 2);
  head.writeUInt16BE(0x2000 | 0, 6); // MF, offset 0
  head.writeUInt16BE(0x4242, 4);
  const tail = Buffer.concat([ip.subarray(0, 20), udp.subarray(16)]);
  tail.writeUInt16BE(tail.length, 2);
  tail.writeUInt16BE(16 / 8, 6); // offset 16 bytes, last
  tail.writeUInt16BE(0x4242, 4);
  const at = (ms: number) => ({ tsSec: Math.floor(ms / 1000), tsNsec: (ms % 1000) * 1e6 });
  return [
    { ...p, data: head, origLen: head.length },
    { ...p, ...at(secondAt), data: tail, origLen: tail.length, frame: secondFrame },
  ];
}

/** A DNS query for `name` (type A) with id `id`, and its answer (NXDOMAIN, no records). */
function dnsMessages(name: string, id: number): [Buffer, Buffer] {
  const labels = Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
  const question = Buffer.concat([labels, Buffer.from([0, 1, 0, 1])]);
  const q = Buffer.concat([Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), question]);
  const r = Buffer.concat([Buffer.from([id >> 8, id & 255, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0]), question]);
  return [q, r];
}

/**
 * Thousands of HTTP calls on many connections; one request's two segments
 * arrive swapped, thousands of packets apart (and its timestamps step back);
 * one DNS query is fragmented with thousands of packets between its pieces.
 */
function crossBatchCapture(): Packet[] {
  const wire = new Wire();
  let t = 1_700_000_000_000;
  for (let i = 0; i < 1500; i++) {
    const port = 20000 + (i % 300);
    wire.send((t += 1), 1, port, 80, httpRequest(`/filler/${i}`));
    wire.send((t += 1), 2, 80, port, httpResponse);
  }
  // The split request: its line, then (thousands of packets apart) two header
  // segments that are swapped in the packet list: the later one arrives first.
  wire.send((t += 1), 1, 31000, 8080, 'GET /out-of-order/path HTTP/1.1\r\n');
  const filler = (from: number) => {
    for (let i = 0; i < 2500; i++) {
      const port = from + (i % 300);
      wire.send((t += 1), 1, port, 80, httpRequest(`/middle/${from}/${i}`));
      wire.send((t += 1), 2, 80, port, httpResponse);
    }
  };
  filler(21000);
  wire.send((t += 1), 1, 31000, 8080, 'Host: svc\r\n');
  const a = wire.packets.length - 1;
  filler(22000);
  wire.send((t += 1), 1, 31000, 8080, '\r\n');
  const b = wire.packets.length - 1;
  wire.send((t += 1), 2, 8080, 31000, httpResponse);
  const packets = wire.packets.slice();
  [packets[a], packets[b]] = [packets[b], packets[a]];
  // The fragmented DNS query, its pieces 3000 packets apart, then its answer.
  const [query, answer] = dnsMessages('fragmented.example', 0x5151);
  const whole = udpPacket((t += 1), 0, 1, 40000, 53, query);
  const [first, second] = fragments(whole, t + 3001, 0);
  packets.splice(10, 0, first);
  packets.push(second, udpPacket(t + 3002, 0, 2, 53, 40000, answer));
  for (const [i, p] of packets.entries()) p.frame = i + 1;
  return packets;
}

/** What `dissect --workers N` prints for N = 1, 2 and 3 on a capture of `packets` (fed through a pipe when `viaPipe`). */
async function outputsFor1To3Workers(packets: Packet[], viaPipe: boolean): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 's4w-synthetic-'));
  try {
    const path = join(dir, 'synthetic.pcap');
    writeRawPcap(path, packets);
    const outs: string[] = [];
    for (const n of ['1', '2', '3']) {
      // Through a pipe in 4 KB writes: many reads, many batches.
      const r = viaPipe ? await runShell(`cat ${path} | ${process.execPath} ${cliBin} dissect --workers ${n} -`, 120_000) : await runCli(['dissect', '--workers', n, path], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      outs.push(r.stdout);
    }
    return outs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a flow out of order across batches and IP fragments in different batches: same output with 1, 2 and 3 workers', async () => {
  const outs = await outputsFor1To3Workers(crossBatchCapture(), true);
  const entries = outs[0].trim().split('\n').map((l) => JSON.parse(l));
  const split = entries.find((e) => e.request?.path === '/out-of-order/path');
  assert.ok(split, 'the reordered request was reassembled and dissected');
  assert.equal(split.warnings, undefined, 'without damage');
  assert.equal(split.response?.status, 200, 'and answered');
  const dns = entries.find((e) => e.protocol === 'dns');
  assert.ok(dns, 'the fragmented DNS query became an entry');
  assert.match(JSON.stringify(dns.request), /fragmented\.example/);
  assert.ok(dns.response, 'and was paired with its answer');
  assert.equal(outs[1], outs[0], '2 workers = 1');
  assert.equal(outs[2], outs[0], '3 workers = 1');
});

/**
 * Connections that go quiet for longer than the TCP idle timeout (10 min),
 * then speak again on the same ports: the engines end them at a tick, and
 * the dispatcher may then give their ports to another worker (balance.ts).
 * One finishes a request at the first packet after the silence (no tick
 * between: still the old connection, so the two halves meet), the others
 * call again after 20 s of other traffic (ticks: new connections), among
 * hundreds of other calls that load the workers unevenly.
 */
function idleGapCapture(): Packet[] {
  const wire = new Wire();
  let t = 1_700_000_000_000;
  const call = (port: number, path: string, server = 80): void => {
    wire.send((t += 1), 1, port, server, httpRequest(path));
    wire.send((t += 1), 2, server, port, httpResponse);
  };
  for (let i = 0; i < 600; i++) call(20000 + (i % 40), `/before/${i}`);
  for (let k = 0; k < 12; k++) call(31000 + k, `/quiet/${k}/before`, 8080);
  // Connection 0 sends half a request, and the rest after the silence.
  wire.send((t += 1), 1, 31000, 8080, 'GET /quiet/0/split HTTP/1.1\r\n');
  t += 700_000;
  wire.send((t += 1), 1, 31000, 8080, 'Host: svc\r\n\r\n');
  wire.send((t += 1), 2, 8080, 31000, httpResponse);
  for (let i = 0; i < 400; i++) {
    t += 50;
    call(21000 + (i % 100), `/after/${i}`);
  }
  for (let k = 1; k < 12; k++) call(31000 + k, `/quiet/${k}/resumed`, 8080);
  for (let i = 0; i < 200; i++) call(22000 + (i % 20), `/last/${i}`);
  return wire.packets;
}

test('connections quiet past the idle timeout, then resumed: same output with 1, 2 and 3 workers', async () => {
  const outs = await outputsFor1To3Workers(idleGapCapture(), false);
  const paths = outs[0]
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).request?.path as string);
  for (let k = 1; k < 12; k++) assert.ok(paths.includes(`/quiet/${k}/resumed`), `the call on connection ${k} after its silence`);
  assert.ok(paths.includes('/quiet/0/split'), 'the request cut by the silence, whole');
  assert.equal(outs[1], outs[0], '2 workers = 1');
  assert.equal(outs[2], outs[0], '3 workers = 1');
});

/** `n` SYNs nobody answers, each from its own port, `perSecond` of them a second (a flood of flows). */
function synFloodCapture(n: number, perSecond: number): Packet[] {
  const t0 = 1_700_000_000_000;
  return Array.from({ length: n }, (_v, i) => {
    const b = ipv4Packet(1, 6, 1024 + i, 80, 20, Buffer.alloc(0));
    b.writeUInt32BE(i * 7919, 24);
    b[32] = 0x50;
    b[33] = 0x02;
    b.writeUInt16BE(64240, 34);
    const at = t0 + (i * 1000) / perSecond;
    return { tsSec: Math.floor(at / 1000), tsNsec: Math.round((at % 1000) * 1e6), linkType: LinkType.RAW, data: b, origLen: b.length, interfaceId: 0, frame: i + 1 };
  });
}

test('a flood of flows: the dispatcher follows the tick/release schedule without stopping the workers at each packet, and gives one thread\'s bytes', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4w-flood-'));
  try {
    const path = join(dir, 'syn-flood.pcap');
    writeRawPcap(path, synFloodCapture(30_000, 20_000));
    // A budget the flood does not reach, so that one thread and the workers evict nothing.
    const one = await runCli(['dissect', '--workers', '1', '--memory-budget', '512MB', path], { timeoutMs: 60_000 });
    const two = await runCli(['dissect', '--workers', '2', '--memory-budget', '512MB', path], { timeoutMs: 60_000 });
    assert.equal(one.code, 0, one.stderr);
    assert.equal(two.code, 0, two.stderr);
    assert.equal(one.stdout.trim().split('\n').length, 30_000, 'one entry per SYN');
    assert.equal(two.stdout, one.stdout, '2 workers = 1');
    // How often the dispatcher waited for the workers to know the flow count: it
    // was once per packet from each release's due time until an eighth of the
    // flows had passed (thousands here); now at most once per tick or release.
    const { dissectParallel } = await import(dist('dissect/parallel/pool.js'));
    const { LineSink } = await import(dist('output/stdout-sink.js'));
    const sink = new LineSink(new Writable({ write: (_c, _e, cb) => cb() }));
    const engine = { memoryBudget: 512 * 1024 * 1024 };
    const r = await dissectParallel(readFileSync(path), { async *[Symbol.asyncIterator]() {} }, path, {
      workers: 2,
      spec: { engine, redact: {} },
      sink,
      limit: Infinity,
      signal: new AbortController().signal,
      onWarning: () => {},
    });
    assert.equal(r.entries, 30_000);
    assert.ok(r.flowWaits <= 40, `${r.flowWaits} waits for the flow count`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * DNS answers captured twice (as on 'any'): ten copies right after their
 * answer, and forty more after the capture's time steps back 3 s (a file
 * concatenated to another), when one other flow's datagram had come first.
 */
function udpCopiesAcrossStepBack(): Packet[] {
  const t0 = 1_700_000_000_000;
  const packets: Packet[] = [];
  const answers: Packet[] = [];
  for (let i = 0; i < 40; i++) {
    const [q, r] = dnsMessages(`copy${i}.example`, 0x1000 + i);
    packets.push(udpPacket(t0 + 10 * i, 0, 1, 40000 + i, 53, q));
    const answer = udpPacket(t0 + 10 * i + 1, 0, 2, 53, 40000 + i, r);
    packets.push(answer);
    if (i < 10) packets.push({ ...answer });
    answers.push(answer);
  }
  packets.push(udpPacket(t0 + 3000, 0, 1, 45000, 53, dnsMessages('late.example', 0x2000)[0]));
  for (const a of answers) packets.push({ ...a });
  for (const [i, p] of packets.entries()) p.frame = i + 1;
  return packets;
}

test('UDP copies after the capture\'s time steps back: the same datagrams are copies with 1, 2 and 3 workers', async () => {
  // Datagrams were forgotten at each datagram by the newest time its engine had
  // seen: one thread had forgotten the answers at the other flow's later datagram,
  // a worker without that flow had not, so the late copies were copies to it alone.
  const dir = mkdtempSync(join(tmpdir(), 's4w-udp-copies-'));
  try {
    const path = join(dir, 'udp-copies.pcap');
    writeRawPcap(path, udpCopiesAcrossStepBack());
    const runs = [];
    for (const n of ['1', '2', '3']) {
      const r = await runCli(['dissect', '--workers', n, path], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      runs.push(r);
    }
    assert.match(runs[0].stderr, /\b10 UDP datagrams captured more than once/, 'the copies right after their answer');
    for (const n of [1, 2]) {
      assert.equal(runs[n].stderr, runs[0].stderr, `${n + 1} workers: the same copies and counters as one thread`);
      assert.equal(runs[n].stdout, runs[0].stdout, `${n + 1} workers = 1`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a pcap link type with its reserved bits set: no link type shark dissects, with 1 worker or 2', async () => {
  // The dispatcher once passed link types to the workers in 16 bits: 0x7f0065
  // became 101 (raw IP) there, so two workers dissected what one thread refused.
  const dir = mkdtempSync(join(tmpdir(), 's4w-linktype-'));
  try {
    const path = join(dir, 'reserved-bits.pcap');
    const [q, r] = dnsMessages('reserved.example', 0x3000);
    writeRawPcap(path, [udpPacket(1_700_000_000_000, 1, 1, 40000, 53, q), udpPacket(1_700_000_000_001, 2, 2, 53, 40000, r)]);
    const bytes = readFileSync(path);
    bytes.writeUInt32LE(0x007f0000 | LinkType.RAW, 20);
    writeFileSync(path, bytes);
    for (const n of ['1', '2']) {
      const run = await runCli(['dissect', '--workers', n, path], { timeoutMs: 60_000 });
      assert.equal(run.code, 3, `--workers ${n}: ${run.stderr}`);
      assert.equal(run.stdout, '', `--workers ${n}: nothing dissected`);
      assert.match(run.stderr, /2 packet\(s\) of link type 8323173, which shark cannot dissect/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A raw IPv4 ICMP echo (type 8) or echo reply (type 0) between 198.18.0.<from> and 198.18.0.<to>. */
function icmpEcho(atMs: number, from: number, to: number, type: 0 | 8, id: number, seq: number): Packet {
  const b = Buffer.alloc(20 + 16);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[8] = 64;
  b[9] = 1;
  b.set([198, 18, 0, from], 12);
  b.set([198, 18, 0, to], 16);
  b[20] = type;
  b.writeUInt16BE(id, 24);
  b.writeUInt16BE(seq, 26);
  return { tsSec: Math.floor(atMs / 1000), tsNsec: (atMs % 1000) * 1e6, linkType: LinkType.RAW, data: b, origLen: b.length, interfaceId: 0, frame: 0 };
}

test('broadcast pings answered from unicast addresses: paired as on one thread with 2 and 3 workers', async () => {
  // Echoes were routed by their address pair: a reply from 198.18.0.5 to a ping of
  // 198.18.0.255 went to another worker than the ping and stayed unpaired there.
  const t0 = 1_700_000_000_000;
  const packets: Packet[] = [];
  for (let seq = 1; seq <= 20; seq++) {
    for (const requester of [3, 4, 6, 7]) {
      const at = t0 + seq * 1000 + requester;
      packets.push(icmpEcho(at, requester, 255, 8, 100 + requester, seq));
      packets.push(icmpEcho(at + 1, 5, requester, 0, 100 + requester, seq), icmpEcho(at + 2, 9, requester, 0, 100 + requester, seq));
    }
  }
  for (const [i, p] of packets.entries()) p.frame = i + 1;
  const outs = await outputsFor1To3Workers(packets, false);
  const echoes = outs[0].trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.request);
  assert.equal(echoes.length, 80, 'one entry per ping');
  assert.ok(echoes.every((e) => e.response), 'each ping paired with the first reply');
  assert.equal(outs[1], outs[0], '2 workers = 1');
  assert.equal(outs[2], outs[0], '3 workers = 1');
});

test('a worker that dies (heap limit) ends the run with one line and exit 70, no hang', async () => {
  const r = await runCli(['dissect', '--workers', '2', join(sharedCaptures, 'lab-bookinfo-mix.pcap')], { env: { SHARK_WORKER_HEAP_MB: '2' }, timeoutMs: 60_000 });
  assert.equal(r.signal, null, 'ended by itself');
  assert.equal(r.code, 70, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^dissect: worker \d failed: .*memory/);
});

test('--workers 2 | head -1 ends at once with one entry', async () => {
  const r = await runShell(`${process.execPath} ${cliBin} dissect --workers 2 ${join(sharedCaptures, 'lab-bookinfo-mix.pcap')} | head -1; echo "status=\${PIPESTATUS[0]}"`, 60_000);
  const [line, status] = r.stdout.trim().split('\n');
  assert.ok(JSON.parse(line).id, 'an entry');
  assert.equal(status, 'status=0', r.stderr);
});

test('SIGINT with 2 workers finishes and writes what was read: whole entries, exit 0', async () => {
  const capture = join(sharedCaptures, 'lab-bookinfo-mix.pcap');
  const whole = await runCli(['dissect', '--workers', '1', capture]);
  // The capture on stdin, then stdin left open: the run waits for more until interrupted.
  const child = spawn(process.execPath, [cliBin, 'dissect', '--workers', '2'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => err.push(d));
  child.stdin.on('error', () => {});
  child.stdin.write(readFileSync(capture));
  const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  // Output shows the capture is being read: interrupt, then the input ends (a capture pipe closing).
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.kill('SIGINT');
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await closed;
  clearTimeout(timer);
  assert.equal(code, 0, Buffer.concat(err).toString());
  // What was read before the interrupt is finished and written: whole lines, each an entry.
  const text = Buffer.concat(out).toString('utf8');
  assert.ok(text.endsWith('\n'), 'no line cut short');
  const lines = text.trim().split('\n');
  assert.ok(lines.length > 0 && lines.length <= whole.stdout.trim().split('\n').length);
  for (const l of lines) assert.ok(JSON.parse(l).id);
});

test('--workers auto honours a cgroup CPU quota (v2 and v1, at the root and in its own cgroup); a bad value is a usage error', async () => {
  const { availableCores } = await import(dist('dissect/parallel/cores.js'));
  const root = mkdtempSync(join(tmpdir(), 's4w-cgroup-'));
  const put = (path: string, text: string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  const self = join(root, 'self-cgroup');
  try {
    writeFileSync(self, '0::/\n');
    const unlimited = availableCores(join(root, 'missing'), self);
    assert.ok(unlimited >= 1);
    // cgroup v2, at the root (a container with its own cgroup namespace).
    put('cpu.max', 'max 100000\n');
    assert.equal(availableCores(root, self), unlimited, '"max": no limit');
    put('cpu.max', '150000 100000\n');
    assert.equal(availableCores(root, self), Math.min(unlimited, 1), '1.5 CPUs: one whole core');
    put('cpu.max', '50000 100000\n');
    assert.equal(availableCores(root, self), 1, 'half a CPU: still one');
    rmSync(join(root, 'cpu.max'));
    // v2, in the cgroup /proc/self/cgroup names (the host's tree).
    writeFileSync(self, '0::/kubepods/pod1/agent\n');
    put('kubepods/pod1/agent/cpu.max', '100000 100000\n');
    assert.equal(availableCores(root, self), 1, "the process's own cgroup");
    rmSync(join(root, 'kubepods'), { recursive: true });
    // cgroup v1 (cpu,cpuacct), unlimited then 1 CPU, at the root and in its own cgroup.
    writeFileSync(self, '4:memory:/x\n2:cpu,cpuacct:/kubepods/pod2\n0::/\n');
    put('cpu,cpuacct/cpu.cfs_quota_us', '-1\n');
    put('cpu,cpuacct/cpu.cfs_period_us', '100000\n');
    assert.equal(availableCores(root, self), unlimited, 'v1 quota -1: no limit');
    put('cpu,cpuacct/kubepods/pod2/cpu.cfs_quota_us', '100000\n');
    put('cpu,cpuacct/kubepods/pod2/cpu.cfs_period_us', '100000\n');
    assert.equal(availableCores(root, self), 1, 'v1 quota of 1 CPU in its own cgroup');
    put('cpu/cpu.cfs_quota_us', '50000\n');
    put('cpu/cpu.cfs_period_us', '100000\n');
    assert.equal(availableCores(root, '/nonexistent'), 1, 'v1 "cpu" mounted alone');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const bad = await runCli(['dissect', '--workers', 'lots', join(sharedCaptures, 'tcpdump-dns_udp.pcap')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--workers: 'lots' is not auto or a number/);
});

test('without --workers, capture files of 64 MB or more in all and live capture get auto workers; smaller files and stdin one thread', async () => {
  const { autoWorkers } = await import(dist('dissect/parallel/cores.js'));
  const { workersFromFlag, AUTO_MIN_BYTES } = await import(dist('cli/workers-flag.js'));
  // auto: one thread on one core, 2 workers on 2 or 3 (the dispatcher is light), cores - 1 beyond.
  assert.deepEqual([1, 2, 3, 4, 16].map((c) => autoWorkers(c)), [1, 2, 2, 3, 15]);
  const dir = mkdtempSync(join(tmpdir(), 's4w-default-'));
  try {
    const small = join(dir, 'small.pcap');
    const big = join(dir, 'big.pcap');
    writeFileSync(small, Buffer.alloc(1024));
    writeFileSync(big, Buffer.alloc(0));
    truncateSync(big, AUTO_MIN_BYTES); // sparse: only the size is read
    assert.equal(await workersFromFlag(undefined, [small]), 1);
    assert.equal(await workersFromFlag(undefined, [big]), autoWorkers());
    truncateSync(small, AUTO_MIN_BYTES / 2);
    assert.equal(await workersFromFlag(undefined, [small, small]), autoWorkers(), 'the inputs count together');
    assert.equal(await workersFromFlag(undefined, [big, '-']), 1, 'a pipe: size unknown');
    assert.equal(await workersFromFlag(undefined, [join(dir, 'missing.pcap')]), 1, 'a missing file is the reader\'s error to give');
    assert.equal(await workersFromFlag(undefined, [dir]), 1, 'a directory is not a capture file');
    assert.equal(await workersFromFlag(undefined, []), 1, 'no inputs: stdin');
    assert.equal(await workersFromFlag('1', [big]), 1, 'the flag wins');
    assert.equal(await workersFromFlag(undefined), autoWorkers(), 'live capture: auto');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dissect --meta --workers 2: the workers name endpoints from the snapshot, and the output is one thread\'s', async () => {
  const capture = join(sharedCaptures, 'lab-bookinfo-mix.pcap');
  const plain = await runCli(['dissect', capture], { timeoutMs: 60_000 });
  assert.equal(plain.code, 0, plain.stderr);
  // A snapshot naming every address the capture talks with: pods, and the first one's port as a Service.
  const ips = [...new Set(plain.stdout.split('\n').filter(Boolean).flatMap((l) => { const e = JSON.parse(l); return [e.src.ip, e.dst.ip]; }))].sort();
  assert.ok(ips.length >= 2, `addresses: ${ips.join(', ')}`);
  const snapshot = {
    context: 'lab',
    takenAt: '2026-12-01T00:00:00Z',
    pods: ips.slice(1).map((ip, i) => ({ name: `pod-${i}`, namespace: 'lab', ip, node: 'n1', labels: { app: `app-${i % 3}` } })),
    services: [{ name: 'first', namespace: 'lab', clusterIPs: [ips[0]], ports: [], selector: {} }],
    nodes: [{ name: 'n1', addresses: [] }],
  };
  const dir = mkdtempSync(join(tmpdir(), 'shark-meta-workers-'));
  try {
    const meta = join(dir, 'snapshot.json');
    writeFileSync(meta, JSON.stringify(snapshot));
    const one = await runCli(['dissect', '--meta', meta, '--workers', '1', capture], { timeoutMs: 60_000 });
    const two = await runCli(['dissect', '--meta', meta, '--workers', '2', capture], { timeoutMs: 60_000 });
    assert.equal(one.code, 0, one.stderr);
    assert.equal(two.code, 0, two.stderr);
    assert.ok(/"pod":"pod-\d+"/.test(one.stdout) && /"service":"first"/.test(one.stdout), 'the snapshot named endpoints');
    assert.equal(two.stdout, one.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
