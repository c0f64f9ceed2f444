// Benchmark: `shark dissect` on the crafted captures of issue 22's memory rows
// (bench/hostile-captures.ts makes them), beside tshark on the same files.
// Peak RSS is the figure the issue sets targets for; CPU seconds (user + sys)
// are shown beside wall time because the machine is shared and wall time
// moves with the load. Figures only: nothing here asserts.
//   npx tsx bench/hostile.ts [--only syn200k,dns300k,…]
// benchHostile() returns the rows for `npm run bench -- --only hostile`.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../test/helpers/paths.js';
import { ensureHostileCaptures, hostileCaptures } from './hostile-captures.js';
import { renderTable, type BenchRow } from './lib.js';

interface Run {
  wallS: number;
  cpuS: number;
  rssMb: number;
  stderr: string;
}

/** One run under GNU time (%M peak RSS KB, %U/%S CPU seconds), stdout discarded. */
async function timed(argv: string[]): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'shark-bench-hostile-'));
  const timeFile = join(dir, 'time');
  const devNull = openSync('/dev/null', 'w');
  try {
    const started = process.hrtime.bigint();
    const stderr = await new Promise<string>((resolve, reject) => {
      const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, ...argv], { stdio: ['ignore', devNull, 'pipe'] });
      let err = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        err = (err + d).slice(-4000);
      });
      child.on('error', reject);
      child.on('close', () => resolve(err));
    });
    const wallS = Number(process.hrtime.bigint() - started) / 1e9;
    const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    return { wallS, rssMb: Math.round(last[0]! / 102.4) / 10, cpuS: last[1]! + last[2]!, stderr };
  } finally {
    closeSync(devNull);
    rmSync(dir, { recursive: true, force: true });
  }
}

const figure = (r: Run): string => `${r.wallS.toFixed(1)} s wall, ${r.cpuS.toFixed(1)} s CPU`;

export async function benchHostile(only?: string[]): Promise<BenchRow[]> {
  const log = (m: string): void => void process.stderr.write(`bench hostile: ${m}\n`);
  const files = ensureHostileCaptures(only, log);
  const rows: BenchRow[] = [];
  for (const c of hostileCaptures) {
    const file = files.get(c.name);
    if (!file) continue;
    log(`${c.name}: shark dissect, then tshark…`);
    const shark = await timed([process.execPath, join(repoRoot, 'bin', 'run.js'), 'dissect', file]);
    const tshark = await timed(['tshark', '-r', file, '-q', '-z', 'io,phs']);
    // shark's one summary line ("dissect: N packets, M entries; lost or damaged: …") says what was given up.
    const summary = shark.stderr.split('\n').find((l) => l.startsWith('dissect:')) ?? shark.stderr.trim().split('\n').pop() ?? '';
    const timeGoal = c.name === 'syn1m' ? shark.wallS < 10 : true;
    rows.push({
      name: `hostile: ${c.what}`,
      shark: `shark dissect ${c.file}`,
      peer: `tshark -r ${c.file} -q -z io,phs`,
      sharkFigure: figure(shark),
      peerFigure: figure(tshark),
      ratio: tshark.wallS / shark.wallS,
      sharkRssMb: shark.rssMb,
      peerRssMb: tshark.rssMb,
      goal: c.target,
      met: shark.rssMb < c.targetMb && timeGoal,
      note: summary.replace(/^dissect: /, ''),
    });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;
  process.stdout.write(`${renderTable(await benchHostile(only))}\n`);
}
