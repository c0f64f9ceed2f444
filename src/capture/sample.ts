// `--sample-rate R`: keep about R of the connections, whole (never some
// packets of a call), and decide it from the packet bytes before anything
// is dissected, so sampling saves the work it is asked to save.
//
// The decision is a hash of the connection's client end (address and port of
// the side with the ephemeral — higher — port) and the transport: the same
// for both directions, and the same on every node that sees the connection,
// before and after a Service's DNAT (which rewrites the server end only), so
// the agents of a client's and a server's node keep or skip the same calls.
// Packets that name no connection (not TCP/UDP, IP fragments after the
// first) are kept.

import { EtherType, findNetwork } from '../dissect/decode/link.js';
import type { Packet } from '../model/packet.js';

const TCP = 6;
const UDP = 17;
const BUCKETS = 1 << 16;

export interface Sampler {
  /** True for a packet of a connection the sample keeps. */
  keep(p: Packet): boolean;
  /** Packets skipped because their connection is not in the sample. */
  readonly skipped: number;
}

/** `rate` in (0, 1]; 1 keeps everything. */
export function connectionSampler(rate: number): Sampler {
  const threshold = Math.round(rate * BUCKETS);
  let skipped = 0;
  return {
    get skipped() {
      return skipped;
    },
    keep(p) {
      if (threshold >= BUCKETS) return true;
      const h = clientEndHash(p.linkType, p.data);
      if (h === undefined || h % BUCKETS < threshold) return true;
      skipped++;
      return false;
    },
  };
}

/** The hash of the connection's client end, or undefined when the packet names none. */
export function clientEndHash(linkType: number, d: Buffer): number | undefined {
  const net = findNetwork(linkType, d);
  if (!net) return undefined;
  let off = net.offset;
  let proto: number;
  let addrAt: number;
  let addrLen: number;
  if (net.etherType === EtherType.IPV4) {
    if (d.length < off + 20) return undefined;
    const ihl = (d[off] & 0x0f) * 4;
    // A fragment after the first carries no ports.
    if ((d.readUInt16BE(off + 6) & 0x1fff) !== 0) return undefined;
    proto = d[off + 9];
    addrAt = off + 12;
    addrLen = 4;
    off += ihl;
  } else if (net.etherType === EtherType.IPV6) {
    if (d.length < off + 40) return undefined;
    proto = d[off + 6]; // extension headers: not followed (kept, undecided)
    addrAt = off + 8;
    addrLen = 16;
    off += 40;
  } else return undefined;
  if ((proto !== TCP && proto !== UDP) || d.length < off + 4) return undefined;
  const sport = d.readUInt16BE(off);
  const dport = d.readUInt16BE(off + 2);
  // The client end: the higher port (ephemeral); on a tie, the lower address bytes.
  const srcIsClient = sport !== dport ? sport > dport : d.compare(d, addrAt, addrAt + addrLen, addrAt + addrLen, addrAt + 2 * addrLen) <= 0;
  const at = srcIsClient ? addrAt : addrAt + addrLen;
  let h = Math.imul(0x811c9dc5 ^ proto, 0x01000193);
  for (let i = 0; i < addrLen; i++) h = Math.imul(h ^ d[at + i], 0x01000193);
  h = Math.imul(h ^ (srcIsClient ? sport : dport), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}
