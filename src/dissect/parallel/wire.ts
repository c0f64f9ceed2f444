// What travels between the dispatcher, the workers and the merger. Into a
// worker: binary records in its ring (RecordType + little-endian fields).
// Out of a worker: one message per batch of results (entries already
// serialised to NDJSON, with the keys that put them in single-thread order).

import type { EngineOptions } from '../engine.js';
import type { RedactFlagValues } from '../../redact/flags.js';
import type { ClusterSnapshot } from '../../model/cluster.js';
import type { WireSpec } from '../../ndjson/project-object.js';
import type { StatsWire } from '../../stats/aggregate.js';

export const RecordType = {
  /** g f64, frame u32, linkType u32, time f64 (ms, packetTimeMs), then the frame's bytes. */
  PACKET: 1,
  /** g f64, frame u32, time f64 (ms), version u8, protocol u8, ttl u8, srcLen u8, dstLen u8, src, dst, payload. */
  DATAGRAM: 2,
  /** g f64, now f64: run the engine's tick, then report the pending low and the flows left. */
  TICK: 3,
  /** g f64, now f64: report the pending low and the flows (the single engine would release entries here). */
  RELEASE: 4,
  // 5 was SYNC (a barrier for the flow count at a packet), no longer sent.
  /** g f64: nothing for this worker up to here. */
  PROGRESS: 6,
  /** TLS key log text found in the capture (pcapng Decryption Secrets Block). */
  SECRETS: 7,
  /** End of input: finish every flow, report counters. */
  END: 8,
  /** A run starts: its WorkerSpec as JSON (a fresh engine). */
  SESSION: 9,
  /**
   * first f64 (the number of the first line), continued u8, then NDJSON
   * entries to add to the table (a run with `lines`): whole lines, or a piece
   * of one line too long for a record, whose next pieces follow (continued 1).
   */
  LINES: 10,
} as const;

export const LINES_HEADER = 10;

export const PACKET_HEADER = 25;
export const DATAGRAM_HEADER = 26;

/** Everything a worker needs to build the same engine and redactor as the main thread would (plain data). */
export interface WorkerSpec {
  engine: Partial<EngineOptions>;
  tlsKeylog?: string;
  /** The key log's text, when the main thread read it from a FIFO (it cannot be read again). */
  tlsKeylogText?: string;
  proto?: string;
  redact: RedactFlagValues;
  /** `dissect --meta/--kube`: names from this cluster snapshot, given before redaction as on one thread. */
  snapshot?: ClusterSnapshot;
  /** A consumer reading a few fields (stats, map): each entry is cut to these before it is serialised. */
  project?: WireSpec;
  /**
   * `stats` (a table by a built-in grouping): each worker aggregates its own
   * entries (redacted first) and hands back only its table, at END; no entry
   * leaves the worker. Tables merge exactly (stats/aggregate.ts).
   */
  aggregate?: { by: string };
  /**
   * The run's input is NDJSON entries (LINES records) from this source (named
   * in bad-line warnings): with `aggregate`, cut to `project` and added to
   * the worker's table; with `filter`, filtered, each record's result handed
   * back (WorkerOutput.filtered) for the main thread to write in the file's order.
   */
  lines?: { source: string };
  /** `shark filter` of an NDJSON file: the KFL expression and what the one thread's run.ts would apply. */
  filter?: FilterWire;
  index: number;
}

/** Fields per entry in `WorkerOutput.keys`. */
export const KEY_FIELDS = 6;

export interface WorkerOutput {
  /** Every record up to this dispatch position is done. */
  through: number;
  /** Per entry: g, phase, transport rank, flow's last frame, timestamp, frame (KEY_FIELDS each). */
  keys: Float64Array;
  /**
   * Per entry, joined by newlines (JSON never holds a raw one), as UTF-8: its
   * NDJSON line without the id's value (`{"id":"` is followed by the id, then this).
   */
  lines: Uint8Array;
  /** Triples (g, pending low, flows tracked) answering TICK and RELEASE records. */
  lows: number[];
  /** After END: the engine's counters. */
  summary?: Record<string, number>;
  /** After END, when the spec asked to aggregate: the worker's table. */
  aggregate?: StatsWire;
  /** NDJSON lines this worker skipped as bad since its last message: their numbers and warnings. */
  badLines?: { line: number; message: string }[];
  /** WorkerSpec.filter: per LINES record read since the last message, in order, what it gave. */
  filtered?: FilteredBlock[];
}

/** A KFL filter as `shark filter` runs it (filter/run.ts), for a worker to compile the same. */
export interface FilterWire {
  expr: string;
  dialect: 'kfl1' | 'kfl2' | 'auto';
  /** KFL2's now(), fixed once for the main thread and every worker. */
  now: number;
  invert: boolean;
  /** --count: only how many are kept. */
  count: boolean;
  /** Redaction (filter/run.ts: the flags' extra names, and whether it is on). */
  redact: string[];
  noRedact: boolean;
}

/** What one LINES record's lines gave through a filter (WorkerSpec.filter). */
export interface FilteredBlock {
  /** The kept lines, each ended by a newline ('' with --count). */
  text: string;
  kept: number;
  /** Lines read as entries (bad ones not counted). */
  read: number;
  /**
   * Warnings for the bad lines among them, in order, each after `kept` of
   * the kept lines (a limit reached before it means one thread never read it).
   */
  bad?: { kept: number; message: string }[];
  /** Entries among them over the KFL2 macros' step limit (cel-macros.ts): non-matches, told at the end by the main thread. */
  overLimit?: number;
  /** Entries among them whose evaluation met CEL's error (cel-errors.ts), and the first such error. */
  evalErrors?: number;
  evalError?: string;
}
