// ESLint (flat config): typescript-eslint's type-aware rules over src/.
// `any` and the unsafe-* family are errors; the one place allowed to hold
// `any` is a boundary file that says so at its top (eslint-disable with a reason).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'native/**', 'kiln-data/**', '**/testdata/**'] },
  {
    files: ['src/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unsafe-assignment': 'error',
      '@typescript-eslint/no-unsafe-member-access': 'error',
      '@typescript-eslint/no-unsafe-call': 'error',
      '@typescript-eslint/no-unsafe-return': 'error',
      '@typescript-eslint/no-unsafe-argument': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // An async function without await is a deliberate interface shape (a service method that may do I/O later).
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // A transaction is opened only by a store (src/store/transaction.ts, a domain's sql-*.ts); a service that needs
    // one takes it from its store (`inTransaction`) or from its caller (`tx`), so units of work stay composable.
    files: ['src/**/*.ts'],
    ignores: ['src/store/**', 'src/**/sql-*.ts', 'src/**/*.test.ts', 'src/**/*.conformance.ts', 'src/**/*.scenario.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='transaction'][arguments.length=0]",
          message: "Open transactions in a store (sql-*.ts or src/store/transaction.ts's withTransaction), not here.",
        },
      ],
    },
  },
  {
    // Tests read JSON replies of real peers and drive node:test, whose test()/describe() promises the runner awaits.
    // `any` stays an error here too; the unsafe-* family (reading an unknown reply) does not.
    files: ['src/**/*.test.ts', 'src/**/*.conformance.ts', 'src/**/*.scenario.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
      // Tests build hostile names (control characters) and print whatever a peer answered.
      'no-control-regex': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
);
