// One UDP conversation (a 5-tuple) as the engine follows it: its parser (a
// dissector's, or the flow fallback's), context, totals and memory meter.

import type { UdpDatagramParser } from './api.js';
import type { MutableContext } from './flow-context.js';
import type { Meter } from './memory-budget.js';
import { newFlowTotals, type FlowTotals } from './protocols/fallback.js';

/** As TCP_FLOW_COST (tcp-connection.ts), for a UDP conversation. */
export const UDP_FLOW_COST = 2048;

export class UdpConversation {
  clientSide = 0;
  older: UdpConversation | undefined;
  newer: UdpConversation | undefined;
  /** A dissector (not the flow fallback) reads it. */
  claimed = false;
  readonly totals: FlowTotals;
  parser!: UdpDatagramParser;
  ctx!: MutableContext;
  constructor(
    readonly key: string,
    now: number,
    frame: number,
    readonly meter: Meter,
  ) {
    this.totals = newFlowTotals(now, frame);
    meter.add(UDP_FLOW_COST);
  }
}
