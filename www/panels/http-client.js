// The "HTTP client" panel: the demo API called the way an app with its own HTTP layer (axios
// interceptors, Angular's HttpClient, a fetch wrapper) does it (API.md, "Headers for your own
// HTTP client"):
//   headers = await client.authHeaders(url, { method })   // Authorization: DPoP <at>, DPoP: <proof>
//   response = await fetch(url, { method, headers, body })
//   if (client.takeDpopNonce(response)) -> once more with new authHeaders (the proof now carries
//   the nonce the 401 sent)
// Every step is shown; the access token and the proofs only shortened (the page keeps no whole
// token: the headers object goes to fetch and is dropped).
import { $, el, code, shorten, PageError } from '../dom.js';
import { state } from '../store.js';
import { apiRequest, bodyView } from './api-call.js';

/** Does this build of the package have the API the panel needs? */
export function hasOwnClientApi(client = state.client) {
  return typeof client?.authHeaders === 'function' && typeof client?.takeDpopNonce === 'function';
}

/** The panel's button, or the note that the package is too old. */
export function renderHttpSupport() {
  const supported = hasOwnClientApi();
  $('http-card').dataset.supported = String(supported);
  $('http-unsupported').hidden = supported;
  $('http-call').disabled = !supported;
}

const header = (headers, name) => {
  const wanted = name.toLowerCase();
  if (headers instanceof Headers) return headers.get(wanted) ?? undefined;
  return Object.entries(headers).find(([k]) => k.toLowerCase() === wanted)?.[1];
};

/** What the panel shows of authHeaders' answer: shortened at once, the proof's claims decoded. */
function seenHeaders(headers) {
  const authorization = header(headers, 'authorization') ?? '';
  const [scheme, token = ''] = authorization.split(' ');
  const proof = header(headers, 'dpop');
  let claims = {};
  try {
    if (proof) ({ claims } = state.lib.decodeJwt(proof));
  } catch { /* not a JWT: shown shortened only */ }
  return {
    names: Object.keys(headers),
    authorization: `${scheme} ${shorten(token, 16, 6)}`,
    tokenLength: token.length,
    proof: proof ? shorten(proof, 16, 6) : undefined,
    claims,
  };
}

function line(name, value, note) {
  return [el('span', { class: 'k', text: `${name}: ` }), value, note ? el('span', { class: 'c', text: `  // ${note}` }) : '', '\n'];
}

function authHeadersStep(n, method, url, seen, lastNonce) {
  const { claims } = seen;
  const nonceNote = claims.nonce === undefined ? 'no nonce: none known yet for this origin'
    : claims.nonce === lastNonce ? 'the DPoP-Nonce of the response before'
      : 'the nonce stored for this origin';
  return el('li', { class: 'step', 'data-step': 'authHeaders', 'data-attempt': String(n), 'data-nonce': claims.nonce === undefined ? 'none' : claims.nonce === lastNonce ? 'from-challenge' : 'stored' },
    el('div', { class: 'step-head' },
      el('span', { class: 'step-no', text: String(n) }),
      code(`await client.authHeaders("${url}", { method: "${method}" })`)),
    el('pre', { class: 'code' },
      ...line('Authorization', seen.authorization, `access token shortened, ${seen.tokenLength} chars`),
      ...(seen.proof ? line('DPoP', seen.proof, 'proof JWT shortened') : []),
      el('span', { class: 'c', text: '// the proof’s claims' }), '\n',
      ...line('htm', String(claims.htm)),
      ...line('htu', String(claims.htu)),
      ...line('ath', claims.ath ? shorten(claims.ath, 8, 4) : 'none', claims.ath ? 'SHA-256 of the access token' : undefined),
      ...line('nonce', claims.nonce ? shorten(claims.nonce, 10, 4) : 'none', nonceNote)));
}

function fetchStep(method, url, response, ms) {
  const challenge = response.headers.get('www-authenticate');
  const nonce = response.headers.get('dpop-nonce');
  const ok = response.status >= 200 && response.status < 300;
  return el('li', { class: `step ${ok ? 'ok' : /use_dpop_nonce/.test(challenge ?? '') ? 'retry' : 'bad'}`, 'data-step': 'fetch', 'data-status': String(response.status) },
    el('div', { class: 'step-head' },
      code(`await fetch("${url}", { method: "${method}", headers })`), ' → ',
      el('span', { class: 'status-pill', 'data-status': String(response.status), text: String(response.status) }),
      ` ${Math.round(ms)} ms`),
    challenge || nonce ? el('pre', { class: 'code' },
      ...(challenge ? line('WWW-Authenticate', challenge) : []),
      ...(nonce ? line('DPoP-Nonce', shorten(nonce, 10, 4)) : [])) : '');
}

function takeStep(challenged, origin, last) {
  const text = challenged
    ? ['→ ', code('true'), ': a ', code('use_dpop_nonce'), ' challenge. Its nonce is stored for ', code(origin), last ? '; challenged again after the retry: give up (client.fetch rejects dpop_nonce_failed here).' : '; retry once with new headers.']
    : ['→ ', code('false'), ': not a challenge; a ', code('DPoP-Nonce'), ' it carried is stored for the next request to ', code(origin), '.'];
  return el('li', { class: 'step', 'data-step': 'takeDpopNonce', 'data-result': String(challenged) },
    el('div', { class: 'step-head' }, code('client.takeDpopNonce(response)'), ' ', ...text));
}

async function callWithOwnClient({ showError, clearError }) {
  clearError();
  const button = $('http-call');
  const steps = $('http-steps');
  const { client } = state;
  try {
    if (!hasOwnClientApi(client)) throw new PageError('package_too_old', 'client.authHeaders is not a function in this build of helseid-wasm.');
    const { method, url, init } = await apiRequest($('http-endpoint').value);
    const origin = new URL(url).origin;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    steps.replaceChildren();
    $('http-result').hidden = false;
    $('http-summary').removeAttribute('data-outcome');
    $('http-summary').textContent = 'Calling…';
    $('http-response').replaceChildren();
    const statuses = [];
    let lastNonce;
    let response;
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const headers = await client.authHeaders(url, { method });
      steps.append(authHeadersStep(attempt, method, url, seenHeaders(headers), lastNonce));
      const t0 = performance.now();
      response = await fetch(url, { ...init, headers: { ...init.headers, ...headers } });
      statuses.push(response.status);
      steps.append(fetchStep(method, url, response, performance.now() - t0));
      lastNonce = response.headers.get('dpop-nonce') ?? undefined;
      const challenged = client.takeDpopNonce(response);
      steps.append(takeStep(challenged, origin, attempt === 2));
      if (!challenged) break;
    }
    const text = await response.text();
    const outcome = statuses.length === 1 ? 'first-try' : response.status === 401 ? 'challenged-twice' : 'after-retry';
    const summary = $('http-summary');
    summary.dataset.outcome = outcome;
    summary.dataset.requests = String(statuses.length);
    summary.replaceChildren(
      `${statuses.length} request${statuses.length === 1 ? '' : 's'}: ${statuses.join(' → ')}. `,
      {
        'first-try': 'The proof carried a nonce the API accepted: no challenge.',
        'after-retry': 'The API challenged the first proof (use_dpop_nonce); the retry carried its nonce and was accepted.',
        'challenged-twice': 'The API challenged the retry too: the app gives up after one retry.',
      }[outcome]);
    $('http-response').replaceChildren(
      el('span', { class: 'm', text: `HTTP ${response.status} ${response.statusText}`.trim() }), '\n\n', ...bodyView(text));
  } catch (err) {
    $('http-summary').dataset.outcome = 'error';
    $('http-summary').textContent = `Failed: ${err.code ?? err.name}.`;
    showError(err);
  } finally {
    button.disabled = !hasOwnClientApi(client);
    button.removeAttribute('aria-busy');
  }
}

/** After logout: the last call goes. */
export function resetHttpPanel() {
  $('http-result').hidden = true;
  $('http-steps').replaceChildren();
}

export function wireHttpPanel(messages) {
  $('http-call').addEventListener('click', () => callWithOwnClient(messages));
}
