// Real servers from Debian (memcached, mosquitto, nats-server, python3-websockets)
// in a server namespace, their clients (mosquitto_pub, a few lines of socket
// code, the websockets client) in a client namespace, tcpdump on the server's
// veth. The capture is dissected and compared with tshark where tshark has a
// dissector (MQTT, WebSocket, memcache), and `shark stats`/`shark map` must
// show the four protocols with latency and errors. Namespaces `s4a-…`,
// addresses 198.19.130.0/24; every client bounded by `timeout`; everything
// torn down in `after`, even on failure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dissectFile } from '../helpers/dissect.js';
import { runCli } from '../helpers/cli.js';
import { tshark } from './helpers.js';
import type { Entry } from '../../src/model/entry.js';

const tag = String(process.pid % 100000);
const SRV = `s4a-srv-${tag}`;
const CLI = `s4a-cli-${tag}`;
const VS = `s4a${tag}s`;
const VC = `s4a${tag}c`;
const SRV_IP = '198.19.130.1';
const CLI_IP = '198.19.130.2';
const PY = '/usr/bin/python3'; // Debian's python, where python3-websockets is installed

const haveTools = ['memcached', 'mosquitto', 'mosquitto_pub', 'nats-server', 'tcpdump'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0)
  && spawnSync(PY, ['-c', 'import websockets']).status === 0 && process.getuid?.() === 0;

const work = mkdtempSync(join(tmpdir(), 's4a-lab-'));
const pcap = join(work, 'lab.pcap');
const natsKeys = join(work, 'nats-tls.keys');
const servers: ChildProcess[] = [];
let entries: Entry[] = [];

function sh(cmd: string, timeoutMs = 20_000): string {
  return execFileSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}
const inSrv = (argv: string[]) => ['ip', 'netns', 'exec', SRV, ...argv];
const client = (cmd: string) => sh(`ip netns exec ${CLI} timeout 15 ${cmd}`);

function startServer(argv: string[]): ChildProcess {
  const full = inSrv(argv);
  const child = spawn(full[0], full.slice(1), { stdio: 'ignore' });
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
    const tcpdump = startServer(['tcpdump', '-i', VS, '-B', '65536', '-U', '-s', '0', '-w', pcap, 'tcp']);
    writeFileSync(join(work, 'mosquitto.conf'), `listener 1883 ${SRV_IP}\nallow_anonymous true\n`);
    startServer(['memcached', '-u', 'nobody', '-l', SRV_IP, '-p', '11211', '-U', '0']);
    startServer(['mosquitto', '-c', join(work, 'mosquitto.conf')]);
    startServer(['nats-server', '-a', SRV_IP, '-p', '4222']);
    // A second NATS server that requires TLS: the client upgrades after INFO, and writes its key log.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=nats.shark.test', '-keyout', join(work, 'nats.key'), '-out', join(work, 'nats.crt')], { stdio: 'ignore' });
    writeFileSync(join(work, 'nats-tls.conf'), `listen: "${SRV_IP}:4443"\ntls {\n  cert_file: "${join(work, 'nats.crt')}"\n  key_file: "${join(work, 'nats.key')}"\n}\n`);
    startServer(['nats-server', '-c', join(work, 'nats-tls.conf')]);
    writeFileSync(join(work, 'ws-server.py'), [
      'import asyncio, websockets',
      'async def echo(ws):',
      '    async for m in ws:',
      '        if m == "bye": await ws.close(1011, "server failed"); return',
      '        await ws.send(m)',
      'async def main():',
      `    async with websockets.serve(echo, "${SRV_IP}", 8765, compression="deflate"):`,
      '        await asyncio.sleep(60)',
      'asyncio.run(main())',
    ].join('\n'));
    startServer([PY, join(work, 'ws-server.py')]);
    for (const port of [11211, 1883, 4222, 4443, 8765]) waitPort(port);
    spawnSync('sleep', ['0.5']); // tcpdump is listening by now (started first)
    void tcpdump;

    // memcached: text (hits, a miss, an error) and binary (a set and a get) over plain sockets.
    writeFileSync(join(work, 'mc.py'), [
      'import socket, struct, time',
      `s = socket.create_connection(("${SRV_IP}", 11211))`,
      'def rt(b, until):',
      '    s.sendall(b); d = b""',
      '    while not d.endswith(until): d += s.recv(65536)',
      'rt(b"set k1 3 0 5\\r\\nhello\\r\\n", b"\\r\\n")',
      'rt(b"get k1 nokey\\r\\n", b"END\\r\\n")',
      'rt(b"incr k1 1\\r\\n", b"\\r\\n")',
      'rt(b"bogus\\r\\n", b"\\r\\n")',
      's.close()',
      `b = socket.create_connection(("${SRV_IP}", 11211))`,
      'def req(op, key, extras=b"", value=b"", opaque=0):',
      '    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, len(extras)+len(key)+len(value), opaque, 0) + extras + key + value',
      'b.sendall(req(1, b"bk", struct.pack(">II", 0, 0), b"binval", 7)); time.sleep(0.05); b.recv(4096)',
      'b.sendall(req(0, b"bk", opaque=8)); time.sleep(0.05); b.recv(4096)',
      'b.sendall(req(0, b"missing", opaque=9)); time.sleep(0.05); b.recv(4096)',
      'b.close()',
      // Meta commands with q (mg/ms/md/ma): a miss or a success is not answered, a hit or a not-found is; mn ends the batch.
      `m = socket.create_connection(("${SRV_IP}", 11211))`,
      'def mrt(b, until):',
      '    m.sendall(b); d = b""',
      '    while not d.endswith(until): d += m.recv(65536)',
      'mrt(b"ms mk 2 T0\\r\\nhi\\r\\n", b"\\r\\n")',
      'mrt(b"mg mk q v Oa1 k\\r\\nmg nokey q v Oa2 k\\r\\nms mk 2 q\\r\\nyo\\r\\nmd nokey q\\r\\nmn\\r\\n", b"MN\\r\\n")',
      'mrt(b"mg nokey v\\r\\n", b"EN\\r\\n")',
      'mrt(b"ma nocnt q\\r\\nmn\\r\\n", b"MN\\r\\n")',
      'm.close()',
    ].join('\n'));
    client(`${PY} ${join(work, 'mc.py')}`);

    // MQTT 3.1.1 QoS 1 with a password, MQTT 5 QoS 2.
    client(`mosquitto_pub -h ${SRV_IP} -i lab-q1 -u alice -P mqtt-s3cret -q 1 -t lab/q1 -m one`);
    client(`mosquitto_pub -h ${SRV_IP} -i lab-q2 -V mqttv5 -q 2 -t lab/q2 -m two`);

    // NATS: verbose, credentials, a request answered on its reply subject, a bad subject (-ERR).
    writeFileSync(join(work, 'nats.py'), [
      'import socket, time',
      `s = socket.create_connection(("${SRV_IP}", 4222))`,
      's.recv(4096)',
      'def send(b): s.sendall(b); time.sleep(0.05)',
      'send(b\'CONNECT {"verbose":true,"pedantic":true,"user":"u","pass":"nats-s3cret","lang":"py","version":"0"}\\r\\n\')',
      'send(b"SUB svc.echo 1\\r\\nSUB _INBOX.lab.* 2\\r\\n")',
      'send(b"PUB svc.echo _INBOX.lab.1 5\\r\\nhello\\r\\n")',
      'send(b"PUB _INBOX.lab.1 5\\r\\nworld\\r\\n")',
      'send(b"PING\\r\\n")',
      'send(b"PUB bad..subject 0\\r\\n\\r\\n")',
      'time.sleep(0.2); s.close()',
    ].join('\n'));
    client(`${PY} ${join(work, 'nats.py')}`);
    writeFileSync(join(work, 'nats-tls.py'), [
      'import socket, ssl, time',
      `s = socket.create_connection(("${SRV_IP}", 4443))`,
      's.recv(4096)  # INFO {"tls_required":true,…}, in clear text',
      'ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE',
      `ctx.keylog_filename = "${natsKeys}"`,
      's = ctx.wrap_socket(s, server_hostname="nats.shark.test")',
      'def send(b): s.sendall(b); time.sleep(0.05)',
      'send(b\'CONNECT {"verbose":false,"pedantic":false,"tls_required":true,"user":"u","pass":"nats-tls-s3cret"}\\r\\n\')',
      'send(b"SUB tls.echo 1\\r\\nPUB tls.echo 6\\r\\nsecret\\r\\nPING\\r\\n")',
      'time.sleep(0.2); s.close()',
    ].join('\n'));
    client(`${PY} ${join(work, 'nats-tls.py')}`);

    // WebSocket with permessage-deflate: text, binary, a ping, then the server closes with 1011.
    writeFileSync(join(work, 'ws-client.py'), [
      'import asyncio, websockets',
      'async def main():',
      `    async with websockets.connect("ws://${SRV_IP}:8765/lab") as ws:`,
      '        for m in ["hello lab", "hello lab again", b"\\x00\\x01binary"]:',
      '            await ws.send(m); await ws.recv()',
      '        await (await ws.ping(b"p1"))',
      '        await ws.send("bye")',
      '        try: await ws.recv()',
      '        except websockets.ConnectionClosed: pass',
      'asyncio.run(main())',
    ].join('\n'));
    client(`${PY} ${join(work, 'ws-client.py')}`);
    spawnSync('sleep', ['1']);
    tcpdump.kill('SIGINT');
    await new Promise((r) => tcpdump.once('exit', r));
    entries = (await dissectFile(pcap)).entries;
  } catch (e) {
    teardown();
    throw e;
  }
});

after(teardown);

const skip = haveTools ? false : 'needs root and memcached, mosquitto(-clients), nats-server, python3-websockets, tcpdump';
const of = (p: string) => entries.filter((e) => e.protocol === p);

test('lab memcached: text and binary calls as tshark reads them, hits, misses and errors', { skip }, () => {
  const mc = of('memcached');
  const rows = tshark(['-r', pcap, '-Y', 'memcache.command || memcache.opcode', '-T', 'fields', '-e', 'memcache.command', '-e', 'memcache.opcode', '-e', 'memcache.magic'])
    .map((r) => r.split('\t'))
    .filter((r) => r[0] !== '' || r[2] === '128');
  assert.equal(rows.length, 6, JSON.stringify(rows));
  // tshark has no "bogus" command (ours is the ERROR it gets), and no meta commands.
  assert.deepEqual(mc.filter((e) => e.request!.command !== 'bogus' && !/^m[gsdan]$/.test(e.request!.command)).map((e) => e.request!.command ?? String(e.request!.opcode)), rows.map((r) => r[0] || r[1]));
  const get = mc.find((e) => e.request!.command === 'get')!;
  assert.deepEqual([get.response!.hits, get.response!.misses, get.error], [1, 1, false]);
  assert.equal(mc.find((e) => e.request!.command === 'bogus')!.error, true);
  assert.equal(mc.find((e) => e.request!.command === 'incr')!.response!.status, 'CLIENT_ERROR');
  const binGets = mc.filter((e) => e.request!.opcodeName === 'Get');
  assert.deepEqual(binGets.map((e) => e.response!.statusName), ['No error', 'Key not found']);
  assert.equal(binGets[0].response!.value, 'binval');
});

test('lab memcached meta commands with q: unanswered misses and successes end when a later reply comes, hits and failures pair', { skip }, () => {
  const meta = of('memcached').filter((e) => /^m[gsdan]$/.test(e.request!.command));
  assert.deepEqual(meta.map((e) => e.summary), [
    'ms mk → HD',
    'mg mk → VA',
    'mg nokey → (no response)',
    'ms mk → (no response)',
    'md nokey → NF',
    'mn → MN',
    'mg nokey → EN',
    'ma nocnt → NF',
    'mn → MN',
  ]);
  const hit = meta[1];
  assert.deepEqual([hit.request!.quiet, hit.request!.opaque, hit.response!.values[0].value], [true, 'a1', 'hi']);
  assert.ok(meta.every((e) => !e.error && !e.warnings), JSON.stringify(meta.filter((e) => e.error || e.warnings)));
});

test('lab MQTT: mosquitto_pub QoS 1 (3.1.1) and QoS 2 (5) flows as tshark reads them; password masked', { skip }, () => {
  const mq = of('mqtt');
  const theirs = tshark(['-r', pcap, '-Y', 'mqtt.msgtype == 3', '-T', 'fields', '-e', 'mqtt.topic', '-e', 'mqtt.qos', '-e', 'mqtt.msgid']).map((r) => r.replace(/\t/g, ' '));
  assert.equal(theirs.length, 2);
  assert.deepEqual(mq.filter((e) => e.request?.type === 'PUBLISH').map((e) => `${e.request!.topic} ${e.request!.qos} ${e.request!.packetId}`), theirs);
  const q2 = mq.find((e) => e.request?.topic === 'lab/q2')!;
  assert.deepEqual(q2.response!.flow, ['PUBREC', 'PUBREL', 'PUBCOMP']);
  const connect = mq.find((e) => e.request?.clientId === 'lab-q1')!;
  assert.equal(connect.request!.password, '***');
  assert.equal(connect.response!.returnCode, 0);
  assert.doesNotMatch(JSON.stringify(entries), /mqtt-s3cret|nats-s3cret/);
  assert.ok(mq.every((e) => !e.error), mq.map((e) => e.summary).join('; '));
});

test('lab NATS: verbose acks, request/reply through the reply subject, PING/PONG, -ERR', { skip }, () => {
  const n = of('nats');
  const req = n.find((e) => e.request!.op === 'PUB' && e.request!.subject === 'svc.echo')!;
  assert.equal(req.response!.subject, '_INBOX.lab.1');
  assert.equal(req.response!.body, 'world');
  assert.equal(req.error, false);
  assert.equal(n.find((e) => e.request!.op === 'CONNECT')!.request!.connect.pass, '***');
  assert.equal(n.find((e) => e.request!.op === 'PING')!.response!.op, 'PONG');
  const bad = n.find((e) => e.request!.subject === 'bad..subject')!;
  assert.equal(bad.response!.op, '-ERR');
  assert.equal(bad.error, true);
});

test('lab NATS over TLS: the upgrade after INFO is read as TLS; with the client\'s key log, the NATS inside it', { skip }, async () => {
  // The client's connection (waitPort's probe connected to 4443 too, and got an INFO).
  const session = entries.find((e) => e.dst.port === 4443 && e.protocol === 'tls');
  const conn = entries.filter((e) => e.dst.port === 4443 && e.src.port === session?.src.port);
  assert.deepEqual(conn.map((e) => `${e.protocol} ${e.request?.op ?? ''}`.trim()), ['nats INFO', 'tls'], 'INFO in clear text, then the TLS session');
  assert.equal(conn[0].request!.info.tls_required, true);
  const r = await runCli(['dissect', '--tls-keylog', natsKeys, pcap]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /TLS: 1 session decrypted/);
  const inside = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry).filter((e) => e.tls === true);
  assert.deepEqual(
    inside.map((e) => `${e.request!.op} ${e.request!.subject ?? ''}`.trim()),
    ['CONNECT', 'SUB tls.echo', 'PUB tls.echo', 'PING', 'MSG tls.echo'],
  );
  assert.equal(inside[0].request!.connect.pass, '***');
  assert.equal(inside[3].response!.op, 'PONG');
  assert.equal(inside[4].request!.body, 'secret');
  assert.doesNotMatch(r.stdout, /nats-tls-s3cret/);
});

test('lab WebSocket: deflated messages and the server\'s 1011 close as tshark reads them', { skip }, () => {
  const ws = of('ws');
  const theirs = tshark(['-r', pcap, '-d', 'tcp.port==8765,http', '-Y', 'websocket.opcode == 1', '-T', 'fields', '-e', 'websocket.payload.text']);
  // Client and server: three texts each way (the echo), then "bye".
  assert.equal(theirs.length, 5, JSON.stringify(theirs));
  assert.deepEqual(ws.filter((e) => e.request!.opcode === 'text').map((e) => e.request!.body), theirs);
  assert.equal(ws.find((e) => e.request!.opcode === 'binary' && e.request!.from === 'client')!.request!.body, Buffer.from('\x00\x01binary', 'latin1').toString('base64'));
  assert.ok(ws.filter((e) => e.request!.opcode === 'text').every((e) => e.request!.compressed === true));
  const ping = ws.find((e) => e.request!.opcode === 'ping')!;
  assert.equal(ping.response!.opcode, 'pong');
  const close = ws.find((e) => e.request!.opcode === 'close')!;
  assert.deepEqual([close.request!.from, close.request!.closeCode, close.error], ['server', 1011, true]);
});

test('lab: shark stats and shark map show the four protocols with latency and errors', { skip }, async () => {
  const stats = await runCli(['stats', '--format', 'json', pcap]);
  assert.equal(stats.code, 0, stats.stderr);
  const rows: any[] = JSON.parse(stats.stdout).rows ?? JSON.parse(stats.stdout);
  const byName = new Map(rows.map((r: any) => [r.name, r]));
  for (const p of ['memcached', 'mqtt', 'nats', 'ws']) {
    const r = byName.get(p);
    assert.ok(r, `stats row ${p}: ${stats.stdout.slice(0, 400)}`);
    assert.ok(r.entries > 0);
    assert.equal(typeof r.latency.p50, 'number', p);
  }
  for (const p of ['memcached', 'nats', 'ws']) assert.ok(byName.get(p).errors > 0, p);
  const map = await runCli(['map', '--format', 'json', pcap]);
  assert.equal(map.code, 0, map.stderr);
  for (const p of ['memcached', 'mqtt', 'nats', 'ws']) assert.match(map.stdout, new RegExp(`"${p}"`));
});
