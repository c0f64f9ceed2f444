// The lab is real: servers answer across nodes, and a capture on a node's bridge
// sees exactly the traffic of that node's pods. Checked with curl, redis-cli,
// dig and tcpdump/tshark, not with anything of shark's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labIdentity, startLab, type Lab } from '../helpers/lab.js';

function labNamespaces(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`${prefix}-`));
}

function tsharkFields(file: string, filter: string, fields: string[]): string[][] {
  const args = ['-r', file, '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}

describe('lab', { timeout: 90_000 }, () => {
  const id = labIdentity();
  const dir = mkdtempSync(join(tmpdir(), 'shark-lab-test-'));
  let lab: Lab;

  before(async () => {
    lab = await startLab({ ...id, nodes: 2 });
  });
  after(async () => {
    await lab?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('places the servers and one client per node', () => {
    assert.deepEqual(lab.nodes.map((n) => n.name), ['node0', 'node1']);
    assert.equal(lab.pod('client0').node, 0);
    assert.equal(lab.pod('client1').node, 1);
    assert.equal(lab.pod('web').node, 1);
    assert.equal(lab.pod('redis').node, 0);
    for (const pod of lab.pods) assert.ok(pod.ip.startsWith(`${id.net}.`), `${pod.name} ${pod.ip}`);
  });

  it('serves HTTP across nodes: 200, 404 and 500 from nginx', async () => {
    const web = lab.pod('web').ip;
    const codes = await lab.exec(lab.pod('client0').ns, [
      'curl', '-s', '-w', '%{http_code}\\n', '--max-time', '5',
      ...[`http://${web}/details/0`, `http://${web}/missing`, `http://${web}/ratings/0`].flatMap((url) => ['-o', '/dev/null', url]),
    ]);
    assert.equal(codes.code, 0, codes.stderr);
    assert.deepEqual(codes.stdout.trim().split('\n'), ['200', '404', '500']);
  });

  it('answers Redis PING with PONG', async () => {
    const result = await lab.exec(lab.pod('client1').ns, ['redis-cli', '-h', lab.pod('redis').ip, 'PING']);
    assert.equal(result.stdout.trim(), 'PONG');
  });

  it('answers DNS with the configured records and NXDOMAIN', async () => {
    const dns = lab.pod('dns').ip;
    const ns = lab.pod('client0').ns;
    const a = await lab.exec(ns, ['dig', '+short', '+time=2', '+tries=1', `@${dns}`, 'reviews.bookinfo.svc.cluster.local', 'A']);
    assert.equal(a.stdout.trim(), lab.pod('web').ip);
    const tcp = await lab.exec(ns, ['dig', '+short', '+tcp', '+time=2', '+tries=1', `@${dns}`, 'redis.bookinfo.svc.cluster.local']);
    assert.equal(tcp.stdout.trim(), lab.pod('redis').ip);
    const nx = await lab.exec(ns, ['dig', '+time=2', '+tries=1', `@${dns}`, 'nosuch.bookinfo.svc.cluster.local']);
    assert.match(nx.stdout, /status: NXDOMAIN/);
  });

  it("captures a node's pods' traffic on that node's bridge, and only theirs", async () => {
    const file0 = join(dir, 'node0.pcap');
    const file1 = join(dir, 'node1.pcap');
    const cap0 = await lab.capture(0, file0);
    const cap1 = await lab.capture(1, file1);
    await lab.traffic({ rounds: 1, extra: ['tls', 'h2c'] });
    const [n0, n1] = [await cap0.stop(), await cap1.stop()];
    assert.ok(n0.captured > 50, `node0 captured ${n0.captured}`);
    assert.ok(n1.captured > 50, `node1 captured ${n1.captured}`);

    const node0Pods = new Set(lab.pods.filter((p) => p.node === 0).map((p) => p.ip));
    const node1Pods = new Set(lab.pods.filter((p) => p.node === 1).map((p) => p.ip));
    for (const [file, pods] of [[file0, node0Pods], [file1, node1Pods]] as const) {
      // Link-local multicast (224.0.0.0/24: IGMP, mDNS…) is the node's own
      // chatter on its bridge, never a pod's call; lab.sh silences what it can.
      for (const [src, dst] of tsharkFields(file, 'ip && !(ip.dst == 224.0.0.0/24)', ['ip.src', 'ip.dst'])) {
        assert.ok(pods.has(src!) || pods.has(dst!), `${file} has ${src} -> ${dst}`);
      }
    }
    // client0 (node0) → web (node1) is seen on both nodes; client1 → web only on node1
    const http0 = tsharkFields(file0, 'http.request', ['ip.src', 'http.request.uri']);
    const http1 = tsharkFields(file1, 'http.request', ['ip.src', 'http.request.uri']);
    assert.ok(http0.length > 5 && http0.every(([src]) => src === lab.pod('client0').ip));
    assert.ok(http1.some(([src]) => src === lab.pod('client0').ip));
    assert.ok(http1.some(([src]) => src === lab.pod('client1').ip));
    // the mix has every protocol it promises
    const statuses = tsharkFields(file1, 'http.response', ['http.response.code']).map(([code]) => code);
    for (const code of ['200', '404', '500']) assert.ok(statuses.includes(code), `no ${code} in ${statuses.join(',')}`);
    assert.ok(tsharkFields(file0, 'resp', ['frame.number']).length > 0, 'no Redis on node0');
    assert.ok(tsharkFields(file1, 'dns.flags.rcode == 3', ['dns.qry.name']).length > 0, 'no NXDOMAIN on node1');
    assert.ok(tsharkFields(file1, 'icmp.type == 0', ['frame.number']).length > 0, 'no echo reply on node1');
    // the extras: HTTPS naming a service in its SNI, HTTP/2 cleartext
    const sni = tsharkFields(file1, 'tls.handshake.type == 1', ['tls.handshake.extensions_server_name']).map(([name]) => name);
    assert.ok(sni.includes('reviews.bookinfo.svc.cluster.local') && sni.includes('details.bookinfo.svc.cluster.local'), sni.join(','));
    const h2c = execFileSync('tshark', ['-r', file1, '-d', 'tcp.port==8081,http2', '-Y', 'http2.headers.method', '-T', 'fields', '-e', 'http2.headers.path'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(h2c, /\/api\/login/);
  });

  it('tears down every namespace with its prefix, and down is idempotent', async () => {
    assert.ok(labNamespaces(id.prefix).length >= 5);
    await lab.stop();
    assert.deepEqual(labNamespaces(id.prefix), []);
    await lab.stop();
    execFileSync('bash', ['scripts/lab/lab.sh', 'down'], { env: { ...process.env, LAB_PREFIX: id.prefix, LAB_NET: id.net } });
    assert.deepEqual(labNamespaces(id.prefix), []);
  });
});
