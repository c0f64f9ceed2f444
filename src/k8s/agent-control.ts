// The node agent's control channel: its stdin, fed by the CLI through the
// exec websocket. One JSON object per line; today only {"filter": "BPF"},
// which replaces the capture filter as tapped pods come and go. EOF means the
// CLI went away (a real kubelet does not always kill an exec'd process when
// the stream closes), so the agent stops.

import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

/** BPF that matches nothing: the agent's filter while its node has no tapped pod. */
export const MATCH_NOTHING = 'less 1';

export interface AgentControlHandlers {
  setFilter(bpf: string): void;
  onEnd(): void;
  warn(message: string): void;
}

export function readAgentControl(input: Readable, h: AgentControlHandlers): void {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  lines.on('line', (line) => {
    n++;
    if (!line.trim()) return;
    let msg: { filter?: unknown };
    try {
      msg = JSON.parse(line);
    } catch {
      h.warn(`control line ${n}: not JSON`);
      return;
    }
    if (typeof msg.filter === 'string') {
      try {
        h.setFilter(msg.filter || MATCH_NOTHING);
      } catch (err) {
        h.warn(`control line ${n}: filter not applied: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  });
  lines.on('close', () => h.onEnd());
}

/** "host a or host b" for the tapped pods' IPs; MATCH_NOTHING when there are none. */
export function filterForIps(ips: string[]): string {
  const unique = [...new Set(ips.filter(Boolean))].sort();
  if (unique.length === 0) return MATCH_NOTHING;
  return unique.map((ip) => `host ${ip}`).join(' or ');
}
