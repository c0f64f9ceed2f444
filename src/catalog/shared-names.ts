// Names for the two sides of `shark diff`. Each side names an IP from the
// DNS answers (else Host/SNI) it saw itself, but a candidate capture that
// starts after the clients cached their DNS answers has none: the same
// server would be `redis.ns.svc.cluster.local:6379` in the baseline and
// `10.0.0.7:6379` in the candidate, and every one of its endpoints would be
// reported vanished and new. So a name learnt on either side names the IP on
// both. When both sides learnt a name and the names differ, each side keeps
// its own (that may be a real change: the IP now serves another name) and the
// conflict is recorded so the command can say so.

import type { IpNames, NameBook } from '../stats/names.js';

export interface NameConflict {
  ip: string;
  baseline: string;
  candidate: string;
}

/** The shared naming of a diff: `forBaseline()` and `forCandidate()` name IPs for `Catalog.list`. */
export class SharedNames {
  private readonly found = new Map<string, NameConflict>();

  constructor(
    private readonly baseline: NameBook,
    private readonly candidate: NameBook,
  ) {}

  forBaseline(): IpNames {
    return { nameOf: (ip) => this.name(ip, this.baseline, this.candidate, true) };
  }

  forCandidate(): IpNames {
    return { nameOf: (ip) => this.name(ip, this.candidate, this.baseline, false) };
  }

  /** IPs of listed endpoints that the two sides name differently, by IP. */
  conflicts(): NameConflict[] {
    return [...this.found.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  }

  /** Own DNS name, else the other side's; only then Host/SNI the same way (DNS outranks Host, as in NameBook.nameOf). */
  private name(ip: string, own: NameBook, other: NameBook, ownIsBaseline: boolean): string | undefined {
    const pick = (mine: string | undefined, theirs: string | undefined): string | undefined => {
      if (mine !== undefined && theirs !== undefined && mine !== theirs) {
        this.found.set(ip, ownIsBaseline ? { ip, baseline: mine, candidate: theirs } : { ip, baseline: theirs, candidate: mine });
      }
      return mine ?? theirs;
    };
    return pick(own.dnsName(ip), other.dnsName(ip)) ?? pick(own.hostName(ip), other.hostName(ip));
  }
}
