// Loads the kubeconfig the way kubectl does (--kubeconfig, else $KUBECONFIG,
// else ~/.kube/config, else in-cluster; kubeconfig-files.ts reads and merges
// the files) and picks the context and its namespace. Every failure a user
// can fix becomes one line with exit code 4.

import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ExitCode, UserError } from '../cli/errors.js';
import { timeoutText } from './api-timeouts.js';
import { explainAuthError, rememberKubeconfig, statusMessage } from './auth-errors.js';
import { kubeconfigPaths, loadKubeconfigFiles, type KubeconfigOrigins } from './kubeconfig-files.js';
import { verifyIpServerNames } from './kube-transport.js';

export interface KubeConfigFlags {
  kubeconfig?: string;
  context?: string;
}

export interface LoadedKubeConfig {
  kc: KubeConfig;
  context: string;
  /** The context's namespace, "default" when it names none. */
  namespace: string;
  server: string;
}

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function loadKubeConfig(flags: KubeConfigFlags = {}): LoadedKubeConfig {
  let kc: KubeConfig;
  let origins: KubeconfigOrigins | undefined;
  const { paths, listed } = kubeconfigPaths(flags.kubeconfig);
  if (paths.length > 0) {
    ({ kc, origins } = loadKubeconfigFiles(paths));
  } else if (process.env.KUBERNETES_SERVICE_HOST && existsSync(IN_CLUSTER_TOKEN)) {
    kc = new KubeConfig();
    kc.loadFromCluster();
  } else if (listed.length > 0) {
    throw new UserError(`no kubeconfig: none of the files in KUBECONFIG exists (${listed.join(', ')})`, ExitCode.CAPTURE);
  } else {
    throw new UserError('no kubeconfig: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config', ExitCode.CAPTURE);
  }
  if (flags.context) {
    if (!kc.getContextObject(flags.context)) {
      const known = kc.getContexts().map((c) => c.name).join(', ') || 'none';
      throw new UserError(`unknown context "${flags.context}" (known: ${known})`, ExitCode.CAPTURE);
    }
    kc.setCurrentContext(flags.context);
  }
  const context = kc.getCurrentContext();
  const ctx = kc.getContextObject(context);
  const cluster = kc.getCurrentCluster();
  if (!ctx || !cluster) throw new UserError(`kubeconfig has no usable current context${context ? ` ("${context}")` : ''}`, ExitCode.CAPTURE);
  verifyIpServerNames(kc);
  rememberKubeconfig(kc, origins);
  return { kc, context, namespace: ctx.namespace || 'default', server: cluster.server };
}

/** One line describing an API failure: HTTP status and the Status message, or the network error. */
export function apiErrorText(err: unknown): string {
  const timeout = timeoutText(err);
  if (timeout) return timeout;
  // Auth and TLS failures (401, a missing exec plugin, an untrusted certificate) say what to fix.
  const explained = explainAuthError(err);
  if (explained) return explained;
  const e = err as { code?: number | string; body?: unknown; message?: string; cause?: { code?: string } };
  if (typeof e?.code === 'number') {
    const msg = statusMessage(err);
    return `HTTP ${e.code}${msg ? `: ${msg}` : ''}`;
  }
  const code = e?.cause?.code ?? (typeof e?.code === 'string' ? e.code : undefined);
  return code ? `${code}` : firstLine(err);
}

/** An API call failed in a way that ends the run: exit 4 with the server named. */
export function apiUnreachable(server: string, err: unknown, doing: string): UserError {
  return new UserError(`${server}: ${doing}: ${apiErrorText(err)}`, ExitCode.CAPTURE);
}

function firstLine(err: unknown): string {
  const m = (err as { message?: string })?.message ?? String(err);
  return m.split('\n')[0].trim();
}
