// One flat config for the whole repository (design B8): typescript-eslint type-checked rules plus the
// house rules of the system boundary (B5) encoded as lint rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import nodePlugin from 'eslint-plugin-n';
import globals from 'globals';

const boundaryImports = {
  paths: [
    { name: 'execa', message: 'Run processes through System.proc (design B5).' },
    { name: 'chokidar', message: 'Watch files through the Watcher interface (design B5).' },
    {
      name: '@kubernetes/client-node',
      message: 'Use the KubeApi interface (design B5).',
      allowTypeImports: true,
    },
  ],
  patterns: [
    { group: ['node:fs', 'node:fs/*', 'fs', 'fs/*'], message: 'Use System.fs (design B5).' },
    { group: ['node:child_process', 'child_process'], message: 'Use System.proc (design B5).' },
    {
      group: ['node:http', 'http', 'node:https', 'https', 'node:http2', 'http2', 'undici'],
      message: 'Use System.http (design B5): deadlines, bounded bodies, pinned trust.',
    },
    {
      group: ['node:net', 'net', 'node:tls', 'tls', 'node:dgram', 'dgram'],
      message: 'Use System.http or findFreePort from @podsec/core/system (design B5).',
      allowTypeImports: true,
    },
  ],
};

// global fetch has no size bound and no pinned trust
const noFetch = {
  globals: [{ name: 'fetch', message: 'Use System.http (design B5).' }],
  properties: [
    { object: 'globalThis', property: 'fetch', message: 'Use System.http (design B5).' },
    { object: 'window', property: 'fetch', message: 'Use System.http (design B5).' },
  ],
};

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/bundle/**',
      '**/node_modules/**',
      '**/.turbo/**',
      'tools/rpm/build/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { n: nodePlugin },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']",
          message: 'Return an exit code; only runCli ends the process.',
        },
        { selector: 'TSEnumDeclaration', message: 'Use an `as const` object and a union type.' },
      ],
    },
  },
  {
    // library code: no direct host access, no console
    files: ['packages/*/src/**/*.ts'],
    // the system boundary itself; product packages have no exemption
    ignores: [
      'packages/core/src/system/**',
      'packages/*/src/**/*.test.ts',
      'packages/*/src/**/test-helpers/**',
    ],
    rules: {
      'no-restricted-imports': ['error', boundaryImports],
      'no-restricted-globals': ['error', ...noFetch.globals],
      'no-restricted-properties': ['error', ...noFetch.properties],
      'no-console': 'error',
    },
  },
  {
    files: ['packages/*/src/cli/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // tests, tools and plain JS: relaxed type-aware rules
    files: [
      '**/*.test.ts',
      'test/**/*.ts',
      'tools/**',
      '**/*.js',
      '**/*.mjs',
      '**/test-helpers/**',
    ],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // plain JS (bin shims, tools) is outside the TypeScript project: syntax rules only
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: globals.node,
    },
  },
);
