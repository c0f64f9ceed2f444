// One dissection worker: reads packet records from its ring, runs the
// ordinary engine on them (reassembly, detection, parsers), redacts and
// serialises each entry, and posts results back in batches tagged with the
// keys that let the main thread restore the single-thread order and ids.

import { parentPort, workerData } from 'node:worker_threads';
import type { Entry } from '../../model/entry.js';
import { DissectionEngine } from '../engine.js';
import { RingReader, TakenRecords, type RingHandle } from './ring.js';
import { LineBatch } from './line-batch.js';
import { DATAGRAM_HEADER, LINES_HEADER, PACKET_HEADER, RecordType, type FilteredBlock, type FilterWire, type WorkerOutput, type WorkerSpec } from './wire.js';
import { TlsKeyLog } from '../tls/keylog.js';
import { tlsKeysFromFlag } from '../../cli/tls-keylog-file.js';
import { loadProtoDir } from '../protocols/proto-schema.js';
import { redactorFromFlags } from '../../redact/from-flags.js';
import type { Redactor } from '../../redact/entry.js';
import { createEnricher } from '../../k8s/enrich.js';
import { JsonBytes } from '../../output/json-bytes.js';
import { projectObject, specFromWire } from '../../ndjson/project-object.js';
import type { FieldSpec } from '../../ndjson/project.js';
import { StatsAggregator } from '../../stats/aggregate.js';
import { LineEntries } from '../../ndjson/line-entries.js';
import { LineSplitter } from '../../ndjson/line-spans.js';
import { badLine, isBlank, MAX_LINE_BYTES } from '../../ndjson/read.js';
import { compileFilter } from '../../filter/index.js';
import { LineMatcher } from '../../filter/line-matcher.js';
import { createRedactor } from '../../redact/entry.js';

const { ring } = workerData as { ring: RingHandle };
const port = parentPort as NonNullable<typeof parentPort>;
const reader = new RingReader(ring);
const taken = new TakenRecords();

/** Flush results after this many entries even when more records wait. */
const MAX_LINES = 1024;
/**
 * …or when this long has passed since the last flush with something to
 * hand on: a busy worker whose flows make few entries would otherwise hold
 * its watermarks (and with them every worker's entries, which merge in time
 * order) until it had 1,024 lines. `dissect --workers 2 | head -1` waited
 * 1.9 s for its line on the bench capture, one thread 0.8 s.
 */
const MAX_HOLD_MS = 25;
/**
 * Records copied out of the ring at a time. Small: the copies live until
 * handled, and a megabyte of them outlived the young generation (1 MB
 * semi-spaces, heap-flags.ts) and was promoted.
 */
const TAKE_BYTES = 64 * 1024;
const ID_PREFIX = Buffer.from('{"id":""');
/** Entries are written as UTF-8 here, then copied into the batch (output/json-bytes.ts says why). */
const json = new JsonBytes();

let keys: number[] = [];
let lines = new LineBatch();
let lows: number[] = [];
/** Dispatch position of the record being handled. */
let g = 0;
/** Every record before this position is done (markers at a packet's position follow it). */
let through = 0;

let tlsKeys = new TlsKeyLog();
let redact: Redactor | undefined;
let enrich: ((e: Entry) => void) | undefined;
let project: FieldSpec | undefined;
/** `stats`: entries are added here instead of being serialised (WorkerSpec.aggregate). */
let aggregator: StatsAggregator | undefined;
/** `stats` of NDJSON entries (WorkerSpec.lines): LINES records are read here, into the aggregator. */
let lineEntries: LineEntries | undefined;
/** Lines skipped as bad since the last post. */
let badLines: { line: number; message: string }[] = [];
/** `filter` of NDJSON (WorkerSpec.filter): LINES records are filtered here, each record's result handed back. */
let lineFilter: LinesFilter | undefined;
let filtered: FilteredBlock[] = [];
/** LINES records read in this run (a lines run's `through`), and whether any since the last post. */
let linesRecords = 0;
let linesUnposted = false;
let engine = session({ engine: {}, redact: {}, index: 0 });

/** A fresh engine (and redactor, key log) for a run. */
function session(spec: WorkerSpec): DissectionEngine {
  // Warnings about the key log are the main thread's to give (it read the same file).
  tlsKeys = tlsKeysFromFlag(spec.tlsKeylog, () => {}, false, spec.tlsKeylogText) ?? new TlsKeyLog();
  redact = spec.redact['no-redact'] ? undefined : redactorFromFlags(spec.redact, 'dissect');
  project = spec.project ? specFromWire(spec.project) : undefined;
  aggregator = spec.aggregate ? new StatsAggregator(spec.aggregate.by) : undefined;
  badLines = [];
  linesRecords = 0;
  linesUnposted = false;
  lineEntries = undefined;
  lineFilter = spec.lines && spec.filter ? new LinesFilter(spec.lines.source, spec.filter) : undefined;
  filtered = [];
  if (spec.lines && aggregator && project) {
    const table = aggregator;
    // As the one thread's stats does with NDJSON: the entry cut to the table's fields, redacted, added.
    const lines: LineEntries = new LineEntries(spec.lines.source, project, (e) => table.add(redact ? (redact(e) ?? e) : e), {
      onBadLine: (message) => badLines.push({ line: lines.line, message }),
    });
    lineEntries = lines;
  }
  const snapshot = spec.snapshot;
  enrich = snapshot ? createEnricher(() => snapshot) : undefined;
  keys = [];
  lines = new LineBatch();
  lows = [];
  g = through = 0;
  return new DissectionEngine(
    { ...spec.engine, tlsKeys, protoSchema: spec.proto ? loadProtoDir(spec.proto) : undefined, external: true },
  (entry: Entry) => {
    let e = entry;
    if (enrich) enrich(e);
    if (aggregator) {
      // As the one thread's stats does: the few fields it reads, then redacted (a small object to walk).
      const fields = project ? (projectObject(e, project) as unknown as Entry) : e;
      aggregator.add(redact ? (redact(fields) ?? fields) : fields);
      return;
    }
    // The engine's id is frame-sequence: keep its frame.
    const frame = Number(entry.id.slice(0, entry.id.lastIndexOf('-')));
    if (redact) e = redact(e) ?? e;
    e.id = '';
    const bytes = json.serialise(project ? { id: '', ...projectObject(e, project) } : e) as Buffer;
    // The id (frame-sequence) is the main thread's to give: it alone sees every worker's calls.
    if (bytes.compare(ID_PREFIX, 0, ID_PREFIX.length, 0, ID_PREFIX.length) !== 0) throw new Error('worker: entry does not start with its id');
    keys.push(engine.phase === 3 ? Number.MAX_SAFE_INTEGER : g, engine.phase, engine.emitRank, engine.emitTouch, entry.timestamp, frame);
    lines.addBytes(bytes.subarray(ID_PREFIX.length));
  },
);
}

let lastPost = performance.now();

function post(extra: Partial<WorkerOutput> = {}): void {
  lastPost = performance.now();
  const bytes = lines.take();
  const out: WorkerOutput = { through, keys: Float64Array.from(keys), lines: bytes, lows, ...extra };
  if (badLines.length > 0) out.badLines = badLines;
  if (filtered.length > 0) out.filtered = filtered;
  filtered = [];
  keys = [];
  lows = [];
  badLines = [];
  linesUnposted = false;
  port.postMessage(out, [out.keys.buffer as ArrayBuffer, bytes.buffer as ArrayBuffer]);
}

/** Every record but a packet (run() takes those). */
function handle(rec: Buffer): boolean {
  const type = rec[0];
  switch (type) {
    case RecordType.DATAGRAM: {
      g = rec.readDoubleLE(1);
      through = g - 1;
      const frame = rec.readUInt32LE(9);
      const now = rec.readDoubleLE(13);
      const srcLen = rec[24];
      const dstLen = rec[25];
      const src = rec.toString('latin1', DATAGRAM_HEADER, DATAGRAM_HEADER + srcLen);
      const dst = rec.toString('latin1', DATAGRAM_HEADER + srcLen, DATAGRAM_HEADER + srcLen + dstLen);
      const payload = rec.subarray(DATAGRAM_HEADER + srcLen + dstLen);
      engine.pushIp({ version: rec[21] as 4 | 6, protocol: rec[22], ttl: rec[23], src, dst, payload }, now, frame);
      return true;
    }
    case RecordType.TICK: {
      g = through = rec.readDoubleLE(1);
      const now = rec.readDoubleLE(9);
      engine.tickAt(now);
      lows.push(g, engine.pendingLow(now), engine.flowCount);
      return true;
    }
    case RecordType.RELEASE: {
      g = through = rec.readDoubleLE(1);
      const now = rec.readDoubleLE(9);
      engine.releaseAt(now);
      lows.push(g, engine.pendingLow(now), engine.flowCount);
      return true;
    }
    case RecordType.PROGRESS:
      g = through = rec.readDoubleLE(1);
      return true;
    case RecordType.SECRETS:
      tlsKeys.addText(rec.toString('latin1', 1));
      return true;
    case RecordType.LINES: {
      if (lineFilter) {
        // Each record's result on its own, at once: the main thread writes them in the order it sent them.
        if (rec[9] === 0) lineFilter.startAt(rec.readDoubleLE(1));
        filtered.push(lineFilter.feed(rec.subarray(LINES_HEADER)));
        through = ++linesRecords;
        post();
        return true;
      }
      if (!lineEntries) throw new Error('worker: LINES record outside a run of NDJSON lines');
      // A record that does not continue a piece of a long line starts at a line of its own.
      if (rec[9] === 0) lineEntries.startAt(rec.readDoubleLE(1));
      lineEntries.feed(rec.subarray(LINES_HEADER));
      // How far this worker is: the main thread tells bad lines in order once every worker is past them.
      through = ++linesRecords;
      linesUnposted = true;
      return true;
    }
    case RecordType.END:
      // No lineEntries.end(): the main thread ends the file's last line with a newline, and a line
      // left unfinished here is one a stop (Ctrl-C) cut, which one thread does not read either.
      engine.finish();
      g = through = Number.MAX_SAFE_INTEGER;
      post({ summary: { ...engine.summary() }, aggregate: aggregator?.toWire() });
      return true;
    case RecordType.SESSION:
      engine = session(JSON.parse(rec.toString('utf8', 1)) as WorkerSpec);
      return true;
    default:
      throw new Error(`worker: unknown record type ${type}`);
  }
}

function run(): void {
  for (;;) {
    if (!reader.ready) {
      // Nothing waiting: hand on what is done before sleeping.
      if (lines.count > 0 || lows.length > 0 || linesUnposted) post();
      if (!reader.waitForData()) return;
    }
    reader.takeInto(TAKE_BYTES, taken);
    const { runs, runOf, starts, lengths } = taken;
    for (let i = 0; i < taken.count; i++) {
      const run = runs[runOf[i]];
      const at = starts[i];
      // A packet, nearly every record: its fields read from the run, a view made only of its bytes.
      if (run[at] === RecordType.PACKET) {
        g = run.readDoubleLE(at + 1);
        through = g - 1;
        engine.pushFrame(run.readUInt32LE(at + 13), run.subarray(at + PACKET_HEADER, at + lengths[i]), run.readDoubleLE(at + 17), run.readUInt32LE(at + 9));
      } else if (!handle(taken.record(i))) return;
      if (lines.count >= MAX_LINES) post();
    }
    if ((lines.count > 0 || lows.length > 0 || linesUnposted) && performance.now() - lastPost >= MAX_HOLD_MS) post();
  }
}

/**
 * A worker's share of `shark filter FILE.ndjson`: lines split as one thread
 * reads them (line-spans.ts numbers, strips and bounds them as readRawLines
 * does), each decided by the same LineMatcher run.ts uses.
 */
class LinesFilter {
  private readonly splitter: LineSplitter;
  private readonly matcher: LineMatcher;
  /** Lines are read as latin1 text when the filter has a projection for it (as run.ts reads them). */
  private readonly binary: boolean;
  private readonly count: boolean;
  private readonly overLimit: () => number;
  private readonly evalErrors: () => { entries: number; first: string | undefined };
  private kept: string[] = [];
  private bad: { kept: number; message: string }[] = [];

  constructor(source: string, wire: FilterWire) {
    const f = compileFilter(wire.expr, { dialect: wire.dialect, now: wire.now });
    // Its limits are said as the filter's own (run.ts), from this thread's stderr.
    const redactor = createRedactor(wire.redact, { enabled: !wire.noRedact, paths: f.redactions ?? [], warn: (m) => process.stderr.write(`filter: ${m}\n`) });
    this.matcher = new LineMatcher(f.predicate, f.projectBinary, wire.invert, redactor, !wire.noRedact || (f.redactions ?? []).length > 0);
    this.binary = f.projectBinary !== undefined;
    this.count = wire.count;
    this.overLimit = f.entriesOverLimit ?? (() => 0);
    this.evalErrors = f.evalErrors ?? (() => ({ entries: 0, first: undefined }));
    const readOpts = { onBadLine: (message: string) => this.bad.push({ kept: this.kept.length, message }) };
    this.splitter = new LineSplitter(
      (buf, start, end, lineNo) => {
        const text = this.binary ? buf.toString('latin1', start, end) : buf.toString('utf8', start, end);
        const out = this.matcher.match({ text, lineNo }, this.binary, source, readOpts, this.count);
        if (out !== undefined) this.kept.push(out);
      },
      (lineNo) => badLine(source, lineNo, `line longer than ${MAX_LINE_BYTES} bytes`, readOpts),
      isBlank,
    );
  }

  startAt(n: number): void {
    this.splitter.startAt(n);
  }

  /** One record's lines: what they gave. */
  feed(bytes: Buffer): FilteredBlock {
    const readBefore = this.matcher.read;
    const overBefore = this.overLimit();
    const errorsBefore = this.evalErrors().entries;
    this.splitter.feed(bytes);
    const block: FilteredBlock = { text: this.count || this.kept.length === 0 ? '' : this.kept.join('\n') + '\n', kept: this.kept.length, read: this.matcher.read - readBefore };
    if (this.bad.length > 0) block.bad = this.bad;
    const over = this.overLimit() - overBefore;
    if (over > 0) block.overLimit = over;
    const errors = this.evalErrors();
    if (errors.entries > errorsBefore) {
      block.evalErrors = errors.entries - errorsBefore;
      block.evalError = errors.first;
    }
    this.kept = [];
    this.bad = [];
    return block;
  }
}

run();
