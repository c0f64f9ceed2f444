// The service-mesh linker on crafted packets (the lab test, test/live/mesh-link.test.ts,
// runs it on real nginx sidecars): what it must refuse and what it must count —
// two outer connections equally near one inner call (ambiguous: not linked),
// an outer connection carrying more than the linked calls (kept, marked), and
// the connection table's bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshLinker, tcpOf } from '../../src/capture/per-pod/mesh-link.js';
import { LinkType, type Packet } from '../../src/model/packet.js';
import { emptyEndpoint, type Entry } from '../../src/model/entry.js';

const POD = '198.19.220.1';

/** A cooked (SLL) IPv4 TCP packet at `ms`. */
function pkt(ms: number, src: string, sport: number, dst: string, dport: number, seq: number, payload: Buffer, flags = 0x18): Packet {
  const sll = Buffer.alloc(16);
  sll.writeUInt16BE(0x0800, 14);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(40 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 6;
  src.split('.').forEach((o, i) => (ip[12 + i] = Number(o)));
  dst.split('.').forEach((o, i) => (ip[16 + i] = Number(o)));
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(sport, 0);
  tcp.writeUInt16BE(dport, 2);
  tcp.writeUInt32BE(seq, 4);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  const data = Buffer.concat([sll, ip, tcp, payload]);
  return { tsSec: Math.floor(ms / 1000), tsNsec: Math.round((ms % 1000) * 1e6), linkType: LinkType.LINUX_SLL, data, origLen: data.length, interfaceId: 0, frame: 0 };
}

const clientHello = () => Buffer.concat([Buffer.from([0x16, 3, 1, 0, 200, 1]), Buffer.alloc(199)]);
const appData = (n: number) => Buffer.concat([Buffer.from([0x17, 3, 3, (n - 5) >> 8, (n - 5) & 255]), Buffer.alloc(n - 5)]);

/** One outer connection from `peer:port` to the pod's :15006: a hello, then `exchanges` as [t request, t response]. */
function outer(l: MeshLinker, peer: string, port: number, t0: number, exchanges: [number, number][], extra: number[] = []): void {
  const seq = { c: 1000, s: 5000 };
  const c2s = (t: number, b: Buffer, flags?: number) => {
    l.onPacket(pkt(t, peer, port, POD, 15006, seq.c, b, flags));
    seq.c += b.length;
  };
  const s2c = (t: number, b: Buffer) => {
    l.onPacket(pkt(t, POD, 15006, peer, port, seq.s, b));
    seq.s += b.length;
  };
  c2s(t0, clientHello());
  s2c(t0 + 1, Buffer.concat([Buffer.from([0x16, 3, 3, 0, 100]), Buffer.alloc(100)]));
  for (const [tq, tr] of exchanges) {
    c2s(tq, appData(140));
    s2c(tr, appData(200));
  }
  for (const t of extra) s2c(t, appData(1200)); // server push-like data no inner call explains
  c2s((exchanges.at(-1)?.[1] ?? t0) + 5, Buffer.alloc(0), 0x11); // FIN
}

function inner(path: string, t: number, elapsed: number): string {
  const e: Entry = {
    id: path, timestamp: t, protocol: 'http', transport: 'tcp', elapsedTime: elapsed,
    src: emptyEndpoint('127.0.0.1', 40000), dst: emptyEndpoint('127.0.0.1', 8080),
    request: { method: 'GET', path, url: path, headers: {} }, response: { status: 200, headers: {} },
    error: false, requestSize: 120, responseSize: 180, summary: `GET ${path} → 200`,
    tapped: { pod: 'a', namespace: 'lab', side: 'loopback' },
  };
  return JSON.stringify(e);
}

function tlsEntry(peer: string, port: number, t: number): Entry {
  return {
    id: `tls-${port}`, timestamp: t, protocol: 'tls', transport: 'tcp', elapsedTime: 1,
    src: emptyEndpoint(peer, port), dst: emptyEndpoint(POD, 15006), request: { sni: 'outbound_.8080_._.a.lab.svc.cluster.local' }, response: {},
    error: false, requestSize: 205, responseSize: 105, summary: 'TLS', tapped: { pod: 'a', namespace: 'lab', side: 'server' },
  };
}

function linker(now: { t: number }, opts: Partial<ConstructorParameters<typeof MeshLinker>[0]> = {}) {
  const out: any[] = [];
  const l = new MeshLinker({ emit: (line) => out.push(JSON.parse(line)), now: () => now.t, ...opts });
  l.setPods([{ name: 'a', namespace: 'lab', ips: [POD] }]);
  return { l, out };
}

test('tcpOf reads the TCP segment of a cooked IPv4 packet', () => {
  const s = tcpOf(pkt(1, '198.19.220.2', 40000, POD, 15006, 7, Buffer.from('abc')))!;
  assert.deepEqual([s.src, s.dst, s.seq, s.payload.toString()], [{ ip: '198.19.220.2', port: 40000 }, { ip: POD, port: 15006 }, 7, 'abc']);
});

test('one inner call inside one outer exchange: linked, the outer entry folded', () => {
  const now = { t: 0 };
  const { l, out } = linker(now);
  outer(l, '198.19.220.2', 41000, 1000, [[1010, 1013]]);
  assert.equal(l.takeOuter(tlsEntry('198.19.220.2', 41000, 1000)), true);
  l.onInner(inner('/one', 1011, 1));
  now.t = 10_000;
  l.tick();
  assert.equal(out.length, 1);
  assert.equal(out[0].tls, true);
  assert.equal(out[0].src.ip, '198.19.220.2');
  assert.equal(out[0].mesh.direction, 'inbound');
  assert.equal(out[0].mesh.outerElapsedTime, 3);
  assert.equal(out[0].mesh.outer.sni, 'outbound_.8080_._.a.lab.svc.cluster.local');
  assert.deepEqual(l.counters.outerFolded, 1);
});

test('two outer connections equally near one inner call: ambiguous, not linked, both outer entries kept', () => {
  const now = { t: 0 };
  const { l, out } = linker(now);
  outer(l, '198.19.220.2', 41000, 1000, [[1010, 1013]]);
  outer(l, '198.19.220.3', 42000, 1000, [[1010, 1013]]);
  l.takeOuter(tlsEntry('198.19.220.2', 41000, 1000));
  l.takeOuter(tlsEntry('198.19.220.3', 42000, 1000));
  l.onInner(inner('/which', 1011, 1));
  now.t = 10_000;
  l.tick();
  assert.equal(l.counters.ambiguous, 1);
  assert.equal(l.counters.linked, 0);
  const call = out.find((e) => e.protocol === 'http');
  assert.equal(call.tls, undefined);
  assert.equal(call.src.ip, '127.0.0.1');
  assert.deepEqual(out.filter((e) => e.protocol === 'tls').map((e) => e.mesh), [{ linkedCalls: 0 }, { linkedCalls: 0 }]);
});

test('an outer connection carrying more than its linked calls stays, marked with how many were linked; pooled calls each link', () => {
  const now = { t: 0 };
  const { l, out } = linker(now);
  outer(l, '198.19.220.2', 41000, 1000, [[1010, 1013], [1100, 1104], [1200, 1203]], [1600]);
  l.takeOuter(tlsEntry('198.19.220.2', 41000, 1000));
  for (const [path, t] of [['/p1', 1011], ['/p2', 1101], ['/p3', 1201]] as const) l.onInner(inner(path, t, 1.5));
  now.t = 10_000;
  l.tick();
  assert.equal(l.counters.linked, 3);
  assert.deepEqual(out.filter((e) => e.protocol === 'http').map((e) => e.mesh.outerElapsedTime), [3, 4, 3]);
  const kept = out.filter((e) => e.protocol === 'tls');
  assert.equal(kept.length, 1);
  assert.deepEqual(kept[0].mesh, { linkedCalls: 3 });
});

test('the connection table is bounded: the oldest is forgotten, counted, its held entry passed on', () => {
  const now = { t: 0 };
  const { l, out } = linker(now, { maxConnections: 2 });
  for (let i = 0; i < 3; i++) outer(l, `198.19.220.${10 + i}`, 41000, 1000 + i * 1000, []);
  assert.equal(l.counters.connectionsEvicted, 0); // each ended (FIN): forgotten when the hold is over, not evicted
  assert.equal(out.length, 0);
  const { l: l2, out: out2 } = linker(now, { maxConnections: 2 });
  for (let i = 0; i < 3; i++) {
    l2.onPacket(pkt(1000 + i, `198.19.220.${10 + i}`, 41000, POD, 15006, 1, clientHello()));
    if (i === 0) assert.equal(l2.takeOuter(tlsEntry('198.19.220.10', 41000, 1000)), true);
  }
  assert.equal(l2.counters.connectionsEvicted, 1);
  assert.equal(l2.sizes.connections, 2);
  assert.deepEqual(out2.map((e) => [e.src.ip, e.mesh]), [['198.19.220.10', { linkedCalls: 0 }]]);
});

test('exchanges tied in time (a stalled agent) are linked by order: the earlier call takes the earlier exchange, counted', () => {
  const now = { t: 0 };
  const { l, out } = linker(now);
  outer(l, '198.19.220.2', 41000, 1000, [[1010, 1013]]);
  outer(l, '198.19.220.3', 42000, 1000, [[1012, 1015]]);
  l.onInner(inner('/first', 1011, 1));
  l.onInner(inner('/second', 1013, 1));
  now.t = 10_000;
  l.tick();
  assert.deepEqual(out.map((e) => [e.request.path, e.src.ip]), [['/first', '198.19.220.2'], ['/second', '198.19.220.3']]);
  assert.equal(l.counters.byOrder, 1); // the second call then had one candidate left
  assert.equal(l.counters.ambiguous, 0);
});
