// The one small AST both dialects (KFL1 and KFL2/CEL) parse into. The compiler
// (compile.ts) turns it into a closure tree once; nothing walks it per entry.

/** Where a node started in the expression (1-based column), for messages. */
export interface Pos {
  col: number;
  /** Column where the node's source text starts when it was written in parentheses. */
  from?: number;
}

import type { LinearRegex } from './linear-regex.js';

export type Literal = string | number | boolean | null;

export type Node =
  /** `double`: a number written as CEL's double (`2.0`, `1e3`), so `/` on it is not integer division. */
  | ({ kind: 'literal'; value: Literal; double?: true } & Pos)
  | ({ kind: 'regex'; source: string; re: LinearRegex } & Pos)
  | ({ kind: 'list'; items: Node[] } & Pos)
  | ({ kind: 'map'; entries: Array<[Node, Node]> } & Pos)
  /** A name: a field path root (KFL1) or a variable (KFL2). */
  | ({ kind: 'ident'; name: string } & Pos)
  /** `target.name` */
  | ({ kind: 'member'; target: Node; name: string } & Pos)
  /** `target[index]` */
  | ({ kind: 'index'; target: Node; index: Node } & Pos)
  /** `name(args)` or `target.name(args)` */
  | ({ kind: 'call'; name: string; target: Node | null; args: Node[] } & Pos)
  | ({ kind: 'unary'; op: '!' | '-'; arg: Node } & Pos)
  | ({ kind: 'binary'; op: BinaryOp; left: Node; right: Node } & Pos)
  /**
   * `a and b and c …`: one node for a whole chain of the same operator (two
   * or more terms, evaluated left to right), so a generated filter of
   * thousands of alternatives is one level deep, not thousands.
   */
  | ({ kind: 'logical'; op: 'and' | 'or'; terms: Node[]; parenthesised?: boolean } & Pos)
  | ({ kind: 'cond'; test: Node; then: Node; else: Node } & Pos)
  /** A bare protocol name (`dns`, `http`): true when entry.protocol is that name. */
  | ({ kind: 'protocol'; name: string } & Pos);

export type BinaryOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%' | 'in';

/** Protocol names usable as bare booleans in both dialects (Kubeshark's macros). */
export const PROTOCOL_NAMES = new Set([
  'http',
  'http2',
  'http3',
  'grpc',
  'gql',
  'graphql',
  'dns',
  'redis',
  'kafka',
  'amqp',
  'tls',
  'quic',
  'tcp',
  'udp',
  'icmp',
  'sctp',
  'postgresql',
  'mysql',
  'mongodb',
  'cql',
  'cassandra',
  'ldap',
  'radius',
  'diameter',
  'ws',
  'websocket',
  'smtp',
  'imap',
  'pop3',
  'ftp',
  'sip',
  'mqtt',
  'nats',
  'memcached',
  'socks',
]);

/** Aliases: the name a user types → the name shark's dissectors emit in entry.protocol. */
export const PROTOCOL_ALIASES: Record<string, string> = {
  gql: 'graphql',
  websocket: 'ws',
  cassandra: 'cql',
};
