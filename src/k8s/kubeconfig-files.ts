// Reading kubeconfig files as kubectl (client-go's loading rules) does,
// where @kubernetes/client-node differs:
// - $KUBECONFIG is a list: entries that do not exist are skipped, the rest
//   merged in order, the first file to name a cluster, user or context (or to
//   set current-context) wins. client-node threw on a missing entry and let a
//   later file override;
// - paths inside a file are relative to that file: certificate files (client-node
//   does those), a user's `tokenFile`, and an exec plugin's command when it
//   holds a path separator;
// - a user's `tokenFile` is read (token-file-auth.ts); client-node ignored it;
// - HTTPS_PROXY/HTTP_PROXY/NO_PROXY give a cluster without `proxy-url` its
//   proxy (proxy-env.ts); client-node ignored them.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, sep } from 'node:path';
import { KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { ExitCode, UserError } from '../cli/errors.js';
import { proxyFromEnvironment } from './proxy-env.js';
import { TOKEN_FILE_PROVIDER, TokenFileAuth, readTokenFile, type TokenFileConfig } from './token-file-auth.js';

type Env = Record<string, string | undefined>;

/**
 * The files kubectl would read: `--kubeconfig` alone; else every existing
 * entry of $KUBECONFIG (missing ones skipped); else ~/.kube/config when it
 * exists. `listed` is what $KUBECONFIG named, for the error when none exists.
 */
export function kubeconfigPaths(flag: string | undefined, env: Env = process.env, home = homedir()): { paths: string[]; listed: string[] } {
  if (flag) {
    if (!existsSync(flag)) throw new UserError(`${flag}: kubeconfig not found`, ExitCode.CAPTURE);
    return { paths: [flag], listed: [flag] };
  }
  if (env.KUBECONFIG) {
    const listed = env.KUBECONFIG.split(delimiter).filter(Boolean);
    // client-go drops repeated entries (the same file merged twice would change nothing but warnings).
    return { paths: [...new Set(listed)].filter((p) => existsSync(p)), listed };
  }
  const home1 = join(home, '.kube', 'config');
  return { paths: existsSync(home1) ? [home1] : [], listed: [] };
}

/** Where each cluster and user was defined (error messages name the file). */
export interface KubeconfigOrigins {
  clusters: Map<string, string>;
  users: Map<string, string>;
}

/** Load and merge `paths` into one KubeConfig, first definition wins. */
export function loadKubeconfigFiles(paths: string[], env: Env = process.env): { kc: KubeConfig; origins: KubeconfigOrigins } {
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  const origins: KubeconfigOrigins = { clusters: new Map(), users: new Map() };
  let currentContext = '';
  for (const path of paths) {
    let one: KubeConfig;
    let raw: any;
    try {
      const text = readFileSync(path, 'utf8');
      if (!text.trim()) continue; // an empty file is an empty config, as in client-go
      raw = parse(text);
      one = new KubeConfig();
      one.loadFromString(text);
      one.makePathsAbsolute(dirname(path));
    } catch (err) {
      throw new UserError(`${path}: cannot read kubeconfig: ${firstLine(err)}`, ExitCode.CAPTURE);
    }
    const rawUsers = new Map<string, any>((Array.isArray(raw?.users) ? raw.users : []).map((u: any) => [u?.name, u?.user ?? {}]));
    for (const c of one.getClusters()) {
      if (clusters.has(c.name)) continue;
      clusters.set(c.name, withEnvProxy(c, env));
      origins.clusters.set(c.name, path);
    }
    for (const u of one.getUsers()) {
      if (users.has(u.name)) continue;
      users.set(u.name, resolveUser(u, rawUsers.get(u.name) ?? {}, dirname(path)));
      origins.users.set(u.name, path);
    }
    for (const c of one.getContexts()) if (!contexts.has(c.name)) contexts.set(c.name, c);
    currentContext ||= one.getCurrentContext() ?? '';
  }
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [...clusters.values()], users: [...users.values()], contexts: [...contexts.values()], currentContext });
  kc.addAuthenticator(new TokenFileAuth());
  return { kc, origins };
}

/** A cluster without proxy-url gets the environment's proxy for its server, as client-go's transport does. */
function withEnvProxy(c: Cluster, env: Env): Cluster {
  if (c.proxyUrl) return c;
  const proxyUrl = proxyFromEnvironment(c.server, env);
  return proxyUrl ? { ...c, proxyUrl } : c;
}

/** tokenFile and a relative exec command, read and resolved relative to the file that defined the user. */
function resolveUser(u: User, raw: Record<string, any>, dir: string): User {
  let user: User = u;
  if (u.exec?.command && String(u.exec.command).includes(sep) && !isAbsolute(u.exec.command)) {
    user = { ...user, exec: { ...u.exec, command: join(dir, u.exec.command) } };
  }
  const tokenFile = typeof raw.tokenFile === 'string' && raw.tokenFile ? (isAbsolute(raw.tokenFile) ? raw.tokenFile : join(dir, raw.tokenFile)) : undefined;
  // An exec plugin or an auth provider authenticates instead (client-go gives them precedence too).
  if (!tokenFile || user.exec || user.authProvider) return user;
  const config: TokenFileConfig = { path: tokenFile, fallback: u.token || undefined };
  if (!config.fallback) {
    // kubectl fails at start when the file cannot be read and there is no token beside it.
    try {
      readTokenFile(tokenFile);
    } catch (err) {
      throw new UserError(`kubeconfig user "${u.name}": cannot read tokenFile: ${firstLine(err)}`, ExitCode.CAPTURE);
    }
  }
  return { ...user, token: undefined, authProvider: { name: TOKEN_FILE_PROVIDER, config } };
}

function firstLine(err: unknown): string {
  const m = (err as { message?: string })?.message ?? String(err);
  return m.split('\n')[0].trim();
}
