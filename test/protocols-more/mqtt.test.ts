// MQTT 3.1.1 and 5 against tshark on the shared captures (every control
// packet, its identifier, QoS and topic, and which acknowledgement answers
// which packet), then edge cases from packets built as the OASIS spec lays them out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dissectFile } from '../helpers/dissect.js';
import { sharedCapture } from '../helpers/paths.js';
import { makeContext, tshark } from './helpers.js';
import { MqttParser, PACKET_TYPES, probeMqtt } from '../../src/dissect/protocols/mqtt.js';
import type { CallRecord } from '../../src/dissect/api.js';

const REQUESTS = new Set(['CONNECT', 'PUBLISH', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PINGREQ', 'DISCONNECT']);
const FINAL_ANSWERS = new Set(['CONNACK', 'PUBACK', 'PUBCOMP', 'SUBACK', 'UNSUBACK', 'PINGRESP']);

function tsharkPackets(file: string): { requests: string[]; answers: string[]; connect: string[] } {
  const rows = tshark(['-r', file, '-Y', 'mqtt', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|',
    '-e', 'frame.number', '-e', 'mqtt.msgtype', '-e', 'mqtt.msgid', '-e', 'mqtt.qos', '-e', 'mqtt.topic', '-e', 'mqtt.ver', '-e', 'mqtt.clientid', '-e', 'mqtt.username']);
  const requests: string[] = [];
  const answers: string[] = [];
  const connect: string[] = [];
  for (const row of rows) {
    const [frame, types, ids, qos, topics, ver, clientId, user] = row.split('\t');
    const t = types.split('|').map((x) => PACKET_TYPES[Number(x)]);
    // Aggregated fields list only the packets that have them: walk them in step.
    const idList = ids.split('|');
    const qosList = qos.split('|');
    const topicList = topics.split('|');
    let idAt = 0;
    let pubAt = 0;
    for (const type of t) {
      const hasId = type !== 'CONNECT' && type !== 'CONNACK' && type !== 'PINGREQ' && type !== 'PINGRESP' && type !== 'DISCONNECT' && !(type === 'PUBLISH' && qosList[pubAt] === '0');
      const id = hasId ? idList[idAt++] : '';
      if (type === 'PUBLISH') {
        requests.push(`${frame} PUBLISH id=${id} qos=${qosList[pubAt]} ${topicList[pubAt]}`);
        pubAt++;
      } else if (REQUESTS.has(type)) requests.push(`${frame} ${type} id=${id}`);
      else if (FINAL_ANSWERS.has(type)) answers.push(`${frame} ${type} id=${id}`);
      if (type === 'CONNECT') connect.push(`v${ver} ${clientId} ${user}`);
    }
  }
  return { requests, answers, connect };
}

for (const file of ['suricata-mqtt311-pub-qos1.pcap', 'suricata-mqtt5-pub-qos2.pcap', 'deepflow-mqtt-multi-publish-one-segment.pcap']) {
  test(`MQTT ${file}: packets and acknowledgements as tshark`, async () => {
    const path = sharedCapture(file);
    const { entries, error } = await dissectFile(path);
    assert.equal(error, undefined);
    const mqtt = entries.filter((e) => e.protocol === 'mqtt');
    assert.equal(mqtt.length, entries.length, 'every entry is mqtt');
    const theirs = tsharkPackets(path);
    const ours = {
      requests: mqtt.filter((e) => e.request).map((e) => {
        const r = e.request!;
        return r.type === 'PUBLISH' ? `${e.frames!.request} PUBLISH id=${r.packetId ?? ''} qos=${r.qos} ${r.topic}` : `${e.frames!.request} ${r.type} id=${r.packetId ?? ''}`;
      }),
      answers: mqtt.filter((e) => e.response).map((e) => `${e.frames!.response} ${e.response!.type} id=${e.response!.packetId ?? ''}`),
      connect: mqtt.filter((e) => e.request?.type === 'CONNECT').map((e) => `v${e.request!.protocolVersion} ${e.request!.clientId} ${e.request!.username}`),
    };
    assert.deepEqual(ours.requests.sort(), theirs.requests.sort());
    assert.deepEqual(ours.answers.sort(), theirs.answers.sort());
    assert.deepEqual(ours.connect, theirs.connect);
    for (const e of mqtt) {
      assert.equal(e.error, false, e.summary);
      assert.equal(e.warnings, undefined, e.summary);
      // A packet id pairs with the same id.
      if (e.request?.packetId !== undefined && e.response) assert.equal(e.response.packetId, e.request.packetId);
      if (e.request?.password !== undefined) assert.equal(e.request.password, '***');
    }
  });
}

test('MQTT 5 QoS 2: one entry for PUBLISH → PUBREC → PUBREL → PUBCOMP, with CONNECT/CONNACK properties', async () => {
  const { entries } = await dissectFile(sharedCapture('suricata-mqtt5-pub-qos2.pcap'));
  const pub = entries.find((e) => e.request?.type === 'PUBLISH')!;
  assert.deepEqual(pub.response!.flow, ['PUBREC', 'PUBREL', 'PUBCOMP']);
  assert.equal(pub.request!.body, 'baabaablacksheep');
  assert.ok(pub.elapsedTime > 0);
  const connect = entries.find((e) => e.request?.type === 'CONNECT')!;
  // tshark: property 0x21 (Receive Maximum) on CONNECT, 0x22 (Topic Alias Maximum) on CONNACK.
  assert.deepEqual(Object.keys(connect.request!.properties), ['receiveMaximum']);
  assert.deepEqual(Object.keys(connect.response!.properties), ['topicAliasMaximum']);
});

function packet(type: number, flags: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([(type << 4) | flags, ...len]), body]);
}
const str = (s: string) => Buffer.concat([Buffer.from([s.length >> 8, s.length & 255]), Buffer.from(s)]);
const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);

test('MQTT 3.1.1: refused CONNECT, SUBACK failure, PINGREQ, big PUBLISH kept to the body cap, gap resync', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters, { maxBody: 32, noBodies: false });
  const p = new MqttParser(ctx);
  const connect = packet(1, 0, Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2]), u16(30), str('dev1'), str('alice'), str('s3cret')]));
  assert.equal(probeMqtt(connect, false), 'request');
  assert.equal(probeMqtt(Buffer.from('GET / HTTP/1.1\r\n'), true), false);
  p.onData('c2s', connect);
  p.onData('s2c', packet(2, 0, Buffer.from([0, 4])));
  p.onData('c2s', packet(8, 2, Buffer.concat([u16(7), str('a/#'), Buffer.from([1]), str('b'), Buffer.from([2])])));
  p.onData('s2c', packet(9, 0, Buffer.concat([u16(7), Buffer.from([1, 0x80])])));
  const big = Buffer.alloc(100_000, 0x41);
  const publish = packet(3, 2, Buffer.concat([str('t/big'), u16(9), big]));
  // Delivered in pieces, as TCP would.
  for (let i = 0; i < publish.length; i += 1400) p.onData('c2s', publish.subarray(i, i + 1400));
  p.onGap('s2c', 4);
  p.onData('s2c', Buffer.from([0x99, 0x01, 0x02])); // garbage after the gap: skipped
  p.onData('s2c', packet(4, 0, u16(9)));
  p.onData('c2s', packet(12, 0, Buffer.alloc(0)));
  p.onData('s2c', packet(13, 0, Buffer.alloc(0)));
  p.onEnd();
  const s = records.map((r) => r.summary);
  assert.deepEqual(s, [
    'CONNECT dev1 → CONNACK bad user name or password',
    'SUBSCRIBE a/#,b → SUBACK [qos1,failure]',
    'PUBLISH t/big qos=1 → PUBACK',
    'PINGREQ → PINGRESP',
  ]);
  assert.equal(records[0].error, true);
  assert.equal(records[0].request!.password, '***');
  assert.doesNotMatch(JSON.stringify(records), /s3cret/);
  assert.equal(records[1].error, true);
  assert.equal(records[2].request!.bodySize, 100_000);
  assert.equal(records[2].request!.body.length, 32);
  assert.equal(records[2].request!.bodyTruncated, true);
  assert.ok(records[2].warnings!.includes('gap'));
  // Only the flow in flight when the bytes went says gap, not every later call of the connection.
  assert.equal(records[3].warnings, undefined);
  assert.ok(records.slice(0, 2).every((r) => r.warnings === undefined));
  assert.equal(counters['mqtt.resync_skipped'], 3);
});

test('MQTT 5: reason codes, user properties and authentication data redacted', () => {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const p = new MqttParser(ctx);
  const props = Buffer.concat([Buffer.from([0x15]), str('SCRAM-SHA-1'), Buffer.from([0x16]), str('token-xyz'), Buffer.from([0x26]), str('k'), str('v')]);
  p.onData('c2s', packet(1, 0, Buffer.concat([str('MQTT'), Buffer.from([5, 0x02]), u16(10), Buffer.from([props.length]), props, str('c5')])));
  p.onData('s2c', packet(2, 0, Buffer.from([0, 0x87, 0])));
  p.onEnd();
  assert.equal(records[0].summary, 'CONNECT c5 → CONNACK Not authorized');
  assert.equal(records[0].error, true);
  assert.deepEqual(records[0].request!.properties.userProperties, [['k', 'v']]);
  assert.equal(records[0].request!.properties.authenticationData, '*** (9 bytes)');
  assert.doesNotMatch(JSON.stringify(records), /token-xyz/);
});

test('MQTT 3.1 (MQIsdp): a CONNECT is recognised on port 1883 and off it, as 3.1.1 and 5.0 ones are', async () => {
  const { Wire, runEngine } = await import('../helpers/engine-wire.js');
  const connect31 = packet(1, 0, Buffer.concat([str('MQIsdp'), Buffer.from([3, 0x02]), u16(60), str('old-client')]));
  assert.equal(probeMqtt(connect31, false), 'request');
  for (const port of [1883, 11883]) {
    const wire = new Wire();
    wire.send(0, 1, 40000, port, connect31);
    wire.send(1, 2, port, 40000, packet(2, 0, Buffer.from([0, 0])));
    wire.send(2, 1, 40000, port, packet(3, 2, Buffer.concat([str('legacy/t'), u16(5), Buffer.from('v3.1')])));
    wire.send(3, 2, port, 40000, packet(4, 0, u16(5)));
    const calls = runEngine(wire.packets).map((o) => o.entry).filter((e) => e.protocol !== 'tcp');
    assert.deepEqual(calls.map((e) => [e.protocol, e.summary]), [
      ['mqtt', 'CONNECT old-client → CONNACK Connection Accepted'],
      ['mqtt', 'PUBLISH legacy/t qos=1 → PUBACK'],
    ], `port ${port}`);
    assert.equal((calls[0].request as any).protocolName, 'MQIsdp');
    assert.equal((calls[0].request as any).protocolVersion, 3);
  }
});
