// `--service-mesh`: each tapped pod's loopback, where a sidecar proxy and the
// app talk plaintext (outside, the same call is mTLS). Loopback exists only
// inside the pod's network namespace, so the agent
//   1. finds a process of the pod: the first PID whose network namespace
//      (`/proc/PID/ns/net`) holds the pod's IP as a local address
//      (`/proc/PID/net/fib_trie`) — reading another process's /proc/PID/ns
//      and /proc/PID/net needs the node's PID namespace (`hostPID`) and
//      CAP_SYS_PTRACE;
//   2. runs `nsenter --net=/proc/PID/ns/net shark agent -i lo …` there —
//      entering a namespace is setns(2), which needs CAP_SYS_ADMIN;
//   3. passes that child's entries on, tagged `tapped: {pod, namespace,
//      side: "loopback"}`.
// Only with --service-mesh; the DaemonSet gets hostPID, SYS_ADMIN and
// SYS_PTRACE only then.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { PodTarget } from './capture.js';

/** IPv4 addresses a namespace holds as local ("/32 host LOCAL" leaves of fib_trie). */
export function localAddresses(fibTrie: string): Set<string> {
  const out = new Set<string>();
  let last = '';
  for (const line of fibTrie.split('\n')) {
    const leaf = /\|--\s+(\d+\.\d+\.\d+\.\d+)/.exec(line);
    if (leaf) last = leaf[1];
    else if (/\/32 host LOCAL/.test(line) && last) out.add(last);
  }
  return out;
}

/** For each wanted IP, one PID of a process in the namespace that holds it (`root`: tests). */
export async function pidsByPodIp(ips: Set<string>, root = ''): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const seenNs = new Set<string>();
  let pids: string[] = [];
  try {
    pids = (await readdir(`${root}/proc`)).filter((d) => /^\d+$/.test(d));
  } catch {
    return found;
  }
  const self = await readlink(`${root}/proc/self/ns/net`).catch(() => '');
  for (const pid of pids) {
    if (found.size === ips.size) break;
    const ns = await readlink(`${root}/proc/${pid}/ns/net`).catch(() => '');
    // The node's own namespace holds no pod's loopback; each other one is read once.
    if (!ns || ns === self || seenNs.has(ns)) continue;
    seenNs.add(ns);
    const fib = await readFile(`${root}/proc/${pid}/net/fib_trie`, 'utf8').catch(() => '');
    for (const ip of localAddresses(fib)) if (ips.has(ip) && !found.has(ip)) found.set(ip, Number(pid));
  }
  return found;
}

export interface LoopbackOptions {
  /** `shark agent` as this process was started (node + script), to run in each pod. */
  command: string[];
  /** Arguments for each pod's agent (--node, redaction, bodies …). */
  args: string[];
  /** One entry line of a pod's agent, already tagged. */
  onLine(line: string): void;
  say(message: string): void;
}

interface Child {
  pid: number;
  proc: ChildProcess;
}

export class LoopbackCaptures {
  private readonly children = new Map<string, Child>();
  private pods: PodTarget[] = [];
  private busy: Promise<void> | undefined;

  constructor(private readonly opts: LoopbackOptions) {}

  /** Start an agent in each new pod's namespace, stop those of pods that left. */
  setPods(pods: PodTarget[]): Promise<void> {
    this.pods = pods;
    this.busy = (this.busy ?? Promise.resolve()).then(() => this.reconcile());
    return this.busy;
  }

  private async reconcile(): Promise<void> {
    const wanted = new Map(this.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
    for (const [key, c] of this.children) {
      if (!wanted.has(key)) {
        this.stopChild(c);
        this.children.delete(key);
      }
    }
    const missing = [...wanted].filter(([key]) => !this.children.has(key));
    if (missing.length === 0) return;
    const pids = await pidsByPodIp(new Set(missing.flatMap(([, p]) => p.ips)));
    for (const [key, pod] of missing) {
      const pid = pod.ips.map((ip) => pids.get(ip)).find((x) => x !== undefined);
      if (pid === undefined) {
        this.opts.say(`service-mesh: no process found in ${key}'s network namespace (needs hostPID and SYS_PTRACE)`);
        continue;
      }
      const [cmd, ...pre] = this.opts.command;
      const proc = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', cmd, ...pre, ...this.opts.args, '-i', 'lo', '-f', 'ip or ip6'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const tag = JSON.stringify({ pod: pod.name, namespace: pod.namespace, side: 'loopback' });
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        // Entries are one JSON object per line: add the tag without parsing them again.
        if (line.endsWith('}')) this.opts.onLine(`${line.slice(0, -1)},"tapped":${tag}}`);
      });
      createInterface({ input: proc.stderr! }).on('line', (line) => {
        if (!line.startsWith('shark-agent-stats ')) this.opts.say(`service-mesh ${key}: ${line}`);
      });
      proc.on('error', (err) => this.opts.say(`service-mesh ${key}: cannot enter the pod's namespace: ${err.message}`));
      proc.stdin!.on('error', () => {});
      const child = { pid, proc };
      // A pod's agent that ended (its pod went away, or it failed) is started again on the next pods message.
      proc.on('close', (code) => {
        if (this.children.get(key) !== child) return;
        this.children.delete(key);
        if (code !== 0) this.opts.say(`service-mesh ${key}: loopback agent ended (exit ${code})`);
      });
      this.children.set(key, child);
      this.opts.say(`service-mesh: capturing ${key}'s loopback (pid ${pid})`);
    }
  }

  private stopChild(c: Child): void {
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.stdin?.end('{"stop":true}\n');
  }

  /** Stop every pod's agent and wait (bounded) for their last entries. */
  async close(graceMs = 3000): Promise<void> {
    await this.busy;
    const all = [...this.children.values()];
    this.children.clear();
    await Promise.all(
      all.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.proc.exitCode !== null || c.proc.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
            c.proc.on('close', () => {
              clearTimeout(timer);
              resolve();
            });
            this.stopChild(c);
          }),
      ),
    );
  }
}
