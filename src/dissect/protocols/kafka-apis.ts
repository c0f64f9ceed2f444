// Kafka: the bodies of the consumer-group, offset, admin and SASL APIs — the
// calls an SRE reads when consumers rebalance, lag or fail to authenticate
// (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
// ListOffsets, FindCoordinator, DescribeGroups, ListGroups, DeleteGroups,
// CreateTopics, DeleteTopics, InitProducerId, SaslHandshake, SaslAuthenticate,
// the transaction calls AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit, and
// ConsumerGroupHeartbeat, the whole group protocol of Kafka 4's consumers, KIP-848).
// Each reader knows the versions up to the newest it was written for (field
// layouts from Kafka's message definitions); a newer version is shown by
// header only, never guessed at. What is shown: names (group, member, topic,
// coordinator), generations, offsets and every error code, so a broker's
// REBALANCE_IN_PROGRESS or UNKNOWN_MEMBER_ID makes the call an error. What is
// not: SASL tokens (SaslAuthenticate's bytes are skipped unread), the opaque
// protocol metadata and assignments, and topic config values (a config may
// hold a credential; its name is shown).
// Spec: https://kafka.apache.org/protocol.html

import type { Reader, TopicOut } from './kafka.js';

export type BodyReader = (r: Reader, v: number, out: Record<string, any>) => void;

const MAX_TOPICS = 100;
const MAX_PARTITIONS = 100;
const MAX_MEMBERS = 100;
const MAX_GROUPS = 100;

/** The newest version of each API that its readers below know; a newer one is shown by header only. */
export const NEWEST_KNOWN: Record<number, number> = {
  2: 10, 8: 9, 9: 9, 10: 6, 11: 9, 12: 4, 13: 5, 14: 5, 15: 5, 16: 5, 17: 1, 19: 7, 20: 6, 22: 4, 24: 3, 25: 3, 26: 4,
  28: 3, 36: 2, 42: 2, 68: 1,
};

/** A member id, group instance id and the like: a nullable string, left out when null. */
function put(out: Record<string, any>, key: string, value: string | null): void {
  if (value !== null) out[key] = value;
}

/**
 * Kafka's usual nesting: topics, each a name and its partitions, read by `partition`
 * (each followed by its tagged fields in flexible versions), both lists bounded as shown.
 */
function topicsOf(r: Reader, partition: () => Record<string, any>): TopicOut[] {
  return r.array((): TopicOut => {
    const name = r.string();
    const partitions = r.array(() => {
      const p = partition();
      r.taggedFields();
      return p;
    }, MAX_PARTITIONS).items;
    r.taggedFields();
    return { name, partitions };
  }, MAX_TOPICS).items;
}

/** A partition array of int32 indexes (OffsetFetch's request). */
function partitionIndexes(r: Reader): Array<Record<string, any>> {
  return r.array(() => ({ partition: r.int32() }), MAX_PARTITIONS).items;
}

// ------------------------------------------------------------ ListOffsets (2)

function listOffsetsRequest(r: Reader, v: number, out: Record<string, any>): void {
  out.replicaId = r.int32();
  if (v >= 2) out.isolationLevel = r.int8();
  out.topics = topicsOf(r, () => {
    const p: Record<string, any> = { partition: r.int32() };
    if (v >= 4) r.int32(); // current leader epoch
    p.timestamp = r.int64();
    if (v === 0) p.maxNumOffsets = r.int32();
    return p;
  });
}

function listOffsetsResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 2) out.throttleTimeMs = r.int32();
  out.topics = topicsOf(r, () => {
    const p: Record<string, any> = { partition: r.int32(), errorCode: r.int16() };
    if (v === 0) p.offsets = r.array(() => r.int64(), 100).items;
    else {
      p.timestamp = r.int64();
      p.offset = r.int64();
    }
    if (v >= 4) r.int32(); // leader epoch
    return p;
  });
}

// ----------------------------------------------------------- OffsetCommit (8)

function offsetCommitRequest(r: Reader, v: number, out: Record<string, any>): void {
  out.groupId = r.string();
  if (v >= 1) {
    out.generationId = r.int32();
    out.memberId = r.string();
  }
  if (v >= 7) put(out, 'groupInstanceId', r.string());
  if (v >= 2 && v <= 4) out.retentionTimeMs = r.int64();
  out.topics = topicsOf(r, () => {
    const p: Record<string, any> = { partition: r.int32(), committedOffset: r.int64() };
    if (v >= 6) r.int32(); // committed leader epoch
    if (v === 1) r.int64(); // commit timestamp
    put(p, 'metadata', r.string());
    return p;
  });
}

/** Topics with an error code per partition: OffsetCommit's, AddPartitionsToTxn's and TxnOffsetCommit's answers. */
function partitionErrors(r: Reader): TopicOut[] {
  return topicsOf(r, () => ({ partition: r.int32(), errorCode: r.int16() }));
}

function offsetCommitResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 3) out.throttleTimeMs = r.int32();
  out.topics = partitionErrors(r);
}

// ------------------------------------------------------------ OffsetFetch (9)

/** Topics asked for: null (v2+) asks for every topic the group committed. */
function offsetFetchTopics(r: Reader, out: Record<string, any>): void {
  const n = r.arrayLength();
  if (n < 0) {
    out.allTopics = true;
    return;
  }
  const topics: TopicOut[] = [];
  for (let i = 0; i < n; i++) {
    const t: TopicOut = { name: r.string(), partitions: partitionIndexes(r) };
    r.taggedFields();
    if (topics.length < MAX_TOPICS) topics.push(t);
  }
  out.topics = topics;
}

function offsetFetchRequest(r: Reader, v: number, out: Record<string, any>): void {
  if (v <= 7) {
    out.groupId = r.string();
    offsetFetchTopics(r, out);
  } else {
    out.groups = r.array(() => {
      const g: Record<string, any> = { groupId: r.string() };
      if (v >= 9) {
        // KIP-848's consumer protocol: the member asking, and its epoch (-1 for the classic protocol).
        put(g, 'memberId', r.string());
        g.memberEpoch = r.int32();
      }
      offsetFetchTopics(r, g);
      r.taggedFields();
      return g;
    }, MAX_GROUPS).items;
  }
  if (v >= 7) out.requireStable = r.int8() !== 0;
}

function committedTopics(r: Reader, v: number): TopicOut[] {
  return topicsOf(r, () => {
    const p: Record<string, any> = { partition: r.int32(), committedOffset: r.int64() };
    if (v >= 5) r.int32(); // committed leader epoch
    put(p, 'metadata', r.string());
    p.errorCode = r.int16();
    return p;
  });
}

function offsetFetchResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 3) out.throttleTimeMs = r.int32();
  if (v <= 7) {
    out.topics = committedTopics(r, v);
    if (v >= 2) out.errorCode = r.int16();
    return;
  }
  out.groups = r.array(() => {
    const g: Record<string, any> = { groupId: r.string(), topics: committedTopics(r, v) };
    g.errorCode = r.int16();
    r.taggedFields();
    return g;
  }, MAX_GROUPS).items;
}

// -------------------------------------------------------- FindCoordinator (10)

const KEY_TYPES = ['group', 'transaction', 'share'];

function findCoordinatorRequest(r: Reader, v: number, out: Record<string, any>): void {
  if (v <= 3) out.key = r.string();
  if (v >= 1) out.keyType = KEY_TYPES[r.int8()] ?? 'unknown';
  if (v >= 4) out.keys = r.array(() => r.string(), MAX_GROUPS).items;
}

function findCoordinatorResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 1) out.throttleTimeMs = r.int32();
  if (v <= 3) {
    out.errorCode = r.int16();
    if (v >= 1) put(out, 'errorMessage', r.string());
    out.coordinator = { nodeId: r.int32(), host: r.string(), port: r.int32() };
    return;
  }
  out.coordinators = r.array(() => {
    const c: Record<string, any> = { key: r.string(), nodeId: r.int32(), host: r.string(), port: r.int32(), errorCode: r.int16() };
    put(c, 'errorMessage', r.string());
    r.taggedFields();
    return c;
  }, MAX_GROUPS).items;
}

// -------------------------------------------------------------- JoinGroup (11)

function joinGroupRequest(r: Reader, v: number, out: Record<string, any>): void {
  out.groupId = r.string();
  out.sessionTimeoutMs = r.int32();
  if (v >= 1) out.rebalanceTimeoutMs = r.int32();
  out.memberId = r.string();
  if (v >= 5) put(out, 'groupInstanceId', r.string());
  out.protocolType = r.string();
  out.protocols = r.array(() => {
    const name = r.string();
    r.bytes(); // metadata: the member's subscription, opaque to the broker
    r.taggedFields();
    return name;
  }, 16).items;
  if (v >= 8) put(out, 'reason', r.string());
}

function joinGroupResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 2) out.throttleTimeMs = r.int32();
  out.errorCode = r.int16();
  out.generationId = r.int32();
  if (v >= 7) put(out, 'protocolType', r.string());
  put(out, 'protocolName', r.string());
  out.leader = r.string();
  if (v >= 9) out.skipAssignment = r.int8() !== 0;
  out.memberId = r.string();
  out.members = r.array(() => {
    const m: Record<string, any> = { memberId: r.string() };
    if (v >= 5) put(m, 'groupInstanceId', r.string());
    r.bytes(); // metadata
    r.taggedFields();
    return m;
  }, MAX_MEMBERS).items;
}

// -------------------------------------------------------------- Heartbeat (12)

/** Heartbeat's request, and how SyncGroup's begins: who is speaking, in which generation of the group. */
function memberOfGeneration(r: Reader, v: number, out: Record<string, any>): void {
  out.groupId = r.string();
  out.generationId = r.int32();
  out.memberId = r.string();
  if (v >= 3) put(out, 'groupInstanceId', r.string());
}

/** Heartbeat, and every response that is a throttle time (from `since`) and an error code. */
function errorOnly(since: number): BodyReader {
  return (r, v, out) => {
    if (v >= since) out.throttleTimeMs = r.int32();
    out.errorCode = r.int16();
  };
}

// ------------------------------------------------------------- LeaveGroup (13)

function leaveGroupRequest(r: Reader, v: number, out: Record<string, any>): void {
  out.groupId = r.string();
  if (v <= 2) {
    out.memberId = r.string();
    return;
  }
  out.members = r.array(() => {
    const m: Record<string, any> = { memberId: r.string() };
    put(m, 'groupInstanceId', r.string());
    if (v >= 5) put(m, 'reason', r.string());
    r.taggedFields();
    return m;
  }, MAX_MEMBERS).items;
}

function leaveGroupResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 1) out.throttleTimeMs = r.int32();
  out.errorCode = r.int16();
  if (v >= 3) {
    out.members = r.array(() => {
      const m: Record<string, any> = { memberId: r.string() };
      put(m, 'groupInstanceId', r.string());
      m.errorCode = r.int16();
      r.taggedFields();
      return m;
    }, MAX_MEMBERS).items;
  }
}

// -------------------------------------------------------------- SyncGroup (14)

function syncGroupRequest(r: Reader, v: number, out: Record<string, any>): void {
  memberOfGeneration(r, v, out);
  if (v >= 5) {
    put(out, 'protocolType', r.string());
    put(out, 'protocolName', r.string());
  }
  // The leader's assignment for each member: who is assigned, not what (opaque bytes).
  out.assignments = r.array(() => {
    const memberId = r.string();
    r.bytes();
    r.taggedFields();
    return memberId;
  }, MAX_MEMBERS).items;
}

function syncGroupResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 1) out.throttleTimeMs = r.int32();
  out.errorCode = r.int16();
  if (v >= 5) {
    put(out, 'protocolType', r.string());
    put(out, 'protocolName', r.string());
  }
  const assignment = r.bytes();
  out.assignmentSize = assignment ? assignment.length : 0;
}

// --------------------------------------------------------- DescribeGroups (15)

function describeGroupsRequest(r: Reader, v: number, out: Record<string, any>): void {
  out.groups = r.array(() => ({ groupId: r.string() }), MAX_GROUPS).items;
  if (v >= 3) out.includeAuthorizedOperations = r.int8() !== 0;
}

function describeGroupsResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 1) out.throttleTimeMs = r.int32();
  out.groups = r.array(() => {
    const g: Record<string, any> = { errorCode: r.int16(), groupId: r.string(), groupState: r.string(), protocolType: r.string(), protocolData: r.string() };
    g.members = r.array(() => {
      const m: Record<string, any> = { memberId: r.string() };
      if (v >= 4) put(m, 'groupInstanceId', r.string());
      m.clientId = r.string();
      m.clientHost = r.string();
      r.bytes(); // member metadata
      r.bytes(); // member assignment
      r.taggedFields();
      return m;
    }, MAX_MEMBERS).items;
    if (v >= 3) r.int32(); // authorized operations
    r.taggedFields();
    return g;
  }, MAX_GROUPS).items;
}

// ------------------------------------------------------------- ListGroups (16)

function listGroupsRequest(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 4) out.statesFilter = r.array(() => r.string(), 16).items;
  if (v >= 5) out.typesFilter = r.array(() => r.string(), 16).items;
}

function listGroupsResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 1) out.throttleTimeMs = r.int32();
  out.errorCode = r.int16();
  out.groups = r.array(() => {
    const g: Record<string, any> = { groupId: r.string(), protocolType: r.string() };
    if (v >= 4) g.groupState = r.string();
    if (v >= 5) g.groupType = r.string();
    r.taggedFields();
    return g;
  }, MAX_GROUPS).items;
}

// ------------------------------------------------------- SaslHandshake (17), SaslAuthenticate (36)

function saslHandshakeRequest(r: Reader, _v: number, out: Record<string, any>): void {
  out.mechanism = r.string();
}

function saslHandshakeResponse(r: Reader, _v: number, out: Record<string, any>): void {
  out.errorCode = r.int16();
  out.mechanisms = r.array(() => r.string(), 16).items;
}

/** The request is only the SASL token (a password in PLAIN, a proof in SCRAM): its size is shown, never its bytes. */
function saslAuthenticateRequest(r: Reader, _v: number, out: Record<string, any>): void {
  const token = r.bytes();
  out.authBytesSize = token ? token.length : 0;
}

function saslAuthenticateResponse(r: Reader, v: number, out: Record<string, any>): void {
  out.errorCode = r.int16();
  put(out, 'errorMessage', r.string());
  r.bytes(); // the server's token
  if (v >= 1) out.sessionLifetimeMs = r.int64();
}

// ----------------------------------------------------------- CreateTopics (19)

function createTopicsRequest(r: Reader, v: number, out: Record<string, any>): void {
  out.topics = r.array(() => {
    const t: Record<string, any> = { name: r.string(), numPartitions: r.int32(), replicationFactor: r.int16() };
    r.array(() => {
      r.int32();
      r.int32Array();
      r.taggedFields();
    }, 0);
    // Config names only: a value may be a credential.
    const configs = r.array(() => {
      const name = r.string();
      r.string();
      r.taggedFields();
      return name;
    }, 64).items;
    if (configs.length > 0) t.configs = configs;
    r.taggedFields();
    return t;
  }, MAX_TOPICS).items;
  out.timeoutMs = r.int32();
  if (v >= 1) out.validateOnly = r.int8() !== 0;
}

function createTopicsResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 2) out.throttleTimeMs = r.int32();
  out.topics = r.array(() => {
    const t: Record<string, any> = { name: r.string() };
    if (v >= 7) t.topicId = r.uuid();
    t.errorCode = r.int16();
    if (v >= 1) put(t, 'errorMessage', r.string());
    if (v >= 5) {
      t.numPartitions = r.int32();
      t.replicationFactor = r.int16();
      r.array(() => {
        r.string();
        r.string();
        r.int8();
        r.int8();
        r.int8();
        r.taggedFields();
      }, 0);
    }
    r.taggedFields();
    return t;
  }, MAX_TOPICS).items;
}

// ----------------------------------------------------------- DeleteTopics (20)

function deleteTopicsRequest(r: Reader, v: number, out: Record<string, any>): void {
  if (v <= 5) out.topics = r.array(() => ({ name: r.string() }), MAX_TOPICS).items;
  else {
    out.topics = r.array(() => {
      const t: Record<string, any> = { name: r.string() };
      t.topicId = r.uuid();
      r.taggedFields();
      return t;
    }, MAX_TOPICS).items;
  }
  out.timeoutMs = r.int32();
}

function deleteTopicsResponse(r: Reader, v: number, out: Record<string, any>): void {
  if (v >= 1) out.throttleTimeMs = r.int32();
  out.topics = r.array(() => {
    const t: Record<string, any> = { name: r.string() };
    if (v >= 6) t.topicId = r.uuid();
    t.errorCode = r.int16();
    if (v >= 5) put(t, 'errorMessage', r.string());
    r.taggedFields();
    return t;
  }, MAX_TOPICS).items;
}

// --------------------------------------------------------- InitProducerId (22)

function initProducerIdRequest(r: Reader, v: number, out: Record<string, any>): void {
  put(out, 'transactionalId', r.string());
  out.transactionTimeoutMs = r.int32();
  if (v >= 3) {
    out.producerId = r.int64();
    out.producerEpoch = r.int16();
  }
}

function initProducerIdResponse(r: Reader, _v: number, out: Record<string, any>): void {
  out.throttleTimeMs = r.int32();
  out.errorCode = r.int16();
  out.producerId = r.int64();
  out.producerEpoch = r.int16();
}

// ------------------------------------- transactions (24 AddPartitionsToTxn, 25 AddOffsetsToTxn, 26 EndTxn, 28 TxnOffsetCommit)

/** Every transaction call opens with these: the transactional id and the producer it fences. */
function txnHead(r: Reader, out: Record<string, any>): void {
  out.transactionalId = r.string();
  out.producerId = r.int64();
  out.producerEpoch = r.int16();
}

function addPartitionsToTxnRequest(r: Reader, _v: number, out: Record<string, any>): void {
  txnHead(r, out);
  out.topics = r.array((): TopicOut => {
    const t: TopicOut = { name: r.string(), partitions: partitionIndexes(r) };
    r.taggedFields();
    return t;
  }, MAX_TOPICS).items;
}

/** AddPartitionsToTxn's and TxnOffsetCommit's answers: a throttle time, then an error per partition. */
function txnPartitionErrors(r: Reader, _v: number, out: Record<string, any>): void {
  out.throttleTimeMs = r.int32();
  out.topics = partitionErrors(r);
}

function addOffsetsToTxnRequest(r: Reader, _v: number, out: Record<string, any>): void {
  txnHead(r, out);
  out.groupId = r.string();
}

function endTxnRequest(r: Reader, _v: number, out: Record<string, any>): void {
  txnHead(r, out);
  out.committed = r.int8() !== 0;
}

function txnOffsetCommitRequest(r: Reader, v: number, out: Record<string, any>): void {
  out.transactionalId = r.string();
  out.groupId = r.string();
  out.producerId = r.int64();
  out.producerEpoch = r.int16();
  if (v >= 3) {
    out.generationId = r.int32();
    out.memberId = r.string();
    put(out, 'groupInstanceId', r.string());
  }
  out.topics = topicsOf(r, () => {
    const p: Record<string, any> = { partition: r.int32(), committedOffset: r.int64() };
    if (v >= 2) r.int32(); // committed leader epoch
    put(p, 'metadata', r.string());
    return p;
  });
}

// ------------------------------------------------- ConsumerGroupHeartbeat (68)

/**
 * KIP-848's one call that joins, heartbeats and leaves (epoch 0 joins, -1 leaves). Only the fields
 * every version begins with are read: later fields moved between the KIP's drafts and releases.
 */
function consumerGroupHeartbeatRequest(r: Reader, _v: number, out: Record<string, any>): void {
  out.groupId = r.string();
  out.memberId = r.string();
  out.memberEpoch = r.int32();
}

/** Its answer up to the heartbeat interval (the assignment after it names topics by id only). */
function consumerGroupHeartbeatResponse(r: Reader, _v: number, out: Record<string, any>): void {
  out.throttleTimeMs = r.int32();
  out.errorCode = r.int16();
  put(out, 'errorMessage', r.string());
  put(out, 'memberId', r.string());
  out.memberEpoch = r.int32();
  out.heartbeatIntervalMs = r.int32();
}

// ----------------------------------------------------------- DeleteGroups (42)

function deleteGroupsRequest(r: Reader, _v: number, out: Record<string, any>): void {
  out.groups = r.array(() => ({ groupId: r.string() }), MAX_GROUPS).items;
}

function deleteGroupsResponse(r: Reader, _v: number, out: Record<string, any>): void {
  out.throttleTimeMs = r.int32();
  out.groups = r.array(() => {
    const g = { groupId: r.string(), errorCode: r.int16() };
    r.taggedFields();
    return g;
  }, MAX_GROUPS).items;
}

export const GROUP_REQUEST_BODIES: Record<number, BodyReader> = {
  2: listOffsetsRequest,
  8: offsetCommitRequest,
  9: offsetFetchRequest,
  10: findCoordinatorRequest,
  11: joinGroupRequest,
  12: memberOfGeneration,
  13: leaveGroupRequest,
  14: syncGroupRequest,
  15: describeGroupsRequest,
  16: listGroupsRequest,
  17: saslHandshakeRequest,
  19: createTopicsRequest,
  20: deleteTopicsRequest,
  22: initProducerIdRequest,
  24: addPartitionsToTxnRequest,
  25: addOffsetsToTxnRequest,
  26: endTxnRequest,
  28: txnOffsetCommitRequest,
  36: saslAuthenticateRequest,
  42: deleteGroupsRequest,
  68: consumerGroupHeartbeatRequest,
};

export const GROUP_RESPONSE_BODIES: Record<number, BodyReader> = {
  2: listOffsetsResponse,
  8: offsetCommitResponse,
  9: offsetFetchResponse,
  10: findCoordinatorResponse,
  11: joinGroupResponse,
  12: errorOnly(1),
  13: leaveGroupResponse,
  14: syncGroupResponse,
  15: describeGroupsResponse,
  16: listGroupsResponse,
  17: saslHandshakeResponse,
  19: createTopicsResponse,
  20: deleteTopicsResponse,
  22: initProducerIdResponse,
  24: txnPartitionErrors,
  25: errorOnly(0),
  26: errorOnly(0),
  28: txnPartitionErrors,
  36: saslAuthenticateResponse,
  42: deleteGroupsResponse,
  68: consumerGroupHeartbeatResponse,
};
