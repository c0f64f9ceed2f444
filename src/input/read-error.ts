// A file-system error met while reading an input, as the one line every
// reader gives: a missing, forbidden or directory input is a usage error
// (exit 2, as checkInputs says it before reading); a read that fails part way
// (EIO from a failing disk or a special file such as /proc/self/mem) is input
// that could not be read whole (exit 3), named with the byte it stopped at,
// like damaged data. Neither is a bug.

import { ExitCode, InputError, UserError, errnoText } from '../cli/errors.js';

/** The one-line error for `err` met reading `name` after `offset` bytes; anything not a file-system error is returned as it is. */
export function inputReadError(err: unknown, name: string, offset: number): unknown {
  if (err instanceof UserError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  // Node's own errors (ERR_…, aborts) are not the file system's.
  if (typeof e?.code !== 'string' || typeof e.errno !== 'number') return err;
  // An open error carries the path; a read error (EISDIR) does not.
  const path = e.path ?? name;
  if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return new UserError(`${path}: no such file`, ExitCode.USAGE);
  if (e.code === 'EACCES' || e.code === 'EPERM') return new UserError(`${path}: permission denied`, ExitCode.USAGE);
  if (e.code === 'EISDIR') return new UserError(`${path}: is a directory`, ExitCode.USAGE);
  if (e.code === 'EPIPE') return err;
  return new InputError(name, `at byte ${offset}`, `read failed (${errnoText(e.code)})`);
}

/** `it`'s chunks; a read error becomes inputReadError's line, with the bytes read before it. */
export function namedReadErrors(it: AsyncIterator<Buffer>, name: string): AsyncIterator<Buffer> {
  let offset = 0;
  return {
    async next(): Promise<IteratorResult<Buffer>> {
      try {
        const r = await it.next();
        if (!r.done) offset += r.value.length;
        return r;
      } catch (err) {
        throw inputReadError(err, name, offset);
      }
    },
    return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined })),
  };
}
