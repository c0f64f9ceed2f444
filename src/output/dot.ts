// Graphviz DOT for `shark map`. Node ids are generated (n0, n1 …) so that no
// name ever has to be an id; names only appear in labels, escaped for DOT's
// escString (backslash, quote, newline; & as &amp; because Graphviz decodes
// entities in every label); control characters from traffic are shown escaped.

import type { MapEdge, MapGraph, MapNode } from '../map/graph.js';
import { edgeColor, dotEdgeColor, protocolColor, penWidth, ERROR_MANY, ERROR_SOME, ERROR_MANY_PERCENT } from '../map/palette.js';
import { edgeLabelLines, type EdgeLabelOptions } from '../map/labels.js';
import { escapeForTerminal } from './formats/terminal-text.js';

/** A double-quoted DOT string whose text shows exactly `s` in a label (one line per item of an array). */
export function dotString(s: string | readonly string[]): string {
  const body = labelText(s)
    // Graphviz decodes HTML entities (&amp; …) even in plain labels.
    .replace(/&/g, '&amp;')
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n');
  return `"${body}"`;
}

/** Text inside an HTML-like label (<…>). */
export function dotHtml(s: string): string {
  return labelText(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A label's text: one line per item of `s`, and in each every character a
 * terminal could obey or that reorders the text or breaks the line (C0 and C1
 * controls, line breaks, bidi overrides, zero-width characters) shown as an
 * escape (`\x1b`, `\n`, `\u202e`), as every text format shows them: a map is
 * printed on terminals and read in SVG, where `\u202e` would turn `gnp.exe`
 * around. Line breaks are only the ones shark puts between lines: a path or
 * pod name with `\n` in it could otherwise forge a line of its own (a path
 * `GET /admin ×999` under an edge), and an ESC dropped silently showed a path
 * that was not the one called.
 */
export function labelText(s: string | readonly string[]): string {
  return (typeof s === 'string' ? [s] : s).map((line) => escapeForTerminal(line)).join('\n');
}

export function renderDot(g: MapGraph, labels: EdgeLabelOptions): string {
  const out: string[] = [
    'digraph shark {',
    // newrank: dot's classic ranking stops with "trouble in init_rank" on some maps with clusters (one of a damaged capture's ~300 endpoints).
    `  graph [rankdir=LR, newrank=true, fontname="Helvetica", fontsize=11, compound=true, nodesep=0.4, ranksep=0.9, label=${dotString(`shark map · level: ${g.level}`)}, labelloc=t];`,
    '  node [shape=box, style="rounded,filled", fillcolor="#f7f7f7", color="#555555", fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9, arrowsize=0.7];',
  ];
  const groups = groupNodes(g.nodes);
  let clusterNo = 0;
  for (const [title, members] of groups) {
    if (title === null) {
      for (const n of members) out.push(`  ${nodeLine(n)}`);
      continue;
    }
    const external = members[0].external;
    out.push(`  subgraph cluster_${external ? 'external' : clusterNo++} {`);
    out.push(`    label=${dotString(external ? 'external' : `namespace ${title}`)};`);
    out.push(external ? '    style="dashed"; color="#999999";' : '    style="rounded,filled"; fillcolor="#eef3fb"; color="#9db3d6";');
    for (const n of members) out.push(`    ${nodeLine(n)}`);
    out.push('  }');
  }
  for (const e of g.edges) out.push(`  ${edgeLine(e, labels)}`);
  out.push(...legend(g));
  out.push('}');
  return out.join('\n') + '\n';
}

/** Namespaces (sorted), then loose nodes (title null), then external. Nodes arrive sorted that way. */
function groupNodes(nodes: MapNode[]): [string | null, MapNode[]][] {
  const groups: [string | null, MapNode[]][] = [];
  for (const n of nodes) {
    const title = n.external ? '\u0000external' : n.namespace || null;
    const last = groups[groups.length - 1];
    if (last && last[0] === title) last[1].push(n);
    else groups.push([title, [n]]);
  }
  return groups;
}

function nodeLine(n: MapNode): string {
  const attrs = [`label=${dotString(n.name)}`];
  if (n.external) attrs.push('fillcolor="#fff4e0"');
  else if (!n.namespace) attrs.push('fillcolor="#ffffff"');
  if (n.ips.length) attrs.push(`tooltip=${dotString(n.ips.join(', '))}`);
  return `${n.id} [${attrs.join(', ')}];`;
}

function edgeLine(e: MapEdge, labels: EdgeLabelOptions): string {
  const color = edgeColor(e.protocol, e.errorRate);
  const lines = edgeLabelLines(e, labels);
  const attrs = [`color="${dotEdgeColor(e.protocol, e.errorRate)}"`, `penwidth=${penWidth(e.requests)}`];
  if (lines.length) {
    attrs.push(`label=${dotString(lines)}`);
    attrs.push(`fontcolor="${e.errors > 0 ? color : '#333333'}"`);
  }
  attrs.push(`tooltip=${dotString(`${e.protocol}: ${e.requests} requests, ${e.errors} errors`)}`);
  return `${e.source} -> ${e.target} [${attrs.join(', ')}];`;
}

function legend(g: MapGraph): string[] {
  const protocols = [...new Set(g.edges.map((e) => e.protocol))].sort();
  if (protocols.length === 0) return [];
  const rows = protocols.map(
    (p) => `<TR><TD ALIGN="LEFT"><FONT COLOR="${protocolColor(p)}"><B>━━ ${dotHtml(p.toUpperCase())}</B></FONT></TD></TR>`,
  );
  rows.push(`<TR><TD ALIGN="LEFT"><FONT COLOR="${ERROR_SOME}"><B>━━ errors &gt; 0% (edge end)</B></FONT></TD></TR>`);
  rows.push(`<TR><TD ALIGN="LEFT"><FONT COLOR="${ERROR_MANY}"><B>━━ errors ≥ ${ERROR_MANY_PERCENT}% (edge end)</B></FONT></TD></TR>`);
  rows.push('<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="8">width: log(requests)</FONT></TD></TR>');
  return [
    '  subgraph cluster_legend {',
    '    label="legend"; style="dashed"; color="#bbbbbb"; fontsize=9;',
    `    legend [shape=plaintext, style="", label=<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="2">${rows.join('')}</TABLE>>];`,
    '  }',
  ];
}
