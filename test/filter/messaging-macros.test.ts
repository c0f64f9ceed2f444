// The KFL1 protocol flags and KFL2 variables of WebSocket, MQTT, NATS and
// Memcached (issue 18), through `shark filter` on the shared captures, and
// `shark dissect --list-protocols` naming them with their references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';
import { sharedCapture } from '../helpers/paths.js';

async function lines(args: string[]): Promise<any[]> {
  const r = await runCli(args);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

const cases: Array<[string, string, (e: any) => boolean, number]> = [
  // [capture, expression, what every match must satisfy, matches]
  ['suricata-mqtt5-pub-qos2.pcap', 'mqtt', (e) => e.protocol === 'mqtt', 3],
  ['suricata-mqtt5-pub-qos2.pcap', 'mqtt_qos == 2 && mqtt_topic == "topicX"', (e) => e.request.qos === 2, 1],
  ['deepflow-mqtt-multi-publish-one-segment.pcap', '"hello/3/world" in mqtt_topics', (e) => e.request.topic === 'hello/3/world', 1],
  ['deepflow-nats-nrpc1.pcap', 'nats && request.op == "MSG"', (e) => e.request.replyTo.startsWith('_INBOX.'), 2],
  ['deepflow-nats-headers.pcap', 'nats_subject == "FOO" && nats_op == "HPUB"', (e) => e.response.op === '+OK', 4],
  ['deepflow-memcached-text.pcap', 'memcached_hits > 0', (e) => e.request.command === 'get', 1],
  ['deepflow-memcached-text.pcap', 'memcached', (e) => e.protocol === 'memcached', 3],
  ['zeek-websocket-two-binary-fragments.pcap', 'websocket and request.opcode == "binary"', (e) => e.protocol === 'ws', 2],
  ['zeek-websocket-two-binary-fragments.pcap', 'ws_from == "server" && ws_opcode == "ping"', (e) => e.response.opcode === 'pong', 1],
  ['zeek-websocket-two-binary-fragments.pcap', 'ws_close_code == 1000', (e) => e.request.opcode === 'close', 1],
];

for (const [file, expr, check, n] of cases) {
  test(`filter ${JSON.stringify(expr)} on ${file}`, async () => {
    const matches = await lines(['filter', expr, sharedCapture(file)]);
    assert.equal(matches.length, n, JSON.stringify(matches.map((e) => e.summary)));
    for (const e of matches) assert.ok(check(e), e.summary);
  });
}

test('--list-protocols names ws, mqtt, nats and memcached with their references', async () => {
  const r = await runCli(['dissect', '--list-protocols']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^ws\ttcp\t-\tRFC 6455/m);
  assert.match(r.stdout, /^mqtt\ttcp\t1883\tOASIS MQTT/m);
  assert.match(r.stdout, /^nats\ttcp\t4222\thttps:\/\/docs\.nats\.io/m);
  assert.match(r.stdout, /^memcached\ttcp\t11211\thttps:\/\/github\.com\/memcached\/memcached\/blob\/master\/doc\/protocol\.txt/m);
});
