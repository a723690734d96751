// ESLint flat config: typescript-eslint, and the Next.js rules (core web vitals, React, React
// hooks, imports, accessibility) from eslint-config-next. Layout is Prettier's business.
import { defineConfig, globalIgnores } from 'eslint/config';
import nextVitals from 'eslint-config-next/core-web-vitals';
import nextTypeScript from 'eslint-config-next/typescript';
import tseslint from 'typescript-eslint';

export default defineConfig([
  ...nextVitals,
  ...nextTypeScript,
  ...tseslint.configs.recommended,
  globalIgnores([
    'node_modules/**',
    '.next/**',
    'next-env.d.ts',
    'test-results/**',
    'playwright-report/**',
    '.e2e/**',
    'bench/**/node_modules/**',
    'bench/**/.next/**',
  ]),
  {
    rules: {
      // House rules: no `any`, no `@ts-ignore`, no `enum`.
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/ban-ts-comment': ['error', { 'ts-ignore': true, 'ts-nocheck': true }],
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use a union of string literals, not an enum.' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      eqeqeq: ['error', 'always'],
      // Prettier wraps code at 100 but leaves long strings and comments alone: those are split
      // by hand, and stay split.
      'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }],
    },
  },
  {
    // The bundled provider stands in for a third party: it never imports the app's lib/.
    files: ['provider/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['../lib/*', '@/lib/*'], message: 'provider/ must not import lib/.' },
          ],
        },
      ],
    },
  },
]);
