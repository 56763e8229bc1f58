import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, bottom first (DEVELOPERS.md, Architecture): a file may import only from its
 * own layer and those before it; src/index.ts, the package entry, sits on top of them all.
 * test/layers.test.ts checks the same order on the resolved import graph, and that it has no cycle.
 */
export const LAYERS = [
  'errors.ts',
  'log.ts',
  'ports.ts',
  'bytes.ts',
  'etf',
  'epmd',
  'docker',
  'distribution',
  'daemon',
  'cli',
];

const escape = (name) => name.replace(/[.]/g, '\\.');

/** A `no-restricted-imports` block that keeps one layer's files from importing any layer above it. */
function layerRule(layer, index) {
  const above = LAYERS.slice(index + 1);
  const folders = above.filter((l) => !l.endsWith('.ts'));
  const files = [...above.filter((l) => l.endsWith('.ts')), 'index.ts'].map(escape);
  const targets = [
    ...(folders.length > 0 ? [`(?:${folders.join('|')})(?:/|$)`] : []),
    `(?:${files.join('|')})$`,
  ];
  const below = [...LAYERS.slice(0, index), ...(layer.endsWith('.ts') ? [] : ['its own folder'])];
  const allowed = below.length === 0 ? 'nothing in src/' : `only from ${below.join(', ')}`;
  // From src/ itself the layers are ./name; from a layer's folder, ../name.
  const toSrc = layer.endsWith('.ts') ? '\\./' : '(?:\\.\\./)+';
  return {
    files: [layer.endsWith('.ts') ? `src/${layer}` : `src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^${toSrc}(?:${targets.join('|')})`,
              message: `${layer} may import ${allowed} (DEVELOPERS.md, Architecture).`,
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'test/vectors/', '.hosts/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...LAYERS.map(layerRule),
);
