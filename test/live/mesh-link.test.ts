// --service-mesh with a real sidecar: nginx (Debian's) plays Istio's proxy in
// two lab pods (198.19.220.0/24, namespaces `s6m-…`). Pod a is tapped, pod b
// is not:
//   inbound:  a client in pod b (curl with b's certificate: the remote
//             sidecar) → mTLS to a's sidecar on 198.19.220.1:15006 →
//             plaintext to a's app on 127.0.0.1:8080 (a second nginx server);
//   outbound: a's app (curl) → 127.0.0.1:15001 (pooled upstream) or :15002
//             (a connection per call) → mTLS with a's client certificate and
//             an Istio-like SNI to b's sidecar on :15006 → b's app.
// The certificates come from a CA made with openssl here. The agent runs in
// the node's namespace as the DaemonSet runs it; each call the clients count
// as answered must be exactly one entry (not the inner call plus the outer
// tls connection), `tls: true`, with the outer peer and both durations.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { cliBin, repoRoot } from '../helpers/paths.js';
import { finish, waitForStderr } from './netns.js';
import { makePodLab, type PodLab } from './pod-lab.js';

const A = '198.19.220.1';
const B = '198.19.220.2';
const SNI = 'outbound_.8080_._.b.lab.svc.cluster.local';
const CALLS = 6;

let lab: PodLab;
let dir: string;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA, and for each pod a certificate it signs (server and client: mTLS uses one identity both ways). */
function makeCerts(): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=s6m mesh CA', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'));
  for (const [pod, ip] of [['a', A], ['b', B]]) {
    const ext = join(dir, `${pod}.ext`);
    writeFileSync(ext, `subjectAltName=IP:${ip},DNS:${pod}.lab.svc.cluster.local,DNS:outbound_.8080_._.${pod}.lab.svc.cluster.local\n`);
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${pod}.lab`, '-keyout', join(dir, `${pod}.key`), '-out', join(dir, `${pod}.csr`));
    openssl('x509', '-req', '-in', join(dir, `${pod}.csr`), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', join(dir, `${pod}.crt`));
  }
}

/** The sidecar and the app of one pod, as one nginx (one process: killing it leaves no worker holding the test's pipes). */
function sidecarConf(pod: 'a' | 'b', ip: string): string {
  const d = join(dir, pod);
  execFileSync('mkdir', ['-p', d]);
  const upstreamTls = `
      proxy_ssl_certificate ${dir}/${pod}.crt;
      proxy_ssl_certificate_key ${dir}/${pod}.key;
      proxy_ssl_trusted_certificate ${dir}/ca.crt;
      proxy_ssl_verify on;
      proxy_ssl_server_name on;
      proxy_ssl_name ${SNI};`;
  const conf = `master_process off;
daemon off;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  upstream remote_pooled { server ${B}:15006; keepalive 4; }
  # the app
  server {
    listen 127.0.0.1:8080;
    location / { return 200 "app ${pod} $request_uri\\n"; }
  }
  # inbound: mTLS on the pod's address, plaintext to the app
  server {
    listen ${ip}:15006 ssl;
    ssl_certificate ${dir}/${pod}.crt;
    ssl_certificate_key ${dir}/${pod}.key;
    ssl_client_certificate ${dir}/ca.crt;
    ssl_verify_client on;
    location / { proxy_pass http://127.0.0.1:8080; }
  }
  # outbound, pooled: the app's calls share kept-alive mTLS connections
  server {
    listen 127.0.0.1:15001;
    location / {
      proxy_pass https://remote_pooled;
      proxy_http_version 1.1;
      proxy_set_header Connection "";${upstreamTls}
    }
  }
  # outbound, one mTLS connection per call
  server {
    listen 127.0.0.1:15002;
    location / {
      proxy_pass https://${B}:15006;${upstreamTls}
    }
  }
}
`;
  const file = join(d, 'nginx.conf');
  writeFileSync(file, conf);
  return file;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 's6m-'));
  makeCerts();
  lab = makePodLab({ prefix: 's6m', id: 'k', routed: [{ name: 'a', ip: A }, { name: 'b', ip: B }] });
  for (const [pod, ip] of [['a', A], ['b', B]] as const) {
    const nginx = lab.start(lab.pods.get(pod)!.ns, ['nginx', '-c', sidecarConf(pod, ip)]);
    nginx.stdout!.resume();
    nginx.stderr!.resume();
  }
  // Up when b's sidecar answers a's certificate and a's answers b's (the pooled path is not used before the agent runs).
  const ready = await lab.sh(
    lab.pods.get('a')!.ns,
    `for i in $(seq 50); do curl -s -m 1 -o /dev/null --cacert ${dir}/ca.crt --cert ${dir}/a.crt --key ${dir}/a.key https://${B}:15006/ready && curl -s -m 1 -o /dev/null http://127.0.0.1:8080/ready && exit 0; sleep 0.2; done; exit 1`,
  );
  assert.equal(ready.code, 0, `sidecars did not come up: ${ready.stderr}`);
});
after(() => {
  lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const clientTls = () => `--cacert ${dir}/ca.crt --cert ${dir}/b.crt --key ${dir}/b.key`;
/** CALLS curl calls, one connection each; prints how many got 200. */
const oneEach = (url: string, tag: string, tls = '') =>
  `ok=0; for i in $(seq ${CALLS}); do c=$(curl -s -m 3 ${tls} -o /dev/null -w '%{http_code}' ${url}/${tag}-$i); [ "$c" = 200 ] && ok=$((ok+1)); sleep 0.05; done; echo $ok`;
/** CALLS calls over one kept-alive connection (one curl, several URLs); prints how many got 200. */
const pooled = (url: string, tag: string, tls = '') =>
  `curl -s -m 10 ${tls} ${Array(CALLS).fill('-o /dev/null').join(' ')} -w '%{http_code}\\n' ${Array.from({ length: CALLS }, (_, i) => `${url}/${tag}-${i + 1}`).join(' ')} | grep -c '^200$'`;

test('--service-mesh with nginx sidecars: each call through the sidecar is one entry, tls: true, the outer peer and both durations', { timeout: 120_000 }, async (t) => {
  const pod = (n: string) => lab.pods.get(n)!;
  const agent = lab.start(lab.node, [process.execPath, cliBin, 'agent', '--node', 'n1', '-i', 'any', '--service-mesh', '--stats-interval', '1s'], 'pipe');
  const done = finish(agent, 100_000);
  try {
    await waitForStderr(agent, /capturing on any/);
    agent.stdin!.write(JSON.stringify({ pods: [{ name: 'a', namespace: 'lab', ips: [A] }] }) + '\n');
    await waitForStderr(agent, /per-pod: 1 pods, 1 interfaces resolved/);
    await waitForStderr(agent, /service-mesh lab\/a: agent n1: capturing on lo/);

    const calls: { tag: string; ns: string; cmd: string; direction: 'inbound' | 'outbound' }[] = [
      { tag: 'in', ns: pod('b').ns, cmd: oneEach(`https://${A}:15006`, 'in', clientTls()), direction: 'inbound' },
      { tag: 'inpool', ns: pod('b').ns, cmd: pooled(`https://${A}:15006`, 'inpool', clientTls()), direction: 'inbound' },
      { tag: 'out', ns: pod('a').ns, cmd: oneEach('http://127.0.0.1:15002', 'out'), direction: 'outbound' },
      { tag: 'outpool', ns: pod('a').ns, cmd: oneEach('http://127.0.0.1:15001', 'outpool'), direction: 'outbound' },
    ];
    const counts: Record<string, number> = {};
    for (const c of calls) {
      const r = await lab.sh(c.ns, c.cmd);
      counts[c.tag] = Number(r.stdout.trim());
      assert.ok(counts[c.tag] > 0, `${c.tag}: no call succeeded: ${r.stderr}`);
    }
    // Inner calls wait ~1 s for their outer response packets; outer entries for their connection's end.
    await new Promise((r) => setTimeout(r, 2500));
    agent.stdin!.write('{"stop":true}\n');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const entries = r.stdout.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

    // Every entry, linked ones and their new fields too, fits the published schema.
    const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(repoRoot, 'docs', 'entry.schema.json'), 'utf8')));
    for (const e of entries) assert.ok(validate(e), `${JSON.stringify(validate.errors)}: ${JSON.stringify(e).slice(0, 300)}`);
    const containment: Record<string, boolean[]> = { inbound: [], outbound: [] };
    for (const c of calls) {
      const mine = entries.filter((e) => new RegExp(`^/${c.tag}-\\d+$`).test(e.request?.path ?? ''));
      // One entry per answered call: the inner call, linked; the outer connection not reported again.
      assert.equal(mine.length, counts[c.tag], `${c.tag}: entries vs the client's own count\n${r.stderr}`);
      assert.deepEqual(new Set(mine.map((e) => e.request.path)).size, mine.length, `${c.tag}: distinct paths`);
      for (const e of mine) {
        assert.equal(e.protocol, 'http');
        assert.equal(e.request.method, 'GET');
        assert.equal(e.response.status, 200);
        assert.equal(e.tls, true, `${c.tag} ${e.request.path} at ${e.timestamp}: not linked; ${r.stderr.split('\n').filter((l) => l.includes('service-mesh:')).join(' / ')}; tls entries: ${JSON.stringify(entries.filter((x) => x.protocol === 'tls').map((x) => [x.src.port, x.timestamp, x.mesh]))}`);
        assert.deepEqual(e.tapped, { pod: 'a', namespace: 'lab', side: 'loopback' });
        assert.equal(e.mesh.direction, c.direction);
        // Both durations (physically the inner call lies inside the outer exchange inbound, and the
        // other way round outbound; the two are stamped by two processes' userspace clocks, so how
        // often the measured figures agree is reported below, not asserted: no timing assertions).
        assert.ok(e.mesh.innerElapsedTime >= 0 && e.mesh.outerElapsedTime >= 0);
        assert.equal(e.mesh.innerElapsedTime, e.elapsedTime);
        const contained = c.direction === 'inbound' ? e.mesh.innerElapsedTime <= e.mesh.outerElapsedTime : e.mesh.outerElapsedTime <= e.mesh.innerElapsedTime;
        containment[c.direction].push(contained);
        if (c.direction === 'inbound') {
          // The peer is the remote client of the outer connection; the app answered on loopback.
          assert.equal(e.src.ip, B);
          assert.deepEqual(e.mesh.outer.dst, { ip: A, port: 15006 });
          assert.equal(e.dst.ip, '127.0.0.1');
          assert.equal(e.dst.port, 8080);
        } else {
          assert.deepEqual({ ip: e.dst.ip, port: e.dst.port }, { ip: B, port: 15006 });
          assert.equal(e.mesh.outer.src.ip, A);
          assert.equal(e.mesh.outer.sni, SNI);
          assert.equal(e.mesh.inner.dst.port, c.tag === 'outpool' ? 15001 : 15002);
        }
      }
    }
    for (const [dir, list] of Object.entries(containment)) {
      t.diagnostic(`${dir}: measured durations nest as they must in ${list.filter(Boolean).length} of ${list.length} calls`);
    }
    // Pooled: the calls of one outer connection share its endpoints.
    const outer = (tag: string) => new Set(entries.filter((e) => e.request?.path?.startsWith(`/${tag}-`)).map((e) => JSON.stringify(e.mesh.outer)));
    assert.equal(outer('inpool').size, 1, 'one kept-alive connection carried every inpool call');
    assert.equal(outer('in').size, counts.in, 'a connection per in call');
    assert.ok(outer('outpool').size < counts.outpool, 'the pooled upstream reused its connections');
    // The outer connections were folded into their calls, not reported as tls entries of their own.
    const tls = entries.filter((e) => e.protocol === 'tls');
    assert.deepEqual(tls.map((e) => `${e.src.ip}:${e.src.port} → ${e.dst.ip}:${e.dst.port} ${JSON.stringify(e.mesh)}`), []);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const said = /service-mesh: (\d+) calls linked to their mTLS connection \(\d+ of them by order in a tie\), (\d+) ambiguous, (\d+) unlinked; (\d+) outer connections folded/.exec(r.stderr);
    assert.ok(said, r.stderr);
    assert.equal(Number(said[1]), total);
    assert.equal(Number(said[2]), 0);
  } finally {
    if (agent.exitCode === null) agent.kill('SIGKILL');
  }
});
