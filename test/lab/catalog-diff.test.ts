// The proof of `shark diff` on real traffic: a tiny JSON API (python3
// http.server, test/fixtures/catalog/api_server.py) in a network namespace,
// called by curl from another, captured by tcpdump and stored with
// `shark record`. Two recordings of the unchanged service differ in nothing;
// a third, of the changed service (a new endpoint, a slower one, a renamed
// field, errors), differs in exactly those. The recordings' manifests carry
// a cluster snapshot naming the server, which diff uses for the service name.
// Secrets sent in every request appear in no output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { runCli, runShell } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';

const NET = '198.19.150';
const SERVER = `${NET}.2`;
const tag = String(process.pid % 100000);
const CLIENT_NS = `s4k-c${tag}`;
const SERVER_NS = `s4k-s${tag}`;
const CLIENT_IF = `s4kc${tag}`;
const SERVER_IF = `s4ks${tag}`;
const SECRET_TOKEN = 'labsecret-bearer-4f1c9e';
const SECRET_PASSWORD = 'labsecret-password-b27d';
const server = join(repoRoot, 'test', 'fixtures', 'catalog', 'api_server.py');

const missing = ['ip', 'tcpdump', 'curl', 'python3'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : missing.length ? `needs ${missing.join(', ')}` : false;

let work = '';

function sh(cmd: string): void {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
}

function teardown(): void {
  spawnSync('sh', ['-c', `ip netns del ${CLIENT_NS} 2>/dev/null; ip netns del ${SERVER_NS} 2>/dev/null; ip link del ${CLIENT_IF} 2>/dev/null; true`]);
}

before(() => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 's4k-lab-'));
  teardown();
  sh(`ip netns add ${CLIENT_NS} && ip netns add ${SERVER_NS}`);
  sh(`ip link add ${CLIENT_IF} type veth peer name ${SERVER_IF}`);
  sh(`ip link set ${CLIENT_IF} netns ${CLIENT_NS} && ip link set ${SERVER_IF} netns ${SERVER_NS}`);
  sh(`ip -n ${CLIENT_NS} addr add ${NET}.1/24 dev ${CLIENT_IF} && ip -n ${CLIENT_NS} link set ${CLIENT_IF} up && ip -n ${CLIENT_NS} link set lo up`);
  sh(`ip -n ${SERVER_NS} addr add ${SERVER}/24 dev ${SERVER_IF} && ip -n ${SERVER_NS} link set ${SERVER_IF} up && ip -n ${SERVER_NS} link set lo up`);
});

after(() => {
  if (skip) return;
  teardown();
  // S4K_KEEP=1 keeps the captures and recordings for a look after a failure.
  if (work && !process.env.S4K_KEEP) rmSync(work, { recursive: true, force: true });
  else if (work) process.stderr.write(`kept ${work}\n`);
});

/** Resolve when `child` prints `text` on the stream, reject after 10 s or when it exits first. */
function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${text}": ${seen}`)), 10_000);
    child[stream]!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error(`exited before "${text}": ${seen}`)));
  });
}

/** One run: start the service variant, capture, call every endpoint a fixed number of times, record. */
/** tcpdump on a loaded CI machine has missed packets: a capture where tshark pairs fewer responses than requests is taken again. */
function captureComplete(pcap: string): boolean {
  const count = (filter: string) => spawnSync('tshark', ['-r', pcap, '-Y', filter], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length;
  const requests = count('http.request');
  return requests > 0 && requests === count('http.response');
}

async function recordRun(name: string, variant: 1 | 2): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await captureRun(name, variant);
    if (captureComplete(join(work, `${name}.pcap`)) || attempt === 3) break;
    process.stderr.write(`${name}: tcpdump missed packets (attempt ${attempt}); capturing again\n`);
  }
  return recordPcap(name);
}

async function captureRun(name: string, variant: 1 | 2): Promise<void> {
  const pcap = join(work, `${name}.pcap`);
  const srv = spawn('ip', ['netns', 'exec', SERVER_NS, 'python3', server, SERVER, '8080'], { env: { ...process.env, VARIANT: String(variant) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const dump = spawn('ip', ['netns', 'exec', SERVER_NS, 'tcpdump', '-i', SERVER_IF, '-B', '65536', '--immediate-mode', '-U', '-n', '-w', pcap, 'tcp port 8080'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await Promise.all([waitFor(srv, 'stdout', 'ready'), waitFor(dump, 'stderr', 'listening on')]);
    const base = `http://${SERVER}:8080`;
    const auth = `-H 'Authorization: Bearer ${SECRET_TOKEN}'`;
    const many = (paths: string[]) => paths.map((p) => `'${base}${p}'`).join(' ');
    const n = 40;
    const ids = Array.from({ length: n }, (_v, i) => 1000 + ((i * 7919) % 5000));
    const curl = `ip netns exec ${CLIENT_NS} curl -s -o /dev/null --max-time 60 ${auth}`;
    const gets = [
      ...ids.map((id) => `/api/users/${id}`),
      ...Array.from({ length: n }, () => '/api/health'),
      ...ids.map((id) => `/api/stock/${id}`),
      ...(variant === 2 ? Array.from({ length: n }, () => '/api/v2/items') : []),
    ];
    const r1 = await runShell(`${curl} ${many(gets)}`, 90_000);
    assert.equal(r1.code, 0, r1.stderr);
    const body = JSON.stringify({ sku: 'a', qty: 1, password: SECRET_PASSWORD });
    const r2 = await runShell(`${curl} -X POST -H 'Content-Type: application/json' -d '${body}' ${many(Array.from({ length: 30 }, () => '/api/orders'))}`, 90_000);
    assert.equal(r2.code, 0, r2.stderr);
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    dump.kill('SIGINT');
    srv.kill('SIGTERM');
    await new Promise((r) => dump.once('exit', r));
  }
}

async function recordPcap(name: string): Promise<string> {
  const pcap = join(work, `${name}.pcap`);
  const out = join(work, 'recordings');
  const rec = await runShell(`node bin/run.js record --name ${name} --out ${out} --no-kube -q < ${pcap}`, 60_000);
  assert.equal(rec.code, 0, rec.stderr);
  const folder = join(out, readdirSync(out).find((d) => d.startsWith(`${name}-`))!);
  // The cluster as `shark record --kube` saves it: the server is pod users-api-0 behind service s4k/users-api.
  const manifestPath = join(folder, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
  manifest.cluster = {
    context: 's4k-lab',
    takenAt: new Date().toISOString(),
    pods: [{ name: 'users-api-0', namespace: 's4k', ip: SERVER, node: 'node0', labels: { app: 'users-api' } }],
    services: [{ name: 'users-api', namespace: 's4k', clusterIPs: ['10.96.0.50'], ports: [{ port: 8080, protocol: 'TCP' }], selector: { app: 'users-api' } }],
    nodes: [{ name: 'node0', addresses: [`${NET}.254`] }],
  };
  writeFileSync(manifestPath, JSON.stringify(manifest));
  return folder;
}

test('diff on recordings of a lab service: nothing when unchanged, exactly the changes made otherwise', { skip, timeout: 600_000 }, async () => {
  const base1 = await recordRun('base1', 1);
  const base2 = await recordRun('base2', 1);
  const cand = await recordRun('cand', 2);
  // The machine is shared (2 cores, eight engineers): latency noise of a few ms between runs is real, so the
  // floor is 30 ms; the changed endpoint is 80 ms slower.
  const gate = ['--fail-on', 'new-endpoint,vanished,errors,latency,schema', '--latency-floor', '30ms'];

  // Endpoints with a request tshark pairs with no response in a capture (two passes: response_in is known
  // only then): tcpdump on a loaded CI machine drops packets, and shark then rightly reports that call
  // unanswered (a new error status).
  const unanswered = (name: string): string[] => {
    const out = spawnSync('tshark', ['-2', '-r', join(work, `${name}.pcap`), '-Y', 'http.request && !http.response_in', '-T', 'fields', '-e', 'http.request.method', '-e', 'http.request.uri'], { encoding: 'utf8' }).stdout;
    const endpoints = out.trim().split('\n').filter(Boolean).map((l) => {
      const [method, uri] = l.split('\t');
      return `errors ${method} ${uri.replace(/\/\d+$/, '/{id}')}`;
    });
    return [...new Set(endpoints)];
  };
  // tshark pairs HTTP/1 answers in order, so a response lost mid keep-alive can leave it no request
  // unanswered: it still flags the lost segments.
  const lostSegments = (name: string): boolean =>
    spawnSync('tshark', ['-r', join(work, `${name}.pcap`), '-Y', 'tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' }).stdout.trim() !== '';
  const lostInBase2 = unanswered('base2');
  let same: { code: number | null; stdout: string; stderr: string };
  if (lostInBase2.length === 0 && !lostSegments('base2')) {
    same = await runCli(['diff', ...gate, base1, base2]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /^no API changes \(4 endpoints/);
  } else {
    same = await runCli(['diff', ...gate, '--format', 'json', base1, base2]);
    const changes = (JSON.parse(same.stdout) as { changes: Array<{ kind: string; endpoint: string; detail: string }> }).changes;
    for (const k of lostInBase2) assert.ok(changes.some((c) => `${c.kind} ${c.endpoint}` === k), `${k}: ${JSON.stringify(changes)}`);
    assert.ok(changes.every((c) => c.kind === 'errors' && /^new error status unanswered \(\d+×\)$/.test(c.detail)), JSON.stringify(changes));
  }

  const changed = await runCli(['diff', ...gate, '--format', 'json', base1, cand]);
  assert.equal(changed.code, 1, changed.stderr);
  const doc = JSON.parse(changed.stdout) as { changes: Array<{ kind: string; service: string; endpoint: string; detail: string }> };
  assert.ok(doc.changes.every((c) => c.service === 's4k/users-api'), JSON.stringify(doc.changes.map((c) => c.service)));
  const kinds = [...new Set(doc.changes.map((c) => `${c.kind} ${c.endpoint}`))].sort();
  const expected = ['errors GET /api/stock/{id}', 'latency POST /api/orders', 'new-endpoint GET /api/v2/items', 'schema GET /api/users/{id}'];
  // Plus, on an endpoint the candidate's capture lost a response of (tshark agrees), its unanswered call.
  const lostInCand = unanswered('cand').filter((k) => !expected.includes(k) && k !== 'errors GET /api/v2/items');
  // When tshark flags lost segments in the capture, an endpoint whose only change is an unanswered call is that loss too.
  const onlyUnanswered = (k: string): boolean => {
    const details = doc.changes.filter((c) => `${c.kind} ${c.endpoint}` === k).map((c) => c.detail);
    return details.length > 0 && details.every((d) => /^new error status unanswered \(\d+×\)$/.test(d));
  };
  const lossOnly = lostSegments('cand') ? kinds.filter((k) => !expected.includes(k) && !lostInCand.includes(k) && onlyUnanswered(k)) : [];
  assert.deepEqual(kinds, [...expected, ...lostInCand, ...lossOnly].sort(), JSON.stringify(doc.changes.map((c) => c.detail)));
  assert.ok(doc.changes.some((c) => c.detail === 'response 200 (breaking): removed $.name; added $.fullName'));
  // 20 stock calls answer 503, as many as the capture holds with their requests: a busy CI machine's
  // tcpdump has missed a dozen whole calls (14 of 20 once), so tshark's count of them is the measure.
  const paired503 = spawnSync('tshark', ['-2', '-r', join(work, 'cand.pcap'), '-Y', 'http.response.code == 503 && http.request_in', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' })
    .stdout.trim().split('\n').filter(Boolean).length;
  const fresh = doc.changes.map((c) => /^new error status 503 \((\d+)×\)/.exec(c.detail)).find(Boolean);
  assert.ok(fresh && Math.abs(Number(fresh[1]) - paired503) <= 1 && Number(fresh[1]) <= 20, `tshark: ${paired503} answered 503s; ${JSON.stringify(doc.changes.map((c) => c.detail))}`);
  // Half the stock calls fail in the candidate; n is each side's stock calls, 40 when tcpdump lost nothing (under
  // CI load it has missed a dozen whole calls): as many as tshark finds requests for in each capture.
  const stockRequests = (name: string): number =>
    spawnSync('tshark', ['-r', join(work, `${name}.pcap`), '-Y', 'http.request.uri contains "/api/stock/"', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length;
  const mix = doc.changes.map((c) => /^5xx 0\.0 % → ([\d.]+) % \(n=(\d+)→(\d+)/.exec(c.detail)).find(Boolean);
  assert.ok(mix, JSON.stringify(doc.changes.map((c) => c.detail)));
  assert.ok(Number(mix[1]) >= 40 && Number(mix[1]) <= 55, mix[0]);
  assert.deepEqual([Number(mix[2]), Number(mix[3])], [stockRequests('base1'), stockRequests('cand')], mix[0]);
  assert.ok(Number(mix[2]) >= 20 && Number(mix[3]) >= 20, mix[0]);

  // The catalogue and OpenAPI of the service; the document validates.
  const cat = await runCli(['catalog', '--format', 'json', base1]);
  const endpoints = (JSON.parse(cat.stdout) as { endpoints: Array<{ endpoint: string; calls: number; service: string }> }).endpoints;
  // As many calls per endpoint as tshark finds requests in the same capture (40, 30, 40, 40 when tcpdump
  // missed nothing; a loaded CI machine has made it miss some).
  const seen = new Map<string, number>();
  const requests = spawnSync('tshark', ['-r', join(work, 'base1.pcap'), '-Y', 'http.request', '-T', 'fields', '-e', 'http.request.method', '-e', 'http.request.uri'], { encoding: 'utf8' }).stdout;
  for (const line of requests.trim().split('\n')) {
    const [method, uri] = line.split('\t');
    const key = `s4k/users-api ${method} ${uri.replace(/\/\d+$/, '/{id}')}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  assert.deepEqual(
    endpoints.map((e) => `${e.service} ${e.endpoint} ${e.calls}`),
    ['s4k/users-api GET /api/health', 's4k/users-api POST /api/orders', 's4k/users-api GET /api/stock/{id}', 's4k/users-api GET /api/users/{id}'].map((k) => `${k} ${seen.get(k) ?? 0}`),
  );
  assert.ok([...seen.values()].reduce((a, b) => a + b, 0) >= 100, `tshark found ${JSON.stringify([...seen])}`);
  const api = await runCli(['catalog', '--openapi', cand]);
  assert.equal(api.code, 0, api.stderr);
  const spec = JSON.parse(api.stdout) as Record<string, any>;
  await SwaggerParser.validate(structuredClone(spec) as never);
  assert.equal(spec.servers[0].url, 'http://users-api.s4k');
  assert.equal(spec.paths['/api/users/{id}'].get.responses['200'].content['application/json'].schema.properties.email.format, 'email');
  assert.ok(spec.paths['/api/stock/{id}'].get.responses['503']);

  // Secrets sent with every call appear nowhere.
  // One HAR entry per request tshark finds in the candidate's capture (190 when tcpdump missed nothing;
  // under CI load it has missed a whole call, request and response, which no re-capture check sees).
  const har = await runCli(['export', '--har', cand]);
  const candRequests = spawnSync('tshark', ['-r', join(work, 'cand.pcap'), '-Y', 'http.request', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length;
  // A floor that says the capture holds the run (CI load has cost tcpdump 16 of 190 whole calls); the count itself is tshark's.
  assert.ok(candRequests >= 120, `tshark found ${candRequests} requests in the candidate capture`);
  assert.equal(JSON.parse(har.stdout).log.entries.length, candRequests);
  for (const text of [same.stdout, changed.stdout, cat.stdout, api.stdout, har.stdout]) {
    assert.ok(!text.includes(SECRET_TOKEN) && !text.includes(SECRET_PASSWORD));
  }
});
