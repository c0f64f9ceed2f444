// Traffic no dissector claimed still becomes an entry: one per TCP connection
// or UDP conversation, with packets and bytes each way, so nothing on the wire
// is invisible (like tshark's conversation table, one line per flow).

import type { CallRecord, ConnectionContext, Direction, TcpStreamParser, UdpDatagramParser } from '../api.js';

export interface FlowTotals {
  packets: [number, number];
  bytes: [number, number];
  firstTime: number;
  firstFrame: number;
  lastTime: number;
  lastFrame: number;
  reset: boolean;
  /** Side index (0/1) of the client in `packets`/`bytes`. */
  clientSide: number;
}

function human(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function flowCall(protocol: 'tcp' | 'udp', t: FlowTotals, reason: string): CallRecord {
  const c = t.clientSide;
  const s = 1 - c;
  const req = { packets: t.packets[c], bytes: t.bytes[c] };
  const res = { packets: t.packets[s], bytes: t.bytes[s], end: reason };
  return {
    protocol,
    request: req,
    response: t.packets[s] > 0 || protocol === 'tcp' ? res : null,
    requestTime: t.firstTime,
    responseTime: t.lastTime,
    requestFrame: t.firstFrame,
    responseFrame: t.lastFrame,
    requestSize: t.bytes[c],
    responseSize: t.bytes[s],
    error: t.reset,
    summary: `${protocol.toUpperCase()} ${human(t.bytes[c])} → ${human(t.bytes[s])}${t.reset ? ' [RST]' : ''}`,
  };
}

/** TCP connection of unknown protocol: counted by the engine, emitted once at the end. */
export function createTcpFallback(ctx: ConnectionContext, totals: () => FlowTotals): TcpStreamParser {
  return {
    onData(_dir: Direction, _data: Buffer) {},
    onGap() {},
    onEnd(reason) {
      ctx.emit(flowCall('tcp', totals(), reason));
    },
  };
}

export function createUdpFallback(ctx: ConnectionContext, totals: () => FlowTotals): UdpDatagramParser {
  return {
    onDatagram() {},
    onEnd(reason) {
      ctx.emit(flowCall('udp', totals(), reason));
    },
  };
}
