// What dissecting one capture lost, for the commands that consume its
// entries (stats, map, filter, catalog, …) as `dissect` prints it for its own
// run: flows evicted by the memory budget, gaps, malformed messages, and how
// TLS decryption went. A table built from a capture that lost traffic must
// not look like one built from all of it.

import { CUT_BY_SNAPLEN } from '../dissect/engine.js';
import { describeDecryption, describeQuicDecryption } from '../dissect/tls/keylog.js';

export interface DissectTotals {
  packets: number;
  entries: number;
  counters: Record<string, number>;
}

/**
 * Lines (without the command's prefix) about a dissection, each naming the
 * input when `name` is given (`dissect` sums all its inputs into one run):
 * none when nothing was lost and no key log was used.
 */
export function dissectionNotes(name: string | undefined, totals: DissectTotals, keyLogGiven: boolean): string[] {
  const at = name === undefined ? '' : `${name}: `;
  const notes: string[] = [];
  const losses = describeLosses(totals.counters);
  if (losses) notes.push(`${at}${totals.packets} packets, ${totals.entries} entries; lost or damaged: ${losses}`);
  const c = totals.counters;
  const cut = describeSnaplenCuts(c);
  if (cut) notes.push(`${at}${cut}`);
  const copies = describeCopies(c);
  if (copies) notes.push(`${at}${copies}`);
  const repeated = describeRepeats(c);
  if (repeated) notes.push(`${at}${repeated}`);
  // A NULL-cipher session is read without a key log too, and said so.
  const nullRead = c['tls.null-cipher-unverified'];
  if (keyLogGiven || c['tls.decrypted-sessions'] || c['tls.no-key'] || nullRead) {
    // A run with only QUIC sessions says how QUIC went, not "TLS: 0 sessions decrypted".
    if (c['tls.decrypted-sessions'] || c['tls.no-key'] || c['tls.handshake-alerts'] || nullRead || !c['quic.connections']) notes.push(`${at}${describeDecryption(c)}`);
    const quic = describeQuicDecryption(c);
    if (quic) notes.push(`${at}${quic}`);
  }
  return notes;
}

/** The counters that mean something was lost or damaged, in name order. */
export function lossCounters(counters: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counters)
      // A queue past its bound (`<protocol>.pending_overflow`) let calls go without their answers; a body,
      // message or batch whose compression does not unpack (damaged, or a bomb past its bound) is not shown.
      .filter(([k, v]) => v > 0 && /gap|evicted|dropped|malformed|threw|truncated|bad_|overflow|undecodable|inflate_failed|not_unpacked|not_read/.test(k))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/** Counters that mean something was lost or damaged, as one human line. */
export function describeLosses(counters: Record<string, number>): string | undefined {
  const parts = Object.entries(lossCounters(counters)).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(' ') : undefined;
}

/** Datagrams and ICMP messages seen twice (a capture on `any`: the veth and the bridge), read once: said, so counts that differ from tshark's are explained. */
export function describeCopies(counters: Record<string, number>): string | undefined {
  const n = counters['udp.duplicate_copies'] ?? 0;
  const icmp = counters['icmp.duplicate_copies'] ?? 0;
  const parts = [
    ...(n > 0 ? [`${n} UDP datagram${n === 1 ? '' : 's'}`] : []),
    ...(icmp > 0 ? [`${icmp} ICMP message${icmp === 1 ? '' : 's'}`] : []),
  ];
  return parts.length > 0 ? `${parts.join(' and ')} captured more than once (as on 'any') read once` : undefined;
}

/**
 * Packets read and deliberately not made entries, though nothing was lost: a
 * second DNS answer to a query asked twice, a reset that belongs to an earlier
 * connection on the same ports. Said, so a count that differs from tshark's is explained.
 */
export function describeRepeats(counters: Record<string, number>): string | undefined {
  const dns = counters['dns.duplicate_responses'] ?? 0;
  const rst = counters['tcp.rst_stray'] ?? 0;
  const parts = [
    ...(dns > 0 ? [`${dns} DNS answer${dns === 1 ? '' : 's'} to a query already answered (asked twice, answered twice)`] : []),
    ...(rst > 0 ? [`${rst} TCP reset${rst === 1 ? '' : 's'} of an earlier connection on the same ports (recorded after the new one's SYN)`] : []),
  ];
  return parts.length > 0 ? `not made entries: ${parts.join('; ')}` : undefined;
}

/**
 * Packets a snap length cut short (`tcpdump -s 96`, an old tcpdump's 68
 * bytes), said with what it means: otherwise a capture made that way reads
 * as one full of loss (gaps in every flow) with nothing to say why.
 */
export function describeSnaplenCuts(counters: Record<string, number>): string | undefined {
  const n = counters[CUT_BY_SNAPLEN] ?? 0;
  if (n === 0) return undefined;
  return `${n} packet${n === 1 ? ' was' : 's were'} cut short by the capture's snap length (tcpdump -s): what lay past it is missing, seen as gaps and truncated messages; capture with -s 0 for whole packets`;
}
