// The "Call an SFM-style API" panel: client.fetch (token + DPoP proof, one nonce retry inside
// the library), with the exchanges the page saw on its wire.
import { $, el, shorten, base64, PageError, claimsView } from '../dom.js';
import { state } from '../store.js';
import { wireMark, wireSince } from '../wire.js';
import { readForm } from './config.js';

/** The request for an endpoint of the select ("GET /api/whoami"): { method, url, init }. */
export async function apiRequest(endpoint) {
  const { apiBase } = readForm();
  if (!apiBase) throw new PageError('api_not_configured', 'No SFM-style API base URL is set.');
  const [method, path] = endpoint.split(' ');
  const init = { method };
  if (method === 'POST') {
    // SFM's Session/create wants {"nonce": base64(SHA-512(random))}.
    const digest = await crypto.subtle.digest('SHA-512', crypto.getRandomValues(new Uint8Array(32)));
    init.headers = { 'Content-Type': 'application/json' };
    init.body = JSON.stringify({ nonce: base64(digest) });
  }
  return { method, url: `${apiBase}${path}`, init };
}

/** One header as a line of the request or response view; tokens and proofs shortened. */
export function headerLine(name, value, meta = {}) {
  const lower = name.toLowerCase();
  let shown = value;
  let note = '';
  if (lower === 'authorization') {
    const [scheme, token = ''] = value.split(' ');
    shown = `${scheme} ${shorten(token, 16, 6)}`; // wire.js shortens on capture already
    note = `access token shortened, ${meta.tokenLength ?? token.length} chars`;
  } else if (lower === 'dpop') {
    shown = shorten(value, 16, 6);
    note = 'proof JWT shortened; decoded below';
  } else if (lower === 'dpop-nonce') {
    shown = shorten(value, 12, 4);
  }
  return [el('span', { class: 'k', text: `${name}: ` }), shown, note ? el('span', { class: 'c', text: `  // ${note}` }) : '', '\n'];
}

/** A DPoP proof decoded (header with the public key shortened, claims), or [] if it is not a JWT. */
export function proofView(proof) {
  try {
    const { header, claims } = state.lib.decodeJwt(proof);
    const jwk = header.jwk ? Object.fromEntries(Object.entries(header.jwk).map(([k, v]) => [k, typeof v === 'string' ? shorten(v, 8, 4) : v])) : undefined;
    return ['\n', el('span', { class: 'c', text: '// DPoP proof, decoded' }), '\n',
      el('span', { class: 'k', text: 'header: ' }), ...claimsView({ ...header, jwk }), '\n',
      el('span', { class: 'k', text: 'claims: ' }), ...claimsView(claims), '\n'];
  } catch {
    return [];
  }
}

/** A response body: JSON pretty-printed, anything else as it is. */
export function bodyView(text) {
  try {
    const json = JSON.parse(text);
    if (json && typeof json === 'object') return claimsView(json);
  } catch { /* not JSON */ }
  return [text];
}

async function callApi({ showError, clearError }) {
  clearError();
  const button = $('call-api');
  try {
    const { method, url, init } = await apiRequest($('api-endpoint').value);
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    const mark = wireMark();
    const t0 = performance.now();
    const response = await state.client.fetch(url, init);
    const ms = performance.now() - t0;
    const text = await response.text();
    const exchanges = wireSince(mark, (e) => e.url === url);
    renderApi({ method, url, init, response, text, exchanges, ms });
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

function renderApi({ method, url, init, response, text, exchanges, ms }) {
  $('api-result').hidden = false;
  const final = exchanges.at(-1);
  $('api-exchanges').replaceChildren(...exchanges.map((e, i) => {
    const challenge = e.status === 401 ? (e.responseHeaders?.find(([k]) => k === 'www-authenticate')?.[1] ?? '') : '';
    const nonceChallenge = /use_dpop_nonce/.test(challenge);
    return el('li', { class: e.status >= 200 && e.status < 300 ? 'ok' : nonceChallenge ? 'retry' : 'bad' },
      el('strong', { text: `${i + 1}. ${e.method} ${new URL(e.url).pathname}` }), ' → ',
      el('span', { class: 'status-pill', 'data-status': String(e.status ?? 'error'), text: e.status ? String(e.status) : 'network error' }),
      ` ${Math.round(e.end - e.start)} ms`,
      nonceChallenge ? ' · the API asked for a DPoP nonce (use_dpop_nonce); the library retried with a new proof carrying it' : '',
      e.status >= 200 && e.status < 300 && i > 0 ? ' · accepted' : '');
  }));

  const req = [el('span', { class: 'm', text: `${method} ${url}` }), '\n'];
  const headers = final?.requestHeaders ?? [];
  for (const [k, v, meta] of headers) req.push(...headerLine(k, v, meta));
  if (init.body) req.push('\n', init.body, '\n');
  const proof = headers.find(([k]) => k === 'dpop')?.[1];
  if (proof) req.push(...proofView(proof));
  $('api-request').replaceChildren(...req);

  const res = [el('span', { class: 'm', text: `HTTP ${response.status} ${response.statusText}`.trim() }), `  (${Math.round(ms)} ms in client.fetch)`, '\n'];
  for (const [k, v] of response.headers.entries()) res.push(...headerLine(k, v));
  res.push('\n', ...bodyView(text));
  $('api-response').replaceChildren(...res);
  const pill = $('api-status');
  pill.textContent = String(response.status);
  pill.dataset.status = String(response.status);
}

export function wireApiPanel(messages) {
  $('call-api').addEventListener('click', () => callApi(messages));
}
