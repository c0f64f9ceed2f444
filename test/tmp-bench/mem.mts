import * as q from '../helpers/quic-wire.ts';
import { DissectionEngine } from '../../src/dissect/engine.ts';
import { udpPacket } from '../helpers/pcap-wire.ts';
const N = 20000;
const pkts = [];
for (let i = 0; i < N; i++) {
  const c = q.newConnection('m' + i);
  const p = q.longPacket(c, 'initial', 'client', [q.crypto(0, q.clientHello(c.clientRandom, 'x.test', [0x1301]))], { pad: 1162 });
  const pk = udpPacket(1_700_000_000_000, i + 1, 1, 1024 + (i % 60000), 443, p);
  pk.data[14] = (i >> 8) & 0xff; pk.data[15] = i & 0xff; // vary the source address (no checksum checked)
  pkts.push(pk);
}
(globalThis as any).gc();
const before = process.memoryUsage().heapUsed;
const engine = new DissectionEngine({ memoryBudget: 1 << 30, maxFlows: 1 << 20 } as any, () => {});
for (const p of pkts) engine.push(p);
(globalThis as any).gc();
const after = process.memoryUsage().heapUsed;
console.log('bytes per flow', Math.round((after - before) / N), JSON.stringify(engine.counters).slice(0, 200));
