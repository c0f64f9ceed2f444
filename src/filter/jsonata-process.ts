// JSONata in a process of its own, watched from this one (why: jsonata.ts).
//
// A process, not a worker thread: a worker's heap limit (resourceLimits)
// holds against many small allocations, but one allocation past it
// (`$split($pad("x", 100000000), "")` asks for an 800 MB array at once) is a
// V8 fatal error that aborts the whole process, shark included. In a child
// process it ends the child only; its heap is limited with
// --max-old-space-size.
//
// Batches of entries (or NDJSON lines) go to the child in order; their
// outcomes come back in order, at least every 50 ms while it works
// (jsonata-child.ts). So when this process has heard nothing for the time
// limit (plus GRACE_MS, for JSONata's own check to answer first) while it
// waits for answers, an entry is overrunning: the child is killed, and a new
// one takes the entries not yet answered. Which entry it was is not known
// (those evaluated in the last 50 ms were not answered yet), so the new child
// answers those one at a time: when it overruns again, the entry is the first
// unanswered one, and its outcome is the time limit. (An entry that does not
// overrun twice, `$random()`, is answered as it came out.) A child that dies
// of its heap limit is handled the same way, with the memory limit. Nothing
// is ever evaluated on this thread, so a stop (Ctrl-C, SIGTERM) is seen at
// once: it kills the child and answers every pending entry CANCELLED.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serialize } from 'node:v8';
import { workerEntry } from '../dissect/parallel/worker-entry.js';
import type { Entry } from '../model/entry.js';
import { OUTCOME, type JsonataLimits, type Outcome } from './jsonata.js';
import type { JsonataJob, JsonataReply, JsonataSetup } from './jsonata-wire.js';

/** How often the child is looked at (ms). */
const WATCH_EVERY_MS = 20;
/**
 * How long an evaluation may run past its time limit before its process is
 * killed. JSONata checks its limit between evaluation steps and answers
 * first when it can (cheaply: the child goes on); a new child costs ~0.1 s
 * of CPU to start and compile.
 */
export const GRACE_MS = 100;
/**
 * V8 flags of the child (its old generation is the heap limit).
 * `--single-threaded`: no helper threads for garbage collection and
 * compilation. On 2 cores they cost more than they saved: `filter -c
 * --jsonata` of 100k bench entries (171 MB), best of 4 alternating runs,
 * 4.37 s without, 3.30 s with `--single-threaded-gc`, 2.79-2.91 s with
 * `--single-threaded`, against 2.63-2.98 s evaluating on shark's own thread
 * before. Capping the young generation (`--max-semi-space-size=4`) made it
 * slower again (4.66 s).
 */
const CHILD_FLAGS = ['--single-threaded'];

/** NDJSON lines (as latin1 strings of their bytes when `binary`), or entries. */
export type Batch = { texts: string[]; binary?: boolean } | { entries: Entry[] };

interface Job {
  from: number;
  batch: Batch;
  /** One per entry; undefined until answered. */
  results: (Outcome | undefined)[];
  resolve: (r: Outcome[]) => void;
  reject: (err: Error) => void;
}

interface Child {
  process: ChildProcess;
  /** It compiled the expression: from then on its silence is an entry's time. */
  ready: boolean;
  /** Entries numbered below this were sent to it to answer one at a time. */
  eachBelow: number;
  /** Kills it when this process exits with it still running. */
  kill: () => void;
}

export class JsonataProcess {
  private child: Child | undefined;
  private readonly jobs: Job[] = [];
  private next = 0;
  /** Entries numbered below this were answered and handed to onOutcome (in order). */
  private reported = 0;
  /** When the child was last heard from, or began to owe an answer. */
  private heardAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private stopped = false;
  /** Children killed because an evaluation ran past a limit JSONata does not check itself. */
  replaced = 0;

  constructor(
    private readonly setup: JsonataSetup,
    private readonly signal?: AbortSignal,
    /**
     * Told each outcome in entry order as soon as it and those before it are
     * known, not when their batch is: what it throws (a refusal) fails the
     * batches pending, so an expression over its limits on the first entries
     * is refused then, not after a batch of them.
     */
    private readonly onOutcome?: (o: Outcome) => void,
  ) {
    signal?.addEventListener('abort', this.stop, { once: true });
  }

  private get limits(): JsonataLimits {
    return this.setup.limits;
  }

  /** The outcomes of a batch, one per entry or line, in order. */
  run(batch: Batch): Promise<Outcome[]> {
    const n = 'texts' in batch ? batch.texts.length : batch.entries.length;
    if (this.failure) return Promise.reject(this.failure);
    if (this.stopped || this.signal?.aborted) return Promise.resolve(new Array<Outcome>(n).fill(OUTCOME.CANCELLED));
    if (n === 0) return Promise.resolve([]);
    return new Promise<Outcome[]>((resolve, reject) => {
      const job: Job = { from: this.next, batch, results: new Array<Outcome | undefined>(n), resolve, reject };
      this.next += n;
      if (this.jobs.length === 0) this.heardAt = Date.now();
      this.jobs.push(job);
      this.post(job, 0, n);
      this.timer ??= setInterval(this.watch, WATCH_EVERY_MS);
    });
  }

  /** End the child; what is pending is answered CANCELLED. */
  close(): void {
    this.signal?.removeEventListener('abort', this.stop);
    this.stop();
  }

  private readonly stop = (): void => {
    this.stopped = true;
    this.end();
    for (const job of this.jobs) for (let i = 0; i < job.results.length; i++) job.results[i] ??= OUTCOME.CANCELLED;
    this.advance();
  };

  private post(job: Job, start: number, end: number, each = false): void {
    const c = (this.child ??= this.start());
    const b = job.batch;
    const msg: JsonataJob = 'texts' in b ? { from: job.from + start, texts: slice(b.texts, start, end), binary: b.binary } : { from: job.from + start, entries: slice(b.entries, start, end) };
    if (each) {
      msg.each = true;
      c.eachBelow = Math.max(c.eachBelow, job.from + end);
    }
    try {
      c.process.send(msg);
    } catch (err) {
      if (!msg.entries) throw err;
      // An entry nested too deeply to serialize (a body of thousands of `[` given as JSON, redaction
      // off) goes as null, which is no entry there: no match, no key (JSON.parse read it; nothing else need).
      msg.entries = msg.entries.map((e) => (serializable(e) ? e : null)) as Entry[];
      c.process.send(msg);
    }
  }

  private start(): Child {
    const entry = workerEntry('filter/jsonata-child');
    const proc = fork(fileURLToPath(entry.url), [], {
      execArgv: [...entry.execArgv, `--max-old-space-size=${this.limits.heapMb}`, ...CHILD_FLAGS],
      serialization: 'advanced',
      // Its stderr would carry V8's report of a heap limit hit: said here in one line instead.
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    const child: Child = { process: proc, ready: false, eachBelow: 0, kill: () => proc.kill('SIGKILL') };
    // Not what keeps this process alive: the watch timer is, while answers are awaited.
    proc.unref();
    proc.channel?.unref();
    // An exit on an error (or process.exit) must not leave it evaluating, orphaned.
    process.once('exit', child.kill);
    proc.on('message', (m: JsonataReply) => {
      if (this.child !== child) return;
      this.heardAt = Date.now();
      if ('ready' in m) child.ready = true;
      else this.answer(m.from, m.results);
    });
    proc.on('error', (err) => {
      if (this.child === child) this.fail(err);
    });
    proc.on('exit', (code, signal) => {
      if (this.child !== child) return;
      // V8 aborts (SIGABRT) when the heap limit is reached.
      if (signal === 'SIGABRT' || code === 134) this.replace(OUTCOME.MEMORY);
      else this.fail(new Error(`the JSONata process exited (${signal ?? `code ${code}`})`));
    });
    proc.send(this.setup);
    return child;
  }

  private readonly watch = (): void => {
    const c = this.child;
    if (!c?.ready || this.jobs.length === 0) return;
    if (Date.now() - this.heardAt > this.limits.timeoutMs + GRACE_MS) this.replace(OUTCOME.TIME);
  };

  /**
   * Kill the child. When it was answering one entry at a time, the first
   * unanswered entry is the one that overran: it gets `outcome`. A new child
   * takes the rest, one at a time until the next answer tells.
   */
  private replace(outcome: number): void {
    const blame = this.child !== undefined && this.reported < this.child.eachBelow;
    this.end();
    this.replaced++;
    if (this.jobs.length === 0) return;
    if (blame) this.answer(this.reported, [outcome]);
    this.heardAt = Date.now();
    for (const j of this.jobs) {
      for (let i = 0; i < j.results.length; ) {
        if (j.results[i] !== undefined) {
          i++;
          continue;
        }
        let k = i;
        while (k < j.results.length && j.results[k] === undefined) k++;
        this.post(j, i, k, true);
        i = k;
      }
    }
  }

  /** Outcomes of consecutive entries, the first numbered `from` (never across batches). */
  private answer(from: number, results: Outcome[]): void {
    const job = this.jobs.find((j) => from >= j.from && from < j.from + j.results.length);
    if (!job) return;
    for (let i = 0, at = from - job.from; i < results.length; i++, at++) job.results[at] ??= results[i];
    this.advance();
  }

  /** Tell onOutcome what is known in order, and settle the batches that are whole, in order. */
  private advance(): void {
    while (this.jobs.length > 0) {
      const job = this.jobs[0];
      for (; this.reported < job.from + job.results.length; this.reported++) {
        const o = job.results[this.reported - job.from];
        if (o === undefined) return;
        try {
          this.onOutcome?.(o);
        } catch (err) {
          this.reported++;
          this.fail(err as Error);
          return;
        }
      }
      this.jobs.shift();
      job.resolve(job.results as Outcome[]);
    }
    this.idle();
  }

  private fail(err: Error): void {
    this.failure = err;
    this.end();
    for (const job of this.jobs.splice(0)) job.reject(err);
    this.idle();
  }

  private end(): void {
    const c = this.child;
    this.child = undefined;
    if (!c) return;
    process.off('exit', c.kill);
    c.kill();
  }

  private idle(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

function serializable(v: unknown): boolean {
  try {
    serialize(v);
    return true;
  } catch {
    return false;
  }
}

function slice<T>(a: T[], start: number, end: number): T[] {
  return start === 0 && end === a.length ? a : a.slice(start, end);
}
