// Kafka's consumer-group, offset and coordinator APIs (kafka-apis.ts) on a lab
// recording of real clients (Debian's python3-confluent-kafka, librdkafka 2.0)
// against librdkafka's mock cluster (scripts/lab/record-more.sh kafka): a group
// that rebalances when a second consumer joins, offsets committed and fetched,
// a transactional producer. Every field tshark decodes in these calls is
// compared with ours, frame by frame; where tshark 4.0 reads a message wrongly
// (it says so: "malformed"), the bytes are the oracle. Then versions neither
// the mock nor tshark 4.0 speaks (flexible encodings, batched groups), and
// SASL: a password in a SaslAuthenticate token never reaches the output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { runCli } from '../helpers/cli.js';
import { kafka } from '../../src/dissect/protocols/kafka.js';
import { AGG, tshark } from './helpers.js';
import { feedConversation } from './kafka-wire.js';

const capture = join(repoRoot, 'test', 'fixtures', 'captures', 'lab-kafka-groups.pcap');
/** The group, offset and coordinator APIs, and the transaction calls tshark 4.0 reads at the versions librdkafka sent. */
const GROUP_APIS = [2, 8, 9, 10, 11, 12, 13, 14, 24, 26];

type Json = Record<string, any>;

/** The broker's port: where the clients' SYNs go. */
function brokerPort(): number {
  const ports = tshark(['-r', capture, '-Y', 'tcp.flags.syn==1 && tcp.flags.ack==0', '-T', 'fields', '-e', 'tcp.dstport']);
  return Number(ports[0]);
}

const FIELDS: Record<string, string> = {
  error: 'kafka.error',
  group: 'kafka.consumer_group',
  member: 'kafka.member_id',
  leader: 'kafka.group_leader_id',
  generation: 'kafka.generation_id',
  offset: 'kafka.offset',
  partition: 'kafka.partition_id',
  topic: 'kafka.topic_name',
  node: 'kafka.node_id',
  host: 'kafka.host',
  port: 'kafka.port',
  key: 'kafka.coordinator_key',
  txn: 'kafka.transactional_id',
  producer: 'kafka.producer_id',
  epoch: 'kafka.producer_epoch',
};

/** Per frame, the distinct values of each field tshark decodes; frames tshark calls malformed apart. */
function theirs(port: number): { rows: Map<number, Record<string, Set<string>>>; malformed: Set<number> } {
  const names = Object.keys(FIELDS);
  const lines = tshark([
    '-r', capture, '-d', `tcp.port==${port},kafka`, '-Y', `kafka.api_key in {${GROUP_APIS.join(',')}}`,
    '-T', 'fields', '-E', 'occurrence=a', '-E', `aggregator=${AGG}`, '-e', 'frame.number', '-e', '_ws.malformed', '-e', '_ws.expert.group',
    ...names.flatMap((n) => ['-e', FIELDS[n]]),
  ]);
  const rows = new Map<number, Record<string, Set<string>>>();
  const malformed = new Set<number>();
  for (const line of lines) {
    const [frame, bad, expert, ...values] = line.split('\t');
    if (bad !== '' || expert.split(AGG).includes('117440512')) malformed.add(Number(frame)); // PI_MALFORMED
    const row: Record<string, Set<string>> = {};
    names.forEach((n, i) => (row[n] = new Set((values[i] ?? '').split(AGG).filter((v) => v !== ''))));
    rows.set(Number(frame), row);
  }
  return { rows, malformed };
}

/** Every value under `key` anywhere in `v`. */
function walk(v: unknown, key: string, out: Set<string>): void {
  if (Array.isArray(v)) for (const x of v) walk(x, key, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === key && (typeof x === 'string' || typeof x === 'number') && x !== '') out.add(String(x));
      else walk(x, key, out);
    }
  }
}

/** Our values of the same fields for one side of a call. */
function ours(side: Json | null, isRequest: boolean): Record<string, Set<string>> {
  const row: Record<string, Set<string>> = {};
  for (const n of Object.keys(FIELDS)) row[n] = new Set();
  if (!side) return row;
  if (!isRequest) walk(side, 'errorCode', row.error);
  walk(side, 'groupId', row.group);
  walk(side, 'memberId', row.member);
  for (const a of side.assignments ?? []) if (a) row.member.add(a);
  if (side.leader) row.leader.add(side.leader);
  walk(side, 'generationId', row.generation);
  walk(side, 'committedOffset', row.offset);
  if (!isRequest) walk(side, 'offset', row.offset);
  walk(side, 'partition', row.partition);
  for (const t of side.topics ?? []) if (t.name) row.topic.add(t.name);
  if (side.coordinator) {
    row.node.add(String(side.coordinator.nodeId));
    row.host.add(side.coordinator.host);
    row.port.add(String(side.coordinator.port));
  }
  if (side.key) row.key.add(side.key);
  walk(side, 'transactionalId', row.txn);
  walk(side, 'producerId', row.producer);
  walk(side, 'producerEpoch', row.epoch);
  return row;
}

function merge(into: Record<string, Set<string>>, from: Record<string, Set<string>>): void {
  for (const [k, v] of Object.entries(from)) for (const x of v) into[k].add(x);
}

test('consumer-group calls from real clients: every field tshark reads agrees, frame by frame', async () => {
  const r = await runCli(['dissect', capture]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const entries: Json[] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const groupCalls = entries.filter((e) => GROUP_APIS.includes(e.request?.apiKey));
  const { rows, malformed } = theirs(brokerPort());
  // Our side of each frame: the requests and responses that frame carries.
  const byFrame = new Map<number, Record<string, Set<string>>>();
  for (const e of groupCalls) {
    for (const [frame, side, isRequest] of [[e.frames.request, e.request, true], [e.frames.response, e.response, false]] as const) {
      if (frame === undefined) continue;
      const row = byFrame.get(frame) ?? ours(null, true);
      merge(row, ours(side, isRequest));
      byFrame.set(frame, row);
    }
  }
  let compared = 0;
  for (const [frame, want] of rows) {
    if (malformed.has(frame)) continue;
    const got = byFrame.get(frame);
    assert.ok(got, `frame ${frame}: no call of ours`);
    for (const field of Object.keys(FIELDS)) {
      assert.deepEqual([...got[field]].sort(), [...want[field]].sort(), `frame ${frame}, ${FIELDS[field]}`);
    }
    compared++;
  }
  assert.ok(compared >= 60, `${compared} frames compared`);
  assert.ok([...rows.values()].some((r) => r.txn.has('payments-tx') && r.producer.size > 0), 'transaction calls compared');
  // Every request got its response, with the API's own summary.
  for (const e of groupCalls) assert.ok(e.response, `${e.summary}: unanswered`);
  const summaries = groupCalls.map((e) => e.summary.replace(/0x[0-9a-f]+/g, 'M'));
  for (const s of ['JoinGroup v5 billing → NONE', 'SyncGroup v3 billing → NONE', 'OffsetCommit v7 billing orders → NONE', 'OffsetFetch v5 billing orders → NONE', 'LeaveGroup v1 billing → NONE', 'FindCoordinator v2 billing → NONE', 'ListOffsets v2 orders → NONE', 'AddPartitionsToTxn v0 payments-tx payments → NONE', 'EndTxn v1 payments-tx → NONE']) {
    assert.ok(summaries.includes(s), `${s} in ${[...new Set(summaries)].join('; ')}`);
  }
  // The second consumer's join rebalanced the first: its Heartbeat was refused, and that is an error.
  const refused = groupCalls.filter((e) => e.error);
  assert.deepEqual(refused.map((e) => e.summary), ['Heartbeat v3 billing → REBALANCE_IN_PROGRESS']);
  assert.equal(refused[0].response.errorCode, 27);

  // Where tshark 4.0 misreads (JoinGroup v5's members carry a nullable group instance id it skips),
  // the bytes say: the leader's JoinGroup response lists both consumers, as each was told its id.
  const joins = groupCalls.filter((e) => e.request.apiKey === 11 && e.response.generationId === Math.max(...groupCalls.filter((j) => j.request.apiKey === 11).map((j) => j.response.generationId)));
  const ids = joins.map((e) => e.response.memberId).sort();
  const leaderView = joins.find((e) => e.response.members.length > 0);
  assert.ok(leaderView && malformed.has(leaderView.frames.response), 'tshark reads the leader view as malformed');
  assert.deepEqual(leaderView.response.members.map((m: Json) => m.memberId).sort(), ids);
  assert.equal(leaderView.response.leader, leaderView.response.memberId);
  // InitProducerId v4 is past tshark 4.0 (it says "unsupported"): a producer id and epoch for the transactional id.
  const init = entries.find((e) => e.request?.apiKey === 22);
  assert.equal(init?.request.transactionalId, 'payments-tx');
  assert.ok(init.response.producerId >= 0 && init.response.producerEpoch >= 0, JSON.stringify(init.response));
  assert.equal(init.summary, 'InitProducerId v4 payments-tx → NONE');
});

test('KFL2 finds the refused calls of a group; the catalogue lists the calls of each group as endpoints', async () => {
  const entries = (await runCli(['dissect', capture])).stdout;
  const refused = await runCli(['filter', 'kafka_group_id == "billing" && kafka_error_code == 27'], { input: entries });
  assert.equal(refused.code, 0, refused.stderr);
  assert.deepEqual(refused.stdout.trim().split('\n').map((l) => JSON.parse(l).summary), ['Heartbeat v3 billing → REBALANCE_IN_PROGRESS']);
  const catalog = await runCli(['catalog', '--format', 'json', capture]);
  assert.equal(catalog.code, 0, catalog.stderr);
  const names = JSON.stringify(JSON.parse(catalog.stdout));
  for (const endpoint of ['JoinGroup billing', 'Heartbeat billing', 'OffsetCommit billing orders', 'OffsetFetch billing orders']) assert.ok(names.includes(endpoint), endpoint);
});

test('flexible versions and batched groups, as clients of Kafka 3.x send them (built from the message definitions)', () => {
  const { calls } = feedConversation(kafka, [
    // JoinGroup v9: compact strings, tagged fields, a reason; its response names a skipped assignment.
    { apiKey: 11, version: 9, request: (w) => w.str('billing').i32(45000).i32(300000).str('').nstr('pod-7').str('consumer').arr([['range', Buffer.from([0, 1])]], (w, [n, m]) => w.str(n).bytes(m).tags()).nstr('rebalance needed'),
      response: (w) => w.i32(0).i16(79).i32(-1).nstr('consumer').nstr(null).str('').i8(0).str('billing-a-1f').arr([], () => undefined) },
    // OffsetFetch v8: two groups in one request; one group unknown to the coordinator.
    { apiKey: 9, version: 8, request: (w) => w.arr(['billing', 'audit'], (w, g) => w.str(g).arr([['orders', [0, 1]]], (w, [t, ps]) => w.str(t).arr(ps, (w, p) => w.i32(p)).tags()).tags()).i8(1),
      response: (w) => w.i32(0).arr([['billing', 0], ['audit', 16]], (w, [g, err]) => w.str(g).arr(err ? [] : [['orders', [[0, 42n], [1, 7n]]]], (w, [t, ps]) => w.str(t).arr(ps, (w, [p, off]) => w.i32(p).i64(off).i32(-1).nstr('').i16(0).tags()).tags()).i16(err).tags()) },
    // FindCoordinator v4: batched keys, an error per coordinator.
    { apiKey: 10, version: 4, request: (w) => w.i8(0).arr(['billing', 'audit'], (w, k) => w.str(k)),
      response: (w) => w.i32(0).arr([['billing', 1, 0], ['audit', -1, 15]], (w, [k, node, err]) => w.str(k).i32(node).str(node < 0 ? '' : 'kafka-1.kafka').i32(node < 0 ? -1 : 9092).i16(err).nstr(err ? 'The coordinator is not available.' : null).tags()) },
    // LeaveGroup v5: batched members with reasons; one member unknown.
    { apiKey: 13, version: 5, request: (w) => w.str('billing').arr([['m-1', 'pod-7'], ['m-2', null]], (w, [m, inst]) => w.str(m).nstr(inst).nstr('shutdown').tags()),
      response: (w) => w.i32(0).i16(0).arr([['m-1', 'pod-7', 0], ['m-2', null, 25]], (w, [m, inst, err]) => w.str(m).nstr(inst).i16(err).tags()) },
    // DescribeGroups v5 and ListGroups v4.
    { apiKey: 15, version: 5, request: (w) => w.arr(['billing'], (w, g) => w.str(g)).i8(0),
      response: (w) => w.i32(0).arr([0], (w) => w.i16(0).str('billing').str('Stable').str('consumer').str('range').arr([['m-1', 'pod-7']], (w, [m, inst]) => w.str(m).nstr(inst).str('billing-a').str('/198.18.0.7').bytes(Buffer.from('meta')).bytes(Buffer.from('assign')).tags()).i32(-2147483648).tags()) },
    { apiKey: 16, version: 4, request: (w) => w.arr(['Stable'], (w, s) => w.str(s)),
      response: (w) => w.i32(0).i16(0).arr([['billing', 'consumer', 'Stable']], (w, [g, p, s]) => w.str(g).str(p).str(s).tags()) },
    // CreateTopics v7 (a config whose value must not show) and DeleteTopics v6.
    { apiKey: 19, version: 7, request: (w) => w.arr(['invoices'], (w, t) => w.str(t).i32(3).i16(1).arr([], () => undefined).arr([['sasl.jaas.config', 'password="topic-secret"']], (w, [k, v]) => w.str(k).nstr(v).tags()).tags()).i32(30000).i8(0),
      response: (w) => w.i32(0).arr(['invoices'], (w, t) => w.str(t).uuid().i16(36).nstr('Topic already exists.').i32(-1).i16(-1).arr(null, () => undefined).tags()) },
    { apiKey: 20, version: 6, request: (w) => w.arr(['old-topic'], (w, t) => w.nstr(t).uuid().tags()).i32(30000),
      response: (w) => w.i32(0).arr(['old-topic'], (w, t) => w.nstr(t).uuid().i16(3).nstr('This server does not host this topic-partition.').tags()) },
    // DeleteGroups v2 and Heartbeat v4.
    { apiKey: 42, version: 2, request: (w) => w.arr(['audit'], (w, g) => w.str(g)),
      response: (w) => w.i32(0).arr([['audit', 69]], (w, [g, err]) => w.str(g).i16(err).tags()) },
    { apiKey: 12, version: 4, request: (w) => w.str('billing').i32(5).str('m-1').nstr('pod-7'), response: (w) => w.i32(0).i16(22) },
    // A version past what the readers know is shown by header only, not guessed at.
    { apiKey: 12, version: 9, request: (w) => w.str('billing').i32(5).str('m-1').nstr(null), response: (w) => w.i32(0).i16(0) },
  ]);
  const [join, fetch, coord, leave, describe, list, create, del, delGroups, beat, future] = calls as Json[];
  assert.equal(join.summary, 'JoinGroup v9 billing → MEMBER_ID_REQUIRED');
  assert.equal(join.request.groupInstanceId, 'pod-7');
  assert.equal(join.request.reason, 'rebalance needed');
  assert.deepEqual(join.request.protocols, ['range']);
  assert.equal(join.response.memberId, 'billing-a-1f');
  assert.equal(join.response.skipAssignment, false);
  assert.equal(fetch.summary, 'OffsetFetch v8 billing,audit → NOT_COORDINATOR');
  assert.deepEqual(fetch.response.groups.map((g: Json) => [g.groupId, g.errorCode]), [['billing', 0], ['audit', 16]]);
  assert.deepEqual(fetch.response.groups[0].topics[0].partitions.map((p: Json) => p.committedOffset), [42, 7]);
  assert.equal(fetch.request.requireStable, true);
  assert.deepEqual(coord.response.coordinators.map((c: Json) => [c.key, c.host, c.errorCode]), [['billing', 'kafka-1.kafka', 0], ['audit', '', 15]]);
  assert.equal(coord.error, true);
  assert.deepEqual(leave.request.members.map((m: Json) => [m.memberId, m.groupInstanceId ?? null, m.reason]), [['m-1', 'pod-7', 'shutdown'], ['m-2', null, 'shutdown']]);
  assert.equal(leave.summary, 'LeaveGroup v5 billing → UNKNOWN_MEMBER_ID');
  assert.deepEqual(describe.response.groups[0].members, [{ memberId: 'm-1', groupInstanceId: 'pod-7', clientId: 'billing-a', clientHost: '/198.18.0.7' }]);
  assert.equal(describe.response.groups[0].groupState, 'Stable');
  assert.equal(describe.error, false);
  assert.deepEqual(list.response.groups, [{ groupId: 'billing', protocolType: 'consumer', groupState: 'Stable' }]);
  assert.deepEqual(create.request.topics, [{ name: 'invoices', numPartitions: 3, replicationFactor: 1, configs: ['sasl.jaas.config'] }]);
  assert.equal(create.summary, 'CreateTopics v7 invoices → TOPIC_ALREADY_EXISTS');
  assert.equal(create.response.topics[0].errorMessage, 'Topic already exists.');
  assert.equal(del.summary, 'DeleteTopics v6 old-topic → UNKNOWN_TOPIC_OR_PARTITION');
  assert.equal(delGroups.summary, 'DeleteGroups v2 audit → GROUP_ID_NOT_FOUND');
  assert.equal(beat.summary, 'Heartbeat v4 billing → ILLEGAL_GENERATION');
  assert.equal(future.summary, 'Heartbeat v9 → ok');
  assert.equal(future.request.groupId, undefined);
  for (const c of calls) assert.equal(c.warnings, undefined, `${c.summary}: ${c.warnings}`);
  assert.ok(!JSON.stringify(calls).includes('topic-secret'));
});

test('transactions in flexible versions: offsets committed in a transaction, a refused EndTxn is an error', () => {
  const { calls } = feedConversation(kafka, [
    { apiKey: 25, version: 3, request: (w) => w.str('payments-tx').i64(4242n).i16(3).str('billing'), response: (w) => w.i32(0).i16(0) },
    { apiKey: 28, version: 3, request: (w) => w.str('payments-tx').str('billing').i64(4242n).i16(3).i32(7).str('m-1').nstr(null).arr([['orders', [[0, 120n], [1, 98n]]]], (w, [t, ps]) => w.str(t).arr(ps, (w, [p, off]) => w.i32(p).i64(off).i32(-1).nstr(null).tags()).tags()),
      response: (w) => w.i32(0).arr([['orders', [[0, 0], [1, 0]]]], (w, [t, ps]) => w.str(t).arr(ps, (w, [p, err]) => w.i32(p).i16(err).tags()).tags()) },
    { apiKey: 26, version: 3, request: (w) => w.str('payments-tx').i64(4242n).i16(3).i8(1), response: (w) => w.i32(0).i16(51) },
  ]);
  const [addOffsets, commit, end] = calls as Json[];
  assert.equal(addOffsets.summary, 'AddOffsetsToTxn v3 billing → NONE');
  assert.equal(addOffsets.request.transactionalId, 'payments-tx');
  assert.deepEqual(commit.request.topics[0].partitions, [{ partition: 0, committedOffset: 120 }, { partition: 1, committedOffset: 98 }]);
  assert.equal(commit.request.generationId, 7);
  assert.equal(commit.error, false);
  assert.equal(end.summary, 'EndTxn v3 payments-tx → CONCURRENT_TRANSACTIONS');
  assert.equal(end.request.committed, true);
  assert.equal(end.error, true);
});

test('KIP-848 consumers (Kafka 4): ConsumerGroupHeartbeat joins, heartbeats, is fenced', () => {
  const { calls } = feedConversation(kafka, [
    { apiKey: 68, version: 0, request: (w) => w.str('billing').str('').i32(0).nstr(null).nstr(null).i32(300000).arr(['orders'], (w, t) => w.str(t)).nstr('uniform').arr(null, () => undefined),
      response: (w) => w.i32(0).i16(0).nstr(null).nstr('m-848').i32(1).i32(5000).i8(-1).tags() },
    { apiKey: 68, version: 1, request: (w) => w.str('billing').str('m-848').i32(1).nstr(null).nstr(null).i32(-1).arr(null, () => undefined).nstr(null).nstr(null).arr(null, () => undefined),
      response: (w) => w.i32(0).i16(110).nstr('The member epoch is fenced by the group coordinator.').nstr(null).i32(-1).i32(5000).i8(-1).tags() },
  ]);
  const [join, fenced] = calls as Json[];
  assert.equal(join.summary, 'ConsumerGroupHeartbeat v0 billing → NONE');
  assert.deepEqual([join.request.memberEpoch, join.response.memberId, join.response.memberEpoch, join.response.heartbeatIntervalMs], [0, 'm-848', 1, 5000]);
  assert.equal(fenced.summary, 'ConsumerGroupHeartbeat v1 billing → FENCED_MEMBER_EPOCH');
  assert.equal(fenced.error, true);
  assert.equal(fenced.response.errorMessage, 'The member epoch is fenced by the group coordinator.');
  for (const c of calls) assert.equal(c.warnings, undefined);
});

test('SASL: the mechanism and the outcome show; the token (a PLAIN password) never does', async () => {
  const { calls, pcap } = feedConversation(kafka, [
    { apiKey: 17, version: 1, request: (w) => w.str('PLAIN'), response: (w) => w.i16(0).arr(['PLAIN', 'SCRAM-SHA-512'], (w, m) => w.str(m)) },
    { apiKey: 36, version: 2, request: (w) => w.bytes(Buffer.from('\0alice\0hunter2-kafka')), response: (w) => w.i16(58).nstr('Authentication failed: Invalid username or password').bytes(Buffer.alloc(0)).i64(0n) },
    { apiKey: 36, version: 1, request: (w) => w.bytes(Buffer.from('\0alice\0hunter2-kafka')), response: (w) => w.i16(0).nstr(null).bytes(Buffer.from('server-final')).i64(3600000n) },
  ], { pcap: true });
  const [hello, refused, accepted] = calls as Json[];
  assert.deepEqual(hello.response.mechanisms, ['PLAIN', 'SCRAM-SHA-512']);
  assert.equal(hello.request.mechanism, 'PLAIN');
  assert.equal(refused.summary, 'SaslAuthenticate v2 → SASL_AUTHENTICATION_FAILED');
  assert.equal(refused.response.errorMessage, 'Authentication failed: Invalid username or password');
  assert.equal(refused.request.authBytesSize, 20);
  assert.equal(accepted.response.sessionLifetimeMs, 3600000);
  assert.ok(!JSON.stringify(calls).includes('hunter2'));
  // Before KIP-152 (SaslHandshake v0) the token goes bare, with no Kafka header: one call, sizes only.
  const legacy = feedConversation(kafka, [
    { apiKey: 17, version: 0, request: (w) => w.str('PLAIN'), response: (w) => w.i16(0).arr(['PLAIN'], (w, m) => w.str(m)) },
    { raw: [Buffer.from('\0Alice\0hunter2-kafka-legacy'), Buffer.alloc(0)] },
    { apiKey: 3, version: 1, request: (w) => w.arr([], () => undefined), response: (w) => w.arr([], () => undefined).i32(1).arr([], () => undefined) },
  ]).calls as Json[];
  assert.deepEqual(legacy.map((c) => c.summary), ['SaslHandshake v0 → NONE', 'SASL token (after SaslHandshake v0) → answered', 'Metadata v1 → NONE']);
  assert.equal(legacy[1].request.authBytesSize, 27);
  assert.ok(!JSON.stringify(legacy).includes('hunter2') && !JSON.stringify(legacy).includes('Alice'));
  // Through the CLI, with and without redaction: the token is never read into the entry.
  for (const args of [['dissect'], ['dissect', '--no-redact']]) {
    const r = await runCli([...args, pcap]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 3);
    assert.ok(!r.stdout.includes('hunter2') && !r.stdout.includes('alice'), r.stdout);
  }
});

test('OffsetFetch v9 and OffsetCommit v9 (KIP-848 consumers, Kafka 3.7+): the member and its epoch read, the offsets after them right', () => {
  const { calls } = feedConversation(kafka, [
    // OffsetFetch v9: each group names the member asking and its epoch before its topics.
    { apiKey: 9, version: 9, request: (w) => w.arr(['billing'], (w, g) => w.str(g).nstr('m-9').i32(12).arr([['orders', [0, 1]]], (w, [t, ps]) => w.str(t).arr(ps, (w, p) => w.i32(p)).tags()).tags()).i8(1),
      response: (w) => w.i32(0).arr([['billing', 0]], (w, [g, err]) => w.str(g).arr([['orders', [[0, 42n], [1, 7n]]]], (w, [t, ps]) => w.str(t).arr(ps, (w, [p, off]) => w.i32(p).i64(off).i32(-1).nstr('').i16(0).tags()).tags()).i16(err).tags()) },
    // OffsetCommit v9: the layout of v8 (the generation field carries the member epoch).
    { apiKey: 8, version: 9, request: (w) => w.str('billing').i32(12).str('m-9').nstr(null).arr([['orders', [[0, 43n]]]], (w, [t, ps]) => w.str(t).arr(ps, (w, [p, off]) => w.i32(p).i64(off).i32(-1).nstr('').tags()).tags()),
      response: (w) => w.i32(0).arr([['orders', [[0, 0]]]], (w, [t, ps]) => w.str(t).arr(ps, (w, [p, err]) => w.i32(p).i16(err).tags()).tags()) },
  ]);
  const [fetch, commit] = calls as Json[];
  assert.equal(fetch.summary, 'OffsetFetch v9 billing → NONE');
  assert.deepEqual([fetch.request.groups[0].memberId, fetch.request.groups[0].memberEpoch, fetch.request.requireStable], ['m-9', 12, true]);
  assert.deepEqual(fetch.request.groups[0].topics, [{ name: 'orders', partitions: [{ partition: 0 }, { partition: 1 }] }]);
  assert.deepEqual(fetch.response.groups[0].topics[0].partitions.map((p: Json) => p.committedOffset), [42, 7]);
  assert.equal(commit.summary, 'OffsetCommit v9 billing orders → NONE');
  assert.deepEqual(commit.request.topics[0].partitions.map((p: Json) => p.committedOffset), [43]);
  for (const c of calls) assert.equal(c.warnings, undefined, `${c.summary}: ${c.warnings}`);
});
