// JUnit XML for `stats --check --junit FILE`: one testsuite, one testcase per
// rule, a <failure> for each failed rule. The shape follows what Jenkins,
// GitLab and GitHub test reporters read (testsuites/testsuite/testcase).

import type { RuleResult } from './check.js';
import { xmlAttr as attr, xmlText as text } from '../output/xml-text.js';

export function junitXml(results: RuleResult[], suiteName: string, rulesFile: string): string {
  const failures = results.filter((r) => !r.passed).length;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${attr(suiteName)}" tests="${results.length}" failures="${failures}" errors="0">`,
    `  <testsuite name="${attr(suiteName)}" tests="${results.length}" failures="${failures}" errors="0" skipped="0" file="${attr(rulesFile)}">`,
  ];
  for (const r of results) {
    const open = `    <testcase name="${attr(r.name)}" classname="shark.stats.${attr(r.type)}" file="${attr(rulesFile)}" line="${r.line}"`;
    if (r.passed) {
      lines.push(`${open}>`, `      <system-out>${text(r.detail)}</system-out>`, '    </testcase>');
    } else {
      lines.push(
        `${open}>`,
        `      <failure message="${attr(r.detail)}" type="${attr(r.type)}">${text(`${r.detail}\nscope: ${r.scope}\nrule at ${rulesFile}:${r.line}`)}</failure>`,
        '    </testcase>',
      );
    }
  }
  lines.push('  </testsuite>', '</testsuites>');
  return lines.join('\n') + '\n';
}
