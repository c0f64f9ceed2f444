// KFL2's query_string is Kubeshark's map where the expression asks for one (an index, a field, `in`,
// map_get, a macro, has) and shark's text elsewhere (`.contains()`, `==`), so both kinds of filter work.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter } from '../../src/filter/index.js';

const lines = [
  // A dissected entry: the decoded parameters in request.query, a repeated one as a list.
  '{"id":"1","protocol":"http","request":{"method":"GET","path":"/a","url":"/a?id=7&x=1&x=2&constructor=c","query":{"id":"7","x":["1","2"],"constructor":"c"}},"response":{"status":200}}',
  // An entry from elsewhere with only the URL: split and percent-decoded, the fragment left out.
  '{"id":"2","protocol":"http2","request":{"method":"GET","path":"/b?name=J%C3%B6rg+B&id=8&bad=%zz&id=9#f=1","url":"/b?name=J%C3%B6rg+B&id=8&bad=%zz&id=9#f=1"},"response":{"status":200}}',
  '{"id":"3","protocol":"http","request":{"method":"GET","path":"/c","url":"/c","query":{}},"response":{"status":500}}',
  '{"id":"4","protocol":"redis","request":{"command":"GET","key":"k","query":{"id":"7"}},"response":{"type":"bulk"}}',
];

const cases: Array<[string, string[]]> = [
  ['query_string["id"] == "7"', ['1']],
  ['query_string.id == "8"', ['2']],
  ['"id" in query_string', ['1', '2']],
  ['"x=1" in query_string', []],
  ['map_get(query_string, "x", "none") == "1"', ['1']],
  ['map_get(query_string, "x", "none") == "none"', ['2', '3', '4']],
  ['query_string["name"] == "Jörg B" && query_string.bad == "%zz"', ['2']],
  ['has(query_string.constructor)', ['1']],
  ['query_string.exists(k, k == "f")', []],
  ['query_string.all(k, k != "id")', ['3', '4']],
  // The text, as before: methods and comparisons.
  ['query_string.contains("id=7")', ['1']],
  ['query_string.startsWith("name=")', ['2']],
  ['query_string == ""', ['3', '4']],
  ['size(query_string) > 0', ['1', '2']],
  // A loop variable named query_string is the loop variable.
  ['["a"].exists(query_string, query_string == "a") && redis', ['4']],
];

test('query_string is a map when indexed and text otherwise; the projected line answers as the parsed one', () => {
  for (const [q, want] of cases) {
    const f = compileFilter(q, { dialect: 'kfl2' });
    const parsed = lines.filter((l) => f.predicate(JSON.parse(l))).map((l) => JSON.parse(l).id);
    assert.deepEqual(parsed, want, q);
    if (f.project) {
      const projected = lines.filter((l) => {
        const p = f.project!(l);
        return f.predicate(p ?? JSON.parse(l));
      });
      assert.deepEqual(projected.map((l) => JSON.parse(l).id), want, `${q} (projected)`);
    }
  }
});
