// The contract between the dissection engine and protocol dissectors.
// Reassembly is not parsing: the engine turns segments into an ordered byte
// stream per direction (reporting gaps) and a dissector only ever sees that.
// Adding a protocol = one file in src/dissect/protocols/ + one line in registry.ts.

import type { Endpoint, Transport } from '../model/entry.js';
import type { ProtoSchema } from './protocols/proto-schema.js';
import type { TlsKeyLog } from './tls/keylog.js';
import type { DecodeAsRule } from './decode-as.js';

/** Which way bytes travel, relative to the connection's client (initiator). */
export type Direction = 'c2s' | 's2c';

export interface DissectOptions {
  /** Max body bytes kept per request/response; the rest is counted, not stored. */
  maxBody: number;
  /** Do not keep bodies at all. */
  noBodies: boolean;
  /**
   * The consumer never reads bodies (`stats`, `map`: a few fields of each
   * entry): a response body is rendered only where a field it reads depends
   * on it (a GraphQL call's errors), not decoded into a string nobody reads.
   */
  bodiesUnread?: boolean;
  /** Message types from .proto files (--proto DIR): gRPC messages are decoded by name. */
  protoSchema?: ProtoSchema;
  /** TLS secrets (--tls-keylog, pcapng Decryption Secrets Blocks): TLS connections they cover are decrypted. */
  tlsKeys?: TlsKeyLog;
  /** `-d tcp.port==8053,dns` rules: these ports' flows are that protocol, whatever the probes say. */
  decodeAs?: DecodeAsRule[];
}

/** What a dissector fills in for one API call; the engine adds id, endpoints, transport. */
export interface CallRecord {
  protocol: string;
  request: Record<string, any> | null;
  response: Record<string, any> | null;
  /** ms timestamps of the request's first packet and the response's last packet. */
  requestTime: number;
  responseTime?: number;
  requestFrame?: number;
  responseFrame?: number;
  requestSize: number;
  responseSize: number;
  error: boolean;
  summary: string;
  warnings?: string[];
  /** When a dissector learns the engine guessed the client wrongly, it says so here. */
  reversed?: boolean;
  /** The call travelled inside TLS and was decrypted (--tls-keylog). */
  tls?: boolean;
}

/** What a parser learns about where it is and how to emit results. */
export interface ConnectionContext {
  readonly transport: Transport;
  /** Endpoints as oriented by the engine: client = src, server = dst. */
  readonly client: Endpoint;
  readonly server: Endpoint;
  /**
   * True when the connection's start (its SYN) was not seen: `client` and
   * `server` are the engine's guess (ports, the first bytes a probe read), which
   * a parser that learns better corrects with `CallRecord.reversed`.
   */
  readonly clientGuessed?: boolean;
  readonly options: DissectOptions;
  /** Time (ms) and frame number of the packet whose bytes are being delivered. */
  readonly now: number;
  readonly frame: number;
  /**
   * The acknowledgement the packet being read carries (TCP only): `from` is
   * the direction the packet travels, `ahead` how many bytes of the other
   * direction it acknowledges beyond what this parser has been given of that
   * direction so far (lost or not yet captured bytes make it positive).
   * Undefined when the packet carries no ACK or the other direction has not
   * started. A request that acknowledges response bytes lost from the capture
   * tells an HTTP/1 parser which request the lost response answered.
   */
  readonly ack?: { from: Direction; ahead: number };
  /**
   * UDP: bytes of the datagram being delivered that the capture's snap length
   * cut off (its IP and UDP lengths say how long it was); 0 or undefined when
   * it is whole. A parser reads what is there and says `truncated`.
   */
  readonly cut?: number;
  /** Emit one finished (or abandoned) call. */
  emit(call: CallRecord): void;
  /** Count something the dissector dropped or could not parse (shown in run stats). */
  count(counter: string, n?: number): void;
  /**
   * The parser for what a tunnel in this connection carries (after an HTTP
   * CONNECT, a PostgreSQL SSLRequest): the engine's content probes on the tunnel's first bytes, one
   * direction's; `port` is the tunnel's target port (its protocols are tried
   * first). 'need-more' when the probes cannot tell yet, undefined when no
   * protocol claims the bytes. The parser shares this context. `inside`:
   * what the tunnel's TLS carries, when the caller knows (MySQL goes on
   * mid-handshake inside TLS, which no probe would recognise).
   */
  tunnelParser?(data: Buffer, port: number | undefined, inside?: InnerParser): TcpStreamParser | 'need-more' | undefined;
}

/** Makes the parser for what a TLS session carries, given the context its calls go through (marked `tls`). */
export type InnerParser = (ctx: ConnectionContext) => TcpStreamParser;

/** Parser for one TCP connection, fed an ordered byte stream per direction. */
export interface TcpStreamParser {
  /** In-order bytes. `data` is only valid during the call: copy what you keep. */
  onData(dir: Direction, data: Buffer): void;
  /**
   * `length` bytes are missing in `dir` (lost segments); resynchronise. A
   * `slack` says the count is an upper bound: as many as `slack` fewer bytes
   * may have been lost (TLS CBC records lost whole, their padding unseen).
   */
  onGap(dir: Direction, length: number, slack?: number): void;
  /**
   * `dir`'s sender closed its direction (its FIN, reached in order, in the
   * FIN's packet): nothing more comes from it. A message delimited by the
   * close (an HTTP/1 body without a length) ends here, as tshark ends it.
   */
  onFin?(dir: Direction): void;
  /**
   * Called when capture time advances (at most about once a second); emit
   * requests pending longer than `timeoutMs` as unanswered.
   */
  onTick?(nowMs: number, timeoutMs: number): void;
  /**
   * Earliest request time (ms) of a call this parser may still emit — a
   * request awaiting its response, a message read only in part — or undefined
   * when nothing is pending (every later call is stamped at or after the
   * packet being read). The engine releases entries older than every flow's
   * answer instead of holding each for the whole reorder window. A parser
   * without it is assumed to hold calls for the full request timeout.
   */
  pendingSince?(): number | undefined;
  /** The connection ended (fin/rst) or the capture ended (eof): flush everything pending. */
  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof'): void;
}

/** Parser for a UDP "conversation" (same 5-tuple), fed one datagram at a time. */
export interface UdpDatagramParser {
  onDatagram(dir: Direction, payload: Buffer): void;
  /**
   * How long the conversation may be quiet before it ends, when the protocol
   * keeps connections longer than the engine's UDP idle timeout (QUIC: its
   * packets after a pause could not be read as a new conversation).
   */
  readonly idleTimeoutMs?: number;
  onTick?(nowMs: number, timeoutMs: number): void;
  /** As TcpStreamParser.pendingSince. */
  pendingSince?(): number | undefined;
  onEnd(reason: 'timeout' | 'eof'): void;
}

/**
 * Verdict of a content probe on the first bytes a side sent:
 *  - 'request'  : looks like this protocol's request, so the sender is the client;
 *  - 'response' : looks like this protocol's response, so the sender is the server;
 *  - 'stream'   : this protocol, but the bytes do not say which side sent
 *                 them (encrypted records seen mid-connection): the engine
 *                 keeps the orientation it has (SYN, or the port guess);
 *  - 'need-more': cannot tell yet (too few bytes);
 *  - false      : not this protocol.
 */
export type Probe = 'request' | 'response' | 'stream' | 'need-more' | false;

export interface ProtocolDissector {
  /** Lower-case protocol name used in entries and --protocols. */
  name: string;
  transport: Transport;
  /** Ports the protocol usually runs on: such connections are probed with this dissector first. */
  ports: number[];
  /** Lower number wins when several dissectors accept the same bytes. */
  priority: number;
  /** Where the protocol is specified (shown by `shark dissect --list-protocols`). */
  reference: string;
  /**
   * Content probe. Must never throw and must be cheap. `portMatch` is true when
   * either endpoint uses one of `ports` (heuristics may be looser then).
   * `cut` (UDP): bytes a snap length cut off the datagram, as ConnectionContext.cut.
   */
  probe(data: Buffer, portMatch: boolean, cut?: number): Probe;
  /** `inside` (TLS only): the parser for the plaintext, instead of probing for it. */
  createTcpParser?(ctx: ConnectionContext, inside?: InnerParser): TcpStreamParser;
  createUdpParser?(ctx: ConnectionContext): UdpDatagramParser;
}
