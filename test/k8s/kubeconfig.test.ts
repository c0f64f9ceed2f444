// The kubeconfig as kubectl reads it, against the API-server fixture over
// TLS: $KUBECONFIG entries that do not exist are skipped and the rest merged
// (first wins), a user's tokenFile, HTTPS_PROXY/NO_PROXY (Go's rules) for
// API calls and exec websockets alike, tls-server-name given as an IP
// (verified, with no DeprecationWarning), and auth/TLS failures said with
// what to fix (a missing exec plugin and its installHint, an untrusted
// certificate and the cluster's CA, a refused token).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { exited, spawnTap, until } from '../helpers/tap-process.js';
import { ApiServerFixture, ADMIN_TOKEN } from '../fixtures/apiserver/server.js';
import { proxyFromEnvironment } from '../../src/k8s/proxy-env.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { loadKubeconfigFiles } from '../../src/k8s/kubeconfig-files.js';
import { TokenFileAuth } from '../../src/k8s/token-file-auth.js';

/** Stands in for `shark agent`: one entry, then idles until stdin ends. */
function fakeAgent(command: string[]): ChildProcess {
  const entry = JSON.stringify({ protocol: 'http', timestamp: new Date().toISOString(), src: { ip: '198.18.40.12', port: 40000 }, dst: { ip: '198.18.40.13', port: 80 } });
  const script = `process.stderr.write('agent: capturing on any\\n'); process.stdout.write(${JSON.stringify(entry + '\n')}); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
  return spawn(process.execPath, ['-e', script, '--', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
}

async function tlsFixture(): Promise<ApiServerFixture> {
  const f = new ApiServerFixture({ nodes: [{ name: 'node0', ip: '198.18.40.1' }], spawnExec: fakeAgent, tls: true });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.18.40.12', node: 'node0', labels: { app: 'redis' } });
  await f.listen();
  return f;
}

interface KubeconfigShape {
  server: string;
  ca?: string;
  cluster?: Record<string, unknown>;
  user: Record<string, unknown>;
  context?: string;
  namespace?: string;
  currentContext?: string;
}

function kubeconfig(s: KubeconfigShape): string {
  const context = s.context ?? 'shark-lab';
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    ...(s.currentContext !== '' ? { 'current-context': s.currentContext ?? context } : {}),
    clusters: [{ name: 'fixture', cluster: { server: s.server, ...(s.ca ? { 'certificate-authority-data': Buffer.from(s.ca).toString('base64') } : {}), ...s.cluster } }],
    users: [{ name: 'tester', user: s.user }],
    contexts: [{ name: context, context: { cluster: 'fixture', user: 'tester', namespace: s.namespace ?? 'data' } }],
  });
}

/** A CONNECT proxy that sends every tunnel to 127.0.0.1 (it "resolves" the fixture's made-up host) and counts them. */
async function connectProxy(): Promise<{ url: string; tunnels: string[]; server: Server }> {
  const tunnels: string[] = [];
  const server = createServer((_req, res) => res.writeHead(502).end());
  server.on('connect', (req, sock, head) => {
    tunnels.push(req.url ?? '');
    const port = Number((req.url ?? '').split(':').pop());
    const up = connect(port, '127.0.0.1', () => {
      sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}`, tunnels, server };
}

/** No proxy from the test runner's own environment. */
const NO_ENV_PROXY = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '' };

function tap(args: string[], env: Record<string, string> = {}, duration = '2s') {
  return runCli(['tap', 'redis', '-n', 'data', '--duration', duration, '--agent-timeout', '20s', ...args], { env: { ...NO_ENV_PROXY, ...env }, timeoutMs: 40_000 });
}
/**
 * A tap that must deploy: stopped by SIGINT once it has, not by a --duration, which runs from the
 * start and could end the run before it deployed on a loaded machine (deploying took 8 s at load 12).
 */
async function tapUntilDeployed(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const run = spawnTap(['redis', '-n', 'data', '--agent-timeout', '20s', ...args], { ...NO_ENV_PROXY, ...env });
  try {
    await until(() => /deployed agents/.test(run.stderr()), 'the agents deployed', 30_000, run);
    run.child.kill('SIGINT');
    return { code: await exited(run), stderr: run.stderr() };
  } finally {
    run.child.kill('SIGKILL');
  }
}
/** Long enough for an agent to be exec-ed and send its entry on a machine at load 20 (2 s was not). */
const TO_AN_ENTRY = '5s';

test('HTTPS_PROXY and NO_PROXY follow Go: loopback and NO_PROXY hosts go direct, each scheme reads its own variable, a kubeconfig proxy-url wins', () => {
  const env = { HTTPS_PROXY: 'http://proxy.corp:3128', HTTP_PROXY: 'proxy.corp:8080', NO_PROXY: 'internal.example, .svc.local,10.0.0.0/8,192.0.2.7:6443,[fd00::1]' };
  assert.equal(proxyFromEnvironment('https://api.example.com:6443', env), 'http://proxy.corp:3128');
  // No scheme: http:// is assumed, as Go's parseProxy does.
  assert.equal(proxyFromEnvironment('http://api.example.com', env), 'http://proxy.corp:8080');
  assert.equal(proxyFromEnvironment('https://127.0.0.1:6443', env), undefined, 'loopback is never proxied');
  assert.equal(proxyFromEnvironment('https://127.8.9.10:6443', env), undefined);
  assert.equal(proxyFromEnvironment('https://[::1]:6443', env), undefined);
  assert.equal(proxyFromEnvironment('https://localhost:6443', env), undefined);
  assert.equal(proxyFromEnvironment('https://internal.example', env), undefined, 'a domain matches itself');
  assert.equal(proxyFromEnvironment('https://k8s.internal.example', env), undefined, '… and its subdomains');
  assert.equal(proxyFromEnvironment('https://notinternal.example', env), 'http://proxy.corp:3128', 'but not a longer name');
  assert.equal(proxyFromEnvironment('https://svc.local', env), 'http://proxy.corp:3128', 'a leading dot: subdomains only');
  assert.equal(proxyFromEnvironment('https://api.svc.local', env), undefined);
  assert.equal(proxyFromEnvironment('https://10.96.0.1', env), undefined, 'CIDR');
  assert.equal(proxyFromEnvironment('https://11.96.0.1', env), 'http://proxy.corp:3128');
  assert.equal(proxyFromEnvironment('https://192.0.2.7:6443', env), undefined, 'an IP with its port');
  assert.equal(proxyFromEnvironment('https://192.0.2.7:443', env), 'http://proxy.corp:3128', 'another port is proxied');
  assert.equal(proxyFromEnvironment('https://[fd00::1]:6443', env), undefined, 'IPv6');
  assert.equal(proxyFromEnvironment('https://api.example.com', { ...env, NO_PROXY: '*' }), undefined);
  // Upper case wins; lower case is read when upper case is unset or empty.
  assert.equal(proxyFromEnvironment('https://a.example', { https_proxy: 'http://lower:1', HTTPS_PROXY: '' }), 'http://lower:1');
  assert.equal(proxyFromEnvironment('https://a.example', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:1' }), 'http://upper:1');
  assert.equal(proxyFromEnvironment('https://a.example', { https_proxy: 'http://p:1', no_proxy: 'a.example' }), undefined);
  assert.equal(proxyFromEnvironment('https://a.example', { HTTP_PROXY: 'http://p:1' }), undefined, 'HTTP_PROXY is not for https');

  const dir = mkdtempSync(join(tmpdir(), 'shk-kc-'));
  const own = join(dir, 'own');
  writeFileSync(own, kubeconfig({ server: 'https://api.example.com', cluster: { 'proxy-url': 'socks5://jump:1080' }, user: {} }));
  assert.equal(loadKubeconfigFiles([own], env).kc.getCurrentCluster()?.proxyUrl, 'socks5://jump:1080');
  const plain = join(dir, 'plain');
  writeFileSync(plain, kubeconfig({ server: 'https://api.example.com', user: {} }));
  assert.equal(loadKubeconfigFiles([plain], env).kc.getCurrentCluster()?.proxyUrl, 'http://proxy.corp:3128');
});

test('tap goes through HTTPS_PROXY for API calls and exec streams, verifies an IP tls-server-name without a DeprecationWarning; NO_PROXY dials direct', { timeout: 90_000 }, async () => {
  const f = await tlsFixture();
  const proxy = await connectProxy();
  const dir = mkdtempSync(join(tmpdir(), 'shk-kc-'));
  const port = new URL(f.url).port;
  // A name only the proxy can reach; the certificate holds the IP, which tls-server-name names.
  const kc = join(dir, 'proxied');
  writeFileSync(kc, kubeconfig({ server: `https://apiserver.shark.test:${port}`, ca: f.caPem, cluster: { 'tls-server-name': '127.0.0.1' }, user: { token: ADMIN_TOKEN } }));
  try {
    const r = await tap(['--kubeconfig', kc], { HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost,10.0.0.0/8' }, TO_AN_ENTRY);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /DeprecationWarning|DEP0123/);
    assert.ok(proxy.tunnels.length > 0 && proxy.tunnels.every((t) => t === `apiserver.shark.test:${port}`), proxy.tunnels.join(' '));
    assert.ok(f.execs.length >= 1, 'the agent was exec-ed through the proxy');
    assert.match(r.stdout, /198\.18\.40\.12/, 'its entry arrived');

    // A wrong IP in tls-server-name is refused: the certificate is really checked against it.
    const wrong = join(dir, 'wrong-ip');
    writeFileSync(wrong, kubeconfig({ server: `https://apiserver.shark.test:${port}`, ca: f.caPem, cluster: { 'tls-server-name': '127.0.0.2' }, user: { token: ADMIN_TOKEN } }));
    const w = await tap(['--kubeconfig', wrong], { HTTPS_PROXY: proxy.url });
    assert.equal(w.code, 4, w.stderr);
    assert.match(w.stderr, /ERR_TLS_CERT_ALTNAME_INVALID/);

    const before = proxy.tunnels.length;
    const direct = await tap(['--kubeconfig', kc], { https_proxy: proxy.url, no_proxy: 'shark.test' });
    assert.equal(direct.code, 4, direct.stderr);
    assert.equal(proxy.tunnels.length, before, 'NO_PROXY: no tunnel asked for');
    assert.match(direct.stderr, /ENOTFOUND|EAI_AGAIN/);
  } finally {
    proxy.server.close();
    await f.close();
  }
});

test('tls-server-name given as an IP verifies the certificate against it with no DeprecationWarning on stderr', { timeout: 60_000 }, async () => {
  const f = await tlsFixture();
  const dir = mkdtempSync(join(tmpdir(), 'shk-kc-'));
  const kc = join(dir, 'config');
  // The certificate holds IP 127.0.0.1 only: reached as localhost, it verifies through tls-server-name.
  writeFileSync(kc, kubeconfig({ server: f.url.replace('127.0.0.1', 'localhost'), ca: f.caPem, cluster: { 'tls-server-name': '127.0.0.1' }, user: { token: ADMIN_TOKEN } }));
  try {
    const r = await tap(['--kubeconfig', kc], {}, TO_AN_ENTRY);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(f.execs.length >= 1, 'the exec websocket verified too');
    assert.doesNotMatch(r.stderr, /DeprecationWarning|DEP0123/);
  } finally {
    await f.close();
  }
});

test('KUBECONFIG skips entries that do not exist and merges the rest in order, the first definition winning', { timeout: 60_000 }, async () => {
  const f = await tlsFixture();
  const dir = mkdtempSync(join(tmpdir(), 'shk-kc-'));
  const first = join(dir, 'first');
  const second = join(dir, 'second');
  writeFileSync(first, kubeconfig({ server: f.url, ca: f.caPem, user: { token: ADMIN_TOKEN }, namespace: 'data' }));
  // Same names, another namespace, server and current context: the first file's win.
  writeFileSync(second, kubeconfig({ server: 'https://127.0.0.1:1', user: { token: 'other' }, namespace: 'web', currentContext: 'elsewhere', context: 'shark-lab' }));
  const saved = process.env.KUBECONFIG;
  try {
    process.env.KUBECONFIG = [join(dir, 'missing'), first, join(dir, 'missing-too'), second].join(':');
    const cfg = loadKubeConfig();
    assert.equal(cfg.context, 'shark-lab');
    assert.equal(cfg.namespace, 'data');
    assert.equal(cfg.server, f.url);
    process.env.KUBECONFIG = [join(dir, 'missing'), join(dir, 'missing-too')].join(':');
    assert.throws(() => loadKubeConfig(), /no kubeconfig: none of the files in KUBECONFIG exists/);

    const r = await tapUntilDeployed([], { KUBECONFIG: `${join(dir, 'nonexistent.yaml')}:${first}:${second}` });
    assert.equal(r.code, 0, r.stderr);
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
    await f.close();
  }
});

test('a user tokenFile (relative to its kubeconfig) authenticates; an unreadable one with no token is one line at start', { timeout: 60_000 }, async () => {
  const f = await tlsFixture();
  const dir = mkdtempSync(join(tmpdir(), 'shk-kc-'));
  writeFileSync(join(dir, 'token'), `${ADMIN_TOKEN}\n`);
  const kc = join(dir, 'config');
  writeFileSync(kc, kubeconfig({ server: f.url, ca: f.caPem, user: { tokenFile: 'token' } }));
  const missing = join(dir, 'missing-token');
  writeFileSync(missing, kubeconfig({ server: f.url, ca: f.caPem, user: { tokenFile: 'nope' } }));
  try {
    const r = await tapUntilDeployed(['--kubeconfig', kc]);
    assert.equal(r.code, 0, r.stderr);
    const m = await tap(['--kubeconfig', missing]);
    assert.equal(m.code, 4, m.stderr);
    assert.equal(m.stderr, `tap: kubeconfig user "tester": cannot read tokenFile: ENOENT: no such file or directory, open '${join(dir, 'nope')}'\n`);
  } finally {
    await f.close();
  }
});

test('a tokenFile is re-read once a minute, trimmed, and a failed re-read keeps the last good token', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shk-tok-'));
  const path = join(dir, 'token');
  let now = 0;
  const auth = new TokenFileAuth(() => now);
  writeFileSync(path, '  one\n');
  assert.equal(auth.token({ path }), 'one');
  writeFileSync(path, 'two\n');
  now = 59_000;
  assert.equal(auth.token({ path }), 'one', 'cached within the minute');
  now = 61_000;
  assert.equal(auth.token({ path }), 'two');
  writeFileSync(path, '');
  now = 130_000;
  assert.equal(auth.token({ path }), 'two', 'an empty file keeps the last good token');
  assert.equal(new TokenFileAuth().token({ path: join(dir, 'none'), fallback: 'static' }), 'static', 'the user token stands in while the file cannot be read');
});

test('auth and TLS failures say what to fix: missing exec plugin with its installHint, untrusted CA, refused token', { timeout: 60_000 }, async () => {
  const f = await tlsFixture();
  const other = new ApiServerFixture({ tls: true });
  await other.listen();
  await other.close();
  const dir = mkdtempSync(join(tmpdir(), 'shk-kc-'));
  const write = (name: string, s: Partial<KubeconfigShape>) => {
    const path = join(dir, name);
    writeFileSync(path, kubeconfig({ server: f.url, ca: f.caPem, user: { token: ADMIN_TOKEN }, ...s }));
    return path;
  };
  const plugin = write('plugin', {
    user: {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1beta1',
        command: 'shark-test-missing-auth-plugin',
        installHint: 'Install shark-test-missing-auth-plugin for use with kubectl by following\n    https://example.invalid/install',
        interactiveMode: 'Never',
      },
    },
  });
  const badCa = write('bad-ca', { ca: other.caPem });
  const expired = write('expired', { user: { token: 'expired-token' } });
  try {
    const p = await tap(['--kubeconfig', plugin]);
    assert.equal(p.code, 4, p.stderr);
    assert.match(
      p.stderr,
      /the exec credential plugin "shark-test-missing-auth-plugin" of user "tester" in \S+plugin was not found \(not installed, or not on PATH\); it must be installed: Install shark-test-missing-auth-plugin for use with kubectl by following https:\/\/example\.invalid\/install$/m,
    );
    const c = await tap(['--kubeconfig', badCa]);
    assert.equal(c.code, 4, c.stderr);
    assert.match(c.stderr, /the server's certificate is not trusted \(self-signed, or signed by an unknown authority: DEPTH_ZERO_SELF_SIGNED_CERT\); check the CA of cluster "fixture" in \S+bad-ca: certificate-authority-data$/m);
    const e = await tap(['--kubeconfig', expired]);
    assert.equal(e.code, 4, e.stderr);
    assert.match(e.stderr, /HTTP 401: Unauthorized: the server refused the credentials of user "tester" in \S+expired; they may have expired: log in again/m);
  } finally {
    await f.close();
  }
});
