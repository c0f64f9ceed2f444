#!/usr/bin/env node
// Writes a man page per command (man/man1/shark-<command>.1) and shark.1 from
// oclif.manifest.json after the build, so `man shark-dissect` says what
// `shark dissect --help` says. package.json's "man" lists them: `npm link` and
// a global install put them where man finds them.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const manifest = JSON.parse(readFileSync('oclif.manifest.json', 'utf8'));
const bin = pkg.oclif?.bin ?? 'shark';
const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? 0) * 1000 || Date.now()).toISOString().slice(0, 10);

/** roff-safe text: backslashes, and lines that start with . or ' would be requests. */
function roff(text) {
  return String(text ?? '')
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

function page(id, c) {
  const name = `${bin}-${id}`;
  const summary = (c.summary ?? c.description ?? '').split('\n')[0];
  const out = [`.TH ${name.toUpperCase()} 1 "${date}" "${bin} ${pkg.version}" "${bin} manual"`, '.SH NAME', `${roff(name)} \\- ${roff(summary)}`, '.SH SYNOPSIS'];
  const args = Object.keys(c.args ?? {}).map((a) => `[${a.toUpperCase()}${c.strict === false ? '...' : ''}]`);
  out.push(`.B ${bin} ${id}`, roff(['[FLAGS]', ...args].join(' ')));
  if (c.description) out.push('.SH DESCRIPTION', roff(c.description).replace(/\n\n/g, '\n.PP\n'));
  const flags = Object.values(c.flags ?? {}).filter((f) => !f.hidden);
  if (flags.length > 0) {
    out.push('.SH OPTIONS');
    for (const f of flags.sort((a, b) => a.name.localeCompare(b.name))) {
      const value = f.type === 'option' ? (f.options ? `=${f.options.join('|')}` : '=VALUE') : '';
      out.push('.TP', `.B ${f.char ? `\\-${f.char}, ` : ''}\\-\\-${roff(f.name)}${roff(value)}`, roff(f.description ?? '') + (f.default !== undefined && f.type === 'option' ? ` (default: ${roff(String(f.default))})` : ''));
    }
  }
  const examples = (c.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command)).map((e) => e.replace(/<%= config.bin %>/g, bin));
  if (examples.length > 0) {
    out.push('.SH EXAMPLES');
    for (const e of examples) out.push('.PP', '.nf', roff(e), '.fi');
  }
  out.push('.SH SEE ALSO', `.BR ${bin} (1)`);
  return out.join('\n') + '\n';
}

rmSync('man', { recursive: true, force: true });
mkdirSync('man/man1', { recursive: true });
const ids = Object.keys(manifest.commands).sort();
for (const id of ids) writeFileSync(`man/man1/${bin}-${id}.1`, page(id, manifest.commands[id]));
const top = [
  `.TH ${bin.toUpperCase()} 1 "${date}" "${bin} ${pkg.version}" "${bin} manual"`,
  '.SH NAME',
  `${bin} \\- ${roff(pkg.description)}`,
  '.SH SYNOPSIS',
  `.B ${bin}`,
  'COMMAND [FLAGS] [ARGS]',
  '.SH COMMANDS',
  ...ids.flatMap((id) => ['.TP', `.B ${id}`, roff((manifest.commands[id].summary ?? manifest.commands[id].description ?? '').split('\n')[0])]),
  '.SH SEE ALSO',
  ids.map((id) => `.BR ${bin}-${id} (1)`).join(',\n'),
];
writeFileSync(`man/man1/${bin}.1`, top.join('\n') + '\n');
const expected = ['shark.1', ...ids.map((id) => `${bin}-${id}.1`)].map((f) => `./man/man1/${f}`);
const listed = [pkg.man ?? []].flat();
if (expected.some((f) => !listed.includes(f))) console.warn(`man-pages: package.json "man" should list: ${JSON.stringify(expected)}`);
console.log(`man/man1: ${ids.length + 1} pages`);
