// One node agent's stream: `shark agent …` exec'd in the agent pod through the
// API server (websocket, v5/v4.channel.k8s.io), stdout read line by line,
// stdin kept open for control messages (filter updates, stop), the agent's
// counters picked out of its stderr. The session reports how it ended so the
// tap can restart it (a new exec into the same pod); nothing is retried here.
// Heartbeats as kubectl's: a websocket ping every 5 s; a stream that has not
// answered for 60 s (a NAT or load balancer that dropped it silently) is
// ended, so the tap restarts it instead of waiting forever. The stream can be
// paused (backpressure: stream-flow.ts); pongs are not read while it is, so
// the silence of a paused stream is not held against it.

import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { Exec, type KubeConfig } from '@kubernetes/client-node';
import { AGENT_CONTAINER } from './agent-manifests.js';
import { AGENT_CAPTURING, STOP_MESSAGE, filterMessage, podsMessage, parseAgentStats, type AgentStats } from './agent-control.js';
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
  /** The exec stream is open (the command may still fail to start). */
  onOpen?(): void;
  /** The agent captures: it said so, or sent an entry, packets or counters (once per session). */
  onRunning?(): void;
  /** The exec ended: `why` is the status message or the socket error; `stopped` when we asked. */
  onEnd(why: string, stopped: boolean): void;
  /** Websocket ping interval and how long without a pong ends the stream (default 5 s / 60 s, as kubectl). */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
}

/** Ping interval and give-up time of kubectl's exec/port-forward streams. */
export const PING_INTERVAL_MS = 5000;
export const PONG_TIMEOUT_MS = 60_000;

interface ExecSocket {
  close(): void;
  terminate?(): void;
  ping?(): void;
  pause?(): void;
  resume?(): void;
  on(ev: string, f: (...a: any[]) => void): void;
}

export class AgentSession {
  private readonly stdin = new PassThrough();
  private ws: ExecSocket | undefined;
  private stopping = false;
  private ended = false;
  private status = '';
  private paused = false;
  private lastPong = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Whether the exec stream ever opened (an outage fails before it does). */
  opened = false;
  /** Whether the agent was seen capturing (AGENT_CAPTURING, or any output). */
  running = false;
  /** The agent's last stderr line (not counters): why an agent that ended before capturing failed. */
  lastStderr = '';

  constructor(private readonly opts: AgentSessionOptions) {}

  async start(): Promise<void> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    if (this.opts.onData)
      stdout.on('data', (c: Buffer) => {
        this.markRunning();
        this.opts.onData!(c);
      });
    else
      createInterface({ input: stdout, crlfDelay: Infinity }).on('line', (l) => {
        this.markRunning();
        this.opts.onLine?.(l);
      });
    createInterface({ input: stderr, crlfDelay: Infinity }).on('line', (l) => {
      const stats = parseAgentStats(l);
      if (stats || AGENT_CAPTURING.test(l)) this.markRunning();
      if (stats) this.opts.onStats?.(stats);
      else {
        if (l.trim()) this.lastStderr = l.length > 300 ? `${l.slice(0, 300)}…` : l;
        this.opts.onStderr?.(l);
      }
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
      this.ws = ws as unknown as ExecSocket;
      ws.on('close', () => this.finish(this.status || 'stream closed'));
      ws.on('error', (err: Error) => this.finish(err.message));
      if (this.ended) return;
      this.opened = true;
      if (this.paused) this.ws.pause?.();
      this.startHeartbeat();
      this.opts.onOpen?.();
    } catch (err) {
      const e = err as { message?: string; code?: string; error?: { code?: string; message?: string } };
      this.finish(e.error?.code ?? e.code ?? e.error?.message ?? e.message ?? String(err));
    }
  }

  private markRunning(): void {
    if (this.running || this.ended) return;
    this.running = true;
    this.opts.onRunning?.();
  }

  /** Stop reading the stream (backpressure): the agent's output waits in the network and its own queue. */
  pause(): void {
    this.paused = true;
    this.ws?.pause?.();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.lastPong = Date.now();
    this.ws?.resume?.();
  }

  private startHeartbeat(): void {
    const ws = this.ws;
    if (!ws?.ping) return;
    const timeout = this.opts.pongTimeoutMs ?? PONG_TIMEOUT_MS;
    this.lastPong = Date.now();
    ws.on('pong', () => (this.lastPong = Date.now()));
    this.heartbeat = setInterval(() => {
      if (this.paused) return;
      if (Date.now() - this.lastPong > timeout) {
        ws.terminate?.();
        this.finish(`no answer to websocket pings for ${Math.round(timeout / 1000)}s`);
        return;
      }
      try {
        ws.ping!();
      } catch {
        // Not open any more: 'close' follows.
      }
    }, this.opts.pingIntervalMs ?? PING_INTERVAL_MS);
    this.heartbeat.unref();
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
    // The agent's last entries and counters must be read, whatever the backlog.
    this.resume();
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
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.stdin.destroy();
    this.opts.onEnd(why, this.stopping);
    this.onFinish?.();
  }
}
