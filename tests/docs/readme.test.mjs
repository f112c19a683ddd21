// The README shows each HTTP-client recipe whole; the tested files are the source of its lines.
// A `<!-- recipe: PATH -->` comment names the file; the fenced block after it must equal it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const RECIPES = ['recipes/axios.js', 'recipes/angular.ts', 'tests/consumer/src/useHelseId.js'];

/** The README's fenced blocks after each recipe marker, by path. */
function snippets() {
  const found = new Map();
  for (const m of readme.matchAll(/<!-- recipe: (\S+) -->\n```\w*\n([\s\S]*?)\n```\n/g)) {
    assert.ok(!found.has(m[1]), `${m[1]} is shown once`);
    found.set(m[1], m[2]);
  }
  return found;
}

test('every recipe file is in the README, and only those', () => {
  assert.deepEqual([...snippets().keys()].sort(), [...RECIPES].sort());
});

for (const path of RECIPES) {
  test(`the README's ${path} is the file, line for line, in under 25 lines`, () => {
    const file = readFileSync(new URL(path, root), 'utf8').replace(/\n$/, '');
    const shown = snippets().get(path);
    assert.equal(shown, file);
    assert.ok(file.split('\n').length < 25, `${path} has ${file.split('\n').length} lines`);
  });
}
