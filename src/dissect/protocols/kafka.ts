// Kafka wire protocol: size-prefixed requests (api key, version, correlation
// id, client id) and responses paired by correlation id; the request's key and
// version say how to read the response. Produce, Fetch and Metadata bodies are
// read for topics, partitions and error codes (flexible versions included);
// ApiVersions for its error code; the consumer-group, offset, admin and SASL
// APIs in kafka-apis.ts; other APIs are shown by header only. The
// records a Produce request carries and a Fetch response returns are read
// (record batches v2 and the older message sets; gzip, snappy, lz4 and zstd
// unpacked): offset, timestamp, key, value as a body, headers.
// Spec: https://kafka.apache.org/protocol.html

import * as zlib from 'node:zlib';
import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { BodyCollector, renderBody } from './util/body.js';
import { lz4FrameDecompress } from './util/lz4.js';
import { MessageStarts, type Stamp } from './util/message-start.js';
import { snappyDecompress } from './util/snappy.js';
import { looksLikeText, truncate } from './util/text.js';
import { zstdDecompressSync } from './util/zstd.js';
import { GROUP_REQUEST_BODIES, GROUP_RESPONSE_BODIES, NEWEST_KNOWN } from './kafka-apis.js';

export const API_KEYS = [
  'Produce', 'Fetch', 'ListOffsets', 'Metadata', 'LeaderAndIsr', 'StopReplica', 'UpdateMetadata',
  'ControlledShutdown', 'OffsetCommit', 'OffsetFetch', 'FindCoordinator', 'JoinGroup', 'Heartbeat',
  'LeaveGroup', 'SyncGroup', 'DescribeGroups', 'ListGroups', 'SaslHandshake', 'ApiVersions', 'CreateTopics',
  'DeleteTopics', 'DeleteRecords', 'InitProducerId', 'OffsetForLeaderEpoch', 'AddPartitionsToTxn',
  'AddOffsetsToTxn', 'EndTxn', 'WriteTxnMarkers', 'TxnOffsetCommit', 'DescribeAcls', 'CreateAcls', 'DeleteAcls',
  'DescribeConfigs', 'AlterConfigs', 'AlterReplicaLogDirs', 'DescribeLogDirs', 'SaslAuthenticate',
  'CreatePartitions', 'CreateDelegationToken', 'RenewDelegationToken', 'ExpireDelegationToken',
  'DescribeDelegationToken', 'DeleteGroups', 'ElectLeaders', 'IncrementalAlterConfigs',
  'AlterPartitionReassignments', 'ListPartitionReassignments', 'OffsetDelete', 'DescribeClientQuotas',
  'AlterClientQuotas', 'DescribeUserScramCredentials', 'AlterUserScramCredentials', 'Vote', 'BeginQuorumEpoch',
  'EndQuorumEpoch', 'DescribeQuorum', 'AlterPartition', 'UpdateFeatures', 'Envelope', 'FetchSnapshot',
  'DescribeCluster', 'DescribeProducers', 'BrokerRegistration', 'BrokerHeartbeat', 'UnregisterBroker',
  'DescribeTransactions', 'ListTransactions', 'AllocateProducerIds', 'ConsumerGroupHeartbeat',
];

/**
 * First "flexible" version per api key (compact strings/arrays, tagged
 * fields, request header v2); -1 = never. Keys past the table are flexible from v0.
 */
const FIRST_FLEXIBLE = [
  9, 12, 6, 9, 4, 2, 6, 3, 8, 6, 3, 6, 4, 4, 4, 5, 3, -1, 3, 5, 4, 2, 2, 4, 3, 3, 3, 1, 3, 2, 2, 2, 4, 2, 2, 2, 2,
  2, 2, 2, 2, 2, 2, 2, 1, 0, 0, -1, 1, 1, 0, 0,
  // Vote; BeginQuorumEpoch and EndQuorumEpoch (KRaft) became flexible with their v1.
  0, 1, 1,
];

const ERROR_NAMES: Record<number, string> = {
  [-1]: 'UNKNOWN_SERVER_ERROR', 0: 'NONE', 1: 'OFFSET_OUT_OF_RANGE', 2: 'CORRUPT_MESSAGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION', 4: 'INVALID_FETCH_SIZE', 5: 'LEADER_NOT_AVAILABLE', 6: 'NOT_LEADER_OR_FOLLOWER',
  7: 'REQUEST_TIMED_OUT', 8: 'BROKER_NOT_AVAILABLE', 9: 'REPLICA_NOT_AVAILABLE', 10: 'MESSAGE_TOO_LARGE',
  13: 'NETWORK_EXCEPTION', 14: 'COORDINATOR_LOAD_IN_PROGRESS', 15: 'COORDINATOR_NOT_AVAILABLE',
  16: 'NOT_COORDINATOR', 17: 'INVALID_TOPIC_EXCEPTION', 18: 'RECORD_LIST_TOO_LARGE', 19: 'NOT_ENOUGH_REPLICAS',
  20: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', 21: 'INVALID_REQUIRED_ACKS', 22: 'ILLEGAL_GENERATION',
  25: 'UNKNOWN_MEMBER_ID', 27: 'REBALANCE_IN_PROGRESS', 29: 'TOPIC_AUTHORIZATION_FAILED',
  30: 'GROUP_AUTHORIZATION_FAILED', 31: 'CLUSTER_AUTHORIZATION_FAILED', 35: 'UNSUPPORTED_VERSION',
  36: 'TOPIC_ALREADY_EXISTS', 37: 'INVALID_PARTITIONS', 41: 'NOT_CONTROLLER', 42: 'INVALID_REQUEST',
  47: 'INVALID_PRODUCER_EPOCH', 58: 'SASL_AUTHENTICATION_FAILED', 74: 'FENCED_LEADER_EPOCH',
  75: 'UNKNOWN_LEADER_EPOCH', 100: 'UNKNOWN_TOPIC_ID',
  // What the group, offset, transaction and SASL APIs answer (kafka-apis.ts).
  23: 'INCONSISTENT_GROUP_PROTOCOL', 24: 'INVALID_GROUP_ID', 26: 'INVALID_SESSION_TIMEOUT', 28: 'INVALID_COMMIT_OFFSET_SIZE',
  33: 'UNSUPPORTED_SASL_MECHANISM', 34: 'ILLEGAL_SASL_STATE', 38: 'INVALID_REPLICATION_FACTOR', 40: 'INVALID_CONFIG',
  48: 'INVALID_TXN_STATE', 49: 'INVALID_PRODUCER_ID_MAPPING', 51: 'CONCURRENT_TRANSACTIONS',
  53: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 56: 'KAFKA_STORAGE_ERROR', 68: 'NON_EMPTY_GROUP', 69: 'GROUP_ID_NOT_FOUND',
  70: 'FETCH_SESSION_ID_NOT_FOUND', 71: 'INVALID_FETCH_SESSION_EPOCH', 73: 'TOPIC_DELETION_DISABLED',
  78: 'OFFSET_NOT_AVAILABLE', 79: 'MEMBER_ID_REQUIRED', 80: 'PREFERRED_LEADER_NOT_AVAILABLE', 81: 'GROUP_MAX_SIZE_REACHED',
  82: 'FENCED_INSTANCE_ID', 87: 'INVALID_RECORD', 88: 'UNSTABLE_OFFSET_COMMIT', 89: 'THROTTLING_QUOTA_EXCEEDED',
  103: 'INCONSISTENT_TOPIC_ID', 106: 'FETCH_SESSION_TOPIC_ID_ERROR',
  110: 'FENCED_MEMBER_EPOCH', 111: 'UNRELEASED_INSTANCE_ID', 112: 'UNSUPPORTED_ASSIGNOR', 113: 'STALE_MEMBER_EPOCH',
};

export function kafkaErrorName(code: number): string {
  return ERROR_NAMES[code] ?? `ERROR_${code}`;
}

export function isFlexible(apiKey: number, version: number): boolean {
  const first = apiKey < FIRST_FLEXIBLE.length ? FIRST_FLEXIBLE[apiKey] : 0;
  return first >= 0 && version >= first;
}

/** Messages above this are counted and skipped, not buffered. */
const MAX_MESSAGE = 8 * 1024 * 1024;
/** Sizes above this mark garbage (Kafka's default max is 100 MB). */
const MAX_PLAUSIBLE = 100 * 1024 * 1024;
const MAX_PENDING = 1000;
const MAX_TOPICS_SHOWN = 100;
const MAX_PARTITIONS_SHOWN = 100;

// ---------------------------------------------------------------- reading

class Short extends Error {}

/** Reads one message's fields in either encoding (classic or flexible). */
export class Reader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    readonly flexible: boolean,
  ) {}
  need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) throw new Short();
  }
  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  int64(): number | string {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  uvarint(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      this.need(1);
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new Short();
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  /** string / nullable string in either encoding (null for a null string). */
  string(): string | null {
    const len = this.flexible ? this.uvarint() - 1 : this.int16();
    if (len < 0) return null;
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
  /** bytes / records: the bytes, or null for null. */
  bytes(): Buffer | null {
    const len = this.flexible ? this.uvarint() - 1 : this.int32();
    if (len < 0) return null;
    this.need(len);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }
  /** Array length (-1 for null). */
  arrayLength(): number {
    const n = this.flexible ? this.uvarint() - 1 : this.int32();
    if (n > this.buf.length) throw new Short(); // every element takes at least a byte
    return n;
  }
  uuid(): string {
    this.need(16);
    const s = this.buf.toString('hex', this.pos, this.pos + 16);
    this.pos += 16;
    return s;
  }
  taggedFields(): void {
    if (!this.flexible) return;
    const n = this.uvarint();
    for (let i = 0; i < n; i++) {
      this.uvarint();
      this.skip(this.uvarint());
    }
  }
  array<T>(item: () => T, cap: number): { items: T[]; count: number } {
    const n = this.arrayLength();
    const items: T[] = [];
    for (let i = 0; i < n; i++) {
      const v = item();
      if (items.length < cap) items.push(v);
    }
    return { items, count: Math.max(n, 0) };
  }
  int32Array(): number[] {
    return this.array(() => this.int32(), 1000).items;
  }
}

// ---------------------------------------------------------------- bodies

export interface TopicOut {
  name: string | null;
  topicId?: string;
  partitions: Array<Record<string, any>>;
  errorCode?: number;
}

function readProduceRequest(r: Reader, v: number, out: Record<string, any>, records: RecordReader): void {
  if (v >= 3) out.transactionalId = r.string();
  out.acks = r.int16();
  out.timeoutMs = r.int32();
  out.topics = r.array((): TopicOut => {
    const name = r.string();
    const partitions = r.array(() => {
      const partition = r.int32();
      const bytes = r.bytes();
      r.taggedFields();
      const p: Record<string, any> = { partition, recordsSize: bytes ? bytes.length : -1 };
      records.read(bytes, p);
      return p;
    }, MAX_PARTITIONS_SHOWN).items;
    r.taggedFields();
    return { name, partitions };
  }, MAX_TOPICS_SHOWN).items;
}

function readProduceResponse(r: Reader, v: number, out: Record<string, any>): void {
  out.topics = r.array((): TopicOut => {
    const name = r.string();
    const partitions = r.array(() => {
      const p: Record<string, any> = { partition: r.int32(), errorCode: r.int16(), baseOffset: r.int64() };
      if (v >= 2) p.logAppendTimeMs = r.int64();
      if (v >= 5) p.logStartOffset = r.int64();
      if (v >= 8) {
        r.array(() => {
          r.int32();
          r.string();
          r.taggedFields();
        }, 0);
        const msg = r.string();
        if (msg) p.errorMessage = msg;
      }
      r.taggedFields();
      return p;
    }, MAX_PARTITIONS_SHOWN).items;
    r.taggedFields();
    return { name, partitions };
  }, MAX_TOPICS_SHOWN).items;
  if (v >= 1) out.throttleTimeMs = r.int32();
}

function readFetchRequest(r: Reader, v: number, out: Record<string, any>): void {
  if (v < 15) out.replicaId = r.int32();
  out.maxWaitMs = r.int32();
  out.minBytes = r.int32();
  if (v >= 3) out.maxBytes = r.int32();
  if (v >= 4) out.isolationLevel = r.int8();
  if (v >= 7) {
    out.sessionId = r.int32();
    out.sessionEpoch = r.int32();
  }
  out.topics = r.array((): TopicOut => {
    const t: TopicOut = v >= 13 ? { name: null, topicId: r.uuid(), partitions: [] } : { name: r.string(), partitions: [] };
    t.partitions = r.array(() => {
      const p: Record<string, any> = { partition: r.int32() };
      if (v >= 9) r.int32(); // current leader epoch
      p.fetchOffset = r.int64();
      if (v >= 12) r.int32(); // last fetched epoch
      if (v >= 5) r.int64(); // log start offset
      p.maxBytes = r.int32();
      r.taggedFields();
      return p;
    }, MAX_PARTITIONS_SHOWN).items;
    r.taggedFields();
    return t;
  }, MAX_TOPICS_SHOWN).items;
}

function readFetchResponse(r: Reader, v: number, out: Record<string, any>, records: RecordReader): void {
  if (v >= 1) out.throttleTimeMs = r.int32();
  if (v >= 7) {
    out.errorCode = r.int16();
    out.sessionId = r.int32();
  }
  out.topics = r.array((): TopicOut => {
    const t: TopicOut = v >= 13 ? { name: null, topicId: r.uuid(), partitions: [] } : { name: r.string(), partitions: [] };
    t.partitions = r.array(() => {
      const p: Record<string, any> = { partition: r.int32(), errorCode: r.int16(), highWatermark: r.int64() };
      if (v >= 4) r.int64(); // last stable offset
      if (v >= 5) r.int64(); // log start offset
      if (v >= 4) {
        r.array(() => {
          r.int64();
          r.int64();
          r.taggedFields();
        }, 0);
      }
      if (v >= 11) r.int32(); // preferred read replica
      const bytes = r.bytes();
      p.recordsSize = bytes ? bytes.length : 0;
      r.taggedFields();
      records.read(bytes, p);
      return p;
    }, MAX_PARTITIONS_SHOWN).items;
    r.taggedFields();
    return t;
  }, MAX_TOPICS_SHOWN).items;
}

function readMetadataRequest(r: Reader, v: number, out: Record<string, any>): void {
  const n = r.arrayLength();
  if (n < 0) out.allTopics = true;
  const topics: TopicOut[] = [];
  for (let i = 0; i < n; i++) {
    const t: TopicOut = { name: null, partitions: [] };
    if (v >= 10) t.topicId = r.uuid();
    t.name = r.string();
    r.taggedFields();
    if (topics.length < MAX_TOPICS_SHOWN) topics.push(t);
  }
  out.topics = topics;
  if (v === 0 && n === 0) out.allTopics = true;
  if (v >= 4) out.allowAutoTopicCreation = r.int8() !== 0;
}

function readMetadataResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 3) out.throttleTimeMs = r.int32();
  out.brokers = r.array(() => {
    const b: Record<string, any> = { nodeId: r.int32(), host: r.string(), port: r.int32() };
    if (v >= 1) b.rack = r.string();
    r.taggedFields();
    return b;
  }, 100).items;
  if (v >= 2) out.clusterId = r.string();
  if (v >= 1) out.controllerId = r.int32();
  out.topics = r.array((): TopicOut => {
    const errorCode = r.int16();
    const name = r.string();
    const t: TopicOut = { name, errorCode, partitions: [] };
    if (v >= 10) t.topicId = r.uuid();
    if (v >= 1) r.int8(); // is internal
    t.partitions = r.array(() => {
      const p: Record<string, any> = { errorCode: r.int16(), partition: r.int32(), leader: r.int32() };
      if (v >= 7) r.int32(); // leader epoch
      p.replicas = r.int32Array();
      p.isr = r.int32Array();
      if (v >= 5) r.int32Array(); // offline replicas
      r.taggedFields();
      return p;
    }, MAX_PARTITIONS_SHOWN).items;
    if (v >= 8) r.int32(); // topic authorized operations
    r.taggedFields();
    return t;
  }, MAX_TOPICS_SHOWN).items;
}

type BodyReader = (r: Reader, v: number, out: Record<string, any>, records: RecordReader) => void;
const REQUEST_BODIES: Record<number, BodyReader> = { 0: readProduceRequest, 1: readFetchRequest, 3: readMetadataRequest, ...GROUP_REQUEST_BODIES };
const RESPONSE_BODIES: Record<number, BodyReader> = {
  ...GROUP_RESPONSE_BODIES,
  0: readProduceResponse,
  1: readFetchResponse,
  3: readMetadataResponse,
  18: (r, _v, out) => {
    out.errorCode = r.int16();
  },
};

/** The body reader for an api key at a version; undefined past the newest version a group/admin reader knows. */
function bodyReader(table: Record<number, BodyReader>, apiKey: number, version: number): BodyReader | undefined {
  const newest = NEWEST_KNOWN[apiKey];
  if (newest !== undefined && version > newest) return undefined;
  return table[apiKey];
}

/** First non-zero error code of a response (top level, then groups, coordinators, members, topics, partitions). */
function firstError(res: Record<string, any>): number {
  if (typeof res.errorCode === 'number' && res.errorCode !== 0) return res.errorCode;
  for (const list of [res.groups, res.coordinators, res.members]) {
    if (!Array.isArray(list)) continue;
    for (const item of list as Array<Record<string, any>>) {
      if (typeof item.errorCode === 'number' && item.errorCode !== 0) return item.errorCode;
      const inner = topicsError(item.topics);
      if (inner !== 0) return inner;
    }
  }
  return topicsError(res.topics);
}

function topicsError(topics: unknown): number {
  if (!Array.isArray(topics)) return 0;
  for (const t of topics as TopicOut[]) {
    if (t.errorCode) return t.errorCode;
    for (const p of t.partitions ?? []) if (p.errorCode) return p.errorCode;
  }
  return 0;
}

// ---------------------------------------------------------------- records

/** Records shown per entry (every record is counted in its partition's `recordCount`). */
const MAX_RECORDS_SHOWN = 50;
const MAX_HEADERS_SHOWN = 32;
const MAX_KEY_SHOWN = 1024;
/** A compressed batch unpacks to at most this: a larger one is counted, its records not shown. */
const MAX_UNPACKED = 4 * 1024 * 1024;
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
/** Kafka's Java client frames snappy as xerial's SnappyOutputStream does: this magic, two versions, then sized blocks. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

/**
 * Reads the records of one message's partitions into them: `recordCount`,
 * `records` (the first MAX_RECORDS_SHOWN of the message), `compression`. A
 * record set that cannot be read is said in the entry's warnings and
 * counted; the call itself is still the call.
 */
class RecordReader {
  private shown = 0;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly warnings: string[],
  ) {}

  read(bytes: Buffer | null, into: Record<string, any>): void {
    if (bytes === null || bytes.length === 0) return;
    const set: RecordSet = { count: 0, records: [], codecs: new Set() };
    try {
      this.messages(bytes, set, 0);
    } catch (e) {
      if (!(e instanceof Short)) throw e;
      this.problem('kafka.records_malformed', 'malformed record batch');
    }
    into.recordCount = set.count;
    if (set.records.length > 0) into.records = set.records;
    const codecs = [...set.codecs].filter((c) => c !== 'none');
    if (codecs.length > 0) into.compression = codecs.join(',');
  }

  /** More records are shown: the entry has room, and its reader reads bodies (`stats` and `map` do not: counts only). */
  private showing(): boolean {
    return this.shown < MAX_RECORDS_SHOWN && !this.ctx.options.bodiesUnread;
  }

  private problem(counter: string, warning: string): void {
    this.ctx.count(counter);
    if (!this.warnings.includes(`records: ${warning}`)) this.warnings.push(`records: ${warning}`);
  }

  /** Batches (magic 2) or legacy messages (magic 0/1) back to back; a fetch's last one may be cut short. */
  private messages(buf: Buffer, set: RecordSet, depth: number): void {
    let pos = 0;
    while (pos + 17 <= buf.length) {
      const length = buf.readInt32BE(pos + 8);
      const end = pos + 12 + length;
      if (length < 5) throw new Short();
      if (end > buf.length) return; // a fetch response's partial last batch: Kafka sends it, clients drop it
      const magic = buf[pos + 16];
      if (magic === 2) this.batch(buf.subarray(pos, end), set);
      else if (magic <= 1) this.legacy(buf.subarray(pos, end), magic, set, depth);
      else throw new Short();
      pos = end;
    }
  }

  /** A record batch (magic 2): its header, then records, compressed as its attributes say. */
  private batch(b: Buffer, set: RecordSet): void {
    if (b.length < 61) throw new Short();
    const codec = b.readInt16BE(21) & 7;
    const baseOffset = b.readBigInt64BE(0);
    const baseTimestamp = Number(b.readBigInt64BE(27));
    const count = b.readInt32BE(57);
    if (count < 0) throw new Short();
    set.count += count;
    set.codecs.add(CODECS[codec] ?? `codec ${codec}`);
    if (!this.showing()) return;
    const data = this.unpack(codec, b.subarray(61));
    if (data === null) return;
    const r = new VarReader(data);
    for (let i = 0; i < count && r.pos < data.length && this.shown < MAX_RECORDS_SHOWN; i++) {
      const length = r.varint();
      const end = r.pos + length;
      if (length < 0 || end > data.length) throw new Short();
      r.skip(1); // attributes
      const timestamp = baseTimestamp + r.varint();
      const offset = baseOffset + BigInt(r.varint());
      const key = r.bytes();
      const value = r.bytes();
      const headerCount = r.varint();
      const headers: Record<string, string> = {};
      for (let h = 0; h < headerCount; h++) {
        const name = r.bytes();
        const v = r.bytes();
        if (h < MAX_HEADERS_SHOWN && name !== null) headers[truncate(name.toString('utf8'), 256)] = v === null ? '' : shown(v, MAX_KEY_SHOWN);
      }
      r.pos = end;
      set.records.push(this.record(offset, timestamp, key, value, headerCount > 0 ? headers : undefined));
    }
  }

  /** A legacy message (magic 0/1) in a message set; a compressed one wraps a message set in its value. */
  private legacy(m: Buffer, magic: number, set: RecordSet, depth: number): void {
    const r = new Reader(m, false);
    const offset = r.int64();
    r.skip(4 + 4 + 1); // size, crc, magic
    const codec = r.int8() & 7;
    const timestamp = magic === 1 ? r.int64() : undefined;
    const key = r.bytes();
    const value = r.bytes();
    set.codecs.add(CODECS[codec] ?? `codec ${codec}`);
    if (codec !== 0) {
      // The wrapper's value is a message set: its messages are the records (one level deep only).
      if (value === null || depth > 0 || !this.showing()) return;
      const inner = this.unpack(codec, value);
      if (inner !== null) this.messages(inner, set, depth + 1);
      return;
    }
    set.count++;
    if (!this.showing()) return;
    set.records.push(this.record(offset, typeof timestamp === 'number' && timestamp >= 0 ? timestamp : undefined, key, value, undefined));
  }

  private record(offset: bigint | number | string, timestamp: number | undefined, key: Buffer | null, value: Buffer | null, headers: Record<string, string> | undefined): KafkaRecord {
    this.shown++;
    const rec: KafkaRecord = { offset: typeof offset === 'bigint' ? safe(offset) : offset };
    if (timestamp !== undefined) rec.timestamp = timestamp;
    if (key !== null) {
      if (looksLikeText(key)) rec.key = shown(key, MAX_KEY_SHOWN);
      else {
        rec.key = key.subarray(0, MAX_KEY_SHOWN).toString('base64');
        rec.keyEncoding = 'base64';
      }
    }
    if (value === null) rec.tombstone = true;
    else {
      const collector = new BodyCollector(this.ctx.options.maxBody);
      collector.add(value);
      Object.assign(rec, renderBody(collector, undefined, this.ctx));
    }
    if (headers) rec.headers = headers;
    return rec;
  }

  /** A batch's records as stored: unpacked by its codec, bounded; null (said and counted) when they cannot be. */
  private unpack(codec: number, data: Buffer): Buffer | null {
    try {
      switch (codec) {
        case 0:
          return data;
        case 1:
          return zlib.gunzipSync(data, { maxOutputLength: MAX_UNPACKED });
        case 2:
          return unsnappy(data);
        case 3:
          return lz4FrameDecompress(data, MAX_UNPACKED);
        case 4:
          return zstdDecompressSync(data, { maxOutputLength: MAX_UNPACKED });
        default:
          this.problem('kafka.records_malformed', `unknown compression codec ${codec}`);
          return null;
      }
    } catch {
      this.problem('kafka.records_not_unpacked', `${CODECS[codec]} batch does not unpack within ${MAX_UNPACKED / 1024 / 1024} MB`);
      return null;
    }
  }
}

interface KafkaRecord {
  offset: number | string;
  timestamp?: number;
  key?: string;
  keyEncoding?: 'base64';
  tombstone?: true;
  headers?: Record<string, string>;
  [body: string]: unknown;
}

interface RecordSet {
  count: number;
  records: KafkaRecord[];
  codecs: Set<string>;
}

/** Snappy as Kafka writes it: xerial's framing (Java clients) or a raw block. */
function unsnappy(data: Buffer): Buffer {
  if (data.length < 16 || !data.subarray(0, 8).equals(XERIAL_MAGIC)) return snappyDecompress(data, MAX_UNPACKED);
  const blocks: Buffer[] = [];
  let total = 0;
  for (let pos = 16; pos < data.length; ) {
    if (pos + 4 > data.length) throw new Short();
    const size = data.readInt32BE(pos);
    if (size < 0 || pos + 4 + size > data.length) throw new Short();
    const block = snappyDecompress(data.subarray(pos + 4, pos + 4 + size), MAX_UNPACKED - total);
    total += block.length;
    blocks.push(block);
    pos += 4 + size;
  }
  return Buffer.concat(blocks, total);
}

/** A value as text when it reads as text, else base64; cut at `max` bytes. */
function shown(v: Buffer, max: number): string {
  const part = v.subarray(0, max);
  return looksLikeText(part) ? part.toString('utf8') : part.toString('base64');
}

function safe(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** Zigzag varints of a record (Kafka's record format v2). */
class VarReader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  varint(): number {
    let u = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.buf.length || shift > 63) throw new Short();
      const b = this.buf[this.pos++];
      u += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
    }
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }
  skip(n: number): void {
    if (this.pos + n > this.buf.length) throw new Short();
    this.pos += n;
  }
  /** A varint-sized byte string; null for length -1. */
  bytes(): Buffer | null {
    const n = this.varint();
    if (n < 0) return null;
    if (this.pos + n > this.buf.length) throw new Short();
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

// ---------------------------------------------------------------- probing

/** A request header that makes sense: size, known api key, sane version, printable client id. */
function plausibleRequest(data: Buffer): boolean | 'short' {
  if (data.length < 14) return 'short';
  const size = data.readInt32BE(0);
  const apiKey = data.readInt16BE(4);
  const version = data.readInt16BE(6);
  const clientIdLen = data.readInt16BE(12);
  if (size < 10 || size > MAX_PLAUSIBLE) return false;
  if (apiKey < 0 || apiKey >= API_KEYS.length || version < 0 || version > 20) return false;
  if (clientIdLen < -1 || clientIdLen > 512 || 14 + Math.max(clientIdLen, 0) > size + 4) return false;
  const id = data.subarray(14, Math.min(data.length, 14 + Math.max(clientIdLen, 0)));
  for (const c of id) if (c < 0x20 || c > 0x7e) return false;
  return true;
}

/** A request header (after the size) with a known api key and a sane version: not a bare SASL token. */
function looksLikeRequestHeader(body: Buffer): boolean {
  if (body.length < 10) return false;
  const apiKey = body.readInt16BE(0);
  const version = body.readInt16BE(2);
  return apiKey >= 0 && apiKey < API_KEYS.length && version >= 0 && version <= 20;
}

export function probeKafka(data: Buffer, portMatch: boolean): Probe {
  const req = plausibleRequest(data);
  if (req === 'short') return data.length >= 4 && data.readInt32BE(0) > 0 && data.readInt32BE(0) < MAX_PLAUSIBLE && portMatch ? 'need-more' : false;
  // The size must also agree with the bytes: one whole message, or the start of one.
  const size = data.readInt32BE(0);
  if (req && (data.length === size + 4 || data.length < size + 4 || plausibleRequest(data.subarray(size + 4)) !== false)) {
    return portMatch || data.length === size + 4 ? 'request' : false;
  }
  // A response starts with size + correlation id: only believable on Kafka's port.
  if (portMatch && size > 4 && size <= MAX_PLAUSIBLE && (data.length === size + 4 || data.length > 1000)) return 'response';
  return false;
}

// ---------------------------------------------------------------- which side is the client

/** Kafka's well-known broker port: the end on it is the broker when the connection's start was not seen. */
const BROKER_PORTS = [9092];
/** Messages held while the sides are unknown, at most (count and bytes): past that the first requester is taken. */
const MAX_HELD = 16;
const MAX_HELD_BYTES = 1024 * 1024;

/** A whole message read before the parser knew which side sends requests. */
interface Held {
  dir: Direction;
  body: Buffer;
  wireSize: number;
  cut: boolean;
  /** The packet of its first byte; `start` stamps it as a response with no request (first packet seen of it); `end` its last packet. */
  at: Stamp;
  start: Stamp;
  end: Stamp;
}

/**
 * The correlation id a message carries if it is a request: its header makes
 * sense as one (known api key, sane version, a client id of printable text).
 * Only what the bytes could be: a response whose correlation id is small reads
 * as a Produce request too (its id the "version", its first field the
 * "correlation id", a topic name the "client id").
 */
function requestCorrelation(body: Buffer): number | undefined {
  if (!looksLikeRequestHeader(body)) return undefined;
  const len = body.readInt16BE(8);
  if (len < -1 || 10 + Math.max(len, 0) > body.length) return undefined;
  for (let i = 10; i < 10 + len; i++) if (body[i] < 0x20 || body[i] > 0x7e) return undefined;
  return body.readInt32BE(4);
}

/**
 * Which way requests travel when the connection's start was not seen: towards
 * the end on the broker port, when only one end is on it.
 */
function requestDirByPort(ctx: ConnectionContext): Direction | undefined {
  const clientOnIt = BROKER_PORTS.includes(ctx.client.port);
  const serverOnIt = BROKER_PORTS.includes(ctx.server.port);
  if (clientOnIt === serverOnIt) return undefined;
  return serverOnIt ? 'c2s' : 's2c';
}

/**
 * Which way requests travel, once the newest message held answers an earlier
 * one: its first four bytes (a response's correlation id) are the correlation
 * id an earlier message from the other side carries as a request. That other
 * side is the client. Undefined while nothing pairs.
 */
function requestDirByAnswer(held: Held[]): Direction | undefined {
  const last = held[held.length - 1];
  if (last.body.length < 4) return undefined;
  const id = last.body.readInt32BE(0);
  for (const h of held) if (h.dir !== last.dir && requestCorrelation(h.body) === id) return h.dir;
  return undefined;
}

/** The side that sent the first message held that reads as a request; `otherwise` when none did. */
function firstRequester(held: Held[], otherwise: Direction): Direction {
  for (const h of held) if (requestCorrelation(h.body) !== undefined) return h.dir;
  return otherwise;
}

// ---------------------------------------------------------------- parsing

interface Pending {
  apiKey: number;
  version: number;
  correlationId: number;
  request: Record<string, any>;
  time: number;
  frame: number;
  size: number;
  warnings: string[];
}

class KafkaParser implements TcpStreamParser {
  private queues: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  private skip: Record<Direction, number> = { c2s: 0, s2c: 0 };
  private dead: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** After a gap: segments are dropped (counted) until one starts with a message. */
  private resync: Record<Direction, boolean> = { c2s: false, s2c: false };
  private pending = new Map<number, Pending>();
  /** Bytes of the direction were lost: a response to no request seen may answer one they held (it says `gap`). */
  private lost: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** Per direction, the packet where the message read in part was first seen (a response with no request is stamped with it). */
  private partialStart: Record<Direction, Stamp | null> = { c2s: null, s2c: null };
  /** First packet of the request being read (a request is stamped with it). */
  private readonly starts: MessageStarts;
  /** A SaslHandshake v0 succeeded: bare SASL tokens follow (onSaslToken). */
  private saslTokens = false;
  private saslToken: { time: number; frame: number; size: number } | null = null;
  /**
   * Which way the client's requests travel: c2s, unless the engine guessed the
   * client (the connection's start was not seen) and the evidence says the other
   * side. A Kafka response whose correlation id is small reads as a Produce
   * request, so the first bytes seen cannot say it; a connection caught
   * mid-stream usually starts with a response.
   */
  private requestDir: Direction = 'c2s';
  /** Messages read while the sides are unknown (no start, no broker port to go by); null once they are known. */
  private held: Held[] | null = null;
  private heldBytes = 0;

  constructor(private readonly ctx: ConnectionContext) {
    this.starts = new MessageStarts(ctx);
    if (ctx.clientGuessed) {
      const byPort = requestDirByPort(ctx);
      if (byPort) this.requestDir = byPort;
      else this.held = [];
    }
  }

  private get responseDir(): Direction {
    return this.requestDir === 'c2s' ? 's2c' : 'c2s';
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.dead[dir]) return;
    try {
      if (this.resync[dir]) {
        if (!this.startsMessage(dir, data)) {
          this.ctx.count('kafka.gap_dropped', data.length);
          return;
        }
        this.resync[dir] = false;
      }
      if (this.skip[dir] > 0) {
        const n = Math.min(this.skip[dir], data.length);
        this.skip[dir] -= n;
        data = data.subarray(n);
      }
      this.starts.push(dir, this.queues[dir].length);
      this.queues[dir].push(data);
      this.drain(dir);
    } catch {
      this.ctx.count('kafka.internal');
      this.dead[dir] = true;
    }
  }

  onGap(dir: Direction, length: number): void {
    // Resynchronising needs to know which side sends requests.
    if (this.held) this.release(firstRequester(this.held, this.requestDir));
    // Size prefixes are lost with the bytes: reading resumes at the first segment that starts
    // with a request, or with the response to one waiting (responses pair by correlation id).
    this.ctx.count('kafka.gap', length);
    this.lost[dir] = true;
    if (!this.dead[dir]) {
      const queued = this.queues[dir].length;
      if (queued > 0) this.ctx.count('kafka.gap_dropped', queued);
      this.queues[dir].clear();
      this.skip[dir] = 0;
      this.starts.taken(dir, 0);
      this.partialStart[dir] = null;
      this.resync[dir] = true;
    }
    for (const p of this.pending.values()) p.warnings.push('gap');
  }

  /** Whether a segment after a gap starts with a message: a plausible request, or the response to one waiting. */
  private startsMessage(dir: Direction, data: Buffer): boolean {
    if (dir === this.requestDir) return plausibleRequest(data) === true;
    if (data.length < 8) return false;
    const size = data.readInt32BE(0);
    return size >= 4 && size <= MAX_PLAUSIBLE && this.pending.has(data.readInt32BE(4));
  }

  onTick(nowMs: number, timeoutMs: number): void {
    if (this.held && this.held.some((h) => nowMs - h.at.time > timeoutMs)) this.release(firstRequester(this.held, this.requestDir));
    for (const p of [...this.pending.values()]) {
      if (nowMs - p.time > timeoutMs) {
        this.pending.delete(p.correlationId);
        this.emitRequestOnly(p, ['unanswered'], true);
      }
    }
  }

  /**
   * Requests are stamped with their first segment and kept in arrival order,
   * so the first one waiting is the oldest, unless a request read in part is
   * older still; a response read in part whose request was not seen will be
   * stamped with its first segment. While the sides are unknown, any message
   * held or read in part may become a call.
   */
  pendingSince(): number | undefined {
    let min: number | undefined;
    const earlier = (t: number | undefined): void => {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    };
    if (this.held) {
      for (const h of this.held) earlier(h.at.time);
      for (const dir of ['c2s', 's2c'] as const) if (!this.dead[dir]) earlier(this.starts.partial(dir, this.queues[dir].length));
      return min;
    }
    for (const p of this.pending.values()) {
      min = p.time;
      break;
    }
    const res = this.responseDir;
    const req = this.requestDir;
    if (!this.dead[res]) earlier(this.partialStart[res]?.time);
    if (!this.dead[req]) earlier(this.starts.partial(req, this.queues[req].length));
    return min;
  }

  onEnd(): void {
    if (this.held) this.release(firstRequester(this.held, this.requestDir));
    // A message cut off by the end of the capture cannot be read: counted, not silently gone.
    for (const dir of ['c2s', 's2c'] as const) if (!this.dead[dir] && this.queues[dir].length > 0) this.ctx.count('kafka.truncated');
    for (const p of this.pending.values()) this.emitRequestOnly(p, ['unanswered'], true);
    this.pending.clear();
    this.flushSaslToken();
  }

  private drain(dir: Direction): void {
    const q = this.queues[dir];
    while (q.length >= 4) {
      const size = q.peek(4).readInt32BE(0);
      // A bare SASL token may be empty (a PLAIN server's success); a Kafka message holds at least a correlation id.
      if (size < (this.saslTokens ? 0 : 4) || size > MAX_PLAUSIBLE) {
        this.ctx.count('kafka.malformed');
        this.dead[dir] = true;
        q.clear();
        return;
      }
      if (size > MAX_MESSAGE) {
        // Header only, the rest skipped.
        if (q.length < 4 + 64) return;
        const head = q.peek(4 + 64);
        const have = Math.min(q.length, 4 + size);
        const at = this.starts.head(dir);
        q.consume(have);
        this.starts.taken(dir, q.length);
        this.skip[dir] = 4 + size - have;
        this.onMessage(dir, head.subarray(4), size + 4, true, at);
        continue;
      }
      if (q.length < 4 + size) {
        if (this.partialStart[dir] === null) this.partialStart[dir] = { time: this.ctx.now, frame: this.ctx.frame };
        return;
      }
      const at = this.starts.head(dir);
      const msg = q.take(4 + size);
      this.starts.taken(dir, q.length);
      this.onMessage(dir, msg.subarray(4), size + 4, false, at);
    }
  }

  private onMessage(dir: Direction, body: Buffer, wireSize: number, cut: boolean, at: Stamp): void {
    const end = { time: this.ctx.now, frame: this.ctx.frame };
    const start = this.partialStart[dir] ?? end;
    this.partialStart[dir] = null;
    if (this.held) this.hold({ dir, body: Buffer.from(body), wireSize, cut, at, start, end });
    else this.dispatch(dir, body, wireSize, cut, at, start, end);
  }

  /** Keep a message until the sides are known: an answer pairs with a request, or too much waits. */
  private hold(m: Held): void {
    const held = this.held as Held[];
    held.push(m);
    this.heldBytes += m.body.length;
    const byAnswer = requestDirByAnswer(held);
    if (byAnswer) this.release(byAnswer);
    else if (held.length >= MAX_HELD || this.heldBytes >= MAX_HELD_BYTES) this.release(firstRequester(held, this.requestDir));
  }

  /** The sides are known: read what was held, in the order it came. */
  private release(requestDir: Direction): void {
    const held = this.held ?? [];
    this.held = null;
    this.heldBytes = 0;
    this.requestDir = requestDir;
    for (const m of held) this.dispatch(m.dir, m.body, m.wireSize, m.cut, m.at, m.start, m.end);
  }

  private dispatch(dir: Direction, body: Buffer, wireSize: number, cut: boolean, at: Stamp, start: Stamp, end: Stamp): void {
    if (this.saslTokens && this.onSaslToken(dir, body, wireSize, at, end)) return;
    if (dir === this.requestDir) this.onRequest(body, wireSize, cut, at);
    else this.onResponse(body, wireSize, cut, start, end);
  }

  /** Calls go out with the engine's ends swapped when the client turned out to be the other side. */
  private emit(record: CallRecord): void {
    if (this.requestDir !== 'c2s') record.reversed = true;
    this.ctx.emit(record);
  }

  /**
   * After a SaslHandshake v0 the client and server trade SASL tokens as bare size-prefixed
   * messages, with no Kafka header (KIP-43; a PLAIN token is the password). Each exchange is
   * one call that shows the tokens' sizes, never their bytes; the first message with a
   * request's header ends the exchange. True when `body` was a token.
   */
  private onSaslToken(dir: Direction, body: Buffer, wireSize: number, at: Stamp, end: Stamp): boolean {
    if (dir === this.requestDir) {
      if (looksLikeRequestHeader(body)) {
        this.saslTokens = false;
        this.flushSaslToken();
        return false;
      }
      this.flushSaslToken();
      this.saslToken = { time: at.time, frame: at.frame, size: wireSize };
      this.ctx.count('kafka.sasl_tokens');
      return true;
    }
    if (!this.saslToken || this.pending.size > 0) return false;
    this.emitSaslToken(wireSize, end);
    return true;
  }

  /** The token waiting, unanswered. */
  private flushSaslToken(): void {
    if (this.saslToken) this.emitSaslToken(null, undefined);
  }

  /** The token waiting as one call, with the size of the server's answer (null: none came). Sizes only, never bytes. */
  private emitSaslToken(answerSize: number | null, end: Stamp | undefined): void {
    const token = this.saslToken!;
    this.saslToken = null;
    const record: CallRecord = {
      protocol: 'kafka',
      request: { apiKeyName: 'SaslToken', authBytesSize: token.size - 4 },
      response: answerSize === null ? null : { authBytesSize: answerSize - 4 },
      requestTime: token.time,
      requestFrame: token.frame,
      requestSize: token.size,
      responseSize: answerSize ?? 0,
      error: answerSize === null,
      summary: `SASL token (after SaslHandshake v0) → ${answerSize === null ? 'unanswered' : 'answered'}`,
    };
    if (answerSize === null || !end) record.warnings = ['unanswered'];
    else {
      record.responseTime = end.time;
      record.responseFrame = end.frame;
    }
    this.emit(record);
  }

  private onRequest(body: Buffer, wireSize: number, cut: boolean, at: Stamp): void {
    if (body.length < 10) {
      this.ctx.count('kafka.malformed');
      return;
    }
    const apiKey = body.readInt16BE(0);
    const version = body.readInt16BE(2);
    const correlationId = body.readInt32BE(4);
    const flexible = isFlexible(apiKey, version);
    const r = new Reader(body, false);
    r.pos = 8;
    const request: Record<string, any> = {
      apiKey,
      apiKeyName: API_KEYS[apiKey] ?? `Unknown${apiKey}`,
      apiVersion: version,
      correlationId,
      clientId: '',
    };
    const warnings: string[] = [];
    try {
      request.clientId = r.string() ?? '';
      const br = new Reader(body, flexible);
      br.pos = r.pos;
      br.taggedFields();
      const read = bodyReader(REQUEST_BODIES, apiKey, version);
      if (read && !cut) read(br, version, request, new RecordReader(this.ctx, warnings));
    } catch {
      warnings.push(`malformed: ${request.apiKeyName} v${version} request`);
      this.ctx.count('kafka.malformed');
    }
    const pending: Pending = { apiKey, version, correlationId, request, time: at.time, frame: at.frame, size: wireSize, warnings };
    // Produce with acks=0 gets no response.
    if (apiKey === 0 && request.acks === 0) {
      this.emitRequestOnly(pending, [], false);
      return;
    }
    if (this.pending.size >= MAX_PENDING) {
      const oldest = this.pending.values().next().value as Pending;
      this.pending.delete(oldest.correlationId);
      this.ctx.count('kafka.pending_overflow');
      this.emitRequestOnly(oldest, ['unanswered'], true);
    }
    const previous = this.pending.get(correlationId);
    if (previous) {
      this.emitRequestOnly(previous, ['unanswered', 'duplicate correlation id'], true);
      // The newer request goes last: the map stays in arrival order.
      this.pending.delete(correlationId);
    }
    this.pending.set(correlationId, pending);
  }

  private onResponse(body: Buffer, wireSize: number, cut: boolean, start: Stamp, end: Stamp): void {
    if (body.length < 4) {
      this.ctx.count('kafka.malformed');
      return;
    }
    const correlationId = body.readInt32BE(0);
    const req = this.pending.get(correlationId);
    const response: Record<string, any> = { correlationId };
    const warnings: string[] = [];
    let error = false;
    if (req) {
      this.pending.delete(correlationId);
      // ApiVersions responses keep header v0 so that old clients can read them.
      const flexible = isFlexible(req.apiKey, req.version);
      const r = new Reader(body, flexible);
      r.pos = 4;
      try {
        if (flexible && req.apiKey !== 18) r.taggedFields();
        const read = bodyReader(RESPONSE_BODIES, req.apiKey, req.version);
        if (read && !cut) read(r, req.version, response, new RecordReader(this.ctx, warnings));
        if (req.apiKey === 17 && req.version === 0 && response.errorCode === 0) this.saslTokens = true;
        const code = firstError(response);
        if (code !== 0) {
          error = true;
          response.errorCode = code;
          response.errorName = kafkaErrorName(code);
        } else if (read) response.errorCode = 0;
      } catch {
        warnings.push(`malformed: ${req.request.apiKeyName} v${req.version} response`);
        this.ctx.count('kafka.malformed');
      }
    } else warnings.push(...(this.lost[this.requestDir] ? ['request not captured', 'gap'] : ['request not captured']));
    const record: CallRecord = {
      protocol: 'kafka',
      request: req ? req.request : null,
      response,
      requestTime: req ? req.time : start.time,
      requestFrame: req ? req.frame : start.frame,
      responseTime: end.time,
      responseFrame: end.frame,
      requestSize: req ? req.size : 0,
      responseSize: wireSize,
      error,
      summary: summarize(req?.request ?? null, response),
    };
    const all = [...(req?.warnings ?? []), ...warnings];
    if (all.length > 0) record.warnings = all;
    this.emit(record);
  }

  private emitRequestOnly(p: Pending, warnings: string[], error: boolean): void {
    const all = [...p.warnings, ...warnings];
    const record: CallRecord = {
      protocol: 'kafka',
      request: p.request,
      response: null,
      requestTime: p.time,
      requestFrame: p.frame,
      requestSize: p.size,
      responseSize: 0,
      error,
      summary: summarize(p.request, null),
    };
    if (all.length > 0) record.warnings = all;
    this.emit(record);
  }
}

function summarize(req: Record<string, any> | null, res: Record<string, any> | null): string {
  const topics = (req?.topics ?? res?.topics ?? []) as TopicOut[];
  const topicNames = topics.map((t) => t.name ?? t.topicId).filter(Boolean).slice(0, 3).join(',');
  // The consumer group (or FindCoordinator's key) the call is about, before its topics.
  const groups = req?.groupId ?? req?.key ?? req?.transactionalId ?? (Array.isArray(req?.groups) ? (req.groups as Array<{ groupId?: string }>).map((g) => g.groupId).filter(Boolean).slice(0, 3).join(',') : undefined);
  const names = [groups, topicNames].filter(Boolean).join(' ');
  const left = req ? `${req.apiKeyName} v${req.apiVersion}${names ? ` ${names}` : ''}` : `response #${res?.correlationId}${names ? ` ${names}` : ''}`;
  // Only acks=0 expects nothing; any other request left without its response is an unanswered error, said as HTTP and DNS say it.
  if (!res) return req?.acks === 0 ? `${left} (acks=0)` : `${left} → unanswered`;
  return `${left} → ${res.errorName ?? (res.errorCode === 0 ? 'NONE' : 'ok')}`;
}

export const kafka: ProtocolDissector = {
  name: 'kafka',
  transport: 'tcp',
  ports: [9092],
  priority: 40,
  reference: 'https://kafka.apache.org/protocol.html',
  probe: (data, portMatch) => {
    try {
      return probeKafka(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser: (ctx) => new KafkaParser(ctx),
};
