// Per-pod capture on one node: the tapped pods' IPs in, a kernel filter on
// their host-side interfaces (`ifindex 12 or ifindex 57 …`: one comparison per
// pod, up to MAX_KERNEL_INTERFACES so compiling stays short) and a userspace
// choice of one copy per connection (once.ts) out.
//
// Why not SLL2 and a userspace ifindex lookup alone: the `cap` binding cannot
// ask libpcap for the SLL2 link type, so on `any` the packet header (SLL)
// carries the direction but not the interface. libpcap compiles `ifindex N`
// on a live Linux capture to the kernel's own ancillary field (SKF_AD_IFINDEX),
// so the kernel does the per-interface part and the header's direction does
// the rest. If SLL2 packets ever arrive, once.ts checks the ifindex too.

import { createSocket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { Packet } from '../../model/packet.js';
import type { Entry } from '../../model/entry.js';
import { canonicalIp, resolvePodInterfaces, type PodInterface } from './interfaces.js';
import { ConnectionOnce, type OnceCounters, type TappedPod } from './once.js';

/** A BPF program that matches nothing (the filter while no tapped pod is resolved). */
export const NO_PACKETS = 'less 1';

/** One tapped pod, as the CLI sends it. */
export interface PodTarget {
  name: string;
  namespace: string;
  ips: string[];
  /** metadata.uid and the bare ids of its running containers: TLS agents (--tls) find a process's pod by them. */
  uid?: string;
  containers?: string[];
}

/**
 * Most interfaces a kernel filter lists. libpcap's optimiser is worse than
 * linear (measured here: 100 terms 15 ms, 1,000 terms 110 ms, 2,000 terms
 * 450 ms, all synchronous), so past this the filter names the few interfaces
 * to leave out instead, and the choice of copies happens in userspace alone.
 */
export const MAX_KERNEL_INTERFACES = 200;

/**
 * The kernel filter: `ifindex a or ifindex b …` for the tapped pods'
 * interfaces (NO_PACKETS for none); past MAX_KERNEL_INTERFACES,
 * `not (ifindex x or …)` for the shared ones (bridges, lo), whose copies the
 * direction rule could not tell from the pod interface's.
 */
export function ifindexFilter(indexes: Iterable<number>, shared: Iterable<number> = [], max = MAX_KERNEL_INTERFACES): string {
  const list = [...new Set(indexes)].filter((n) => n > 0).sort((a, b) => a - b);
  if (list.length === 0) return NO_PACKETS;
  if (list.length <= max) return list.map((n) => `ifindex ${n}`).join(' or ');
  const leave = [...new Set(shared)].filter((n) => n > 0).sort((a, b) => a - b);
  return leave.length === 0 ? '' : `not (${leave.map((n) => `ifindex ${n}`).join(' or ')})`;
}

export interface PerPodOptions {
  /** Install a kernel filter (LiveCapture.setFilter); throws on a bad one. */
  setFilter(bpf: string): void;
  /** A line for the humans (stderr). */
  say(message: string): void;
  /** Prefix of /proc and /sys (tests); "" on a node. */
  root?: string;
  /** How often interfaces are looked up again (pods restart, routes appear late). */
  refreshMs?: number;
  maxFlows?: number;
  /** Past this many pod interfaces the kernel filter leaves out the shared ones instead (MAX_KERNEL_INTERFACES). */
  maxKernelInterfaces?: number;
}

export interface PerPodStats extends OnceCounters {
  pods: number;
  interfaces: number;
  unresolved: number;
  /** Last resolution's wall time in ms. */
  resolveMs: number;
  /** Last kernel filter's compile-and-install time in ms. */
  filterMs: number;
}

export class PerPodCapture {
  private targets: PodTarget[] = [];
  private readonly once: ConnectionOnce;
  private filter = '';
  private interfaces = new Map<string, PodInterface>();
  private unresolved: string[] = [];
  private resolveMs = 0;
  /** How long the last kernel filter took to compile and install (libpcap, synchronous). */
  private filterMs = 0;
  private running: Promise<void> | undefined;
  /** "namespace/pod" of each tapped pod object (weak: pods that left are let go). */
  private readonly labels = new WeakMap<TappedPod, string>();
  private again = false;
  private readonly timer: NodeJS.Timeout;
  private lastMissingSaid = '';

  constructor(private readonly opts: PerPodOptions) {
    this.once = new ConnectionOnce({ maxFlows: opts.maxFlows });
    this.timer = setInterval(() => void this.refresh(), opts.refreshMs ?? 5000);
    this.timer.unref();
  }

  /** New set of tapped pods of this node; resolution runs in the background (latest wins). */
  setPods(pods: PodTarget[]): Promise<void> {
    this.targets = pods;
    return this.refresh();
  }

  /** Look the interfaces up again; concurrent calls fold into one more run. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.resolveOnce();
      } while (this.again);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async resolveOnce(): Promise<void> {
    const targets = this.targets;
    const byIp = new Map<string, TappedPod>();
    for (const t of targets) for (const ip of t.ips) byIp.set(canonicalIp(ip), { name: t.name, namespace: t.namespace });
    const r = await resolvePodInterfaces(byIp.keys(), this.opts.root ?? '');
    this.resolveMs = r.ms;
    this.interfaces = r.found;
    this.unresolved = r.missing;
    const byIfindex = new Map<number, TappedPod>();
    for (const [ip, itf] of r.found) byIfindex.set(itf.ifindex, byIp.get(ip)!);
    const filter = ifindexFilter(byIfindex.keys(), r.shared.values(), this.opts.maxKernelInterfaces);
    this.once.setPods(byIp, byIfindex);
    if (filter !== this.filter) {
      const t0 = performance.now();
      try {
        this.opts.setFilter(filter);
        this.filter = filter;
        this.filterMs = performance.now() - t0;
      } catch (err) {
        this.opts.say(`per-pod: kernel filter not applied: ${(err as Error).message.split('\n')[0]}`);
      }
      this.opts.say(
        `per-pod: ${targets.length} pods, ${byIfindex.size} interfaces resolved in ${r.ms.toFixed(1)} ms, ` +
          `kernel filter ${filter.startsWith('not') ? `leaving out ${r.shared.size} shared interfaces` : 'listing them'} installed in ${this.filterMs.toFixed(1)} ms` +
          (r.missing.length ? `, ${r.missing.length} addresses not yet` : ''),
      );
    }
    const missing = r.missing.join(',');
    // Every refresh asks the kernel to resolve the missing ones (a pod may not have answered yet).
    if (missing) pokeNeighbours(r.missing);
    if (missing && missing !== this.lastMissingSaid) {
      this.opts.say(`per-pod: no interface yet for ${r.missing.slice(0, 5).join(', ')}${r.missing.length > 5 ? ' …' : ''} (retrying)`);
      // The neighbour answers within milliseconds: look again soon, not in refreshMs.
      setTimeout(() => void this.refresh(), 300).unref();
    }
    this.lastMissingSaid = missing;
  }

  /** True for the one copy of each packet to pass on. */
  keep(p: Packet): boolean {
    return this.once.keep(p);
  }

  /** "namespace/pod" of the tapped pod the packet `keep` last passed on belongs to (undefined: not IP). */
  lastPodLabel(): string | undefined {
    const k = this.once.lastKept;
    if (!k) return undefined;
    // Per packet: one string per pod, not one per packet.
    let label = this.labels.get(k.pod);
    if (label === undefined) {
      label = `${k.pod.namespace}/${k.pod.name}`;
      this.labels.set(k.pod, label);
    }
    return label;
  }

  /** Tag an entry with the tapped pod whose interface carried it. */
  attribute(e: Entry): void {
    const k = this.once.attribution(e.src.ip, e.src.port, e.dst.ip, e.dst.port, e.transport);
    if (k) e.tapped = { pod: k.pod.name, namespace: k.pod.namespace, side: k.side };
  }

  stats(): PerPodStats {
    return {
      ...this.once.counters,
      pods: this.targets.length,
      interfaces: this.interfaces.size,
      unresolved: this.unresolved.length,
      resolveMs: Math.round(this.resolveMs * 10) / 10,
      filterMs: Math.round(this.filterMs * 10) / 10,
    };
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/**
 * On a bridge, a pod that never talked to the node itself has no neighbour
 * entry: one datagram to its discard port makes the kernel resolve its MAC
 * (no privilege needed), so the next refresh finds its bridge port.
 */
function pokeNeighbours(ips: string[]): void {
  const v4 = ips.filter((ip) => isIPv4(ip)).slice(0, 256);
  if (v4.length === 0) return;
  const s = createSocket('udp4');
  s.on('error', () => s.close());
  let left = v4.length;
  for (const ip of v4) {
    s.send(Buffer.alloc(0), 9, ip, () => {
      if (--left === 0) s.close();
    });
  }
}
