// Bundled (esbuild) by recipes.test.mjs and served at /recipes/axios-app.js: the axios recipe as
// an app imports it.
export { helseIdAxios } from '../../../recipes/axios.js';
