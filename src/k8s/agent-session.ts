// One node agent's stream: `shark agent …` exec'd in the agent pod through the
// API server (websocket, v5/v4.channel.k8s.io), stdout read line by line,
// stdin kept open for control messages (filter updates, stop), the agent's
// counters picked out of its stderr. The session reports how it ended so the
// tap can restart it; nothing is retried here.

import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { Exec, type KubeConfig } from '@kubernetes/client-node';
import { AGENT_CONTAINER } from './agent-manifests.js';
import { STOP_MESSAGE, filterMessage, podsMessage, parseAgentStats, type AgentStats } from './agent-control.js';
import type { PodTarget } from '../capture/per-pod/capture.js';

export interface AgentSessionOptions {
  kc: KubeConfig;
  namespace: string;
  pod: string;
  node: string;
  /** Arguments after `shark agent`. */
  args: string[];
  /** Entries mode: one stdout line at a time. */
  onLine?(line: string): void;
  /** Packets mode: raw stdout bytes (a pcap/pcapng stream); a new stream per session. */
  onData?(chunk: Buffer): void;
  onStderr?(line: string): void;
  /** The agent's drop/loss counters (every few seconds, and a final report). */
  onStats?(stats: AgentStats): void;
  /** The exec ended: `why` is the status message or the socket error; `stopped` when we asked. */
  onEnd(why: string, stopped: boolean): void;
}

export class AgentSession {
  private readonly stdin = new PassThrough();
  private ws: { close(): void; terminate?(): void; on(ev: string, f: (...a: any[]) => void): void } | undefined;
  private stopping = false;
  private ended = false;
  private status = '';

  constructor(private readonly opts: AgentSessionOptions) {}

  async start(): Promise<void> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    if (this.opts.onData) stdout.on('data', (c: Buffer) => this.opts.onData!(c));
    else createInterface({ input: stdout, crlfDelay: Infinity }).on('line', (l) => this.opts.onLine?.(l));
    createInterface({ input: stderr, crlfDelay: Infinity }).on('line', (l) => {
      const stats = parseAgentStats(l);
      if (stats) this.opts.onStats?.(stats);
      else this.opts.onStderr?.(l);
    });
    const exec = new Exec(this.opts.kc);
    try {
      const ws = await exec.exec(
        this.opts.namespace,
        this.opts.pod,
        AGENT_CONTAINER,
        ['shark', 'agent', ...this.opts.args],
        stdout,
        stderr,
        this.stdin,
        false,
        (status) => {
          this.status = status.status === 'Success' ? 'exited' : (status.message ?? status.status ?? 'failed');
        },
      );
      this.ws = ws as unknown as AgentSession['ws'];
      ws.on('close', () => this.finish(this.status || 'stream closed'));
      ws.on('error', (err: Error) => this.finish(err.message));
    } catch (err) {
      const e = err as { message?: string; code?: string; error?: { code?: string; message?: string } };
      this.finish(e.error?.code ?? e.code ?? e.error?.message ?? e.message ?? String(err));
    }
  }

  /** Replace the agent's capture filter. */
  setFilter(bpf: string): void {
    if (!this.ended) this.stdin.write(filterMessage(bpf));
  }

  /** Tell the agent its node's tapped pods (per-pod capture). */
  setPods(pods: PodTarget[]): void {
    if (!this.ended) this.stdin.write(podsMessage(pods));
  }

  /**
   * Ask the agent to stop with a control message (not stdin EOF: on the v4
   * exec protocol that would close the stream before the agent's last entries
   * and counters arrive), wait for it to flush and exit, and close the stream
   * only if it has not ended within `graceMs`; resolves when it ended.
   */
  async stop(graceMs = 3000): Promise<void> {
    if (this.ended) return;
    this.stopping = true;
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      const timer = setTimeout(() => {
        this.ws?.close();
        setTimeout(() => {
          this.ws?.terminate?.();
          this.finish('terminated');
        }, 300).unref();
      }, graceMs);
      timer.unref();
      this.onFinish = () => {
        clearTimeout(timer);
        done();
      };
      this.stdin.write(STOP_MESSAGE);
    });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private onFinish: (() => void) | undefined;

  private finish(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.stdin.destroy();
    this.opts.onEnd(why, this.stopping);
    this.onFinish?.();
  }
}
