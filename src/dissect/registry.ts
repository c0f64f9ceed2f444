// Every protocol shark dissects, one line each. Order does not matter:
// `priority` and `ports` decide which probe runs first.

import type { CallRecord, ProtocolDissector } from './api.js';
import { amqp } from './protocols/amqp.js';
import { http2 } from './protocols/http2.js';
import { kafka } from './protocols/kafka.js';
import { mysql } from './protocols/mysql.js';
import { postgresql } from './protocols/postgresql.js';
import { http1 } from './protocols/http1.js';
import { dns, dnsTcp } from './protocols/dns.js';
import { redis } from './protocols/redis.js';
import { mongodb } from './protocols/mongodb.js';
import { cql } from './protocols/cql.js';
import { ldap } from './protocols/ldap.js';
import { radius } from './protocols/radius.js';
import { diameter } from './protocols/diameter.js';
import { tls } from './protocols/tls.js';
import { decryptingTls } from './tls/decrypting-parser.js';
import { IcmpTracker } from './protocols/icmp.js';
import { mqttOverWebSocket, websocket } from './protocols/websocket.js';
import { mqtt } from './protocols/mqtt.js';
import { nats } from './protocols/nats.js';
import { memcached } from './protocols/memcached.js';
import { socks } from './protocols/socks.js';
import { quic } from './protocols/quic.js';
import { smtp } from './protocols/smtp.js';
import { imap } from './protocols/imap.js';
import { pop3 } from './protocols/pop3.js';
import { ftp } from './protocols/ftp.js';

export const dissectors: ProtocolDissector[] = [
  http2,
  postgresql,
  mysql,
  kafka,
  amqp,
  http1,
  dns,
  dnsTcp,
  redis,
  websocket,
  mqtt,
  nats,
  memcached,
  socks,
  quic,
  mongodb,
  cql,
  ldap,
  radius,
  diameter,
  smtp,
  imap,
  pop3,
  ftp,
  // TLS decrypts the sessions a key log covers and hands the plaintext to the dissectors above.
  decryptingTls(tls, () => tcpDissectors()),
];

/**
 * Reached only by `-d` (decode-as), never probed: a protocol inside another whose start the capture
 * may miss (MQTT in WebSocket frames). Their calls carry the inner protocol's name.
 */
export const decodeAsOnly: ProtocolDissector[] = [mqttOverWebSocket];

export function tcpDissectors(): ProtocolDissector[] {
  return dissectors.filter((d) => d.transport === 'tcp' && d.createTcpParser);
}

export function udpDissectors(): ProtocolDissector[] {
  return dissectors.filter((d) => d.transport === 'udp' && d.createUdpParser);
}

/** All protocol names an entry can carry (for --protocols validation). */
export function knownProtocols(): string[] {
  // Names entries carry that no dissector is called by: transports, and what HTTP/2 and QUIC streams become.
  return [...new Set([...dissectors.map((d) => d.name), 'tcp', 'udp', 'sctp', 'icmp', 'grpc', 'graphql', 'http3'])].sort();
}

/** ICMP is per packet, not a stream: the engine hands every ICMP/ICMPv6 packet to one tracker. */
export interface IcmpHandler {
  /** `cut`: bytes a snap length cut off the message (the IP header says). */
  onPacket(v6: boolean, srcIp: string, dstIp: string, icmp: Buffer, tsMs: number, frame: number, cut?: number): void;
  onTick(nowMs: number, timeoutMs: number): void;
  /** Earliest request time of an echo still awaiting its reply (see TcpStreamParser.pendingSince). */
  pendingSince?(): number | undefined;
  end(): void;
}

export type IcmpEmit = (call: CallRecord, src: { ip: string }, dst: { ip: string }) => void;

export function createIcmpTracker(emit: IcmpEmit, count?: (name: string) => void): IcmpHandler {
  return new IcmpTracker(emit, count);
}
