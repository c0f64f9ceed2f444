// Benchmark plumbing: run a command and its peer alternately, measure wall time
// and peak RSS of each run, take medians, print a table (or JSON).
// Figures only: nothing here asserts a speed.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';

/** One run of a command. */
export interface Sample {
  wallMs: number;
  /** peak resident set size of the process (and of the children it waited for), in KB, from GNU time's %M */
  maxRssKb: number;
  /** CPU time (user + system, every thread) from GNU time's %U %S: what a busy shared machine disturbs least. */
  cpuMs: number;
  exitCode: number;
}

export interface Command {
  label: string;
  argv: string[];
  /** where stdout goes: discarded (default) or a file */
  stdoutFile?: string;
  /** exit codes that count as success (default [0]) */
  okCodes?: number[];
}

/** Medians over several runs of one command. */
export interface Measured {
  label: string;
  runs: number;
  wallMs: number;
  maxRssKb: number;
  cpuMs: number;
  samples: Sample[];
}

const gnuTime = '/usr/bin/time';

/** Runs argv once under GNU time; stdout to /dev/null (or a file), stderr kept for error messages. */
export async function measureOnce(cmd: Command): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'shark-bench-'));
  const timeFile = join(dir, 'time');
  const stdoutFd = openSync(cmd.stdoutFile ?? '/dev/null', 'w');
  try {
    const started = process.hrtime.bigint();
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
      const child = spawn(gnuTime, ['-f', '%U %S %M', '-o', timeFile, ...cmd.argv], { stdio: ['ignore', stdoutFd, 'pipe'] });
      let err = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        if (err.length < 4000) err += d;
      });
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c ?? 1, stderr: err }));
    });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    // GNU time prints "Command exited with non-zero status N" before the format line.
    const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
    const [user, sys, rss] = lines[lines.length - 1]!.split(' ').map(Number);
    const maxRssKb = rss!;
    const cpuMs = (user! + sys!) * 1000;
    if (!(cmd.okCodes ?? [0]).includes(code)) {
      throw new Error(`${cmd.label}: exit ${code}: ${cmd.argv.join(' ')}\n${stderr.trim().split('\n').slice(-3).join('\n')}`);
    }
    return { wallMs, maxRssKb, cpuMs, exitCode: code };
  } finally {
    closeSync(stdoutFd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU seconds of a process's main thread and of each other thread, as last sampled. */
export interface ThreadCpu {
  wallMs: number;
  mainS: number;
  /** Every other thread (workers, V8's GC and compiler helpers, libuv), busiest first. */
  othersS: number[];
}

/**
 * Runs argv (a node process, spawned directly) and samples its threads'
 * CPU from /proc/PID/task/TID/stat every 50 ms: what one thread of a
 * parallel run costs, which GNU time's process total cannot say. The last
 * sample is up to 50 ms before the exit, so figures are slightly low.
 */
export async function measureThreads(argv: string[]): Promise<ThreadCpu> {
  const tick = 100; // USER_HZ on Linux
  const started = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'ignore'] });
  const last = new Map<number, number>();
  const sample = (): void => {
    try {
      for (const tid of readdirSync(`/proc/${child.pid}/task`)) {
        const stat = readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        last.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / tick);
      }
    } catch {
      // The process (or a thread) ended between two reads.
    }
  };
  const timer = setInterval(sample, 50);
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  clearInterval(timer);
  if (code !== 0) throw new Error(`exit ${code}: ${argv.join(' ')}`);
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const mainS = last.get(child.pid!) ?? 0;
  const othersS = [...last].filter(([tid]) => tid !== child.pid).map(([, s]) => s).sort((a, b) => b - a);
  return { wallMs, mainS, othersS };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function summarise(label: string, samples: Sample[]): Measured {
  return {
    label,
    runs: samples.length,
    wallMs: median(samples.map((s) => s.wallMs)),
    maxRssKb: median(samples.map((s) => s.maxRssKb)),
    cpuMs: median(samples.map((s) => s.cpuMs)),
    samples,
  };
}

/**
 * Runs the commands in turn, `runs` rounds (A B A B …), so that a slow moment of
 * the shared machine hits both alike; one untimed warm-up round first fills the
 * page cache.
 */
export async function alternate(commands: Command[], runs: number, opts: { warmup?: boolean } = {}): Promise<Measured[]> {
  if (opts.warmup ?? true) for (const cmd of commands) await measureOnce(cmd);
  const samples: Sample[][] = commands.map(() => []);
  for (let round = 0; round < runs; round++) {
    for (const [i, cmd] of commands.entries()) samples[i]!.push(await measureOnce(cmd));
  }
  return commands.map((cmd, i) => summarise(cmd.label, samples[i]!));
}

/** One line of the report: shark beside its peer, with the goal and whether it was met. */
export interface BenchRow {
  name: string;
  shark?: string;
  peer?: string;
  /** e.g. "1.23 s", "210k pkt/s" */
  sharkFigure?: string;
  peerFigure?: string;
  /** shark relative to the peer, > 1 is better for shark */
  ratio?: number;
  sharkRssMb?: number;
  peerRssMb?: number;
  goal?: string;
  met?: boolean;
  note?: string;
}

/**
 * What run.ts hands to the optional bench modules (bench/filter.ts …) as their
 * first argument when that parameter is named ctx/context/opts/options (functions
 * whose first parameter has a default value, e.g. `benchFilter(entries = 200_000)`,
 * are called with no argument). They may ignore it.
 */
export interface BenchContext {
  /** the lab capture (≥ 300k packets) and its 2× version */
  capture: string;
  capture2x: string;
  packets: number;
  packets2x: number;
  runs: number;
  /** argv that runs the built CLI: [node, bin/run.js] */
  shark: string[];
}

export const mb = (kb: number): number => Math.round(kb / 102.4) / 10;
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
export function rate(count: number, ms: number, unit: string): string {
  const perSecond = count / (ms / 1000);
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M ${unit}/s`;
  if (perSecond >= 1e4) return `${Math.round(perSecond / 1000)}k ${unit}/s`;
  return `${Math.round(perSecond)} ${unit}/s`;
}

const cell = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'number' ? String(Math.round(v * 100) / 100) : String(v));

export function renderTable(rows: BenchRow[]): string {
  const table = new Table({
    head: ['benchmark', 'shark', 'peer', 'ratio', 'shark RSS', 'peer RSS', 'goal', 'met', 'note'],
    style: { head: [], border: [] },
    wordWrap: true,
    colWidths: [24, 16, 16, 8, 10, 10, 24, 5, 30],
  });
  for (const row of rows) {
    table.push([
      row.name,
      row.sharkFigure ?? '',
      row.peerFigure ?? '',
      row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}×`,
      row.sharkRssMb === undefined ? '' : `${row.sharkRssMb} MB`,
      row.peerRssMb === undefined ? '' : `${row.peerRssMb} MB`,
      row.goal ?? '',
      row.met === undefined ? '' : row.met ? 'yes' : 'NO',
      row.note ?? '',
    ]);
  }
  return table.toString();
}

/**
 * Turns whatever an optional module returned into rows: BenchRow[], {rows: […]},
 * or one object. Unknown fields are kept in `note` so nothing is silently lost.
 */
export function normaliseRows(source: string, result: unknown): BenchRow[] {
  const list: unknown[] = Array.isArray(result)
    ? result
    : result && typeof result === 'object' && Array.isArray((result as { rows?: unknown }).rows)
      ? ((result as { rows: unknown[] }).rows)
      : result === undefined || result === null
        ? []
        : [result];
  return list.map((item, i) => {
    if (!item || typeof item !== 'object') return { name: `${source} #${i + 1}`, note: cell(item) };
    const obj = item as Record<string, unknown>;
    const known = new Set(['name', 'shark', 'peer', 'sharkFigure', 'peerFigure', 'ratio', 'sharkRssMb', 'peerRssMb', 'goal', 'met', 'note']);
    const extra = Object.entries(obj)
      .filter(([k, v]) => !known.has(k) && !['tool', 'medianMs', 'entriesPerSec'].includes(k) && (typeof v !== 'object' || v === null))
      .map(([k, v]) => `${k}=${cell(v)}`)
      .join(' ');
    const str = (k: string): string | undefined => (obj[k] === undefined ? undefined : cell(obj[k]));
    // rows shaped {tool, medianMs, entriesPerSec}: one tool per row
    const timed = typeof obj.medianMs === 'number'
      ? `${seconds(obj.medianMs)}${typeof obj.entriesPerSec === 'number' ? `, ${rate(obj.entriesPerSec, 1000, 'entries')}` : ''}`
      : undefined;
    const isShark = obj.tool === undefined || obj.tool === 'shark';
    return {
      name: str('name') ?? `${source} #${i + 1}`,
      shark: str('shark'),
      peer: str('peer'),
      sharkFigure: str('sharkFigure') ?? str('shark') ?? (isShark ? timed : undefined),
      peerFigure: str('peerFigure') ?? str('peer') ?? (isShark ? undefined : timed),
      ratio: typeof obj.ratio === 'number' ? obj.ratio : undefined,
      sharkRssMb: typeof obj.sharkRssMb === 'number' ? obj.sharkRssMb : undefined,
      peerRssMb: typeof obj.peerRssMb === 'number' ? obj.peerRssMb : undefined,
      goal: str('goal'),
      met: typeof obj.met === 'boolean' ? obj.met : undefined,
      note: [str('note'), extra].filter(Boolean).join(' ') || undefined,
    };
  });
}

/** Self time per function and per file from a V8 .cpuprofile (node --cpu-prof), largest first. */
export function summariseCpuProfile(profile: {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}, top = 15): { totalMs: number; functions: { name: string; percent: number }[]; files: { name: string; percent: number }[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const file = frame.url.replace(/^.*\/(dist|src|node_modules)\//, '$1/') || `(${frame.functionName || 'native'})`;
    const name = `${frame.functionName || '(anonymous)'} ${file}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    files.set(file, (files.get(file) ?? 0) + us);
    total += us;
  }
  const ranked = (m: Map<string, number>): { name: string; percent: number }[] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, percent: Math.round((1000 * us) / total) / 10 }));
  return { totalMs: Math.round(total / 1000), functions: ranked(functions), files: ranked(files) };
}
