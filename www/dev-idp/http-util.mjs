// Small shared helpers of the HelseID test double (double.mjs and its parts): hashing and time,
// HTML escaping and the page frame, loopback checks, request bodies, listening and closing.
import { createHash } from 'node:crypto';

/** An HTTP error of the demo backend: answered as `status` with { error, error_description }. */
export class ApiError extends Error {
  constructor(status, error, description) {
    super(description);
    this.status = status;
    this.error = error;
  }
}

export const sha256hex = (s) => createHash('sha256').update(s).digest('hex');
export const sha256b64u = (s) => createHash('sha256').update(s).digest('base64url');
export const epoch = () => Math.floor(Date.now() / 1000);

export function htmlEscape(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

export function isLoopback(addr) {
  return addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1' || addr?.startsWith('127.');
}

export async function readRaw(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('request body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson(req) {
  const raw = await readRaw(req);
  if (!raw.trim()) return {};
  try {
    return JSON.parse(raw);
  } catch {
    throw Object.assign(new Error('body must be JSON'), { status: 400 });
  }
}

export function listen(server, port, host) {
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => { server.off('error', fail); ok(server.address().port); });
  });
}

export function closeServer(server) {
  return new Promise((ok) => {
    server.close(() => ok());
    server.closeAllConnections?.();
  });
}

const DOUBLE_BANNER = 'HelseID <strong>test double</strong> on 127.0.0.1: synthetic test users only.';

/**
 * A page of the double. `banner` (HTML) says what serves it; `status`, when given, goes to
 * `<body data-status>` for tests to read.
 */
export function page(title, body, { lang = 'en', banner = DOUBLE_BANNER, status } = {}) {
  const statusAttr = status === undefined ? '' : ` data-status="${htmlEscape(status)}"`;
  return `<!DOCTYPE html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${htmlEscape(title)}</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 44rem; padding: 0 1rem; color: #1a1a1a; }
  .banner { background: #fff3cd; border: 1px solid #b58900; padding: .5rem 1rem; border-radius: 4px; }
  .error { background: #fdecea; border: 1px solid #990000; padding: .5rem 1rem; border-radius: 4px; }
  ul.users { list-style: none; padding: 0; }
  ul.users li { margin: .5rem 0; }
  button { font: inherit; padding: .6rem 1rem; border-radius: 4px; border: 1px solid #0b5394; background: #e8f0fe; cursor: pointer; width: 100%; text-align: left; }
  button:focus-visible { outline: 3px solid #0b5394; outline-offset: 2px; }
  button.deny { border-color: #990000; background: #fdecea; }
  dl { margin: .25rem 0 0; display: grid; grid-template-columns: max-content auto; gap: .25rem 1rem; }
  dt { font-weight: 600; }
  dd { margin: 0; }
</style>
</head>
<body${statusAttr}>
<main>
<p class="banner" role="note">${banner}</p>
${body}
</main>
</body>
</html>`;
}
