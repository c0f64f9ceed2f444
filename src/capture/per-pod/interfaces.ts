// Which host-side interface carries each tapped pod's traffic, found from the
// pod's IP with nothing but NET_RAW-free reads of the node's own tables:
//   - routed CNIs (Calico `cali*`, Cilium `lxc*`, AWS VPC CNI `eni*`, GKE
//     `gke*`, kindnet/ptp veths) install a /32 (/128) route per pod:
//     /proc/net/route and /proc/net/ipv6_route name the interface;
//   - bridge CNIs (flannel's `cni0`, docker0) route the pod subnet to the
//     bridge: the neighbour table (/proc/net/arp) gives the pod's MAC and the
//     bridge's forwarding database (/sys/class/net/BR/brforward, brif/*/port_no)
//     the bridge port, i.e. the pod's veth.
// Everything is read with fs/promises, so a refresh for a thousand pods never
// blocks the event loop. The tables are read from `root` (a test points it at
// a copy); /proc/net is the reading process's network namespace, which for
// the agent is the node's (hostNetwork).

import { readFile, readdir } from 'node:fs/promises';
import { endianness } from 'node:os';
import { isIPv6 } from 'node:net';
import { formatIpv6 } from '../../dissect/decode/addresses.js';

export interface PodInterface {
  /** Host-side interface name (cali1234…, lxc…, veth…). */
  name: string;
  ifindex: number;
  /** How it was found: a per-pod route, or the bridge's forwarding table. */
  via: 'route' | 'bridge';
}

export interface Resolution {
  /** Pod IP → its host-side interface. */
  found: Map<string, PodInterface>;
  /** IPs with no route, neighbour or FDB entry yet (retried on the next refresh). */
  missing: string[];
  /**
   * Interfaces that carry a second copy of pod packets without being any
   * pod's (bridges the pods hang on, lo): a kernel filter leaves them out
   * when it cannot list every pod interface.
   */
  shared: Map<string, number>;
  /** Wall time of the refresh in ms (reported by the agent). */
  ms: number;
}

interface Tables {
  /** /32 and /128 routes: IP → device. */
  hostRoutes: Map<string, string>;
  /** Interface name → ifindex, for every interface with IPv4 (all but rare ones) in one read. */
  ifindexes: Map<string, number>;
  /** IPv4 neighbours: IP → the device it was resolved on and its MAC. */
  neighbours: Map<string, { dev: string; mac: string }>;
}

/** A little-endian host writes /proc/net/route's addresses byte-reversed. */
function ipv4FromProcHex(hex: string): string {
  const n = parseInt(hex, 16) >>> 0;
  const b = [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return (endianness() === 'LE' ? b.reverse() : b).join('.');
}

/** 32 hex digits → the canonical (compressed, lower-case) IPv6 text. */
export function ipv6FromHex(hex: string): string {
  return formatIpv6(Buffer.from(hex, 'hex'), 0);
}

/** Canonical text of an IPv6 address as users and Kubernetes write it. */
export function canonicalIp(ip: string): string {
  if (!isIPv6(ip)) return ip;
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
  const hex = [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join('');
  return ipv6FromHex(hex);
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

export async function readTables(root = ''): Promise<Tables> {
  const hostRoutes = new Map<string, string>();
  const [v4, v6, arp, igmp] = await Promise.all([
    readText(`${root}/proc/net/route`),
    readText(`${root}/proc/net/ipv6_route`),
    readText(`${root}/proc/net/arp`),
    readText(`${root}/proc/net/igmp`),
  ]);
  // "Idx\tDevice    : Count Querier" lines name every IPv4-capable device once:
  // one read instead of a /sys/class/net/X/ifindex read per pod.
  const ifindexes = new Map<string, number>();
  for (const m of igmp.matchAll(/^(\d+)\t(\S+)\s*:/gm)) ifindexes.set(m[2], Number(m[1]));
  for (const line of v4.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[7] !== 'FFFFFFFF') continue;
    hostRoutes.set(ipv4FromProcHex(f[1]), f[0]);
  }
  for (const line of v6.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[1] !== '80') continue;
    const dev = f[9];
    if (dev === 'lo') continue; // local addresses: the node's own
    hostRoutes.set(ipv6FromHex(f[0]), dev);
  }
  const neighbours = new Map<string, { dev: string; mac: string }>();
  for (const line of arp.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Flags 0x0 = incomplete entry (no MAC yet).
    if (f.length < 6 || f[2] === '0x0') continue;
    neighbours.set(f[0], { dev: f[5], mac: f[3].toLowerCase() });
  }
  return { hostRoutes, ifindexes, neighbours };
}

interface BridgeView {
  /** Port number → member interface. */
  ports: Map<number, string>;
  /** Learned MAC → port number. */
  macs: Map<string, number>;
}

/** A bridge's members and forwarding database; undefined when `bridge` is no bridge. */
async function readBridge(root: string, bridge: string): Promise<BridgeView | undefined> {
  let members: string[];
  try {
    members = await readdir(`${root}/sys/class/net/${bridge}/brif`);
  } catch {
    return undefined;
  }
  const ports = new Map<number, string>();
  for (const m of members) {
    const no = parseInt(await readText(`${root}/sys/class/net/${bridge}/brif/${m}/port_no`), 16);
    if (Number.isFinite(no)) ports.set(no, m);
  }
  // struct __fdb_entry: mac[6] port_no is_local ageing(u32) port_hi pad unused(u16) = 16 bytes.
  let fdb: Buffer;
  try {
    fdb = await readFile(`${root}/sys/class/net/${bridge}/brforward`);
  } catch {
    fdb = Buffer.alloc(0);
  }
  const macs = new Map<string, number>();
  for (let off = 0; off + 16 <= fdb.length; off += 16) {
    if (fdb[off + 7]) continue; // the bridge's own addresses
    const mac = [...fdb.subarray(off, off + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    macs.set(mac, fdb[off + 6] | (fdb[off + 12] << 8));
  }
  return { ports, macs };
}

/**
 * Resolve each IP to its host-side interface. `root` is prepended to every
 * /proc and /sys path (empty on a real node).
 */
export async function resolvePodInterfaces(ips: Iterable<string>, root = ''): Promise<Resolution> {
  const started = performance.now();
  const t = await readTables(root);
  const found = new Map<string, PodInterface>();
  const missing: string[] = [];
  const bridges = new Map<string, Promise<BridgeView | undefined>>();
  const ifindexes = new Map(t.ifindexes);
  const ifindexOf = async (dev: string) => {
    let n = ifindexes.get(dev);
    if (n === undefined) {
      n = Number((await readText(`${root}/sys/class/net/${dev}/ifindex`)).trim()) || 0;
      ifindexes.set(dev, n);
    }
    return n;
  };
  await Promise.all(
    [...new Set([...ips].map(canonicalIp))].map(async (ip) => {
      const routed = t.hostRoutes.get(ip);
      if (routed) {
        const ifindex = await ifindexOf(routed);
        if (ifindex > 0) {
          found.set(ip, { name: routed, ifindex, via: 'route' });
          return;
        }
      }
      const n = t.neighbours.get(ip);
      if (n) {
        let bridge = bridges.get(n.dev);
        if (!bridge) bridges.set(n.dev, (bridge = readBridge(root, n.dev)));
        const view = await bridge;
        const no = view?.macs.get(n.mac);
        const port = no === undefined ? undefined : view?.ports.get(no);
        const ifindex = port ? await ifindexOf(port) : 0;
        if (port && ifindex > 0) {
          found.set(ip, { name: port, ifindex, via: 'bridge' });
          return;
        }
      }
      missing.push(ip);
    }),
  );
  missing.sort();
  const shared = new Map<string, number>();
  if (ifindexes.has('lo')) shared.set('lo', ifindexes.get('lo')!);
  for (const [name, view] of bridges) if (await view) shared.set(name, await ifindexOf(name));
  return { found, missing, shared, ms: performance.now() - started };
}
