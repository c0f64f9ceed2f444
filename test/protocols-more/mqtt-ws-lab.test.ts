// MQTT over WebSocket from real software: Debian's mosquitto (built without
// libwebsockets) behind a WebSocket-to-TCP bridge written with
// python3-websockets, as brokers are often fronted (a proxy accepting the
// `mqtt` subprotocol), and paho-mqtt's websockets transport as the client.
// The bridge hands the broker's bytes on in WebSocket messages cut at its
// own places (a packet across two messages, several packets in one), which
// RFC-wise is allowed: the MQTT stream is the messages' payloads joined.
// tcpdump on the server's veth; shark's calls are compared with tshark's
// WebSocket framing (the unmasked payloads, from which the MQTT packets are cut).
// Namespaces `mqw-…`, addresses 198.19.142.0/24; every client bounded by
// `timeout`; everything torn down in `after`, even on failure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dissectFile } from '../helpers/dissect.js';
import { tshark } from './helpers.js';
import type { Entry } from '../../src/model/entry.js';


const tag = String(process.pid % 100000);
const SRV = `mqw-srv-${tag}`;
const CLI = `mqw-cli-${tag}`;
const VS = `mqw${tag}s`;
const VC = `mqw${tag}c`;
const SRV_IP = '198.19.142.1';
const CLI_IP = '198.19.142.2';
const PY = '/usr/bin/python3'; // Debian's python, where python3-websockets and python3-paho-mqtt are installed

const haveTools = ['mosquitto', 'tcpdump', 'tshark'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0)
  && spawnSync(PY, ['-c', 'import websockets, paho.mqtt.client']).status === 0 && process.getuid?.() === 0;

const work = mkdtempSync(join(tmpdir(), 'mqw-lab-'));
const pcap = join(work, 'mqtt-ws.pcap');
const servers: ChildProcess[] = [];
let entries: Entry[] = [];
/** The calls on 8084, whose server does not name the subprotocol. */
let unnamed: Entry[] = [];

function sh(cmd: string, timeoutMs = 30_000): string {
  return execFileSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

function startServer(argv: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', SRV, ...argv], { stdio: 'ignore' });
  servers.push(child);
  return child;
}

function waitPort(port: number): void {
  for (let i = 0; i < 100; i++) {
    if (spawnSync('ip', ['netns', 'exec', CLI, 'bash', '-c', `exec 3<>/dev/tcp/${SRV_IP}/${port}`], { timeout: 2000 }).status === 0) return;
    spawnSync('sleep', ['0.1']);
  }
  throw new Error(`server on port ${port} did not start`);
}

function teardown(): void {
  for (const s of servers) s.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', SRV]);
  spawnSync('ip', ['netns', 'del', CLI]);
  if (process.env.KEEP_LAB_PCAP) spawnSync('cp', [pcap, process.env.KEEP_LAB_PCAP]);
  rmSync(work, { recursive: true, force: true });
}

before(async () => {
  if (!haveTools) return;
  try {
    sh(`ip netns add ${SRV} && ip netns add ${CLI} && ip link add ${VC} type veth peer name ${VS}
      ip link set ${VS} netns ${SRV} && ip link set ${VC} netns ${CLI}
      ip -n ${SRV} addr add ${SRV_IP}/24 dev ${VS} && ip -n ${CLI} addr add ${CLI_IP}/24 dev ${VC}
      ip -n ${SRV} link set lo up && ip -n ${CLI} link set lo up && ip -n ${SRV} link set ${VS} up && ip -n ${CLI} link set ${VC} up
      ip netns exec ${SRV} ethtool -K ${VS} tso off gso off gro off >/dev/null 2>&1 || true
      ip netns exec ${CLI} ethtool -K ${VC} tso off gso off gro off >/dev/null 2>&1 || true`);
    // The broker listens on the server's loopback only: what the capture sees is the WebSocket side.
    writeFileSync(join(work, 'mosquitto.conf'), 'listener 1883 127.0.0.1\nallow_anonymous true\n');
    writeFileSync(join(work, 'bridge.py'), [
      'import asyncio, websockets',
      'async def bridge(ws):',
      '    reader, writer = await asyncio.open_connection("127.0.0.1", 1883)',
      '    async def up():',
      '        async for m in ws:',
      '            writer.write(m); await writer.drain()',
      '        writer.close()',
      '    async def down():',
      '        cut = True',
      '        while True:',
      '            data = await reader.read(65536)',
      '            if not data: break',
      '            # Every other chunk across two messages (a packet split), the rest whole (several packets, when the broker sent several).',
      '            if cut and len(data) > 3: await ws.send(data[:3]); await ws.send(data[3:])',
      '            else: await ws.send(data)',
      '            cut = not cut',
      '        await ws.close()',
      '    await asyncio.gather(up(), down(), return_exceptions=True)',
      'async def main():',
      // 8084 accepts MQTT without naming the subprotocol back (its 101 has no Sec-WebSocket-Protocol).
      `    async with websockets.serve(bridge, "${SRV_IP}", 8083, subprotocols=["mqtt"]), websockets.serve(bridge, "${SRV_IP}", 8084):`,
      '        await asyncio.sleep(60)',
      'asyncio.run(main())',
    ].join('\n'));
    writeFileSync(join(work, 'client.py'), [
      'import sys, time, paho.mqtt.client as mqtt',
      'port, cid = int(sys.argv[1]), sys.argv[2]',
      'done = {"sub": False, "got": 0}',
      'c = mqtt.Client(client_id=cid, transport="websockets")',
      'c.ws_set_options(path="/mqtt")',
      'c.on_subscribe = lambda *a: done.__setitem__("sub", True)',
      'c.on_message = lambda cl, u, m: done.__setitem__("got", done["got"] + 1)',
      `c.connect("${SRV_IP}", port, keepalive=30)`,
      'c.loop_start()',
      'def wait(cond):',
      '    end = time.time() + 5',
      '    while not cond() and time.time() < end: time.sleep(0.02)',
      'c.subscribe("lab/ws/#", qos=1)',
      'wait(lambda: done["sub"])',
      'c.publish("lab/ws/one", b"over websocket", qos=1).wait_for_publish(5)',
      'c.publish("lab/ws/two", b"exactly once", qos=2).wait_for_publish(5)',
      'c.publish("lab/ws/zero", b"fire and forget", qos=0)',
      'wait(lambda: done["got"] >= 3)',
      'c.disconnect()',
      'c.loop_stop()',
    ].join('\n'));
    const tcpdump = spawn('ip', ['netns', 'exec', SRV, 'tcpdump', '-i', VS, '-B', '65536', '-U', '-s', '0', '-w', pcap, 'tcp port 8083 or tcp port 8084'], { stdio: 'ignore' });
    servers.push(tcpdump);
    startServer(['mosquitto', '-c', join(work, 'mosquitto.conf')]);
    startServer([PY, join(work, 'bridge.py')]);
    waitPort(8083);
    waitPort(8084);
    spawnSync('sleep', ['0.5']); // tcpdump is listening by now (started first)
    sh(`ip netns exec ${CLI} timeout 20 ${PY} ${join(work, 'client.py')} 8083 lab-ws`);
    sh(`ip netns exec ${CLI} timeout 20 ${PY} ${join(work, 'client.py')} 8084 lab-ws-unnamed`);
    spawnSync('sleep', ['1']);
    tcpdump.kill('SIGINT');
    await new Promise((r) => tcpdump.once('exit', r));
    const all = (await dissectFile(pcap)).entries.filter((e) => e.protocol !== 'tcp');
    entries = all.filter((e) => e.dst.port === 8083);
    unnamed = all.filter((e) => e.dst.port === 8084);
  } catch (e) {
    teardown();
    throw e;
  }
});

after(teardown);

const skip = haveTools ? false : 'needs root and mosquitto, python3-websockets, python3-paho-mqtt, tcpdump, tshark';

test('lab MQTT over WebSocket: the MQTT calls inside the binary messages, as tshark reads them, paired', { skip }, () => {
  // tshark 4.0 does not read MQTT inside WebSocket (no `mqtt` in its ws.protocol table), but it unmasks each
  // frame's payload (data.data): the MQTT packets are cut from each direction's payloads joined, each
  // with the frames of its first byte (where a call starts) and of its last (where an acknowledgement is read).
  const MSG_TYPES = ['', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT'];
  const theirs: Array<{ frame: number; end: number; type: string }> = [];
  const streams: Record<string, Array<{ frame: number; byte: number }>> = {};
  for (const l of tshark(['-r', pcap, '-Y', 'websocket && data && tcp.port == 8083', '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.srcport', '-e', 'data.data'])) {
    const [frame, sport, hex] = l.split('\t');
    for (const byte of Buffer.from(hex.replace(/:/g, ''), 'hex')) (streams[sport] ??= []).push({ frame: Number(frame), byte });
  }
  for (const bytes of Object.values(streams)) {
    for (let off = 0; off < bytes.length;) {
      let len = 0;
      let i = 1;
      for (let mul = 1; ; mul *= 128, i++) {
        len += (bytes[off + i].byte & 0x7f) * mul;
        if ((bytes[off + i].byte & 0x80) === 0) break;
      }
      theirs.push({ frame: bytes[off].frame, end: bytes[off + i + len].frame, type: MSG_TYPES[bytes[off].byte >> 4] });
      off += 1 + i + len;
    }
  }
  const requests = theirs.filter((p) => ['CONNECT', 'SUBSCRIBE', 'PUBLISH', 'DISCONNECT'].includes(p.type));
  assert.ok(requests.length >= 8, JSON.stringify(theirs));
  const mqtt = entries.filter((e) => e.protocol === 'mqtt');
  // Before: one `ws` binary entry per message and no MQTT at all.
  assert.deepEqual(entries.filter((e) => e.protocol === 'ws' && (e.request as any)?.opcode === 'binary').map((e) => e.summary), []);
  // Every request tshark shows is one of our calls, in its frame (each PUBLISH, client or broker, starts a call).
  assert.deepEqual(mqtt.map((e) => `${e.frames!.request} ${(e.request as any).type}`).sort(), requests.map((p) => `${p.frame} ${p.type}`).sort());
  // And every acknowledgement pairs: its frame is one tshark shows with that type.
  const acks = new Set(theirs.map((p) => `${p.end} ${p.type}`));
  for (const e of mqtt) {
    if (e.response === null) continue;
    assert.ok(acks.has(`${e.frames!.response} ${(e.response as any).type}`), `${e.summary} at ${e.frames!.response}`);
  }
  const by = (type: string, topic?: string, from?: string) => mqtt.filter((e) => (e.request as any).type === type
    && (topic === undefined || (e.request as any).topic === topic) && (from === undefined || (e.request as any).from === from));
  assert.deepEqual(by('CONNECT').map((e) => [(e.request as any).clientId, (e.response as any).type, e.error]), [['lab-ws', 'CONNACK', false]]);
  assert.deepEqual(by('SUBSCRIBE').map((e) => [(e.request as any).topics, (e.response as any).type]), [[[{ topic: 'lab/ws/#', qos: 1 }], 'SUBACK']]);
  const one = by('PUBLISH', 'lab/ws/one', 'client')[0];
  assert.deepEqual([(one.request as any).body, (one.response as any).type, one.error], ['over websocket', 'PUBACK', false]);
  const two = by('PUBLISH', 'lab/ws/two', 'client')[0];
  assert.deepEqual([(two.response as any).type, (two.response as any).flow], ['PUBCOMP', ['PUBREC', 'PUBREL', 'PUBCOMP']]);
  // The broker's deliveries of the three, split across WebSocket messages by the bridge, read whole.
  assert.deepEqual(by('PUBLISH', undefined, 'server').map((e) => (e.request as any).body).sort(), ['exactly once', 'fire and forget', 'over websocket']);
  assert.ok(mqtt.every((e) => !e.warnings), JSON.stringify(mqtt.filter((e) => e.warnings).map((e) => [e.summary, e.warnings])));
  // The handshake stays an http entry that says what it switched to.
  const upgrade = entries.find((e) => e.protocol === 'http')!;
  assert.equal((upgrade.response as any).upgrade, 'websocket');
});

test('lab MQTT over WebSocket from a server that does not name the subprotocol: found by the CONNECT, read as when it is named', { skip }, () => {
  const upgrade = unnamed.find((e) => e.protocol === 'http')!;
  assert.equal((upgrade.response as any).upgrade, 'websocket');
  assert.equal((upgrade.response as any).headers['sec-websocket-protocol'], undefined, 'the 101 names no subprotocol');
  // Before: every data message a `ws` binary entry, no MQTT.
  assert.deepEqual(unnamed.filter((e) => e.protocol === 'ws' && (e.request as any)?.opcode === 'binary').map((e) => e.summary), []);
  const shape = (list: Entry[]) => list.filter((e) => e.protocol === 'mqtt')
    .map((e) => `${(e.request as any).from ?? 'client'} ${(e.request as any).type} ${(e.request as any).topic ?? ''} → ${(e.response as any)?.type ?? '-'} ${e.error}`).sort();
  assert.ok(shape(unnamed).length >= 8, JSON.stringify(shape(unnamed)));
  assert.deepEqual(shape(unnamed), shape(entries));
  const connect = unnamed.find((e) => e.protocol === 'mqtt' && (e.request as any).type === 'CONNECT')!;
  assert.equal((connect.request as any).clientId, 'lab-ws-unnamed');
  assert.ok(unnamed.every((e) => !e.warnings), JSON.stringify(unnamed.filter((e) => e.warnings).map((e) => [e.summary, e.warnings])));
});
