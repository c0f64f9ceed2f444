// `tap -i … --workers N`: live packets routed by flow to N dissection
// threads (src/tap/live-workers.ts). Real traffic in a veth lab — HTTP calls
// on new connections and on one keep-alive connection, DNS queries — gives
// exactly one entry per call the clients saw answered, with the right path
// or name, in time order, with unique ids; the same as one thread gives.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cliBin } from '../helpers/paths.js';
import { finish, makeVethLab, sharkIn, waitForStderr, type VethLab } from './netns.js';

const CALLS = 12;
const HTTP_SERVER = `require('http').createServer((q, r) => r.end('ok ' + q.url)).listen(8080, process.argv[1]);`;
let lab: VethLab;

before(async () => {
  lab = makeVethLab('wk', '198.18.46');
  lab.start(lab.nsB, [process.execPath, '-e', HTTP_SERVER, lab.ipB]);
  lab.start(lab.nsB, [
    'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--user=root', '--no-resolv', '--no-hosts', '--pid-file=',
    '--port=53', `--listen-address=${lab.ipB}`, '--bind-interfaces', '--address=/lab.test/198.18.46.99',
  ]);
  const up = await lab.sh(lab.nsA, `for i in $(seq 50); do curl -s -m 1 -o /dev/null http://${lab.ipB}:8080/up && dig +short +time=1 +tries=1 @${lab.ipB} up.lab.test | grep -q 198 && exit 0; sleep 0.2; done; exit 1`);
  assert.equal(up.code, 0, 'lab servers did not start');
});
after(() => lab?.stop());

async function tapRun(workers: string, tag: string): Promise<{ entries: any[]; http: number; dns: number; stderr: string }> {
  const tap = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '--workers', workers, '-o', 'ndjson', '--duration', '60s']);
  const done = finish(tap, 70_000);
  await waitForStderr(tap, /listening on/);
  const r = await lab.sh(
    lab.nsA,
    `h=0; for i in $(seq ${CALLS}); do c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' http://${lab.ipB}:8080/${tag}-new-$i); [ "$c" = 200 ] && h=$((h+1)); done; ` +
      // One keep-alive connection carrying CALLS requests (curl reuses it for every URL given).
      `k=$(curl -s -m 10 -o /dev/null -w '%{http_code}\\n' $(for i in $(seq ${CALLS}); do printf 'http://${lab.ipB}:8080/${tag}-keep-%s ' $i; done) | grep -c 200); ` +
      `d=0; for i in $(seq ${CALLS}); do dig +short +time=2 +tries=1 @${lab.ipB} ${tag}-$i.lab.test | grep -q 198.18.46.99 && d=$((d+1)); done; echo $((h+k)) $d`,
    60_000,
  );
  assert.equal(r.code, 0, r.stderr);
  const [http, dns] = r.stdout.trim().split(' ').map(Number);
  await new Promise((res) => setTimeout(res, 1500));
  tap.kill('SIGINT');
  const out = await done;
  assert.equal(out.code, 0, out.stderr);
  const entries = out.stdout.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { entries, http, dns, stderr: out.stderr };
}

const mine = (entries: any[], tag: string) => ({
  http: entries.filter((e) => e.protocol === 'http' && e.request?.path?.startsWith(`/${tag}-`)),
  dns: entries.filter((e) => e.protocol === 'dns' && e.request?.questions?.[0]?.name?.startsWith(`${tag}-`)),
});

test('tap --workers 2: one entry per call, in time order, unique ids, the same calls as one thread', { timeout: 180_000 }, async () => {
  const two = await tapRun('2', 'w2');
  const one = await tapRun('1', 'w1');
  for (const [run, tag] of [[two, 'w2'], [one, 'w1']] as const) {
    const m = mine(run.entries, tag);
    assert.equal(run.http, CALLS * 2, `${tag}: curl saw every call answered`);
    assert.equal(m.http.length, run.http, `${tag}: HTTP entries vs calls answered`);
    assert.equal(m.dns.length, run.dns, `${tag}: DNS entries vs queries answered`);
    assert.ok(m.http.every((e) => e.response?.status === 200));
    const ids = run.entries.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, `${tag}: ids are unique`);
    // Time order across workers (requests of one flow, and of different flows, in request-time order).
    for (let i = 1; i < run.entries.length; i++) assert.ok(run.entries[i].timestamp >= run.entries[i - 1].timestamp, `${tag}: entry ${i} out of time order`);
    assert.match(run.stderr, /packets captured/);
  }
  // The same calls, whatever the thread count.
  const paths = (run: typeof one, tag: string) => mine(run.entries, tag).http.map((e) => e.request.path.replace(`/${tag}-`, '/')).sort();
  assert.deepEqual(paths(two, 'w2'), paths(one, 'w1'));
});

test('tap --workers 2: a worker that dies (its heap limit) ends the run with one line and exit 70, no hang', { timeout: 90_000 }, async () => {
  const tap = lab.start(lab.nsA, ['env', 'SHARK_WORKER_HEAP_MB=1', process.execPath, cliBin, 'tap', '-i', lab.ifA, '--workers', '2', '-o', 'ndjson', '--duration', '60s']);
  const done = finish(tap, 80_000);
  await waitForStderr(tap, /listening on/);
  // Traffic until the run ends by itself (bounded: 200 calls at most).
  await lab.sh(lab.nsA, `for i in $(seq 200); do curl -s -m 1 -o /dev/null http://${lab.ipB}:8080/crash-$i || true; kill -0 ${tap.pid} 2>/dev/null || break; done`, 60_000);
  const r = await done;
  assert.equal(r.code, 70, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => /worker/.test(l));
  assert.ok(lines.length >= 1 && lines.length <= 2, r.stderr);
  assert.match(r.stderr, /dissection worker \d (failed|exited)/);
});

test('tap --sample-rate 0.5: whole calls of about half the connections, the rest skipped and counted', { timeout: 90_000 }, async () => {
  const tap = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '--sample-rate', '0.5', '-o', 'ndjson', '--duration', '60s']);
  const done = finish(tap, 70_000);
  await waitForStderr(tap, /listening on/);
  const N = 40;
  const r = await lab.sh(lab.nsA, `ok=0; for i in $(seq ${N}); do c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' http://${lab.ipB}:8080/smp-$i); [ "$c" = 200 ] && ok=$((ok+1)); done; echo $ok`, 60_000);
  assert.equal(Number(r.stdout.trim()), N);
  await new Promise((res) => setTimeout(res, 1500));
  tap.kill('SIGINT');
  const out = await done;
  assert.equal(out.code, 0, out.stderr);
  const calls = out.stdout.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.request?.path?.startsWith('/smp-'));
  // Each connection carries one call: about half of them, never a part of one.
  assert.ok(calls.length > 5 && calls.length < N - 5, `${calls.length} of ${N} calls kept`);
  assert.ok(calls.every((e) => e.response?.status === 200), 'every kept call is whole');
  const skipped = /--sample-rate 0.5: (\d+) packets of connections outside the sample skipped/.exec(out.stderr);
  assert.ok(skipped && Number(skipped[1]) > 0, out.stderr);
});
