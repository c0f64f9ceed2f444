// Runs the real Graphviz `dot` and reads back what it drew: nodes and edges
// from -Tplain, the exact text of every label from -Tsvg.
import { spawnSync } from 'node:child_process';

export interface PlainGraph {
  nodes: { name: string; label: string }[];
  edges: { tail: string; head: string; label: string }[];
}

export function dot(format: string, source: string): string {
  const r = spawnSync('dot', [`-T${format}`], { input: source, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`dot -T${format} failed (${r.status}): ${r.stderr}`);
  if (r.stderr.trim()) throw new Error(`dot -T${format} warned: ${r.stderr}`);
  return r.stdout;
}

/** Split one -Tplain line into fields (quoted fields may contain spaces and \\" escapes). */
function fields(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|<<.*>>|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push(m[1] !== undefined ? m[1] : m[0]);
  return out;
}

export function plain(source: string): PlainGraph {
  const g: PlainGraph = { nodes: [], edges: [] };
  for (const line of dot('plain', source).split('\n')) {
    const f = fields(line);
    if (f[0] === 'node') g.nodes.push({ name: f[1], label: f[6] });
    else if (f[0] === 'edge') {
      const n = Number(f[3]);
      g.edges.push({ tail: f[1], head: f[2], label: f[4 + 2 * n] ?? '' });
    }
  }
  return g;
}

/** Every <text> run in the SVG, XML entities decoded: what a person reads on the picture. */
export function svgTexts(source: string): string[] {
  const svg = dot('svg', source);
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1]
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&#45;/g, '-')
      .replace(/&#(\d+);/g, (_x, d) => String.fromCodePoint(Number(d)))
      .replace(/&amp;/g, '&'),
  );
}
