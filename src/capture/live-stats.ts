// What live capture counted beyond tcpdump's three figures, as words for the
// stderr summaries of tap -i, agent and record: flows shed whole because
// dissection fell behind (by port), what waits in the helper's ring and
// spool, and how far behind the oldest waiting packet is.
import type { LiveStats } from './live.js';
import { formatSize } from '../cli/units.js';

/** "3 new flows shed (tcp/80 2, udp/53 1; 41 packets)", or undefined when nothing was shed. */
export function describeShed(s: LiveStats): string | undefined {
  if (!s.shedFlows && !s.shedPackets) return undefined;
  const ports = Object.entries(s.shedByPort ?? {})
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 8)
    .map(([port, n]) => `${port} ${n}`);
  const detail = [...(ports.length > 0 ? [ports.join(', ')] : []), `${s.shedPackets ?? 0} packets`].join('; ');
  return `${s.shedFlows ?? 0} new flows shed (${detail})`;
}

/** "lag 2.1 s, 12 MB queued (4.0 MB spooled)", or undefined when nothing waits. */
export function describeBacklog(s: LiveStats): string | undefined {
  const queued = (s.ringBytes ?? 0) + (s.spoolBytes ?? 0);
  if (queued === 0 && !s.lagMs) return undefined;
  const spool = s.spoolBytes ? ` (${formatSize(s.spoolBytes)} spooled)` : '';
  return `lag ${((s.lagMs ?? 0) / 1000).toFixed(1)} s, ${formatSize(queued)} queued${spool}`;
}
