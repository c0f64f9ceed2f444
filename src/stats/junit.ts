// JUnit XML for `stats --check --junit FILE`: one testsuite, one testcase per
// rule, a <failure> for each failed rule. The shape follows what Jenkins,
// GitLab and GitHub test reporters read (testsuites/testsuite/testcase).

import type { RuleResult } from './check.js';

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

/** XML 1.0 cannot carry most control characters at all, even escaped: drop them. */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '');
}

function text(s: string): string {
  return clean(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function attr(s: string): string {
  return text(s).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}
