// `npm run bench`: shark beside its peer tools on the same lab capture, in the
// same run, alternating, medians of several runs (issue 9). Prints a table
// (stdout), or JSON with --json, or Markdown with --markdown.
//   npm run bench -- [--runs N] [--json|--markdown] [--only dissect,filter,…] [--force-capture]
//                    [--capture FILE --capture2x FILE] [--profile]
// --profile: also runs `shark dissect` once under node --cpu-prof and prints where the time goes.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../test/helpers/paths.js';
import { ensureBenchCaptures, cacheDir, packetCount } from './capture.js';
import {
  alternate, mb, measureOnce, measureThreads, normaliseRows, rate, renderTable, summariseCpuProfile,
  type BenchContext, type BenchRow, type Measured,
} from './lib.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(option('--runs') ?? 3);
const only = option('--only')?.split(',');
const wanted = (name: string): boolean => !only || only.includes(name);
const log = (m: string): void => void process.stderr.write(`bench: ${m}\n`);

/** Optional modules written beside this one; each exports one function returning rows. */
const optionalModules = [
  { name: 'filter', file: 'filter.ts', fn: 'benchFilter' },
  { name: 'stats', file: 'stats.ts', fn: 'benchStats' },
  { name: 'merge', file: 'merge.ts', fn: 'benchMerge' },
  { name: 'map', file: 'map.ts', fn: 'benchMap' },
  { name: 'tap', file: 'tap.ts', fn: 'benchTap' },
  { name: 'hostile', file: 'hostile.ts', fn: 'benchHostile' },
  { name: 'tls', file: 'tls.ts', fn: 'benchTls' },
  { name: 'catalog', file: 'catalog.ts', fn: 'benchCatalog' },
] as const;

const FLAT_RSS_RATIO = 1.2; // "flat": at most 20% more peak RSS for twice the input

function machine(): Record<string, string | number> {
  const lscpu = spawnSync('lscpu', { encoding: 'utf8' }).stdout ?? '';
  const field = (name: string): string => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(lscpu)?.[1]?.trim() ?? '';
  const tshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? '';
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpu: field('Model name') || (cpus()[0]?.model ?? ''),
    memoryGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    tshark,
    loadAverage: execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' '),
  };
}

async function benchDissect(ctx: BenchContext): Promise<{ rows: BenchRow[]; measured: Measured[] }> {
  log(`dissect vs tshark -z io,phs on ${ctx.packets} packets, ${runs} runs each, alternating…`);
  // --workers 1 is one thread (the default for captures under 64 MB); 2 and 4 show how the parallel engine scales, auto what this machine picks (docs/performance.md).
  const [shark, tshark, shark2w, shark4w, sharkAuto] = await alternate(
    [
      { label: 'shark dissect', argv: [...ctx.shark, 'dissect', '--workers', '1', ctx.capture] },
      { label: 'tshark io,phs', argv: ['tshark', '-r', ctx.capture, '-q', '-z', 'io,phs'] },
      { label: 'shark dissect --workers 2', argv: [...ctx.shark, 'dissect', '--workers', '2', ctx.capture] },
      { label: 'shark dissect --workers 4', argv: [...ctx.shark, 'dissect', '--workers', '4', ctx.capture] },
      { label: 'shark dissect --workers auto', argv: [...ctx.shark, 'dissect', '--workers', 'auto', ctx.capture] },
    ],
    runs,
  );
  const cpu = (m: Measured): string => `CPU ${(m.cpuMs / 1000).toFixed(2)} s`;
  const rows: BenchRow[] = [
    {
      name: 'dissect: packets/s',
      shark: 'shark dissect X > /dev/null',
      peer: 'tshark -r X -q -z io,phs',
      sharkFigure: rate(ctx.packets, shark!.wallMs, 'pkt'),
      peerFigure: rate(ctx.packets, tshark!.wallMs, 'pkt'),
      ratio: tshark!.wallMs / shark!.wallMs,
      sharkRssMb: mb(shark!.maxRssKb),
      peerRssMb: mb(tshark!.maxRssKb),
      goal: '≥ 2× tshark, ≤ 150 MB RSS',
      met: tshark!.wallMs / shark!.wallMs >= 2 && mb(shark!.maxRssKb) <= 150,
      note: `--workers 1; ${cpu(shark!)} (tshark ${(tshark!.cpuMs / 1000).toFixed(2)} s)`,
    },
  ];
  const { autoWorkers } = await import('../src/dissect/parallel/cores.js');
  for (const [n, m] of [[2, shark2w], [4, shark4w], ['auto', sharkAuto]] as const) {
    rows.push({
      name: `dissect --workers ${n === 'auto' ? `auto (${autoWorkers()} here)` : n}: packets/s`,
      shark: `shark dissect --workers ${n} X > /dev/null`,
      peer: 'tshark -r X -q -z io,phs',
      sharkFigure: rate(ctx.packets, m!.wallMs, 'pkt'),
      peerFigure: rate(ctx.packets, tshark!.wallMs, 'pkt'),
      ratio: tshark!.wallMs / m!.wallMs,
      sharkRssMb: mb(m!.maxRssKb),
      peerRssMb: mb(tshark!.maxRssKb),
      goal: n === 2 ? '≥ 2× tshark, ≤ 256 MB RSS' : n === 'auto' ? '≥ 2× tshark' : 'scaling (more cores)',
      met: n === 2 ? tshark!.wallMs / m!.wallMs >= 2 && mb(m!.maxRssKb) <= 256 : n === 'auto' ? tshark!.wallMs / m!.wallMs >= 2 : undefined,
      note: `×${(shark!.wallMs / m!.wallMs).toFixed(2)} vs --workers 1; ${cpu(m!)}`,
    });
  }
  // What each thread of a --workers 2 run costs: the main thread (reading, routing, merging, stdout) is
  // the ceiling of the parallel engine however many cores there are; the workers' shares show how evenly
  // flows split (one connection cannot be split). docs/performance.md, round 7.
  log('thread CPU of shark dissect --workers 2 (one run, /proc sampled every 50 ms)…');
  const threads = await measureThreads([...ctx.shark, 'dissect', '--workers', '2', ctx.capture]);
  const perPacketUs = (threads.mainS * 1e6) / ctx.packets;
  const ceiling = ctx.packets / threads.mainS;
  const tsharkRate = ctx.packets / (tshark!.wallMs / 1000);
  const [w1 = 0, w2 = 0] = threads.othersS;
  rows.push({
    name: 'dissect --workers 2: main-thread CPU per packet',
    shark: 'CPU of the dispatching thread / packets',
    peer: 'tshark -r X -q -z io,phs',
    sharkFigure: `${perPacketUs.toFixed(1)} µs/pkt → ≤ ${rate(ctx.packets, threads.mainS * 1000, 'pkt')}`,
    peerFigure: rate(ctx.packets, tshark!.wallMs, 'pkt'),
    ratio: ceiling / tsharkRate,
    goal: 'what more cores can reach (information)',
    note: `main ${threads.mainS.toFixed(2)} s; busiest other threads ${w1.toFixed(2)} s and ${w2.toFixed(2)} s (workers); wall ${(threads.wallMs / 1000).toFixed(1)} s`,
  });
  // With 4 workers each thread does a quarter or less: the busiest thread (the dispatcher, or the worker
  // given the most flows) is what a machine with a core for every thread would take. Information, not a
  // measured rate: this machine has 2 cores. docs/performance.md, round 10.
  log('thread CPU of shark dissect --workers 4 (one run)…');
  const threads4 = await measureThreads([...ctx.shark, 'dissect', '--workers', '4', ctx.capture]);
  const busiest4 = Math.max(threads4.mainS, threads4.othersS[0] ?? 0);
  rows.push({
    name: 'dissect --workers 4: busiest thread, with a core for each',
    shark: 'packets / CPU of the busiest thread',
    peer: 'tshark -r X -q -z io,phs',
    sharkFigure: `${busiest4.toFixed(2)} s → ≤ ${rate(ctx.packets, busiest4 * 1000, 'pkt')}`,
    peerFigure: rate(ctx.packets, tshark!.wallMs, 'pkt'),
    ratio: ctx.packets / busiest4 / tsharkRate,
    goal: 'what more cores can reach (information)',
    note: `main ${threads4.mainS.toFixed(2)} s; busiest other threads ${threads4.othersS
      .slice(0, 4)
      .map((x) => x.toFixed(2))
      .join(', ')} s; wall ${(threads4.wallMs / 1000).toFixed(1)} s`,
  });
  log(`peak RSS at 2× input (${ctx.packets2x} packets), one run each…`);
  const shark2 = await measureOnce({ label: 'shark dissect 2×', argv: [...ctx.shark, 'dissect', '--workers', '1', ctx.capture2x] });
  const tshark2 = await measureOnce({ label: 'tshark 2×', argv: ['tshark', '-r', ctx.capture2x, '-q', '-z', 'io,phs'] });
  const workers2x = await measureOnce({ label: 'shark dissect --workers 2, 2×', argv: [...ctx.shark, 'dissect', '--workers', '2', ctx.capture2x] });
  const growth = shark2.maxRssKb / shark!.maxRssKb;
  rows.push({
    name: 'dissect: RSS 1× → 2× input',
    sharkFigure: `${mb(shark!.maxRssKb)} → ${mb(shark2.maxRssKb)} MB`,
    peerFigure: `${mb(tshark!.maxRssKb)} → ${mb(tshark2.maxRssKb)} MB`,
    ratio: (tshark2.maxRssKb / tshark!.maxRssKb) / growth,
    sharkRssMb: mb(shark2.maxRssKb),
    peerRssMb: mb(tshark2.maxRssKb),
    goal: `flat (≤ ${FLAT_RSS_RATIO}× for 2× input)`,
    met: growth <= FLAT_RSS_RATIO,
    note: `shark ×${growth.toFixed(2)}, tshark ×${(tshark2.maxRssKb / tshark!.maxRssKb).toFixed(2)}; 2× wall: shark ${(shark2.wallMs / 1000).toFixed(1)} s, tshark ${(tshark2.wallMs / 1000).toFixed(1)} s`,
  });
  const growth2w = workers2x.maxRssKb / shark2w!.maxRssKb;
  rows.push({
    name: 'dissect --workers 2: RSS 1× → 2× input',
    sharkFigure: `${mb(shark2w!.maxRssKb)} → ${mb(workers2x.maxRssKb)} MB`,
    peerFigure: `${mb(tshark!.maxRssKb)} → ${mb(tshark2.maxRssKb)} MB`,
    ratio: (tshark2.maxRssKb / tshark!.maxRssKb) / growth2w,
    sharkRssMb: mb(workers2x.maxRssKb),
    peerRssMb: mb(tshark2.maxRssKb),
    goal: `≤ 256 MB, flat (≤ ${FLAT_RSS_RATIO}×)`,
    met: growth2w <= FLAT_RSS_RATIO && mb(workers2x.maxRssKb) <= 256,
    note: `shark ×${growth2w.toFixed(2)}; 2× wall ${(workers2x.wallMs / 1000).toFixed(1)} s`,
  });
  const once = (label: string, s: typeof shark2): Measured => ({ label, runs: 1, wallMs: s.wallMs, maxRssKb: s.maxRssKb, cpuMs: s.cpuMs, samples: [s] });
  return { rows, measured: [shark!, tshark!, shark2w!, shark4w!, sharkAuto!, once('shark dissect 2×', shark2), once('tshark io,phs 2×', tshark2), once('shark dissect --workers 2, 2×', workers2x)] };
}

async function runOptional(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const mod of optionalModules) {
    if (!wanted(mod.name)) continue;
    const path = join(repoRoot, 'bench', mod.file);
    if (!existsSync(path)) {
      rows.push({ name: mod.name, note: `skipped: bench/${mod.file} not present` });
      continue;
    }
    log(`${mod.name}: running ${mod.fn}() from bench/${mod.file}…`);
    try {
      const loaded = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
      const fn = loaded[mod.fn];
      if (typeof fn !== 'function') {
        rows.push({ name: mod.name, note: `skipped: bench/${mod.file} exports no ${mod.fn}()` });
        continue;
      }
      const bench = fn as (c?: BenchContext) => Promise<unknown>;
      rows.push(...normaliseRows(mod.name, await (wantsContext(bench) ? bench(ctx) : bench())));
    } catch (err) {
      rows.push({ name: mod.name, note: `failed: ${(err as Error).message.split('\n')[0]}` });
    }
  }
  return rows;
}

/** True when the function's first parameter is declared without a default and named like a context object. */
function wantsContext(fn: (...a: never[]) => unknown): boolean {
  const first = /^[^(]*\(\s*([A-Za-z_$][\w$]*)/.exec(fn.toString())?.[1] ?? '';
  return fn.length >= 1 && /^(ctx|context|opts|options)$/i.test(first);
}

function renderMarkdown(rows: BenchRow[]): string {
  const lines = ['| benchmark | shark | peer | ratio | shark RSS | peer RSS | goal | met | note |', '|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    lines.push(
      `| ${[r.name, r.sharkFigure, r.peerFigure, r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`,
        r.sharkRssMb === undefined ? '' : `${r.sharkRssMb} MB`, r.peerRssMb === undefined ? '' : `${r.peerRssMb} MB`,
        r.goal, r.met === undefined ? '' : r.met ? 'yes' : 'no', r.note].map((c) => c ?? '').join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** One `shark dissect` under the V8 profiler; the figures go to stderr (and the JSON report). */
async function profileDissect(ctx: BenchContext): Promise<ReturnType<typeof summariseCpuProfile>> {
  const dir = mkdtempSync(join(tmpdir(), 'shark-bench-prof-'));
  try {
    log('profiling shark dissect (node --cpu-prof)…');
    const [node, ...cli] = ctx.shark;
    await measureOnce({ label: 'shark dissect --cpu-prof', argv: [node!, '--cpu-prof', `--cpu-prof-dir=${dir}`, ...cli, 'dissect', '--workers', '1', ctx.capture] });
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('node wrote no .cpuprofile');
    const summary = summariseCpuProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')));
    log(`profile: ${summary.totalMs} ms sampled; self time by function:`);
    for (const f of summary.functions) log(`  ${f.percent.toFixed(1).padStart(5)}%  ${f.name}`);
    log('self time by file:');
    for (const f of summary.files) log(`  ${f.percent.toFixed(1).padStart(5)}%  ${f.name}`);
    return summary;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  // --capture A --capture2x B: measure other files (e.g. a quick check of the harness itself)
  const given = option('--capture');
  const captures = given
    ? { capture: given, capture2x: option('--capture2x') ?? given, packets: packetCount(given),
        packets2x: packetCount(option('--capture2x') ?? given), doubling: 'given' }
    : await ensureBenchCaptures({ force: args.includes('--force-capture'), log });
  const ctx: BenchContext = {
    capture: captures.capture,
    capture2x: captures.capture2x,
    packets: captures.packets,
    packets2x: captures.packets2x,
    runs,
    shark: [process.execPath, join(repoRoot, 'bin', 'run.js')],
  };
  const rows: BenchRow[] = [];
  let measured: Measured[] = [];
  if (wanted('dissect')) {
    if (existsSync(join(repoRoot, 'dist', 'commands', 'dissect.js'))) {
      const dissect = await benchDissect(ctx);
      rows.push(...dissect.rows);
      measured = dissect.measured;
    } else {
      // Until shark dissect is built, still show the peer's figures.
      log('dist/commands/dissect.js missing (run `npm run build`): tshark only');
      const [tshark] = await alternate([{ label: 'tshark io,phs', argv: ['tshark', '-r', ctx.capture, '-q', '-z', 'io,phs'] }], runs);
      rows.push({
        name: 'dissect: packets/s',
        peer: 'tshark -r X -q -z io,phs',
        peerFigure: rate(ctx.packets, tshark!.wallMs, 'pkt'),
        peerRssMb: mb(tshark!.maxRssKb),
        goal: '≥ 2× tshark, ≤ 150 MB RSS',
        note: 'shark not built',
      });
      measured = [tshark!];
    }
  }
  rows.push(...(await runOptional(ctx)));
  const profile = args.includes('--profile') ? await profileDissect(ctx) : undefined;

  if (args.includes('--json')) {
    const report = { machine: machine(), captures, cacheDir, runs, rows, measured, profile };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else if (args.includes('--markdown')) {
    process.stdout.write(`${renderMarkdown(rows)}\n`);
  } else {
    process.stdout.write(`${renderTable(rows)}\n`);
    const m = machine();
    process.stdout.write(`machine: ${m.nproc} CPU (${m.cpu}), ${m.memoryGB} GB, node ${m.node}, ${m.tshark}, load ${m.loadAverage}\n`);
    process.stdout.write(`input: ${captures.capture} (${captures.packets} packets), 2×: ${captures.packets2x} packets (${captures.doubling})\n`);
  }
}

await main();
