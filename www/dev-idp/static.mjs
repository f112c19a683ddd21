// Tiny static file server for the demo and the browser tests (loopback only).
//
//   const s = await startStatic({ port: 0 });   // -> { origin, port, server, close() }
//
// Default mapping (repo = two levels above this file):
//   /pkg/*  -> <repo>/pkg            (wasm-pack output)
//   /e2e/*  -> <repo>/tests/e2e/pages
//   /*      -> <repo>/www            (index.html for directories)
// /dev-idp/* is never served (that folder holds the double and its test keys).
import { createServer } from 'node:http';
import { stat, readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '..', '..');

export const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

function defaultRoutes() {
  return {
    '/pkg/': join(REPO_ROOT, 'pkg'),
    '/e2e/': join(REPO_ROOT, 'tests', 'e2e', 'pages'),
  };
}

/**
 * @param {object} [opts]
 * @param {string} [opts.host='127.0.0.1']
 * @param {number} [opts.port=0] 0 = ephemeral
 * @param {string} [opts.root=<repo>/www] directory for everything not matched by routes
 * @param {Record<string,string>} [opts.routes] URL prefix (ending in '/') -> directory
 * @param {string[]} [opts.deny=['/dev-idp/']] URL prefixes answered with 404
 * @param {Record<string,string>} [opts.headers] extra headers on every response (e.g. COOP/COEP)
 * @returns {Promise<{origin: string, port: number, server: import('node:http').Server, close(): Promise<void>}>}
 */
export async function startStatic({
  host = '127.0.0.1',
  port = 0,
  root = join(REPO_ROOT, 'www'),
  routes = defaultRoutes(),
  deny = ['/dev-idp/'],
  headers = {},
} = {}) {
  if (!(host === 'localhost' || host === '::1' || host.startsWith('127.'))) {
    throw new TypeError(`startStatic: host must be a loopback address, got ${host}`);
  }
  // Longest prefix first.
  const table = Object.entries(routes)
    .map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : `${prefix}/`, resolve(dir)])
    .sort((a, b) => b[0].length - a[0].length);
  const rootDir = resolve(root);

  function resolvePath(pathname) {
    for (const [prefix, dir] of table) {
      if (pathname === prefix.slice(0, -1) || pathname.startsWith(prefix)) {
        return [dir, pathname.slice(prefix.length)];
      }
    }
    return [rootDir, pathname.slice(1)];
  }

  function send(res, status, body, type = 'text/plain; charset=utf-8', extra = {}) {
    res.writeHead(status, {
      'Content-Type': type,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...headers,
      ...extra,
    });
    res.end(body);
  }

  const server = createServer(async (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(res, 405, 'method not allowed\n', undefined, { Allow: 'GET, HEAD' });
      }
      const url = new URL(req.url, 'http://static.invalid');
      let pathname;
      try {
        pathname = decodeURIComponent(url.pathname);
      } catch {
        return send(res, 400, 'bad path\n');
      }
      if (pathname.includes('\0') || pathname.includes('\\')) return send(res, 400, 'bad path\n');
      if (deny.some((p) => pathname === p.replace(/\/$/, '') || pathname.startsWith(p))) {
        return send(res, 404, 'not found\n');
      }
      const [dir, rel] = resolvePath(pathname);
      let file = resolve(dir, `.${sep}${rel}`);
      // No directory traversal: the resolved file must stay inside its directory.
      if (file !== dir && !file.startsWith(dir + sep)) return send(res, 403, 'forbidden\n');
      let st = await stat(file).catch(() => undefined);
      if (st?.isDirectory()) {
        if (!url.pathname.endsWith('/')) {
          return send(res, 301, '', undefined, { Location: `${url.pathname}/${url.search}` });
        }
        file = join(file, 'index.html');
        st = await stat(file).catch(() => undefined);
      }
      if (!st?.isFile()) return send(res, 404, 'not found\n');
      const type = MIME[extname(file).toLowerCase()] ?? 'application/octet-stream';
      const body = req.method === 'HEAD' ? undefined : await readFile(file);
      return send(res, 200, body, type, { 'Content-Length': String(st.size) });
    } catch (err) {
      return send(res, 500, `internal error: ${err?.message}\n`);
    }
  });

  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => { server.off('error', fail); ok(); });
  });
  const actualPort = server.address().port;
  return {
    origin: `http://${host}:${actualPort}`,
    port: actualPort,
    server,
    close: () => new Promise((ok) => {
      server.close(() => ok());
      server.closeAllConnections?.();
    }),
  };
}
