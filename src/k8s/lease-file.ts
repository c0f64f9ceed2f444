// The run's lease as the agent sees it, without an API token: the run's root
// ConfigMap is mounted into the agent pod as a volume, and the kubelet keeps
// mounted ConfigMaps current (Kubernetes docs, "Mounted ConfigMaps are
// updated automatically": eventually, within the kubelet's sync period plus
// its cache's TTL — about a minute or two by default — and atomically, by
// swapping a `..data` symlink). The CLI writes `renew-time` (RFC 3339) and
// `lease-seconds` into the ConfigMap's data each time it renews; when
// renew-time + lease + the kubelet's delay has passed, the CLI is gone
// (`kill -9`, a lost laptop) and the agent stops capturing.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the DaemonSet mounts the run's root ConfigMap. */
export const LEASE_DIR = '/etc/shark/run';
/** ConfigMap data keys (file names in the volume). */
export const RENEW_KEY = 'renew-time';
export const LEASE_KEY = 'lease-seconds';
/**
 * How late a mounted ConfigMap may show a renewal: the kubelet's sync period
 * (1 min) plus its ConfigMap cache TTL (1 min by default), so a lease is not
 * taken as lapsed while the kubelet has simply not caught up.
 */
export const DEFAULT_LEASE_GRACE_MS = 120_000;

export type LeaseState =
  | { kind: 'none'; why: string } // no lease to follow (no volume, a run applied by hand: lease 0)
  | { kind: 'held'; renewedAt: number; leaseMs: number }
  | { kind: 'lapsed'; renewedAt: number; leaseMs: number };

/**
 * `since`: when the reader started. An agent exec'd a moment ago was started
 * by a live CLI, whatever an old copy of the lease says: the lease counts
 * from its renewal or from `since`, whichever is later.
 */
export function readLease(dir: string, now: number, graceMs: number, since = 0): LeaseState {
  let renew: string;
  let lease: string;
  try {
    renew = readFileSync(join(dir, RENEW_KEY), 'utf8').trim();
    lease = readFileSync(join(dir, LEASE_KEY), 'utf8').trim();
  } catch (err) {
    return { kind: 'none', why: `${dir}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}` };
  }
  const renewedAt = Date.parse(renew);
  const leaseMs = Number(lease) * 1000;
  if (Number.isNaN(renewedAt) || !Number.isFinite(leaseMs)) return { kind: 'none', why: `${dir}: not a lease (${RENEW_KEY}=${renew.slice(0, 40)}, ${LEASE_KEY}=${lease.slice(0, 20)})` };
  if (leaseMs <= 0) return { kind: 'none', why: 'lease 0: the run never lapses' };
  return { kind: now > Math.max(renewedAt, since) + leaseMs + graceMs ? 'lapsed' : 'held', renewedAt, leaseMs };
}

/**
 * Look at the lease every `everyMs` and call `onLapse` once when it lapsed.
 * Returns a stop function. A missing or unreadable lease is never a lapse.
 */
export function watchLease(dir: string, graceMs: number, onLapse: (s: Extract<LeaseState, { kind: 'lapsed' }>) => void, everyMs = 5000): () => void {
  const since = Date.now();
  const check = () => {
    const s = readLease(dir, Date.now(), graceMs, since);
    if (s.kind === 'lapsed') {
      clearInterval(timer);
      onLapse(s);
    }
  };
  const timer = setInterval(check, everyMs);
  // The check must not be what keeps a process alive.
  timer.unref();
  check();
  return () => clearInterval(timer);
}

/** One line for the agent's stderr. */
export function lapseMessage(s: { renewedAt: number; leaseMs: number }): string {
  return `the run's lease lapsed (last renewed ${new Date(s.renewedAt).toISOString()}, lease ${Math.round(s.leaseMs / 1000)}s): its CLI is gone; not capturing (remove the run with \`shark tap --clean\`)`;
}
