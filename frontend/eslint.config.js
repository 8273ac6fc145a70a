// ESLint (flat config) for the dashboard, its unit tests and its browser tests: the recommended
// rules of ESLint, typescript-eslint and eslint-plugin-vue. `npm run lint` (warnings fail it too);
// `make lint` runs it with `vue-tsc --noEmit`. Layout is not checked here: eslint-plugin-vue's
// rules of type "layout" (line breaks, attributes per line, self-closing tags) are off; every rule
// about meaning stays.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import pluginVue from 'eslint-plugin-vue';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const vueLayoutOff = Object.fromEntries(
  Object.entries(pluginVue.rules)
    .filter(([, rule]) => rule.meta?.type === 'layout')
    .map(([name]) => [`vue/${name}`, 'off']),
);

export default defineConfig(
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  pluginVue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      ...vueLayoutOff,
      // A parameter named `_x` is unused on purpose (as TypeScript's noUnusedParameters reads
      // it): a test's mock declares `(_url, _init)` so its recorded calls are typed.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
);
