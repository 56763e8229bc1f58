/**
 * The layer rule on the real import graph of src/: no file imports a layer above its own, and no
 * files import each other in a cycle. eslint.config.js holds the one layer order (its
 * no-restricted-imports rule gives the same verdict in the editor); DEVELOPERS.md must state it too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const SRC = path.join(ROOT, 'src');

/** Import graph: file (relative to src/, with `/`) → the src files it imports. */
type Graph = Map<string, string[]>;

/** Every relative module specifier in `text`: import/export ... from, side-effect and dynamic imports. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const forms = [
    /^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const form of forms) for (const m of text.matchAll(form)) if (m[1]!.startsWith('.')) found.push(m[1]!);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

function srcGraph(): Graph {
  const graph: Graph = new Map();
  for (const file of sourceFiles(SRC)) {
    const from = path.relative(SRC, file).split(path.sep).join('/');
    const targets = specifiers(readFileSync(file, 'utf8')).map((s) =>
      path
        .relative(SRC, path.resolve(path.dirname(file), s))
        .split(path.sep)
        .join('/'),
    );
    graph.set(from, targets);
  }
  return graph;
}

/**
 * The layer of a src file as an index into `layers` (a top-level file by name, anything in a
 * folder by the folder's name); `layers.length` for the package entry index.ts, which may import
 * anything; undefined for a file no layer holds.
 */
function rank(file: string, layers: readonly string[]): number | undefined {
  if (file === 'index.ts') return layers.length;
  const at = layers.indexOf(file.includes('/') ? file.slice(0, file.indexOf('/')) : file);
  return at === -1 ? undefined : at;
}

/** Every way `graph` breaks the layer rule, one line each. */
function layerViolations(graph: Graph, layers: readonly string[]): string[] {
  const problems: string[] = [];
  for (const [from, targets] of graph) {
    const own = rank(from, layers);
    if (own === undefined) {
      problems.push(`${from} is in no layer`);
      continue;
    }
    for (const to of targets) {
      const theirs = rank(to, layers);
      if (theirs === undefined) problems.push(`${from} imports ${to}, which is in no layer`);
      else if (theirs > own) problems.push(`${from} imports ${to} from a layer above its own`);
    }
  }
  return problems;
}

/** The import cycles of `graph`, each as the files around it (first file repeated at the end). */
function importCycles(graph: Graph): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      const seen = state.get(next);
      if (seen === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (seen === undefined) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

async function lintLayers(): Promise<string[]> {
  // Loaded by URL: the config is plain JavaScript with no type declarations.
  const config = (await import(new URL('../eslint.config.js', import.meta.url).href)) as { LAYERS: string[] };
  return config.LAYERS;
}

test('the checkers catch an upward import, a file outside the layers and a cycle (synthetic graph)', () => {
  const layers = ['errors.ts', 'etf', 'epmd'];
  const clean: Graph = new Map([
    ['errors.ts', []],
    ['etf/decode.ts', ['errors.ts', 'etf/terms.ts']],
    ['etf/terms.ts', []],
    ['epmd/client.ts', ['etf/decode.ts', 'errors.ts']],
    ['index.ts', ['epmd/client.ts', 'etf/terms.ts']],
  ]);
  assert.deepEqual(layerViolations(clean, layers), []);
  assert.deepEqual(importCycles(clean), []);

  const upward: Graph = new Map([...clean, ['etf/terms.ts', ['epmd/client.ts']]]);
  assert.deepEqual(layerViolations(upward, layers), [
    'etf/terms.ts imports epmd/client.ts from a layer above its own',
  ]);
  const toEntry: Graph = new Map([...clean, ['errors.ts', ['index.ts']]]);
  assert.deepEqual(layerViolations(toEntry, layers), [
    'errors.ts imports index.ts from a layer above its own',
  ]);
  const stray: Graph = new Map([...clean, ['util.ts', []], ['etf/terms.ts', ['util.ts']]]);
  assert.deepEqual(layerViolations(stray, layers), [
    'etf/terms.ts imports util.ts, which is in no layer',
    'util.ts is in no layer',
  ]);

  const cyclic: Graph = new Map([...clean, ['etf/terms.ts', ['etf/decode.ts']]]);
  assert.deepEqual(importCycles(cyclic), [['etf/decode.ts', 'etf/terms.ts', 'etf/decode.ts']]);
});

test('specifiers finds static, re-export, multi-line, type-only, side-effect and dynamic imports', () => {
  const text = [
    "import { a } from './a.ts';",
    "import {\n  b,\n  type C,\n} from '../b/c.ts';",
    "import type { D } from './d.ts';",
    "export { e } from './e.ts';",
    "export * from './f.ts';",
    "import './g.ts';",
    "const h = await import('./h.ts');",
    "import net from 'node:net';",
    "// 'from' in a comment: import nothing from './not.ts' here",
  ].join('\n');
  assert.deepEqual(specifiers(text).sort(), [
    '../b/c.ts',
    './a.ts',
    './d.ts',
    './e.ts',
    './f.ts',
    './g.ts',
    './h.ts',
  ]);
});

test('src/ imports only downward through the layers of eslint.config.js', async () => {
  const graph = srcGraph();
  assert.ok(graph.size > 40, `read ${graph.size} files`);
  assert.ok(graph.get('index.ts')!.length > 5, 'the entry re-exports the layers');
  assert.deepEqual(layerViolations(graph, await lintLayers()), []);
});

test('src/ has no import cycle', () => {
  assert.deepEqual(importCycles(srcGraph()), []);
});

test('DEVELOPERS.md states the same layer order as eslint.config.js', async () => {
  const text = readFileSync(path.join(ROOT, 'DEVELOPERS.md'), 'utf8');
  const architecture = text.slice(
    text.indexOf('## Architecture'),
    text.indexOf('\n## ', text.indexOf('## Architecture') + 1),
  );
  const listed = [...architecture.matchAll(/^\d+\. `([^`]+)`/gm)].map((m) => m[1]!.replace(/\/$/, ''));
  assert.deepEqual(listed, await lintLayers());
});
