// The service-mesh linker's cost (mesh-link.ts) on crafted packets: CONNS
// pooled mTLS connections to one pod, CALLS calls on each, interleaved 0.5 ms
// apart, one inner loopback entry per call (parsed and written again, as in
// the agent). Prints calls/s and how many calls got a wrong peer (must be 0).
//   node --import tsx bench/mesh-link.ts [CONNS] [CALLS]
import { MeshLinker } from '../src/capture/per-pod/mesh-link.js';
import { LinkType } from '../src/model/packet.js';
const POD = '198.19.220.1';
function pkt(ms: number, src: string, sport: number, dst: string, dport: number, seq: number, payload: Buffer) {
  const b = Buffer.alloc(56 + payload.length); b.writeUInt16BE(0x0800, 14); b[16] = 0x45; b.writeUInt16BE(40 + payload.length, 18); b[25] = 6;
  src.split('.').forEach((o, i) => (b[28 + i] = +o)); dst.split('.').forEach((o, i) => (b[32 + i] = +o));
  b.writeUInt16BE(sport, 36); b.writeUInt16BE(dport, 38); b.writeUInt32BE(seq, 40); b[48] = 0x50; b[49] = 0x18; payload.copy(b, 56);
  return { tsSec: Math.floor(ms / 1000), tsNsec: Math.round((ms % 1000) * 1e6), linkType: LinkType.LINUX_SLL, data: b, origLen: b.length, interfaceId: 0, frame: 0 };
}
const CONNS = Number(process.argv[2] ?? 100), CALLS = Number(process.argv[3] ?? 50);
let now = 0;
let emitted = 0;
let wrong = 0;
const l = new MeshLinker({ emit: (line) => { emitted++; const e = JSON.parse(line); if (e.tls && e.src.ip !== e.id) wrong++; }, now: () => now });
l.setPods([{ name: 'a', namespace: 'lab', ips: [POD] }]);
const ch = Buffer.concat([Buffer.from([0x16, 3, 1, 0, 200, 1]), Buffer.alloc(199)]);
const app = (n: number) => Buffer.concat([Buffer.from([0x17, 3, 3, 0, n - 5]), Buffer.alloc(n - 5)]);
const t0 = performance.now();
const seqs = Array.from({ length: CONNS }, () => ({ c: 1000, s: 1 }));
for (let c = 0; c < CONNS; c++) {
  l.onPacket(pkt(1000 + c * 0.01, `198.19.${1 + (c >> 8)}.${c & 255}`, 40000, POD, 15006, seqs[c].c, ch));
  seqs[c].c += ch.length;
}
let t = 2000;
for (let k = 0; k < CALLS; k++) for (let c = 0; c < CONNS; c++) {
  t += 0.5; const peer = `198.19.${1 + (c >> 8)}.${c & 255}`;
  const q = app(140), r = app(200);
  l.onPacket(pkt(t, peer, 40000, POD, 15006, seqs[c].c, q)); seqs[c].c += q.length;
  l.onPacket(pkt(t + 0.3, POD, 15006, peer, 40000, seqs[c].s, r)); seqs[c].s += r.length;
  l.onInner(JSON.stringify({ id: peer, timestamp: t + 0.1, protocol: 'http', transport: 'tcp', elapsedTime: 0.1, src: { ip: '127.0.0.1', port: 1 }, dst: { ip: '127.0.0.1', port: 8080 }, request: { path: '/' }, response: { status: 200 }, error: false, requestSize: 120, responseSize: 180, summary: '', tapped: { pod: 'a', namespace: 'lab', side: 'loopback' } }));
  if ((k * CONNS + c) % 200 === 0) { now = t - 1200; l.tick(); }
}
now = t + 5000; l.tick(); l.flush();
const ms = performance.now() - t0;
console.log(`${CONNS} conns x ${CALLS} calls = ${CONNS * CALLS} calls in ${ms.toFixed(0)} ms: ${((CONNS * CALLS) / ms * 1000).toFixed(0)} calls/s, ${emitted} entries out; wrong peers ${wrong}; counters ${JSON.stringify(l.counters)}`);
