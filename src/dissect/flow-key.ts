// Canonical keys for conversations: the same key whichever way a packet goes,
// plus which side of the conversation sent it.

export interface FlowSide {
  key: string;
  /** 0 when the sender is the canonical "A" side (the lower ip:port), 1 otherwise. */
  senderIsA: boolean;
}

/**
 * The last key made for each of a few thousand tuples. Building the key
 * string per packet cost an allocation and a fresh hash for the flow table's
 * lookup; a key found here is the same string object again, whose hash V8
 * has already computed. A slot is used only when every part matches.
 */
const SLOTS = 4096;
const recent: (Recent | undefined)[] = new Array<Recent | undefined>(SLOTS).fill(undefined);

interface Recent {
  proto: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  side: FlowSide;
}

/** The flow's key and the sender's side. The object returned may be shared: read it, never change it. */
export function flowKey(proto: string, src: string, sport: number, dst: string, dport: number): FlowSide {
  const slot = (sport * 31 + dport * 17 + src.charCodeAt(src.length - 1) * 13 + dst.charCodeAt(dst.length - 1) + src.length) & (SLOTS - 1);
  const hit = recent[slot];
  if (hit !== undefined && hit.sport === sport && hit.dport === dport && hit.src === src && hit.dst === dst && hit.proto === proto) return hit.side;
  const aFirst = src < dst || (src === dst && sport <= dport);
  const side = aFirst ? { key: flat(`${proto}|${src}|${sport}|${dst}|${dport}`), senderIsA: true } : { key: flat(`${proto}|${dst}|${dport}|${src}|${sport}`), senderIsA: false };
  recent[slot] = { proto, src, sport, dst, dport, side };
  return side;
}

const scratch = Buffer.allocUnsafeSlow(256);

/**
 * `s` as one flat string. A key built by concatenation is a tree of string
 * pieces (five nodes here) that a flow keeps for its whole life; in a flood
 * of short-lived flows every piece is copied at each young-generation
 * collection the flow survives. Keys are ASCII (addresses, ports, a letter).
 */
export function flat(s: string): string {
  if (s.length > scratch.length) return s;
  const n = scratch.write(s, 0, 'latin1');
  return scratch.toString('latin1', 0, n);
}
