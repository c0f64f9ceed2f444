// A one-node "cluster" for the per-pod capture tests: a node namespace and
// pod namespaces wired as CNIs wire them (198.19.100.0/22 and the `s4p-`
// prefix are this area's):
//   - routed pods, as Calico/kindnet do: a veth per pod, the pod's address as
//     a /32 on its side, a /32 route to it on the node, the gateway
//     169.254.1.1 answered by proxy ARP on the host side;
//   - bridged pods, as flannel's cni0 does: veths enslaved to a bridge that
//     holds the pod subnet's gateway address.
// Services are iptables DNAT rules in the node namespace, as kube-proxy makes
// them. Everything is built with `ip -batch` (a thousand pods take seconds)
// and removed by stop(), which tests call in `finally`/`after`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LabPod {
  name: string;
  ns: string;
  ip: string;
  /** Host-side interface in the node namespace. */
  hostIf: string;
  kind: 'routed' | 'bridged';
}

export interface PodLab {
  node: string;
  pods: Map<string, LabPod>;
  /** Run bash in a namespace, bounded by timeoutMs. */
  sh(ns: string, cmd: string, timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Start a process in a namespace (killed by stop()). */
  start(ns: string, argv: string[], stdin?: 'pipe' | 'ignore'): ChildProcess;
  /** A ClusterIP-like service: DNAT `vip:port/proto` → `pod:targetPort`. */
  service(vip: string, port: number, proto: 'tcp' | 'udp', to: LabPod, targetPort: number): void;
  stop(): void;
}

export interface PodLabSpec {
  /** 1-3 lower-case letters: namespace `s4p-ID-…`, interfaces `s4pID…`. */
  id: string;
  routed: { name: string; ip: string }[];
  bridged?: { name: string; ip: string }[];
  /** The bridge's gateway address and prefix length (bridged pods only). */
  bridgeGw?: { ip: string; prefix: number };
  /** Namespace and interface prefix, for areas that keep labs apart by name (default `s4p`). */
  prefix?: string;
  /** Bring the pod side up and route it (false: the pod exists, its namespace is idle). */
  configurePods?: (name: string) => boolean;
  /**
   * IPv6 pods (routed only), as Calico wires them: the pod's /128 on its
   * side, a /128 route on the node, and the gateway a link-local address of
   * the host-side veth (fe80::1 on each, as Calico's fe80::ecee:eeff:feee:eeee).
   */
  ipv6?: boolean;
}

function run(cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 4).join(' ')} …: ${(r.stderr || r.stdout).trim().slice(0, 500)}`);
}

/** `ip -batch` from lines, in the root namespace or in `ns` (ip -n NS -batch). */
function ipBatch(lines: string[], ns?: string): void {
  if (lines.length === 0) return;
  const dir = mkdtempSync(join(tmpdir(), 's4p-'));
  try {
    const file = join(dir, 'batch');
    writeFileSync(file, lines.join('\n') + '\n');
    run('ip', [...(ns ? ['-n', ns] : []), '-batch', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every namespace whose name starts with `prefix` (left over from an earlier, killed run too). */
function namespacesWithPrefix(prefix: string): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(prefix));
}

export function makePodLab(spec: PodLabSpec): PodLab {
  const short = spec.prefix ?? 's4p';
  const prefix = `${short}-${spec.id}-`;
  const node = `${prefix}node`;
  const children: ChildProcess[] = [];
  const stop = () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null && c.pid) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    const all = namespacesWithPrefix(prefix);
    // Deleting the node first removes every host-side veth, and so their peers.
    if (all.includes(node)) spawnSync('ip', ['netns', 'del', node]);
    ipBatch(all.filter((n) => n !== node).map((n) => `netns del ${n}`));
  };
  stop();
  const pods = new Map<string, LabPod>();
  try {
    const all = [
      ...spec.routed.map((p) => ({ ...p, kind: 'routed' as const })),
      ...(spec.bridged ?? []).map((p) => ({ ...p, kind: 'bridged' as const })),
    ];
    all.forEach((p, i) => pods.set(p.name, { name: p.name, ip: p.ip, kind: p.kind, ns: `${prefix}${p.name}`, hostIf: `${short}${spec.id}${i}` }));
    ipBatch([`netns add ${node}`, ...[...pods.values()].map((p) => `netns add ${p.ns}`)]);
    // The node's uplink (a veth to nowhere: no dummy module in containers)
    // holds the default route. Proxy ARP answers the pods' 169.254.1.1 only
    // for an address the node can route elsewhere.
    const up = `${short}${spec.id}up`;
    const nodeLines = ['link set lo up', `link add ${up} type veth peer name ${up}x`, `link set ${up}x up`, `link set ${up} up`, `route add default dev ${up}`];
    if (spec.ipv6) nodeLines.push(`route add ::/0 dev ${up}`);
    if (spec.bridged?.length) {
      const gw = spec.bridgeGw!;
      nodeLines.push(`link add ${short}${spec.id}br type bridge`, `addr add ${gw.ip}/${gw.prefix} dev ${short}${spec.id}br`, `link set ${short}${spec.id}br up`);
    }
    for (const p of pods.values()) {
      nodeLines.push(`link add ${p.hostIf} type veth peer name eth0 netns ${p.ns}`);
      if (p.kind === 'bridged') nodeLines.push(`link set ${p.hostIf} master ${short}${spec.id}br`);
      nodeLines.push(`link set ${p.hostIf} up`);
      if (p.kind === 'routed' && spec.ipv6) nodeLines.push(`addr add fe80::1/64 dev ${p.hostIf} nodad`, `route add ${p.ip}/128 dev ${p.hostIf}`);
      else if (p.kind === 'routed') nodeLines.push(`route add ${p.ip}/32 dev ${p.hostIf}`);
    }
    ipBatch(nodeLines, node);
    const sysctls = spec.ipv6
      ? ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']
      : ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
    for (const p of pods.values()) if (p.kind === 'routed') sysctls.push(`net.ipv4.conf.${p.hostIf}.proxy_arp=1`);
    run('ip', ['netns', 'exec', node, 'sysctl', '-qw', ...sysctls]);
    for (const p of pods.values()) {
      if (spec.configurePods && !spec.configurePods(p.name)) continue;
      const lines = ['link set lo up', 'link set eth0 up'];
      if (p.kind === 'routed' && spec.ipv6) {
        lines.push(`addr add ${p.ip}/128 dev eth0 nodad`, 'route add ::/0 via fe80::1 dev eth0');
      } else if (p.kind === 'routed') {
        lines.push(`addr add ${p.ip}/32 dev eth0`, 'route add 169.254.1.1 dev eth0 scope link', 'route add default via 169.254.1.1 dev eth0');
      } else {
        lines.push(`addr add ${p.ip}/${spec.bridgeGw!.prefix} dev eth0`, `route add default via ${spec.bridgeGw!.ip} dev eth0`);
      }
      ipBatch(lines, p.ns);
    }
  } catch (err) {
    stop();
    throw err;
  }
  const start = (ns: string, argv: string[], stdin: 'pipe' | 'ignore' = 'ignore') => {
    const c = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: [stdin, 'pipe', 'pipe'] });
    children.push(c);
    return c;
  };
  return {
    node,
    pods,
    stop,
    start,
    service(vip, port, proto, to, targetPort) {
      const v6 = vip.includes(':');
      const to6 = v6 ? `[${to.ip}]:${targetPort}` : `${to.ip}:${targetPort}`;
      run('ip', ['netns', 'exec', node, v6 ? 'ip6tables' : 'iptables', '-t', 'nat', '-A', 'PREROUTING', '-d', vip, '-p', proto, '--dport', String(port), '-j', 'DNAT', '--to-destination', to6]);
    },
    sh(ns, cmd, timeoutMs = 30_000) {
      return new Promise((resolve) => {
        const c = start(ns, ['bash', '-c', cmd]);
        let stdout = '';
        let stderr = '';
        c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
        c.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? -1, stdout, stderr });
        });
      });
    },
  };
}

/** A client's bounded loop in a pod: [pod name, tag, bash command printing how many calls were answered]. */
export type PodCalls = [string, string, string][];

/** Run each loop in its pod; tag → the count it printed (each must be > 0). */
export async function runPodCalls(lab: PodLab, calls: PodCalls): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [from, tag, cmd] of calls) {
    const r = await lab.sh(lab.pods.get(from)!.ns, cmd);
    if (r.code !== 0) throw new Error(`${tag}: ${r.stderr}`);
    counts[tag] = Number(r.stdout.trim());
    if (!(counts[tag] > 0)) throw new Error(`${tag}: no call of the client succeeded`);
  }
  return counts;
}

/** An agent's NDJSON entries grouped by the tag in their HTTP path (/TAG-N) or DNS name (qX-N.lab.test). */
export function entriesByTag(stdout: Buffer): Map<string, any[]> {
  const byTag = new Map<string, any[]>();
  for (const line of stdout.toString('utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line);
    const tag =
      e.protocol === 'http'
        ? /^\/([a-z]+)-\d+$/.exec(e.request?.path ?? '')?.[1]
        : e.protocol === 'dns'
          ? /^(q[a-z])-\d+\.lab\.test$/.exec(e.request?.questions?.[0]?.name ?? '')?.[1]
          : undefined;
    if (tag) byTag.set(tag, [...(byTag.get(tag) ?? []), e]);
  }
  return byTag;
}
