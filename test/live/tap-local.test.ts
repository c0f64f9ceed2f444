// shark tap -i on a real veth pair in our own namespaces, beside tcpdump on the
// same interface at the same time: same packets, files tshark reads, entries
// for real HTTP calls, Ctrl-C flushing, `| head -1` ending promptly, errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { cliBin } from '../helpers/paths.js';
import { finish, makeVethLab, sharkIn, tsharkCount, waitForStderr, type VethLab } from './netns.js';

const HTTP_SERVER = `
const http = require('http');
http.createServer((req, res) => res.end('ok ' + req.url)).listen(8080, process.argv[1]);
// A server that accepts and never answers: requests stay pending.
http.createServer(() => {}).listen(8081, process.argv[1]);
`;

describe('shark tap -i (local live capture)', { timeout: 240_000 }, () => {
  let lab: VethLab;
  let tmp: string;
  before(async () => {
    lab = makeVethLab('t1', '198.18.33');
    tmp = mkdtempSync(join(tmpdir(), 'shark-live-'));
    const server = lab.start(lab.nsB, [process.execPath, '-e', HTTP_SERVER, lab.ipB]);
    server.stderr!.on('data', (d) => process.stderr.write(d));
    // Wait until the server answers (bounded).
    const r = await lab.sh(lab.nsA, `for i in $(seq 50); do curl -s -m 1 http://${lab.ipB}:8080/ready && exit 0; sleep 0.2; done; exit 1`);
    assert.equal(r.code, 0, 'test HTTP server did not start');
  });
  after(() => {
    lab?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('captures the same packets as tcpdump on the same interface (-w, tshark reads it)', async () => {
    const ours = join(tmp, 'ours.pcap');
    const theirs = join(tmp, 'tcpdump.pcap');
    const tap = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '-w', ours]);
    const tapDone = finish(tap);
    const tcpdump = lab.start(lab.nsA, ['tcpdump', '--immediate-mode', '-B', '65536', '-i', lab.ifA, '-w', theirs, '-U']);
    const tcpdumpDone = finish(tcpdump);
    await Promise.all([waitForStderr(tap, /listening on/), waitForStderr(tcpdump, /listening on/)]);
    const wireBefore = lab.packets(lab.nsA, lab.ifA);
    // Bounded traffic: 20 HTTP calls and 100 UDP datagrams.
    const t = await lab.sh(
      lab.nsA,
      `for i in $(seq 20); do curl -s -m 2 -o /dev/null http://${lab.ipB}:8080/p$i; done; ` +
        `for i in $(seq 100); do echo x$i > /dev/udp/${lab.ipB}/9999; done; sleep 1`,
    );
    assert.equal(t.code, 0);
    const wire = lab.packets(lab.nsA, lab.ifA) - wireBefore;
    tap.kill('SIGINT');
    tcpdump.kill('SIGINT');
    const [a, b] = await Promise.all([tapDone, tcpdumpDone]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const summary = /tap: (\d+) packets captured, (\d+|unknown) dropped by kernel, (\d+) lost/.exec(a.stderr);
    assert.ok(summary, `summary line missing: ${a.stderr}`);
    const oursCount = tsharkCount(ours);
    const theirsCount = tsharkCount(theirs);
    // Every packet the interface counted (nothing else talks on it: no IPv6, no other hosts).
    assert.ok(wire >= 20 * 6 + 100, `too little traffic: ${wire}`);
    assert.equal(oursCount, wire, 'captured packets differ from the interface counters');
    assert.equal(Number(summary[1]), oursCount);
    assert.equal(summary[2], '0');
    assert.equal(Number(summary[3]), 0);
    // tcpdump on the same interface at the same time saw the same, unless it says it dropped some.
    const tcpdumpDropped = Number(/(\d+) packets dropped by kernel/.exec(b.stderr)?.[1] ?? 0);
    if (tcpdumpDropped === 0) assert.equal(oursCount, theirsCount, 'packet count differs from tcpdump');
    else assert.ok(oursCount >= theirsCount, `tcpdump (dropping ${tcpdumpDropped}) saw more: ${theirsCount} > ${oursCount}`);
    // Same HTTP requests and UDP datagrams, as tshark reads them.
    assert.equal(tsharkCount(ours, 'http.request'), 20);
    const udp = 'udp.dstport == 9999 && !icmp';
    assert.equal(tsharkCount(ours, udp), 100);
    assert.equal(tsharkCount(ours, 'icmp'), tsharkCount(theirs, 'icmp'));
  });

  it('writes dissected entries; Ctrl-C flushes unanswered requests and prints the summary', async () => {
    const tap = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '-f', 'tcp']);
    const done = finish(tap);
    await waitForStderr(tap, /listening on/);
    await lab.sh(
      lab.nsA,
      `for i in $(seq 5); do curl -s -m 2 -o /dev/null http://${lab.ipB}:8080/e$i; done; ` +
        `curl -s -m 1 -o /dev/null http://${lab.ipB}:8081/never-answered; sleep 0.3`,
    );
    tap.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const entries = r.stdout
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const http = entries.filter((e) => e.protocol === 'http');
    const answered = http.filter((e) => e.response);
    assert.deepEqual(answered.map((e) => e.request.path).sort(), ['/e1', '/e2', '/e3', '/e4', '/e5']);
    for (const e of answered) {
      assert.equal(e.response.status, 200);
      assert.equal(e.dst.ip, lab.ipB);
      assert.equal(e.dst.port, 8080);
    }
    const pending = http.find((e) => e.request?.path === '/never-answered');
    assert.ok(pending, 'the unanswered request was not flushed');
    assert.equal(pending.response, null);
    assert.match(r.stderr, /tap: \d+ packets captured, .* dropped by kernel, 0 lost, \d+ entries/);
  });

  it('--tls-keylog follows the key log as clients write it: live TLS 1.2 and 1.3 calls decrypt; a session with no key stays tls', async () => {
    const cert = join(tmp, 'cert.pem');
    const key = join(tmp, 'key.pem');
    spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=b'], { stdio: 'ignore' });
    const server = lab.start(lab.nsB, ['timeout', '60', 'openssl', 's_server', '-accept', '8443', '-cert', cert, '-key', key, '-www', '-quiet']);
    try {
      const up = await lab.sh(lab.nsB, `for i in $(seq 50); do ss -ltn | grep -q ':8443 ' && exit 0; sleep 0.1; done; exit 1`);
      assert.equal(up.code, 0, 's_server did not listen');
      for (const workers of ['1', '2']) {
        // Not there when the tap starts: curl makes it with the first session.
        const keys = join(tmp, `live-${workers}.keys`);
        const tap = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '-f', 'tcp port 8443', '--workers', workers, '--tls-keylog', keys]);
        const done = finish(tap);
        await waitForStderr(tap, /listening on/);
        const url = `https://${lab.ipB}:8443`;
        await lab.sh(
          lab.nsA,
          `for i in 1 2; do SSLKEYLOGFILE=${keys} curl -sk -m 3 -o /dev/null ${url}/v13-$i; done; ` +
            `SSLKEYLOGFILE=${keys} curl -sk -m 3 --tlsv1.2 --tls-max 1.2 -o /dev/null ${url}/v12; ` +
            `curl -sk -m 3 -o /dev/null ${url}/no-key; sleep 0.5`,
        );
        tap.kill('SIGINT');
        const r = await done;
        assert.equal(r.code, 0, r.stderr);
        const entries = r.stdout.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l));
        const calls = entries.filter((e) => e.protocol === 'http');
        assert.deepEqual(calls.map((e) => `${e.request.path} ${e.response?.status} ${e.tls}`).sort(), ['/v12 200 true', '/v13-1 200 true', '/v13-2 200 true'], `--workers ${workers}`);
        // Each call keeps its own packets' time: the latency is the wire's, not the wait for the key.
        for (const e of calls) assert.ok(e.elapsedTime > 0 && e.elapsedTime < 1000, String(e.elapsedTime));
        assert.equal(entries.filter((e) => e.protocol === 'tls').length, 1, 'the session without a key is a tls entry');
        assert.match(r.stderr, /not there yet; read as it appears/);
        assert.match(r.stderr, /tap: TLS: 3 sessions decrypted; 1 without a key in the key log/, `--workers ${workers}`);
      }
    } finally {
      server.kill('SIGTERM');
    }
  });

  it('--pcap with two interfaces writes pcapng with one interface block each', async () => {
    const tap = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '-i', 'lo', '--pcap']);
    const done = finish(tap);
    await waitForStderr(tap, /listening on/);
    await lab.sh(lab.nsA, `for i in $(seq 10); do echo x > /dev/udp/${lab.ipB}/9999; echo y > /dev/udp/127.0.0.1/9999; done; sleep 0.3`);
    tap.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const file = join(tmp, 'two.pcapng');
    await import('node:fs').then((fs) => fs.writeFileSync(file, r.stdout));
    assert.equal(r.stdout.readUInt32LE(0), 0x0a0d0d0a, 'not pcapng');
    const ids = spawnSync('tshark', ['-r', file, '-Y', 'udp.dstport == 9999 && !icmp', '-T', 'fields', '-e', 'frame.interface_name'], {
      encoding: 'utf8',
    });
    assert.equal(ids.status, 0, ids.stderr);
    const names = ids.stdout.split('\n').filter(Boolean);
    assert.equal(names.filter((n) => n === lab.ifA).length, 10);
    assert.equal(names.filter((n) => n === 'lo').length, 10);
  });

  it('`tap -c 3 --pcap` stops after 3 packets and `tap | head -1` ends promptly with status 0', async () => {
    const counted = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '--pcap', '-c', '3']);
    const countedDone = finish(counted);
    await waitForStderr(counted, /listening on/);
    await lab.sh(lab.nsA, `for i in $(seq 20); do echo x > /dev/udp/${lab.ipB}/9999; done`);
    const c = await countedDone;
    assert.equal(c.code, 0, c.stderr);
    const file = join(tmp, 'three.pcap');
    await import('node:fs').then((fs) => fs.writeFileSync(file, c.stdout));
    assert.equal(tsharkCount(file), 3);

    // A pipeline that only wants one line: shark must notice and exit on its own.
    const pipe = spawn(
      'ip',
      ['netns', 'exec', lab.nsA, 'bash', '-c', `set -o pipefail; ${process.execPath} ${cliBin} tap -i ${lab.ifA} -f 'tcp port 8080' | head -1; echo "status=$?" >&2`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const pipeDone = finish(pipe, 90_000);
    await waitForStderr(pipe, /listening on/);
    // Keep making calls until the pipeline has ended (bounded: 100 calls).
    const traffic = lab.start(lab.nsA, [
      'bash',
      '-c',
      `for i in $(seq 100); do curl -s -m 1 -o /dev/null http://${lab.ipB}:8080/head$i; sleep 0.1; done`,
    ]);
    const p = await pipeDone;
    traffic.kill('SIGKILL');
    assert.equal(p.signal, null);
    assert.match(p.stderr, /status=0/, p.stderr);
    const lines = p.stdout.toString().split('\n').filter(Boolean);
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]).protocol, 'http');
  });

  it('errors: missing interface (4), bad filter (2), no permission (4)', () => {
    const run = (args: string[], asUser: string[] = []) => {
      const argv = [...asUser, process.execPath, cliBin, ...args];
      return spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, HOME: tmpdir() } });
    };
    const missing = run(['tap', '-i', 'eth9']);
    assert.equal(missing.status, 4);
    assert.equal(missing.stderr.trim(), "tap: no such interface 'eth9' (see shark tap --list-interfaces)");
    const bad = run(['tap', '-i', 'lo', '-f', 'tcp port']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr.trim(), /^tap: bad filter 'tcp port': .*syntax error/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    const unprivileged = run(['tap', '-i', 'lo', '--duration', '1s'], ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all']);
    assert.equal(unprivileged.status, 4, unprivileged.stderr);
    assert.match(unprivileged.stderr, /^tap: lo: permission denied — needs CAP_NET_RAW \(and CAP_NET_ADMIN for promiscuous mode\); run as root or setcap\n$/);
  });

  it('--list-interfaces lists the namespace interfaces like tcpdump -D', async () => {
    const r = await lab.sh(lab.nsA, `${process.execPath} ${cliBin} tap --list-interfaces`);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.some((l) => new RegExp(`^\\d+\\.${lab.ifA} \\[${lab.ipA.replace(/\./g, '\\.')}`).test(l)), r.stdout);
    assert.ok(lines.some((l) => /^\d+\.lo /.test(l)));
    const tcpdump = await lab.sh(lab.nsA, 'tcpdump -D');
    const theirs = tcpdump.stdout.split('\n').filter(Boolean).map((l) => l.replace(/^\d+\./, '').split(' ')[0]);
    const ours = lines.map((l) => l.replace(/^\d+\./, '').split(' ')[0]);
    assert.deepEqual([...ours].sort(), [...theirs].sort());
  });

  it('reads back what it wrote', () => {
    // The -w file of the first test stays readable after the process ended.
    const head = readFileSync(join(tmp, 'ours.pcap')).subarray(0, 4);
    assert.equal(head.readUInt32LE(0), 0xa1b23c4d);
  });
});
