// Lint of src/ and test/ (issue 12, Typography): TypeScript's recommended rules, and long functions
// flagged (a warning, not an error: the count is a to-do list, printed by npm test).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config({ ignores: ['dist/**', 'node_modules/**'] }, js.configs.recommended, ...tseslint.configs.recommended, {
  files: ['**/*.ts'],
  rules: {
    'max-lines-per-function': ['warn', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }],
    // nfgit's own formats use control characters: NUL-separated records, \x1e markers, \x1f separators.
    'no-control-regex': 'off',
    // `_name` marks what is deliberately unused (an argument a callback must take, a field left out).
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
  },
});
