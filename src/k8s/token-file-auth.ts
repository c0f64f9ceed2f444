// A kubeconfig user's `tokenFile`: a bearer token read from a file that
// something else keeps fresh (a projected service-account token, a CI
// runner's short-lived credential). @kubernetes/client-node does not read
// the field, so a user defined by it got HTTP 401 where kubectl works.
// As client-go does: the file is read at start (unreadable and no `token`
// beside it is an error then), re-read at most once a minute, its content
// trimmed; a later read that fails keeps the last good token (or `token`).

import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import type { User } from '@kubernetes/client-node';
import type { ClientOptions } from 'ws';

/** The auth-provider name kubeconfig-files.ts gives a user with a tokenFile (no built-in authenticator claims it). */
export const TOKEN_FILE_PROVIDER = 'shark-token-file';

/** client-go's cachingTokenSource period for file tokens. */
const REREAD_MS = 60_000;

export interface TokenFileConfig {
  path: string;
  /** The user's `token`, used while the file cannot be read (client-go: the file's content wins when it can). */
  fallback?: string;
}

export class TokenFileAuth {
  private readonly cache = new Map<string, { token: string; readAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  isAuthProvider(user: User): boolean {
    return user?.authProvider?.name === TOKEN_FILE_PROVIDER;
  }

  async applyAuthentication(user: User, opts: RequestOptions | ClientOptions): Promise<void> {
    const token = this.token(user.authProvider.config as TokenFileConfig);
    // client-node sets headers to an object before asking an authenticator.
    opts.headers = { ...(opts.headers as Record<string, string>), Authorization: `Bearer ${token}` };
  }

  /** The token to send now: the file's (re-read once a minute), else the last good one, else `token`. */
  token(cfg: TokenFileConfig): string {
    const cached = this.cache.get(cfg.path);
    if (cached && this.now() - cached.readAt < REREAD_MS) return cached.token;
    try {
      const token = readTokenFile(cfg.path);
      this.cache.set(cfg.path, { token, readAt: this.now() });
      return token;
    } catch (err) {
      if (cached) return cached.token;
      if (cfg.fallback) return cfg.fallback;
      throw err;
    }
  }
}

/** The file's token, trimmed; an empty file is an error (client-go: "read empty token from file"). */
export function readTokenFile(path: string): string {
  const token = readFileSync(path, 'utf8').trim();
  if (!token) throw new Error(`tokenFile ${path} is empty`);
  return token;
}
