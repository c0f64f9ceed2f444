// Decode-as (tshark's `-d tcp.port==8053,dns`): the user names the protocol of
// traffic on a port that content detection cannot claim (or claims wrongly).
// A rule wins over every probe; the endpoint on the named port is the server.
// Parsing is here, the lookup too; the engine consults it before probing.

import { UserError, ExitCode } from '../cli/errors.js';
import type { Transport } from '../model/entry.js';
import type { ProtocolDissector } from './api.js';
import { decodeAsOnly, tcpDissectors, udpDissectors } from './registry.js';

/** One `-d` rule: traffic with `transport` on a port in [from, to] is `protocol`. */
export interface DecodeAsRule {
  transport: 'tcp' | 'udp';
  from: number;
  to: number;
  protocol: string;
}

/** tshark's names for protocols shark calls otherwise (so a tshark command line works as is). */
const TSHARK_NAMES: Record<string, string> = { resp: 'redis', pgsql: 'postgresql', http1: 'http', websocket: 'ws', memcache: 'memcached', mongo: 'mongodb', pop: 'pop3' };

const SPEC = /^(tcp|udp)\.port==(\d{1,5})(?:-(\d{1,5})|:(\d{1,5}))?,([A-Za-z0-9_.-]+)$/;

function dissectorsFor(transport: 'tcp' | 'udp'): ProtocolDissector[] {
  return transport === 'tcp' ? [...tcpDissectors(), ...decodeAsOnly.filter((d) => d.transport === 'tcp')] : udpDissectors();
}

/**
 * `tcp.port==PORT,PROTO`, `udp.port==…`; PORT may be a range `A-B` or
 * tshark's `A:N` (N ports from A). Throws a usage error quoting the spec.
 */
export function parseDecodeAs(spec: string): DecodeAsRule {
  const quoted = `--decode-as '${spec}'`;
  const m = SPEC.exec(spec.replace(/\s+/g, ''));
  if (!m) throw new UserError(`${quoted}: expected tcp.port==PORT,PROTOCOL or udp.port==PORT,PROTOCOL (e.g. tcp.port==8053,dns)`, ExitCode.USAGE);
  const transport = m[1] as 'tcp' | 'udp';
  const from = Number(m[2]);
  const to = m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? from + Number(m[4]) - 1 : from;
  if (from < 1 || to > 65535 || to < from) {
    const ports = from === to ? `port ${from}` : `ports ${from}-${to}`;
    throw new UserError(`${quoted}: ${ports} not within 1-65535`, ExitCode.USAGE);
  }
  const lower = m[5].toLowerCase();
  const protocol = Object.hasOwn(TSHARK_NAMES, lower) ? TSHARK_NAMES[lower] : lower;
  const known = [...new Set(dissectorsFor(transport).map((d) => d.name))].sort();
  if (!known.includes(protocol)) {
    throw new UserError(`${quoted}: unknown ${transport} protocol '${m[5]}' (known: ${known.join(', ')}; see shark dissect --list-protocols)`, ExitCode.USAGE);
  }
  return { transport, from, to, protocol };
}

export function parseDecodeAsList(specs: readonly string[] | undefined): DecodeAsRule[] {
  return (specs ?? []).map(parseDecodeAs);
}

/** The rules resolved to dissectors; the engine asks it about each new flow. */
export class DecodeAsTable {
  private readonly rules: Array<DecodeAsRule & { dissector: ProtocolDissector }>;

  constructor(rules: readonly DecodeAsRule[] = []) {
    this.rules = rules.map((r) => {
      const dissector = dissectorsFor(r.transport).find((d) => d.name === r.protocol);
      if (!dissector) throw new UserError(`decode-as: no ${r.transport} dissector named '${r.protocol}'`, ExitCode.USAGE);
      return { ...r, dissector };
    });
  }

  get size(): number {
    return this.rules.length;
  }

  /**
   * The dissector forced on a flow between ports `a` and `b`, and which of the
   * two is the server's (the one the rule names; the later rule wins, as in
   * tshark where the last -d for a port counts; `a` when both match).
   */
  lookup(transport: Transport, a: number, b: number): { dissector: ProtocolDissector; serverIsA: boolean } | undefined {
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const r = this.rules[i];
      if (r.transport !== transport) continue;
      const onA = a >= r.from && a <= r.to;
      const onB = b >= r.from && b <= r.to;
      if (onA || onB) return { dissector: r.dissector, serverIsA: onA };
    }
    return undefined;
  }
}
