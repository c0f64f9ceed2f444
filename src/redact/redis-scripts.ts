// What the Redis scripts and functions a capture loaded take as secrets. An
// application loads its scripts once (`SCRIPT LOAD`, or EVAL the first time)
// and then calls them by SHA1 (`EVALSHA`), and a function library once
// (`FUNCTION LOAD`) and then calls its functions by name (`FCALL`): those
// calls carry the password as a bare ARGV, with no name beside it and no code
// in their entry. commands.ts reads the code when it passes; this remembers,
// by SHA1 and by function name, which ARGV numbers it hides, for the calls
// that follow on the same run. A capture that starts after the load has
// nothing to go by (docs/security.md, known gaps).

import { createHash } from 'node:crypto';
import type { KnownScripts } from './commands.js';

/** Scripts and functions remembered; an attacker can load any number, so past this the memory starts over. */
export const MAX_KNOWN = 4096;
/**
 * A longer key is no SHA1 (40 hex digits) and no function name Redis takes: not remembered (an
 * entry file's 4 MB "names" would have made the 4,096 kept hold gigabytes).
 */
const MAX_KEY = 256;

export class RedisScripts implements KnownScripts {
  private readonly bySha = new Map<string, ReadonlySet<number>>();
  private readonly byName = new Map<string, ReadonlySet<number>>();
  /** Times a table was full and started over. */
  private forgotten = 0;

  /**
   * `onForget(times)`: a table was full and forgot what it held (`times` so far), so calls of what it
   * held lose only the arguments after a sensitive name; told to the user, not done silently.
   */
  constructor(private readonly onForget: (times: number) => void = () => {}) {}

  learnScript(script: string, argv: ReadonlySet<number>, sha1?: string): void {
    if (argv.size > 0) this.remember(this.bySha, sha1?.toLowerCase() ?? createHash('sha1').update(script).digest('hex'), argv);
  }

  learnFunction(name: string, argv: ReadonlySet<number>): void {
    if (argv.size > 0) this.remember(this.byName, name, argv);
  }

  /** EVALSHA's first argument (Redis takes it in either case). */
  scriptArgv(sha1: string): ReadonlySet<number> | undefined {
    return this.bySha.get(sha1.toLowerCase());
  }

  functionArgv(name: string): ReadonlySet<number> | undefined {
    return this.byName.get(name);
  }

  private remember(map: Map<string, ReadonlySet<number>>, key: string, argv: ReadonlySet<number>): void {
    if (key.length > MAX_KEY) return;
    if (map.size >= MAX_KNOWN && !map.has(key)) {
      map.clear();
      this.onForget(++this.forgotten);
    }
    map.set(key, argv);
  }
}
