// `shark tap -A | slow-reader`: the CLI's peak RSS and its backpressure
// counters with a stand-in agent flooding N entries (test/fixtures/agents/
// entry-agent.mjs) through the API-server fixture, read by a slow consumer
// (16 KB every 20 ms) and by a fast one. Figures only.
//   node --import tsx bench/k8s/backpressure.ts [--entries 30000]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerFixture } from '../../test/fixtures/apiserver/server.js';
import { cliBin, repoRoot } from '../../test/helpers/paths.js';

const i = process.argv.indexOf('--entries');
const N = i >= 0 ? Number(process.argv[i + 1]) : 30_000;
const AGENT = join(repoRoot, 'test', 'fixtures', 'agents', 'entry-agent.mjs');

async function once(slow: boolean): Promise<string> {
  const f = new ApiServerFixture({
    nodes: [{ name: 'node0', ip: '198.19.110.1' }],
    spawnExec: (command) => spawn(process.execPath, [AGENT, ...command.slice(2)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SHARK_FAKE_COUNT: String(N), SHARK_FAKE_PAD: '400' } }),
  });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.19.110.12', node: 'node0' });
  await f.listen();
  const dir = mkdtempSync(join(tmpdir(), 'shark-bench-bp-'));
  f.writeKubeconfig(join(dir, 'kc'));
  const child = spawn(process.execPath, [cliBin, 'tap', '-A', '--kubeconfig', join(dir, 'kc')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  let bytes = 0;
  let lines = 0;
  const count = (c: Buffer) => {
    bytes += c.length;
    for (const b of c) if (b === 10) lines++;
  };
  const t0 = Date.now();
  if (slow) {
    const timer = setInterval(() => {
      const c = (child.stdout!.read(16 * 1024) ?? child.stdout!.read()) as Buffer | null;
      if (c) count(c);
    }, 20);
    child.on('close', () => clearInterval(timer));
  } else child.stdout!.on('data', count);
  while (lines < N) {
    if (Date.now() - t0 > 300_000) throw new Error(`only ${lines} of ${N} entries after 300 s\n${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const ms = Date.now() - t0;
  // Peak RSS of the CLI so far (GNU time would swallow the SIGINT below).
  const rss = Number(/VmHWM:\s*(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
  child.kill('SIGINT');
  await new Promise((r) => child.on('close', r));
  await f.close();
  const bp = /^tap: backpressure: .*$/m.exec(err)?.[0] ?? 'tap: no backpressure bound hit';
  return `${slow ? 'slow reader (16 KB / 20 ms)' : 'fast reader'}: ${lines} entries (${(bytes / 1048576).toFixed(1)} MB) in ${(ms / 1000).toFixed(1)} s, CLI peak RSS ${rss.toFixed(0)} MB\n  ${bp}`;
}

process.stdout.write(`${await once(false)}\n${await once(true)}\n`);
