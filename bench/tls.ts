// `shark tap --tls` under load, and `--tls-keylog` beside tshark (issue 17):
//  1. CPU cost of the eBPF hooks: curl sends N HTTPS requests over one
//     keep-alive connection to nginx (TLS 1.3) in two lab namespaces, once
//     with nothing hooked and once under `shark tap --tls` (which hooks both
//     curl and nginx: the both-ends path). CPU = curl + nginx worker (+ the
//     tap and its loader when hooked), per 10k requests; events lost (goal 0)
//     and calls reported from the tap's own summary and output.
//  2. `shark dissect --tls-keylog` vs `tshark -o tls.keylog_file:` on the
//     capture of the unhooked run (tcpdump + SSLKEYLOGFILE), alternating.
//   node --import tsx bench/tls.ts [--requests 5000]
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cliBin } from '../test/helpers/paths.js';
import { makeVethLab, type VethLab } from '../test/live/netns.js';
import { alternate, mb, rate, type BenchContext, type BenchRow } from './lib.js';

const log = (m: string): void => void process.stderr.write(`bench tls: ${m}\n`);
const TICK = 100; // USER_HZ

function cpuTicks(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return 0;
  }
}

function children(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

interface Round {
  requests: number;
  ok: number;
  wallMs: number;
  /** curl + the nginx worker. */
  cpuSeconds: number;
  /** shark tap and its loader, start (loading and verifying the BPF programs) included. */
  tapSeconds?: number;
  tapSummary?: string;
  entries?: number;
}

async function round(lab: VethLab, dir: string, nginxPid: number, requests: number, hooked: boolean, keylog?: string): Promise<Round> {
  const shark = hooked ? spawn('/usr/bin/time', ['-f', 'CPU %U %S', process.execPath, cliBin, 'tap', '--tls', '--no-tls-scan', '--duration', '300s'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true }) : undefined;
  let out = '';
  let err = '';
  shark?.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  shark?.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  if (shark) {
    const end = Date.now() + 60_000;
    while (!/--tls: hooked/.test(err)) {
      if (shark.exitCode !== null || Date.now() > end) throw new Error(`shark tap --tls did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const workers = children(nginxPid);
  const before = workers.reduce((s, p) => s + cpuTicks(p), 0);
  const start = Date.now();
  const env = keylog ? `SSLKEYLOGFILE=${keylog} ` : '';
  const r = await lab.sh(lab.nsA, `${env}/usr/bin/time -f 'CPU %U %S' curl -sk --http1.1 --tlsv1.3 -K ${dir}/urls.cfg -w '%{http_code}\\n'`, 600_000);
  const wallMs = Date.now() - start;
  const nginxSeconds = (workers.reduce((s, p) => s + cpuTicks(p), 0) - before) / TICK;
  if (r.code !== 0) log(`curl exited ${r.code}: ${r.stderr.slice(0, 300)}`);
  const ok = r.stdout.split('\n').filter((l) => l === '200').length;
  const [, cu, cs] = /CPU ([\d.]+) ([\d.]+)/.exec(r.stderr) ?? [];
  const cpuSeconds = nginxSeconds + Number(cu) + Number(cs);
  const result: Round = { requests, ok, wallMs, cpuSeconds };
  if (shark) {
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(-shark.pid!, 'SIGINT');
    await new Promise((r) => shark.on('close', r));
    const [, su, ss] = /CPU ([\d.]+) ([\d.]+)/.exec(err) ?? [];
    result.tapSeconds = Number(su) + Number(ss);
    result.tapSummary = /tap: (\d+ TLS events.*)/.exec(err)?.[1];
    result.entries = out.split('\n').filter((l) => l.includes(`"ip":"${lab.ipB}"`) && l.includes('"protocol":"http"')).length;
  }
  return result;
}

export async function benchTls(ctx?: Partial<BenchContext>, opts: { requests?: number } = {}): Promise<{ rows: BenchRow[] }> {
  const requests = opts.requests ?? 5000;
  const runs = ctx?.runs ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'shark-bench-tls-'));
  chmodSync(dir, 0o755);
  const lab = makeVethLab('b', '198.19.120', 's4e');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=bench', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
    writeFileSync(
      join(dir, 'nginx.conf'),
      `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents { worker_connections 64; }\nhttp {\n access_log off;\n keepalive_requests 1000000;\n client_body_temp_path ${dir}/body;\n proxy_temp_path ${dir}/proxy;\n fastcgi_temp_path ${dir}/fastcgi;\n uwsgi_temp_path ${dir}/uwsgi;\n scgi_temp_path ${dir}/scgi;\n server {\n  listen 443 ssl;\n  ssl_certificate ${dir}/c.pem;\n  ssl_certificate_key ${dir}/k.pem;\n  ssl_protocols TLSv1.2 TLSv1.3;\n  location / { return 200 "ok\\n"; }\n }\n}\n`,
    );
    writeFileSync(join(dir, 'urls.cfg'), Array.from({ length: requests }, (_, i) => `url = "https://${lab.ipB}/item/${i}"\noutput = "/dev/null"\n`).join(''));
    const nginx = lab.start(lab.nsB, ['nginx', '-c', join(dir, 'nginx.conf')]);
    nginx.stderr?.resume();
    for (let i = 0; i < 50; i++) {
      if ((await lab.sh(lab.nsA, `curl -sk -o /dev/null --max-time 1 https://${lab.ipB}/`, 3000)).code === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const nginxPid = nginx.pid!;
    // The unhooked run is also the capture for the key-log comparison.
    const cap = join(dir, 'tls.pcap');
    const keys = join(dir, 'keys.log');
    const dump = lab.start(lab.nsA, ['tcpdump', '-Z', 'root', '-i', lab.ifA, '-U', '-w', cap, 'tcp port 443']);
    await new Promise((r) => setTimeout(r, 1500));
    log(`${requests} requests, not hooked…`);
    const plain = await round(lab, dir, nginxPid, requests, false, keys);
    dump.kill('SIGINT');
    await new Promise((r) => dump.on('close', r));
    log(`${requests} requests, under shark tap --tls…`);
    const hooked = await round(lab, dir, nginxPid, requests, true);
    const per10k = (r: Round) => (r.cpuSeconds / r.ok) * 10_000;
    const lost = Number(/(\d+) lost/.exec(hooked.tapSummary ?? '')?.[1] ?? NaN);
    const rows: BenchRow[] = [
      {
        name: `tap --tls CPU cost: ${requests} HTTPS requests (curl → nginx, TLS 1.3, keep-alive), both ends hooked`,
        shark: 'hooked: curl + nginx CPU (and shark tap --tls + loader)',
        peer: 'not hooked: curl + nginx CPU',
        sharkFigure: `${per10k(hooked).toFixed(2)} CPU s per 10k requests (+ tap ${((hooked.tapSeconds ?? 0) / hooked.ok * 10_000).toFixed(2)} s per 10k, start included: ${(hooked.tapSeconds ?? 0).toFixed(2)} s in all), ${rate(hooked.ok, hooked.wallMs, 'req')}`,
        peerFigure: `${per10k(plain).toFixed(2)} CPU s per 10k requests, ${rate(plain.ok, plain.wallMs, 'req')}`,
        ratio: per10k(plain) / per10k(hooked),
        goal: 'events lost: 0; every request one entry',
        met: lost === 0 && hooked.ok === requests && hooked.entries === hooked.ok,
        note: `${hooked.entries} entries for ${hooked.ok} requests; ${hooked.tapSummary ?? 'no summary'}`,
      },
    ];
    log('dissect --tls-keylog vs tshark -o tls.keylog_file on the same capture…');
    const [s, t] = await alternate(
      [
        { label: 'shark dissect --tls-keylog', argv: [process.execPath, cliBin, 'dissect', '--tls-keylog', keys, cap] },
        { label: 'tshark -o tls.keylog_file', argv: ['tshark', '-r', cap, '-o', `tls.keylog_file:${keys}`, '-T', 'fields', '-e', 'http.request.uri', '-e', 'http.response.code'] },
      ],
      runs,
    );
    const packets = Number(execFileSync('capinfos', ['-c', '-M', cap], { encoding: 'utf8' }).match(/(\d+)\s*$/m)?.[1] ?? 0);
    rows.push({
      name: `--tls-keylog: dissect a TLS 1.3 capture (${packets} packets, ${plain.ok} HTTP calls) with its key log`,
      shark: s.label,
      peer: t.label,
      sharkFigure: `${(s.wallMs / 1000).toFixed(2)} s, ${rate(packets, s.wallMs, 'pkt')}`,
      peerFigure: `${(t.wallMs / 1000).toFixed(2)} s, ${rate(packets, t.wallMs, 'pkt')}`,
      ratio: t.wallMs / s.wallMs,
      sharkRssMb: mb(s.maxRssKb),
      peerRssMb: mb(t.maxRssKb),
      goal: 'report only',
    });
    return { rows };
  } finally {
    await lab.sh(lab.nsB, `kill -TERM $(cat ${dir}/nginx.pid) 2>/dev/null; for i in $(seq 50); do [ -e ${dir}/nginx.pid ] || break; sleep 0.1; done`, 10_000).catch(() => {});
    lab.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--requests');
  const { rows } = await benchTls({ runs: 3 }, { requests: i >= 0 ? Number(process.argv[i + 1]) : undefined });
  for (const r of rows) {
    process.stdout.write(`${r.name}\n  ${r.shark}: ${r.sharkFigure}\n  ${r.peer}: ${r.peerFigure}\n  goal: ${r.goal}: ${r.met === undefined ? '-' : r.met ? 'met' : 'NOT met'}\n  ${r.note ?? ''}\n`);
  }
}
