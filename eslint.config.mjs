// Lint that keeps workflows deterministic and promises awaited (see design/conventions.md §5–6).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

/** A no-restricted-imports rule for one layer: `banned` folders under src/ may not be imported (type-only imports of `typeOnly` are allowed). */
function layer(files, banned, message, typeOnly = []) {
  const folder = (name) => [`**/src/${name}`, `**/src/${name}/**`, `../${name}`, `../${name}/**`, `../../${name}`, `../../${name}/**`, `../../../${name}`, `../../../${name}/**`];
  return [
    {
      files: [files],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              { group: banned.flatMap(folder), message },
              ...(typeOnly.length ? [{ group: typeOnly.flatMap(folder), allowTypeImports: true, message: `${message} (type-only imports)` }] : []),
            ],
          },
        ],
      },
    },
  ];
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '**/cdktf.out/**', '.data/**', 'coverage/**', 'eslint.config.mjs', 'jest.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // Workflow code is replayed: no Node built-ins, no I/O, no SDK pieces that only run in activities/workers.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'workflow code must be deterministic: no Node built-ins (do I/O in an activity)' })),
          patterns: [
            { group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing'], message: 'workflows may import only @temporalio/workflow and @temporalio/common' },
            { group: ['@aws-sdk/*', 'express', 'pino', 'yaml', 'cdktf', 'undici', 'axios'], message: 'no I/O libraries in workflow code' },
            { group: ['**/activities/**', '**/executors/**', '**/store/**', '**/client/**'], allowTypeImports: true, message: 'import only types from activities/executors/stores into workflows' },
            { group: ['**/api/**', '**/worker/**'], message: 'workflows sit below the API and the worker: import contracts instead' },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'setTimeout', message: 'use sleep() from @temporalio/workflow' }, { name: 'setInterval', message: 'use sleep() in a loop' }, { name: 'fetch', message: 'do HTTP in an activity' }, { name: 'process', message: 'no process in workflow code' }],
    },
  },
  // Layers point one way (README, "Layers"): contracts at the bottom; workflows, activities, executors and
  // stores above them; the Temporal gateway above those; API and worker on top, neither importing the other.
  ...layer('src/contracts/**/*.ts', ['workflows', 'activities', 'executors', 'store', 'client', 'api', 'worker', 'shared'], 'contracts import only @temporalio/workflow, @temporalio/common and each other'),
  ...layer('src/shared/**/*.ts', ['workflows', 'activities', 'executors', 'store', 'client', 'api', 'worker'], 'shared sits below every layer but contracts'),
  ...layer('src/store/**/*.ts', ['workflows', 'activities', 'executors', 'client', 'api', 'worker'], 'stores sit below executors and activities'),
  ...layer('src/executors/**/*.ts', ['workflows', 'activities', 'client', 'api', 'worker'], 'executors sit below activities'),
  ...layer('src/activities/**/*.ts', ['workflows', 'client', 'api', 'worker'], 'activities never import workflows, the gateway, the API or the worker'),
  ...layer('src/client/**/*.ts', ['api', 'worker', 'activities', 'executors', 'store'], 'the gateway imports contracts, shared and workflow types only', ['workflows']),
  ...layer('src/api/**/*.ts', ['activities', 'executors', 'worker', 'workflows'], 'the API reaches Temporal through src/client and never imports activities, executors or the worker'),
  ...layer('src/worker/**/*.ts', ['api'], 'the worker never imports the API: shared pieces belong in src/client, src/shared or src/contracts'),
  ...layer('src/cli/**/*.ts', ['workflows', 'activities', 'executors', 'store', 'client', 'api', 'worker', 'shared'], 'the CLI speaks HTTP to the API only (contract types allowed)', ['contracts']),
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
