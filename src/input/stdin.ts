// Whether stdin can be read as an input at all. A terminal, a directory
// (`shark stats < dir`) and a closed stdin (`shark dissect <&-`, a cron job
// or CI step that gave none) would otherwise read as no data: an empty table,
// exit 0, and a gate that passes on nothing. Each is one line, exit 2, as a
// missing file is.

import { fstatSync, readFileSync, statSync, type BigIntStats } from 'node:fs';
import type { Readable } from 'node:stream';
import { ExitCode, UserError } from '../cli/errors.js';

/** Throw the usage error for a stdin that cannot be an input; `stdin` other than process.stdin (tests) is only checked for a terminal. */
export function checkStdin(stdin: Readable = process.stdin): void {
  if ((stdin as { isTTY?: boolean }).isTTY) {
    throw new UserError('no input: give a file, or pipe a capture or entries into stdin', ExitCode.USAGE);
  }
  if (stdin !== process.stdin) return;
  const problem = stdinProblem();
  if (problem === 'closed') throw new UserError('<stdin>: closed: give a file, or pipe a capture or entries into stdin', ExitCode.USAGE);
  if (problem) throw new UserError(`<stdin>: ${problem}`, ExitCode.USAGE);
}

/** What is wrong with descriptor 0 as an input, if anything. */
export function stdinProblem(): 'closed' | 'is a directory' | undefined {
  let st: BigIntStats;
  try {
    // bigint: a plain stat of a pipe leaves its mode in the buffer fs.realpathSync reads next, and
    // modules loaded after it were not resolved through symlinks (nodejs/node#51142): with a linked
    // node_modules, `view` loaded a second React and failed on its first hook.
    st = fstatSync(0, { bigint: true });
  } catch {
    return 'closed';
  }
  if (st.isDirectory()) return 'is a directory';
  if (st.isCharacterDevice() && isNullOpenedByNode(st)) return 'closed';
  return undefined;
}

/**
 * Node opens /dev/null read-write in the place of a descriptor 0-2 that was
 * closed when it started, so a closed stdin reads as empty. A shell's
 * `< /dev/null` opens it read-only: that one is an empty input given on
 * purpose and is read as such. Linux says how the descriptor was opened
 * (/proc/self/fdinfo); elsewhere a closed stdin is not told apart.
 */
function isNullOpenedByNode(st: BigIntStats): boolean {
  try {
    if (st.rdev !== statSync('/dev/null', { bigint: true }).rdev) return false;
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/fdinfo/0', 'latin1'));
    // O_ACCMODE is the low two bits; O_RDWR is 2.
    return flags !== null && (parseInt(flags[1], 8) & 3) === 2;
  } catch {
    return false;
  }
}
