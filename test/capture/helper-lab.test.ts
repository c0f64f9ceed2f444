// The capture helper (native/capture/shark-capture.c) under shark tap -i, on
// a veth pair in our own namespaces (s6c-…, 198.19.190.0/24) with nginx as
// the server and curl as the client:
//  - kernel timestamps: shark's -w file and tcpdump's, taken at the same time,
//    carry the same time for the same packet (both are the kernel's skb stamp;
//    TCP received through the veth: the kernel's per-socket reading);
//  - a stalled reader: flows followed before the ring passed its high-water
//    mark arrive as complete calls, new flows during the stall are shed and
//    counted (received = captured + shed + lost), nothing silent;
//  - the same stall with --spool: every call arrives afterwards, none shed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finish, makeVethLab, sharkIn, waitForStderr, type VethLab } from '../live/netns.js';
import { findHelper } from '../../src/capture/helper.js';

const BODY = 64 * 1024;

/** Packets of a classic pcap file: data (hex) → timestamps in ns, in file order. */
function readPcap(file: string): Map<string, bigint[]> {
  const buf = readFileSync(file);
  const magic = buf.readUInt32LE(0);
  const nano = magic === 0xa1b23c4d;
  assert.ok(nano || magic === 0xa1b2c3d4, `${file}: not a little-endian pcap (magic ${magic.toString(16)})`);
  const out = new Map<string, bigint[]>();
  for (let off = 24; off + 16 <= buf.length; ) {
    const sec = BigInt(buf.readUInt32LE(off));
    const frac = BigInt(buf.readUInt32LE(off + 4));
    const caplen = buf.readUInt32LE(off + 8);
    const key = buf.subarray(off + 16, off + 16 + caplen).toString('hex');
    const ns = sec * 1_000_000_000n + (nano ? frac : frac * 1000n);
    const list = out.get(key) ?? [];
    list.push(ns);
    out.set(key, list);
    off += 16 + caplen;
  }
  return out;
}

interface Summary {
  captured: number;
  lost: number;
  shedFlows: number;
  shedPackets: number;
  shedByPort: string;
  entries: number;
  received: number;
}

/** tap's closing line: "N packets captured, K dropped by kernel, L lost[, F new flows shed (tcp/80 F; P packets)], E entries, R received by filter". */
function parseSummary(stderr: string): Summary {
  const m = /tap: (\d+) packets captured, (\d+) dropped by kernel, (\d+) lost(?:, (\d+) new flows shed \(([^;]*); (\d+) packets\))?, (\d+) entries.*, (\d+) received by filter/.exec(stderr);
  assert.ok(m, `no summary line with the helper's counters in: ${stderr}`);
  return {
    captured: Number(m[1]),
    lost: Number(m[3]),
    shedFlows: Number(m[4] ?? 0),
    shedByPort: m[5] ?? '',
    shedPackets: Number(m[6] ?? 0),
    entries: Number(m[7]),
    received: Number(m[8]),
  };
}

describe('capture helper on real traffic', { timeout: 300_000, skip: findHelper() ? false : 'capture helper not built (bash native/capture/build.sh)' }, () => {
  let lab: VethLab;
  let tmp: string;
  before(async () => {
    lab = makeVethLab('h1', '198.19.190', 's6c');
    tmp = mkdtempSync(join(tmpdir(), 'shark-helper-'));
    const www = join(tmp, 'www');
    mkdirSync(www);
    writeFileSync(join(www, 'big.bin'), Buffer.alloc(BODY, 'x'));
    const conf = join(tmp, 'nginx.conf');
    writeFileSync(
      conf,
      `worker_processes 1; pid ${tmp}/nginx.pid; error_log ${tmp}/error.log;
events { worker_connections 256; }
http {
  access_log off; client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
  server { listen ${lab.ipB}:80; root ${www}; }
}
`,
    );
    // One process (no master/worker pair): stop() kills it, and nothing outlives the namespace.
    lab.start(lab.nsB, ['nginx', '-c', conf, '-g', 'daemon off; master_process off;']);
    const r = await lab.sh(lab.nsA, `for i in $(seq 50); do curl -sf -m 1 -o /dev/null http://${lab.ipB}/big.bin && exit 0; sleep 0.2; done; exit 1`);
    assert.equal(r.code, 0, 'nginx did not start');
  });
  after(() => {
    lab?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('stamps packets with the kernel time: the same as tcpdump for the same packets', async () => {
    const ours = join(tmp, 'ours.pcap');
    const theirs = join(tmp, 'tcpdump.pcap');
    const filter = 'tcp port 80 or udp port 9999';
    const tap = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '-f', filter, '-w', ours]);
    const tapDone = finish(tap);
    const tcpdump = lab.start(lab.nsA, ['tcpdump', '--immediate-mode', '-B', '65536', '-i', lab.ifA, '-w', theirs, '-U', filter]);
    const tcpdumpDone = finish(tcpdump);
    await Promise.all([waitForStderr(tap, /listening on/), waitForStderr(tcpdump, /listening on/)]);
    const t = await lab.sh(lab.nsA, `for i in $(seq 10); do curl -s -m 2 -o /dev/null http://${lab.ipB}/big.bin; echo a$i > /dev/udp/${lab.ipB}/9999; done`);
    assert.equal(t.code, 0);
    const u = await lab.sh(lab.nsB, `for i in $(seq 20); do echo b$i > /dev/udp/${lab.ipA}/9999; done; sleep 0.5`);
    assert.equal(u.code, 0);
    const ownMac = (await lab.sh(lab.nsA, `cat /sys/class/net/${lab.ifA}/address`)).stdout.trim().replace(/:/g, '');
    tap.kill('SIGINT');
    tcpdump.kill('SIGINT');
    const [a, b] = await Promise.all([tapDone, tcpdumpDone]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const mine = readPcap(ours);
    const dumps = readPcap(theirs);
    let exact = 0;
    let tcpIn = 0;
    for (const [key, times] of dumps) {
      const ns = mine.get(key);
      assert.ok(ns, `a packet tcpdump saw is missing from shark's file (${key.slice(0, 60)}…)`);
      assert.equal(ns.length, times.length);
      const sent = key.slice(12, 24) === ownMac;
      const tcp = key.slice(46, 48) === '06';
      for (let i = 0; i < times.length; i++) {
        const oursUs: bigint = ns[i] / 1000n;
        const theirUs: bigint = times[i] / 1000n;
        if (sent || !tcp) {
          // One skb stamp for every packet socket; tcpdump's file has it cut to microseconds.
          assert.equal(oursUs, theirUs, `packet ${key.slice(0, 40)}…: shark ${ns[i]} ns, tcpdump ${times[i]} ns`);
          exact++;
        } else {
          // TCP arriving through a veth from another namespace still carries TCP's
          // monotonic departure time, so the kernel reads the clock once per packet
          // socket as it hands the packet over (docs/architecture.md): the same
          // moment give or take the other socket's turn, not shark's dequeue time.
          const diff: bigint = oursUs > theirUs ? oursUs - theirUs : theirUs - oursUs;
          assert.ok(diff <= 1000n, `received TCP packet: shark ${ns[i]} ns, tcpdump ${times[i]} ns`);
          tcpIn++;
        }
      }
    }
    // 10 calls of 64 KiB and 30 datagrams: every packet compared.
    assert.ok(exact >= 100 && tcpIn >= 20, `only ${exact} sent/UDP and ${tcpIn} received TCP packets compared`);
    assert.equal(exact + tcpIn, [...mine.values()].reduce((n, l) => n + l.length, 0), 'shark has packets tcpdump has not');
  });

  /**
   * shark tap -i with stdout not read while CALLS calls run (the stall lasts
   * exactly as long as the traffic), then read to the end.
   */
  async function stalledRun(extra: string[], calls: number): Promise<{ entries: Record<string, unknown>[]; summary: Summary; stderr: string }> {
    const tap = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '-f', 'tcp port 80', '--ring', '1MB', ...extra]);
    const chunks: Buffer[] = [];
    let stderr = '';
    tap.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // stdout stays paused (nobody reads it) until the traffic is over.
    tap.stdout!.pause();
    const closed = new Promise<number | null>((resolve) => tap.on('close', (code) => resolve(code)));
    await waitForStderr(tap, /listening on/);
    const t = await lab.sh(lab.nsA, `for i in $(seq ${calls}); do curl -s -m 5 -o /dev/null http://${lab.ipB}/big.bin?c=$i || exit 1; done`, 120_000);
    assert.equal(t.code, 0, `curl loop failed: ${t.stderr}`);
    tap.stdout!.on('data', (d: Buffer) => chunks.push(d));
    tap.stdout!.resume();
    // Let what was queued drain, then stop: SIGINT flushes.
    await new Promise((r) => setTimeout(r, 3000));
    tap.kill('SIGINT');
    const killer = setTimeout(() => tap.kill('SIGKILL'), 120_000);
    const code = await closed;
    clearTimeout(killer);
    assert.equal(code, 0, stderr);
    const entries = Buffer.concat(chunks)
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { entries, summary: parseSummary(stderr), stderr };
  }

  const isCompleteCall = (e: Record<string, unknown>) => {
    const res = e.response as { status?: number; bodySize?: number } | null;
    return e.protocol === 'http' && res?.status === 200 && res.bodySize === BODY;
  };

  it('a stalled reader: followed flows arrive whole, new flows are shed and counted, nothing silent', async () => {
    const calls = 80;
    const { entries, summary, stderr } = await stalledRun([], calls);
    const http = entries.filter((e) => e.protocol === 'http');
    for (const e of http) assert.ok(isCompleteCall(e), `a followed call arrived incomplete: ${JSON.stringify(e).slice(0, 400)}`);
    assert.ok(summary.shedFlows > 0, `nothing was shed with a 1 MB ring and ${calls} × 64 KiB calls behind a stalled reader: ${stderr}`);
    assert.ok(http.length > 0, 'no call was followed at all');
    // Every call is either an entry or a shed flow (each curl is a new connection).
    assert.equal(http.length + summary.shedFlows, calls, stderr);
    assert.match(summary.shedByPort, new RegExp(`^tcp/80 ${summary.shedFlows}$`));
    assert.equal(summary.lost, 0, 'followed flows had room to finish (the high-water mark leaves 20 %)');
    assert.equal(summary.received, summary.captured + summary.shedPackets + summary.lost, stderr);
  });

  it('the same stall with --spool loses nothing: every call arrives afterwards', async () => {
    const calls = 80;
    const { entries, summary, stderr } = await stalledRun(['--spool', '64MB', '--spool-dir', tmp], calls);
    const http = entries.filter((e) => e.protocol === 'http');
    assert.equal(summary.shedFlows, 0, stderr);
    assert.equal(summary.lost, 0, stderr);
    assert.equal(http.length, calls, stderr);
    for (const e of http) assert.ok(isCompleteCall(e), JSON.stringify(e).slice(0, 400));
    assert.equal(summary.received, summary.captured);
  });
});
