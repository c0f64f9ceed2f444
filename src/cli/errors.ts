// User errors carry an exit code and a one-line message (no stack);
// anything else that escapes a command is a bug and is reported as such.

/** Exit codes documented in the README ("Exit codes"). */
export const ExitCode = {
  OK: 0,
  /** A check failed (stats --check), or nothing matched where that is an error. */
  CHECK_FAILED: 1,
  /** Bad usage: flags, filter expression, rules file. */
  USAGE: 2,
  /** Bad input data: truncated/corrupt capture, bad NDJSON line with --strict. */
  BAD_INPUT: 3,
  /** Capture or cluster failure: interface, permission, API server gone. */
  CAPTURE: 4,
  /** Another run holds the lock (record). */
  LOCKED: 5,
  /** Output could not be written (disk full, permission). */
  OUTPUT: 6,
  /** A bug: an unexpected exception. */
  BUG: 70,
  /** Second Ctrl-C: stopped without finishing. */
  INTERRUPTED: 130,
} as const;

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.USAGE,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** A capture/entry stream that is damaged at a known place. */
export class InputError extends UserError {
  constructor(
    readonly source: string,
    readonly where: string,
    readonly problem: string,
  ) {
    super(`${source}: ${problem} ${where}`.trim(), ExitCode.BAD_INPUT);
    this.name = 'InputError';
  }
}

export function isEpipe(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === 'EPIPE';
}

/** A file-system error code in words, for one-line messages ("read-only file system"). */
export function errnoText(code: string | undefined): string {
  const words: Record<string, string> = {
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    ENOENT: 'no such file or folder',
    ENOTDIR: 'a part of the path is not a folder',
    EEXIST: 'exists and is not a folder',
    EISDIR: 'is a directory',
    EROFS: 'read-only file system',
    ENAMETOOLONG: 'name too long',
    EIO: 'input/output error',
    EFBIG: 'file too large',
    EMFILE: 'too many open files',
    ENFILE: 'too many open files in the system',
  };
  return (code && words[code]) ?? code ?? 'unknown error';
}
