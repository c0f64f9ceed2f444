import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CATALOG_FIELDS, Catalog, callOf, statusOf } from '../../src/catalog/endpoints.js';
import { OPERATION_FIELDS, operationOf } from '../../src/stats/group-by.js';
import { projectObject } from '../../src/ndjson/project-object.js';
import { dissectFile } from '../helpers/dissect.js';
import { readEntries } from '../../src/input/entries.js';
import type { Entry } from '../../src/model/entry.js';
import { repoRoot, sharedCapture } from '../helpers/paths.js';
import { runCli } from '../helpers/cli.js';

async function endpointsOf(files: string[]): Promise<string[]> {
  const c = new Catalog();
  for await (const batch of readEntries(files, { onWarning: () => undefined })) c.addBatch(batch);
  return c.list().map((e) => `${e.protocol} ${e.name} ${[...e.statuses.keys()].sort().join(',')}`);
}

test('shapes of Kafka, MySQL and gRPC calls in real captures', async () => {
  const kafka = await endpointsOf([sharedCapture('ndpi-kafka.pcapng')]);
  assert.ok(kafka.includes('kafka Produce LB_MAIN_LOG_INPUT OK'), kafka.join('\n'));
  assert.ok(kafka.some((e) => e.startsWith('kafka Metadata LB_MAIN_LOG_INPUT')));
  const mysql = await endpointsOf([join(repoRoot, 'test', 'fixtures', 'captures', 'lab-mysql.pcap')]);
  for (const want of ['mysql select * from no_such_table 1146', 'mysql select ? as one, ? as greeting OK', 'mysql update pets set name = upper(name) where id < ? OK']) {
    assert.ok(mysql.includes(want), `${want} in\n${mysql.join('\n')}`);
  }
  // Both INSERTs (one row, three rows) are one shape, with both outcomes.
  assert.ok(mysql.includes('mysql insert into pets values (?) 1062,OK'), mysql.join('\n'));
  const grpc = await endpointsOf([sharedCapture('packt-grpc-unary.pcapng')]);
  assert.ok(grpc.includes('grpc greet.GreetService/Greet OK'), grpc.join('\n'));
});

test('protocols without a shape of their own are named by what the request does, not by the protocol twice', async () => {
  const names = new Map<string, Set<string>>();
  for (const file of ['tcpdump-icmpv6.pcap', 'zeek-linux_dlt_sll2.pcap', 'deepflow-mongo-scram-opmsg-checksum.pcap', 'zeek-websocket-two-binary-fragments.pcap', 'suricata-ldap-search.pcap', 'tcpdump-radius-access-challenge.pcap']) {
    for (const e of (await dissectFile(sharedCapture(file))).entries) {
      const call = callOf(e);
      if (!call) continue;
      // What catalog and stats read of NDJSON (the projected fields) names the call the same.
      assert.equal(callOf(projectObject(e, CATALOG_FIELDS) as unknown as Entry)?.name, call.name, `${file} ${e.id}: catalog projection`);
      assert.equal(operationOf(projectObject(e, OPERATION_FIELDS) as unknown as Entry), operationOf(e), `${file} ${e.id}: stats projection`);
      if (!names.has(call.protocol)) names.set(call.protocol, new Set());
      names.get(call.protocol)!.add(call.name);
    }
  }
  const of = (p: string) => [...(names.get(p) ?? [])].sort();
  assert.deepEqual(of('icmp'), ['echo-request', 'mld-query', 'mldv2-report', 'router-advertisement']);
  assert.ok(of('mongodb').includes('isMaster') && of('mongodb').includes('saslContinue'), of('mongodb').join());
  assert.deepEqual(of('ws'), ['binary', 'close', 'ping']);
  assert.deepEqual(of('ldap'), ['searchRequest']);
  assert.deepEqual(of('radius'), ['Access-Request']);
  for (const [p, set] of names) assert.ok(!set.has(p), `${p}: an endpoint named after its protocol`);
});

test('GraphQL operations, AMQP, DNS and statuses of each protocol', () => {
  const e = (protocol: string, request: Record<string, any> | null, response: Record<string, any> | null, error = false) => ({ protocol, request, response, error }) as unknown as Entry;
  assert.equal(callOf(e('graphql', { method: 'POST', path: '/graphql', graphql: { operationName: 'GetBooks', operationType: 'query', fields: ['books'] } }, { status: 200 }))!.name, 'query GetBooks');
  assert.equal(callOf(e('graphql', { graphql: { operationType: 'mutation', fields: ['addBook', 'x'] } }, null))!.name, 'mutation {addBook,x}');
  assert.equal(callOf(e('amqp', { method: 'basic.publish', exchange: 'orders' }, null))!.name, 'basic.publish orders');
  assert.equal(callOf(e('dns', { questions: [{ name: '12.0.96.10.in-addr.arpa', type: 'PTR' }] }, null))!.name, 'PTR {id}.{id}.{id}.{id}.in-addr.arpa');
  assert.equal(callOf(e('http', null, { status: 200 })), undefined);
  assert.equal(statusOf(e('grpc', {}, { grpcStatus: 14, grpcStatusName: 'UNAVAILABLE' }, true)), 'UNAVAILABLE');
  assert.equal(statusOf(e('redis', {}, { type: 'error', value: 'WRONGTYPE Operation against a key' }, true)), 'WRONGTYPE');
  assert.equal(statusOf(e('postgresql', {}, { errorCode: '42P01' }, true)), '42P01');
  assert.equal(statusOf(e('dns', {}, { rcode: 3, rcodeName: 'NXDOMAIN' }, true)), 'NXDOMAIN');
  assert.equal(statusOf(e('http', {}, null, true)), 'unanswered');
  // A call that expects no answer (MQTT QoS 0, NATS PUB, memcached noreply, Redis under CLIENT REPLY OFF) is not unanswered.
  assert.equal(statusOf(e('nats', { op: 'PUB' }, null)), 'one-way');
  assert.equal(statusOf({ ...e('mqtt', { type: 'PUBLISH' }, null), warnings: ['unanswered'] } as Entry), 'unanswered');
});

test('--proto: gRPC message schemas inferred from the decoded fields, by message type', async () => {
  const r = await runCli(['catalog', '--format', 'json', '--proto', join(repoRoot, 'test', 'fixtures', 'proto'), join(repoRoot, 'test', 'fixtures', 'captures', 'lab-grpc.pcap')]);
  assert.equal(r.code, 0, r.stderr);
  const say = (JSON.parse(r.stdout) as { endpoints: Array<{ endpoint: string; messages?: any }> }).endpoints.find((e) => e.endpoint === 'shark.Pets/Say')!;
  assert.deepEqual(say.messages.request['shark.Greeting'], { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] });
  assert.deepEqual(say.messages.response['shark.Reply'].properties, { answer: { type: 'integer' }, text: { type: 'string' } });
  // Without --proto there is nothing to infer from.
  const plain = await runCli(['catalog', '--format', 'json', join(repoRoot, 'test', 'fixtures', 'captures', 'lab-grpc.pcap')]);
  assert.ok((JSON.parse(plain.stdout) as { endpoints: Array<{ messages?: unknown }> }).endpoints.every((e) => e.messages === undefined));
});
