// Backpressure from the CLI's stdout to the agents' exec streams. When the
// reader of stdout is slow (`shark tap -A | slow-reader`), entries pile up in
// the CLI: in the time-order merger and in stdout's write queue. Rather than
// let them grow without limit, the exec websockets are paused (their TCP
// windows close, the API server and kubelet stop reading, the agent's stdout
// pipe fills and the agent counts what it cannot queue as "lost in queue").
//
// Two bounds, both counted when hit:
//  - per stream: entries of one agent held in the merger; only that stream
//    pauses, so one busy node cannot crowd out the others;
//  - shared: bytes waiting for stdout; every stream pauses, and all resume
//    together once it drained to a quarter, so none is starved.
// Nothing here blocks: a paused stream is simply not read.

export interface PausableStream {
  pause(): void;
  resume(): void;
}

export interface StreamFlowOptions {
  /** Entries of one stream held before it is paused (default 2,000). */
  maxHeldPerStream?: number;
  /** Bytes waiting for stdout before every stream is paused (default 8 MB). */
  maxPendingBytes?: number;
  /** What is waiting for stdout right now (the sink's buffer + the stream's queue). */
  pendingBytes: () => number;
}

export interface StreamFlowCounters {
  /** Times a stream was paused because it held too many entries. */
  streamPauses: number;
  /** Times every stream was paused because stdout was behind. */
  outputPauses: number;
  /** Most entries one stream held at once. */
  maxHeld: number;
  /** Most bytes that waited for stdout at once. */
  maxPendingBytes: number;
}

interface StreamState {
  stream: PausableStream;
  held: number;
  paused: boolean;
}

export class StreamFlow {
  private readonly streams = new Map<string, StreamState>();
  private outputBehind = false;
  private readonly maxHeld: number;
  private readonly maxPending: number;
  readonly counters: StreamFlowCounters = { streamPauses: 0, outputPauses: 0, maxHeld: 0, maxPendingBytes: 0 };

  constructor(private readonly opts: StreamFlowOptions) {
    this.maxHeld = opts.maxHeldPerStream ?? 2000;
    this.maxPending = opts.maxPendingBytes ?? 8 * 1024 * 1024;
  }

  /** A new stream (a session): it starts running unless stdout is behind. */
  add(id: string, stream: PausableStream): void {
    const s: StreamState = { stream, held: 0, paused: false };
    this.streams.set(id, s);
    this.apply(s);
  }

  remove(id: string): void {
    this.streams.delete(id);
  }

  /** One entry of `id` is now held (in the merger). */
  held(id: string): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.held++;
    if (s.held > this.counters.maxHeld) this.counters.maxHeld = s.held;
    if (s.held >= this.maxHeld && !s.paused) this.counters.streamPauses++;
    this.apply(s);
  }

  /** One entry of `id` left the CLI's hands (written, or dropped by a filter). */
  released(id: string): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.held = Math.max(0, s.held - 1);
    // Resume at half the bound, not just under it: no pause/resume per entry.
    if (s.paused && s.held <= this.maxHeld / 2) this.apply(s);
  }

  /** Look at stdout's backlog: call after writes and on a timer (it drains on its own). */
  check(): void {
    const pending = this.opts.pendingBytes();
    if (pending > this.counters.maxPendingBytes) this.counters.maxPendingBytes = pending;
    const behind = this.outputBehind ? pending > this.maxPending / 4 : pending > this.maxPending;
    if (behind === this.outputBehind) return;
    this.outputBehind = behind;
    if (behind) this.counters.outputPauses++;
    for (const s of this.streams.values()) this.apply(s);
  }

  get isOutputBehind(): boolean {
    return this.outputBehind;
  }

  private apply(s: StreamState): void {
    const want = this.outputBehind || (s.paused ? s.held > this.maxHeld / 2 : s.held >= this.maxHeld);
    if (want === s.paused) return;
    s.paused = want;
    if (want) s.stream.pause();
    else s.stream.resume();
  }
}

/** The counters as one stderr line, or nothing when no bound was hit. */
export function flowSummary(c: StreamFlowCounters): string | undefined {
  if (c.streamPauses === 0 && c.outputPauses === 0) return undefined;
  const mb = (c.maxPendingBytes / (1024 * 1024)).toFixed(1);
  return `tap: backpressure: stdout was behind ${c.outputPauses} time(s), an agent stream held too many entries ${c.streamPauses} time(s); agent streams were paused meanwhile (at most ${c.maxHeld} entries held per stream, ${mb} MB waiting for stdout)`;
}
