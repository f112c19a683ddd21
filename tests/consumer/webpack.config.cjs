// webpack 5 build of the same app (dist-webpack/): `new URL("helseid_wasm_bg.wasm",
// import.meta.url)` in the package's glue is an asset module out of the box; nothing else is set
// for helseid-wasm. html-webpack-plugin writes index.webpack.html as index.html with the bundle.
const path = require('node:path');
const HtmlWebpackPlugin = require('html-webpack-plugin');

module.exports = {
  mode: 'production',
  entry: './src/main.js',
  output: {
    path: path.resolve(__dirname, 'dist-webpack'),
    filename: '[name].[contenthash].js',
    assetModuleFilename: 'assets/[name].[contenthash][ext]',
    clean: true,
  },
  plugins: [new HtmlWebpackPlugin({ template: './index.webpack.html', scriptLoading: 'module' })],
};
