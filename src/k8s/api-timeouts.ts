// Bounds on the API server's answers, as kubectl has them, so that an API
// server that accepts TCP and then says nothing (a dead load balancer, a hung
// apiserver, a firewall that accepts and stalls) ends the run with one line
// instead of hanging it:
//   - connect: 30 s to open the TCP connection (client-go's dialer);
//   - TLS handshake: 10 s once connected (net/http's Transport: kubectl's
//     "net/http: TLS handshake timeout");
//   - request: `--request-timeout` (default 30 s) for each typed request
//     (lists, reads, creates, patches, deletes), headers and body. Watches
//     and agent exec streams are long by design and have their own checks
//     (relists, websocket pings), so only connect and handshake bound them.
// client-node makes a new https.Agent for every request (createAgent), so the
// connect and handshake timers wrap that agent's createConnection; the
// request timeout is an AbortSignal on the request context.

import type { KubeConfig } from '@kubernetes/client-node';
import type { Socket } from 'node:net';

export const CONNECT_TIMEOUT_MS = 30_000;
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Error codes of the connection timeouts (node-fetch copies `code` onto its FetchError). */
const CONNECT_CODE = 'ESHARKCONNECTTIMEOUT';
const HANDSHAKE_CODE = 'ESHARKTLSTIMEOUT';

export interface ApiTimeouts {
  connectMs?: number;
  handshakeMs?: number;
  /** Per typed request; 0 = none (kubectl's --request-timeout 0). */
  requestMs?: number;
}

/** What `timeoutText` says for a request aborted by the request timeout (set by the last applyApiTimeouts). */
let requestTimeoutText = '';

type AgentLike = { createConnection: (...args: any[]) => Socket | undefined };
type Patched = { createAgent(cluster: unknown, options: unknown): AgentLike; applySecurityAuthentication(context: { setSignal(s: AbortSignal): void }): Promise<void> };

/** Bound every request this KubeConfig makes from now on (idempotent per KubeConfig). */
export function applyApiTimeouts(kc: KubeConfig, t: ApiTimeouts = {}): void {
  const connectMs = t.connectMs ?? CONNECT_TIMEOUT_MS;
  const handshakeMs = t.handshakeMs ?? TLS_HANDSHAKE_TIMEOUT_MS;
  const requestMs = t.requestMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const target = kc as unknown as Patched & { [PATCHED]?: boolean };
  if (target[PATCHED]) return;
  target[PATCHED] = true;
  const createAgent = target.createAgent.bind(kc);
  target.createAgent = (cluster, options) => guardAgent(createAgent(cluster, options), connectMs, handshakeMs);
  if (requestMs > 0) {
    requestTimeoutText = `no answer within ${formatMs(requestMs)} (--request-timeout)`;
    const auth = target.applySecurityAuthentication.bind(kc);
    target.applySecurityAuthentication = async (context) => {
      await auth(context);
      context.setSignal(AbortSignal.timeout(requestMs));
    };
  }
}

const PATCHED = Symbol('shark.apiTimeouts');

/**
 * The agent's sockets must connect within `connectMs` and, for TLS, finish
 * the handshake `handshakeMs` after that; else they are destroyed with an
 * error the request reports. Proxy agents that hand the socket to a callback
 * (hpagent) are bounded the same way when it arrives.
 */
function guardAgent(agent: AgentLike, connectMs: number, handshakeMs: number): AgentLike {
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (...args: any[]) => {
    const cb = args.findIndex((a) => typeof a === 'function');
    if (cb >= 0) {
      const orig = args[cb] as (err: Error | null, s?: Socket) => void;
      args[cb] = (err: Error | null, s?: Socket) => {
        if (s) guardSocket(s, connectMs, handshakeMs);
        orig(err, s);
      };
    }
    const socket = create(...args);
    if (socket) guardSocket(socket, connectMs, handshakeMs);
    return socket;
  };
  return agent;
}

const GUARDED = Symbol('shark.guarded');

function guardSocket(socket: Socket & { [GUARDED]?: boolean; encrypted?: boolean; connecting?: boolean }, connectMs: number, handshakeMs: number): void {
  if (socket[GUARDED]) return;
  socket[GUARDED] = true;
  const tls = socket.encrypted === true;
  let timer: NodeJS.Timeout | undefined;
  const fail = (code: string, message: string) => {
    const err = Object.assign(new Error(message), { code });
    socket.destroy(err);
  };
  const clear = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  const handshake = () => {
    clear();
    timer = setTimeout(() => fail(HANDSHAKE_CODE, `TLS handshake timeout (no answer in ${formatMs(handshakeMs)})`), handshakeMs);
    timer.unref();
  };
  if (socket.connecting !== false) {
    timer = setTimeout(() => fail(CONNECT_CODE, `connect timeout (no connection in ${formatMs(connectMs)})`), connectMs);
    timer.unref();
    socket.once('connect', () => (tls ? handshake() : clear()));
  } else if (tls) handshake();
  if (tls) socket.once('secureConnect', clear);
  socket.once('close', clear);
}

/** A connection, handshake or request timeout in words; undefined for any other error. */
export function timeoutText(err: unknown): string | undefined {
  const e = err as { code?: unknown; name?: string; type?: string; message?: string; cause?: { code?: unknown } };
  const code = e?.cause?.code ?? e?.code;
  if (code === HANDSHAKE_CODE || code === CONNECT_CODE) {
    const m = /reason: (.*)$/.exec(e.message ?? '');
    return m ? m[1] : (e.message ?? String(code));
  }
  // node-fetch's AbortError: the only signal on typed requests is the request timeout.
  if (requestTimeoutText && e?.name === 'AbortError' && e.type === 'aborted') return requestTimeoutText;
  return undefined;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
