// Every protocol shark dissects, one line each. Order does not matter:
// `priority` and `ports` decide which probe runs first.

import type { ProtocolDissector } from './api.js';

export const dissectors: ProtocolDissector[] = [
];

export function tcpDissectors(): ProtocolDissector[] {
  return dissectors.filter((d) => d.transport === 'tcp' && d.createTcpParser);
}

export function udpDissectors(): ProtocolDissector[] {
  return dissectors.filter((d) => d.transport === 'udp' && d.createUdpParser);
}

/** All protocol names an entry can carry (for --protocols validation). */
export function knownProtocols(): string[] {
  return [...new Set([...dissectors.map((d) => d.name), 'tcp', 'udp', 'icmp', 'grpc', 'graphql'])].sort();
}
