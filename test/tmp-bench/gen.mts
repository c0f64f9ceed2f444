import * as q from '../helpers/quic-wire.ts';
import { udpPacket, writeRawPcap } from '../helpers/pcap-wire.ts';
const N = Number(process.argv[2]);
const out = [];
for (let i = 0; i < N; i++) {
  const c = q.newConnection('f' + i);
  const p = q.longPacket(c, 'initial', 'client', [q.crypto(0, q.clientHello(c.clientRandom, 'x.test', [0x1301]))], { pad: 1162 });
  out.push(udpPacket(1_700_000_000_000 + Math.floor(i / 10), i + 1, 1, 1024 + (i % 60000), 443, p));
}
writeRawPcap(process.argv[3], out);
