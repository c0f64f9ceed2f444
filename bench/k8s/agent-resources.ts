// What one node agent costs, to size the DaemonSet's requests and limits
// (issue 14: "requests/limits sized from measurement"). On a one-node pod lab
// (test/live/pod-lab.ts), `shark agent -i any` runs per pod as the DaemonSet
// runs it; a client pod calls a server pod at fixed rates (half on new
// connections, half keep-alive), and the agent's process tree (the agent and
// any capture helper it spawned) is sampled every 250 ms for CPU and RSS.
// Prints a Markdown table: phase, calls/s the client completed, entries the
// agent emitted, CPU (cores, mean), RSS peak.
//   node --import tsx bench/k8s/agent-resources.ts [--seconds 8] [--rates 0,200,1000,max] [--agent-args '--workers 2']
// Needs root (network namespaces). Figures only; nothing asserted.
import { readFileSync, readdirSync } from 'node:fs';
import { cliBin } from '../../test/helpers/paths.js';
import { makePodLab } from '../../test/live/pod-lab.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const SECONDS = Number(arg('--seconds', '8'));
const RATES = arg('--rates', '0,200,1000,max').split(',');
const AGENT_ARGS = arg('--agent-args', '').split(' ').filter(Boolean);
const TICKS = 100; // USER_HZ

const SERVER = `require('http').createServer((req, res) => res.end('ok ' + req.url)).listen(8080, process.argv[1]);`;
// Paced client: RATE calls/s for SECONDS (max: as fast as 16 in flight allow), odd calls on a new connection.
const CLIENT = `
const http = require('http');
const [host, rate, seconds] = [process.argv[1], process.argv[2], Number(process.argv[3])];
const keep = new http.Agent({ keepAlive: true, maxSockets: 8 });
let done = 0, inflight = 0, i = 0;
const end = Date.now() + seconds * 1000;
const one = () => new Promise((ok) => {
  inflight++;
  const req = http.get({ host, port: 8080, path: '/r-' + (i++), agent: i % 2 ? keep : false }, (res) => {
    res.resume(); res.on('end', () => { done++; inflight--; ok(); });
  });
  req.on('error', () => { inflight--; ok(); });
});
(async () => {
  if (rate === 'max') { while (Date.now() < end) { while (inflight < 16) one(); await new Promise((r) => setImmediate(r)); } }
  else { const every = 1000 / Number(rate); let next = Date.now(); while (Date.now() < end) { if (Date.now() >= next && inflight < 64) { one(); next += every; } else await new Promise((r) => setTimeout(r, 1)); } }
  while (inflight > 0) await new Promise((r) => setTimeout(r, 5));
  console.log(done); process.exit(0);
})();`;

function descendants(pid: number): number[] {
  const out = [pid];
  for (const p of out) {
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(' ').map(Number));
      }
    } catch {
      // gone
    }
  }
  return out;
}

/** CPU ticks and RSS (kB) of a process tree. */
function sample(pid: number): { ticks: number; rssKb: number } {
  let ticks = 0;
  let rssKb = 0;
  for (const p of descendants(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      rssKb += Number(/VmRSS:\s*(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return { ticks, rssKb };
}

const lab = makePodLab({ id: 'r', routed: [{ name: 'a', ip: '198.19.104.1' }, { name: 'b', ip: '198.19.104.2' }] });
try {
  const a = lab.pods.get('a')!;
  const b = lab.pods.get('b')!;
  lab.start(b.ns, [process.execPath, '-e', SERVER, b.ip]);
  const up = await lab.sh(a.ns, `for i in $(seq 50); do curl -s -m 1 -o /dev/null http://${b.ip}:8080/up && exit 0; sleep 0.2; done; exit 1`);
  if (up.code !== 0) throw new Error('lab server did not start');
  const agent = lab.start(lab.node, [process.execPath, cliBin, 'agent', '--node', 'n1', '-i', 'any', ...AGENT_ARGS], 'pipe');
  let entries = 0;
  agent.stdout!.on('data', (c: Buffer) => {
    for (const x of c) if (x === 10) entries++;
  });
  let err = '';
  agent.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  while (!/capturing on any/.test(err)) await new Promise((r) => setTimeout(r, 100));
  agent.stdin!.write(JSON.stringify({ pods: [a, b].map((p) => ({ name: p.name, namespace: 'lab', ips: [p.ip] })) }) + '\n');
  while (!/per-pod: 2 pods/.test(err)) await new Promise((r) => setTimeout(r, 100));

  const rows: string[] = ['| phase | calls/s (client) | entries | agent CPU (cores) | agent RSS peak (MB) |', '|---|---|---|---|---|'];
  let peakAll = 0;
  for (const rate of RATES) {
    const before = sample(agent.pid!);
    const e0 = entries;
    let peak = before.rssKb;
    const t0 = Date.now();
    const timer = setInterval(() => (peak = Math.max(peak, sample(agent.pid!).rssKb)), 250);
    let calls = 0;
    if (rate === '0') await new Promise((r) => setTimeout(r, SECONDS * 1000));
    else {
      const r = await lab.sh(a.ns, `${process.execPath} -e "$CLIENT" ${b.ip} ${rate} ${SECONDS}`.replace('"$CLIENT"', `'${CLIENT.replace(/'/g, `'\\''`)}'`), (SECONDS + 30) * 1000);
      calls = Number(r.stdout.trim());
    }
    await new Promise((r) => setTimeout(r, 1500)); // the agent finishes what it holds
    clearInterval(timer);
    const after = sample(agent.pid!);
    const secs = (Date.now() - t0) / 1000;
    peak = Math.max(peak, after.rssKb);
    peakAll = Math.max(peakAll, peak);
    const cores = (after.ticks - before.ticks) / TICKS / secs;
    rows.push(`| ${rate === '0' ? 'idle' : rate === 'max' ? 'max' : `${rate}/s`} | ${rate === '0' ? 0 : Math.round(calls / SECONDS)} | ${entries - e0} | ${cores.toFixed(2)} | ${(peak / 1024).toFixed(0)} |`);
    process.stderr.write(`bench: ${rows.at(-1)}\n`);
  }
  agent.stdin!.write('{"stop":true}\n');
  await new Promise((r) => agent.on('close', r));
  const last = err.split('\n').filter((l) => /^agent|per-pod:|lost|dropped/.test(l)).slice(-3).join('\n  ');
  process.stdout.write(`${rows.join('\n')}\n\nagent process tree peak RSS over the run: ${(peakAll / 1024).toFixed(0)} MB\nagent's last words:\n  ${last}\n`);
} finally {
  lab.stop();
}
