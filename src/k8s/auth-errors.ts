// Authentication and TLS failures said so a user knows what to fix, as
// kubectl says them: a missing exec credential plugin (how a missing
// gke-gcloud-auth-plugin shows up) with the kubeconfig's installHint, a
// server certificate the kubeconfig's CA does not vouch for, credentials the
// server refused (401: expired, most of the time). The error objects carry
// only a code (ENOENT, DEPTH_ZERO_SELF_SIGNED_CERT, 401): the kubeconfig
// facts that give them a meaning are remembered here when it is loaded (one
// kubeconfig per CLI process).

import type { Cluster, KubeConfig, User } from '@kubernetes/client-node';
import type { KubeconfigOrigins } from './kubeconfig-files.js';

export interface KubeconfigFacts {
  context: string;
  cluster: string;
  /** The file that defined the cluster (undefined in-cluster). */
  clusterFile?: string;
  /** Where the CA comes from: a file, the inline data, or nothing (the system's CAs). */
  ca?: string;
  user: string;
  userFile?: string;
  exec?: { command: string; installHint?: string };
}

let facts: KubeconfigFacts | undefined;

/** Remember the loaded kubeconfig's current context for the error messages below. */
export function rememberKubeconfig(kc: KubeConfig, origins?: KubeconfigOrigins): void {
  const context = kc.getCurrentContext();
  const cluster: Cluster | null = kc.getCurrentCluster();
  const user: User | null = kc.getCurrentUser();
  facts = {
    context,
    cluster: cluster?.name ?? '',
    clusterFile: cluster ? origins?.clusters.get(cluster.name) : undefined,
    ca: cluster?.caFile ? `certificate-authority ${cluster.caFile}` : cluster?.caData ? 'certificate-authority-data' : undefined,
    user: user?.name ?? '',
    userFile: user ? origins?.users.get(user.name) : undefined,
    exec: user?.exec?.command ? { command: String(user.exec.command), installHint: user.exec.installHint ? String(user.exec.installHint) : undefined } : undefined,
  };
}

/** TLS verification failures: the certificate's issuer is not one the kubeconfig (or the system) trusts. */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** One line for an authentication or TLS failure; undefined for any other error. */
export function explainAuthError(err: unknown): string | undefined {
  const e = err as { code?: number | string; syscall?: string; path?: string; cause?: { code?: string } };
  if (e?.code === 401) {
    const who = facts?.user ? ` of user "${facts.user}"${where(facts.userFile)}` : '';
    return `HTTP 401: ${statusMessage(err) || 'Unauthorized'}: the server refused the credentials${who}; they may have expired: log in again (or refresh the kubeconfig)`;
  }
  if (typeof e?.syscall === 'string' && e.syscall.startsWith('spawn ')) return execPluginFailure(e.path ?? e.syscall.slice(6), String(e.code));
  const code = e?.cause?.code ?? (typeof e?.code === 'string' ? e.code : undefined);
  if (!code) return undefined;
  if (UNTRUSTED.has(code)) {
    return `the server's certificate is not trusted (self-signed, or signed by an unknown authority: ${code}); ${caAdvice()}`;
  }
  if (EXPIRED.has(code)) return `the server's certificate is expired or not yet valid (${code}); is this machine's clock right?`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the server's certificate is not issued for the address the kubeconfig names (${code}); check server and tls-server-name of cluster "${facts?.cluster ?? ''}"${where(facts?.clusterFile)}`;
  }
  return undefined;
}

/** The Status message of an API failure: from the body, else the generated client's own (its 401 carries no body). */
export function statusMessage(err: unknown): string {
  const e = err as { body?: unknown; message?: string };
  try {
    const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
    const msg = (body as { message?: string })?.message;
    if (msg) return msg;
  } catch {
    // not JSON: fall through
  }
  // ApiException's message is "HTTP-Code: 401\nMessage: Unauthorized\nBody: …".
  const m = /^Message: (.+)$/m.exec(e?.message ?? '');
  return m && !/^Unknown API Status Code/.test(m[1]) ? m[1].trim() : '';
}

function caAdvice(): string {
  if (!facts) return 'check the kubeconfig\'s certificate-authority';
  const cluster = `cluster "${facts.cluster}"${where(facts.clusterFile)}`;
  return facts.ca ? `check the CA of ${cluster}: ${facts.ca}` : `${cluster} names no certificate-authority (only the system's CAs are trusted): add the cluster's CA`;
}

/** kubectl: "exec: executable X not found … It looks like you are trying to use a client-go credential plugin that is not installed", then installHint. */
function execPluginFailure(command: string, code: string): string {
  const who = facts?.user ? ` of user "${facts.user}"${where(facts.userFile)}` : '';
  const problem = code === 'ENOENT' ? 'was not found (not installed, or not on PATH)' : code === 'EACCES' ? 'is not executable' : `could not run (${code})`;
  const hint = facts?.exec?.installHint && facts.exec.command === command ? `: ${facts.exec.installHint.replace(/\s+/g, ' ').trim()}` : '';
  return `the exec credential plugin "${command}"${who} ${problem}; it must be installed${hint}`;
}

function where(file: string | undefined): string {
  return file ? ` in ${file}` : '';
}
