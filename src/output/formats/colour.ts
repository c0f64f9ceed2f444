// Colour for the human formats: on only where a person looks (a terminal),
// off for `NO_COLOR` (https://no-color.org) and when asked, as `ls --color`,
// `grep --color` and `hubble observe --color` do.

export type ColourMode = 'auto' | 'always' | 'never';

export interface Styles {
  enabled: boolean;
  dim(s: string): string;
  bold(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  cyan(s: string): string;
  magenta(s: string): string;
}

/**
 * `--color` first; then `FORCE_COLOR` as Node, chalk and npm read it (CI logs
 * and `| less -R` set it to keep colour in a pipe): `0` or `false` turns
 * colour off, any other value (also empty) on, and it wins over `NO_COLOR`,
 * as in Node's own tty.getColorDepth; then `NO_COLOR`, `TERM=dumb`, the terminal.
 */
export function useColour(mode: ColourMode, isTerminal: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (mode === 'always') return true;
  if (mode === 'never') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return isTerminal;
}

const sgr = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const plain = (s: string) => s;

export function styles(enabled: boolean): Styles {
  if (!enabled) return { enabled, dim: plain, bold: plain, red: plain, yellow: plain, green: plain, cyan: plain, magenta: plain };
  return {
    enabled,
    dim: sgr(2, 22),
    bold: sgr(1, 22),
    red: sgr(31, 39),
    yellow: sgr(33, 39),
    green: sgr(32, 39),
    cyan: sgr(36, 39),
    magenta: sgr(35, 39),
  };
}
