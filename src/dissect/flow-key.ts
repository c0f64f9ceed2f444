// Canonical keys for conversations: the same key whichever way a packet goes,
// plus which side of the conversation sent it.

export interface FlowSide {
  key: string;
  /** 0 when the sender is the canonical "A" side (the lower ip:port), 1 otherwise. */
  senderIsA: boolean;
}

export function flowKey(proto: string, src: string, sport: number, dst: string, dport: number): FlowSide {
  const aFirst = src < dst || (src === dst && sport <= dport);
  return aFirst
    ? { key: `${proto}|${src}|${sport}|${dst}|${dport}`, senderIsA: true }
    : { key: `${proto}|${dst}|${dport}|${src}|${sport}`, senderIsA: false };
}
