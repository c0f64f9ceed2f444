// Mermaid flowchart for `shark map --format mermaid` (renders in GitHub
// Markdown). Labels are quoted and use Mermaid's entity codes (#quot; …) for
// characters that would end the quote or be read as HTML.

import type { MapGraph } from '../map/graph.js';
import { edgeColor, penWidth } from '../map/palette.js';
import { edgeLabelLines, type EdgeLabelOptions } from '../map/labels.js';
import { labelText } from './dot.js';

export function mermaidText(s: string | readonly string[]): string {
  return (
    labelText(s)
      .replace(/#/g, '#35;')
      .replace(/&/g, '#amp;')
      .replace(/"/g, '#quot;')
      .replace(/</g, '#lt;')
      .replace(/>/g, '#gt;')
      .replace(/\|/g, '#124;')
      // A label quoted in backticks ("`…`") is a Markdown string to Mermaid: a Host header could make itself bold or a link.
      .replace(/`/g, '#96;')
      .replace(/\n/g, '<br/>')
  );
}

export function renderMermaid(g: MapGraph, labels: EdgeLabelOptions): string {
  const out = ['flowchart LR'];
  const byGroup = new Map<string, typeof g.nodes>();
  for (const n of g.nodes) {
    const key = n.external ? '\u0000external' : n.namespace;
    if (!byGroup.has(key)) byGroup.set(key, []);
    byGroup.get(key)!.push(n);
  }
  let c = 0;
  for (const [key, nodes] of byGroup) {
    const indent = key ? '    ' : '  ';
    if (key) out.push(`  subgraph c${c++}["${mermaidText(key === '\u0000external' ? 'external' : `namespace ${key}`)}"]`);
    for (const n of nodes) out.push(`${indent}${n.id}["${mermaidText(n.name)}"]`);
    if (key) out.push('  end');
  }
  g.edges.forEach((e) => {
    const lines = edgeLabelLines(e, labels);
    out.push(lines.length ? `  ${e.source} -->|"${mermaidText(lines)}"| ${e.target}` : `  ${e.source} --> ${e.target}`);
  });
  g.edges.forEach((e, i) => {
    out.push(`  linkStyle ${i} stroke:${edgeColor(e.protocol, e.errorRate)},stroke-width:${penWidth(e.requests)}px`);
  });
  return out.join('\n') + '\n';
}
