// The "Configuration" panel: environment presets, the form (kept per tab in sessionStorage,
// without the key), the private JWK held in memory only, and the HelseIdClient config they make.
import { $, el, code, shorten, PageError } from '../dom.js';
import { state, update } from '../store.js';
import { SFM_RESOURCE, KJ_RESOURCE, REFRESH_LEEWAY_SECONDS, CLOCK_TOLERANCE_SECONDS } from '../constants.js';
import { LOCAL_CLIENTS, LOCAL_EPJ_USERS } from '../local-double.js';

const CONFIG_KEY = 'helseid-wasm-demo.config';
const SFM_SCOPE = [
  'openid', 'profile', 'offline_access',
  'helseid://scopes/identity/pid', 'helseid://scopes/identity/security_level',
  'helseid://scopes/hpr/hpr_number', 'e-helse:sfm.api/sfm.api2',
].join(' ');
const KJ_SCOPE = 'nhn:kjernejournal/tillitsrammeverk';

const PRESETS = {
  local: {
    label: 'Local test double',
    hint: 'Started by <code>make demo</code>: issuer on :4010, demo backend (assertion signer and SFM-style API) on :4011, SFM and Kjernejournal stand-ins on :4012–:4015. Works offline; test keys only.',
    issuer: 'http://127.0.0.1:4010',
    clientId: 'helseid-wasm-rs256',
    clientIds: Object.keys(LOCAL_CLIENTS),
    clientIdHint: 'The double knows <code>helseid-wasm-rs256</code> and <code>helseid-wasm-es256</code> (single-tenant) and <code>helseid-wasm-multi</code> (multi-tenant: its SFM tokens carry an SFM id only once a journal is chosen, so untick “Require SFM id” to log in with it).',
    scope: `${SFM_SCOPE} ${KJ_SCOPE}`,
    resources: `${SFM_RESOURCE} ${KJ_RESOURCE}`,
    authMode: 'assertion',
    signerUrl: 'http://127.0.0.1:4011/assertion',
    apiBase: 'http://127.0.0.1:4011',
    sfmGateway: 'http://127.0.0.1:4012',
    kjApi: 'http://127.0.0.1:4014',
    kjWeb: 'http://127.0.0.1:4015',
    requiredSecurityLevel: '4',
    requireSfmId: true,
    loginHint: '',
    sessionHost: 'auto',
  },
  'helseid-test': {
    label: 'HelseID test',
    hint: 'NHN’s test environment. Needs network access and a client registered in HelseID Selvbetjening with this page’s redirect URI, its public key and these scopes (see the README).',
    issuer: 'https://helseid-sts.test.nhn.no',
    clientId: '',
    clientIds: [],
    clientIdHint: 'Your test client’s id from HelseID Selvbetjening.',
    scope: SFM_SCOPE,
    resources: SFM_RESOURCE,
    authMode: 'jwk',
    signerUrl: '',
    apiBase: '',
    sfmGateway: '',
    kjApi: '',
    kjWeb: '',
    requiredSecurityLevel: '4',
    requireSfmId: true,
    loginHint: '',
    sessionHost: 'auto',
  },
};
const FIELDS = ['issuer', 'clientId', 'redirectUri', 'scope', 'resources', 'authMode', 'signerUrl',
  'apiBase', 'requiredSecurityLevel', 'requireSfmId', 'loginHint', 'sessionHost'];
/** Portal addresses of a preset: edited in the SFM and Kjernejournal panels, not in the form. */
const PORTAL_FIELDS = { sfmGateway: 'sfm-gateway', kjApi: 'kj-api', kjWeb: 'kj-web' };

// ------------------------------------------------------------------ the form and its storage
function loadStored() {
  try {
    const s = JSON.parse(sessionStorage.getItem(CONFIG_KEY) ?? 'null');
    if (s && PRESETS[s.preset]) return s;
  } catch { /* ignore a damaged entry */ }
  return { preset: 'local', byPreset: {} };
}

function defaultsFor(preset) {
  const p = PRESETS[preset];
  const fields = Object.fromEntries([...FIELDS, ...Object.keys(PORTAL_FIELDS)].map((f) => [f, p[f]]));
  fields.redirectUri = `${location.origin}${location.pathname}`;
  return fields;
}

export function currentPreset() {
  return document.querySelector('input[name="preset"]:checked').value;
}

/** The form's values, trimmed. */
export function readForm() {
  const f = $('config-form');
  return {
    issuer: f.issuer.value.trim(),
    clientId: f.clientId.value.trim(),
    redirectUri: f.redirectUri.value.trim(),
    scope: f.scope.value.trim().split(/\s+/).filter(Boolean).join(' '),
    resources: f.resources.value.trim().split(/\s+/).filter(Boolean),
    authMode: f.authMode.value,
    signerUrl: f.signerUrl.value.trim(),
    apiBase: f.apiBase.value.trim().replace(/\/+$/, ''),
    requiredSecurityLevel: f.requiredSecurityLevel.value,
    requireSfmId: f.requireSfmId.checked,
    loginHint: currentPreset() === 'local' ? f.loginHint.value : '',
    sessionHost: f.sessionHost.value,
  };
}

function writeForm(preset, fields) {
  const f = $('config-form');
  for (const r of f.preset) r.checked = r.value === preset;
  f.issuer.value = fields.issuer ?? '';
  f.clientId.value = fields.clientId ?? '';
  f.redirectUri.value = fields.redirectUri ?? '';
  f.scope.value = fields.scope ?? '';
  f.resources.value = [fields.resources ?? []].flat().join(' ');
  for (const r of f.authMode) r.checked = r.value === fields.authMode;
  f.signerUrl.value = fields.signerUrl ?? '';
  f.apiBase.value = fields.apiBase ?? '';
  f.requiredSecurityLevel.value = fields.requiredSecurityLevel ?? '';
  f.requireSfmId.checked = !!fields.requireSfmId;
  f.loginHint.value = fields.loginHint ?? '';
  f.sessionHost.value = fields.sessionHost ?? 'auto';
  for (const [key, id] of Object.entries(PORTAL_FIELDS)) $(id).value = fields[key] ?? '';
  syncFormVisibility();
  fillDemoPassword();
}

/** The demo EPJ user the local double's backend logs in: the test user picked, else kvart. */
function demoEpjUser(loginHint) {
  return ['lege2', 'niva3'].includes(loginHint) ? loginHint : 'kvart';
}

/** Pre-fills the demo EPJ password of the picked test user (test-only passwords; never stored). */
function fillDemoPassword() {
  $('epj-password').value = LOCAL_EPJ_USERS[demoEpjUser($('config-form').loginHint.value)].password;
}

/** The portal panels' addresses (SFM gateway, Kjernejournal API and web), trimmed. */
export function readPortalFields() {
  return Object.fromEntries(Object.entries(PORTAL_FIELDS).map(([key, id]) => [key, $(id).value.trim().replace(/\/+$/, '')]));
}

export function saveForm() {
  const stored = loadStored();
  const preset = currentPreset();
  stored.preset = preset;
  stored.byPreset = { ...stored.byPreset, [preset]: { ...readForm(), ...readPortalFields() } }; // no key, no token
  sessionStorage.setItem(CONFIG_KEY, JSON.stringify(stored));
  renderTarget();
}

function syncFormVisibility() {
  const preset = currentPreset();
  const p = PRESETS[preset];
  $('env-label').value = p.label;
  $('preset-hint').innerHTML = p.hint;
  $('client-id-hint').innerHTML = p.clientIdHint;
  $('client-ids').replaceChildren(...p.clientIds.map((id) => el('option', { value: id })));
  $('client-id').placeholder = p.clientIds[0] ?? 'e.g. 1c2d3e4f-…';
  const jwk = $('config-form').authMode.value === 'jwk';
  $('jwk-block').hidden = !jwk;
  $('signer-block').hidden = jwk;
  $('user-block').hidden = preset !== 'local';
  $('signer-url').placeholder = preset === 'local' ? PRESETS.local.signerUrl : 'https://your-backend.example/helseid/assertion';
  $('api-base').placeholder = preset === 'local' ? PRESETS.local.apiBase : 'https://your-sfm-gateway.example';
}

function renderTarget() {
  const cfg = readForm();
  const who = cfg.loginHint ? ` as test user ${cfg.loginHint}` : currentPreset() === 'local' ? ' as test user kvart' : '';
  const auth = cfg.authMode === 'jwk' ? (state.memoryKey ? 'the private JWK in memory' : 'a private JWK (not loaded yet)') : 'the backend signer';
  $('welcome-target').replaceChildren('Issuer ', code(cfg.issuer || '(not set)'), ', client ', code(cfg.clientId || '(not set)'), `, signed by ${auth}${who}.`);
}

function switchPreset(preset) {
  const stored = loadStored();
  writeForm(preset, { ...defaultsFor(preset), ...(stored.byPreset?.[preset] ?? {}) });
  saveForm();
}

/** Fills the form from this tab's stored settings (or the preset's defaults). */
export function restoreForm() {
  const stored = loadStored();
  writeForm(stored.preset, { ...defaultsFor(stored.preset), ...(stored.byPreset?.[stored.preset] ?? {}) });
  renderKeyStatus();
}

/** While logged in the configuration is fixed (the client was made from it). */
export function lockForm(locked) {
  $('config-fields').disabled = locked;
  $('login').hidden = locked;
  $('reset-preset').hidden = locked;
}

// ------------------------------------------------------------------ the client's config
/** The HelseIdClient config for the form's values (API.md: unknown keys are an error). */
export function clientConfig(cfg) {
  const config = {
    issuer: cfg.issuer,
    clientId: cfg.clientId,
    redirectUri: cfg.redirectUri,
    postLogoutRedirectUri: cfg.redirectUri,
    scope: cfg.scope,
    resources: cfg.resources,
    requireSfmId: cfg.requireSfmId,
    clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
    refreshLeewaySeconds: REFRESH_LEEWAY_SECONDS,
    autoRefresh: true,
    dpop: true,
    sessionHost: cfg.sessionHost || 'auto',
    // http:// is allowed for loopback hosts only (the local double, this page on 127.0.0.1);
    // the library enforces that.
    allowInsecureHttp: cfg.issuer.startsWith('http://') || cfg.redirectUri.startsWith('http://'),
    clientAuth: cfg.authMode === 'jwk' ? jwkAuth() : assertionAuth(cfg),
  };
  // client.fetch, authHeaders and the portals send a token only to the origins listed for its
  // resource: the API base for the default resource (the first), the SFM gateway for
  // e-helse:sfm.api, the Kjernejournal API for nhn:kjernejournal (the portal panels' addresses,
  // read now).
  const origins = {};
  const allow = (resource, url) => {
    try {
      if (resource && url) (origins[resource] ??= []).push(new URL(url).origin);
    } catch { /* an invalid address shows its own error when used */ }
  };
  const portals = readPortalFields();
  allow(cfg.resources[0], cfg.apiBase);
  allow(SFM_RESOURCE, portals.sfmGateway);
  allow(KJ_RESOURCE, portals.kjApi);
  if (Object.keys(origins).length) config.apiOrigins = origins;
  if (cfg.requiredSecurityLevel) config.requiredSecurityLevel = cfg.requiredSecurityLevel;
  return config;
}

function jwkAuth() {
  const { memoryKey } = state;
  if (!memoryKey) throw new PageError('key_missing', 'No private key is loaded in this page.');
  const auth = { type: 'private_key_jwt', key: memoryKey.key, alg: memoryKey.alg };
  if (memoryKey.kid) auth.kid = memoryKey.kid;
  return auth;
}

/**
 * assertion_provider: the backend holds the key and signs a fresh assertion per request, for the
 * user logged in to the app (its session cookie goes along: credentials "include"). The library
 * passes { audience, endpoint, grantType, detailsClaim, assertionDetails? }.
 */
function assertionAuth(cfg) {
  return {
    type: 'assertion_provider',
    getAssertion: async (ctx) => {
      let response;
      try {
        response = await fetch(cfg.signerUrl, {
          method: 'POST',
          credentials: 'include',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ ...ctx, clientId: cfg.clientId }),
        });
      } catch (err) {
        throw new PageError('signer_failed', `The signer at ${cfg.signerUrl} could not be reached (${err.message}).`);
      }
      const body = await response.json().catch(() => ({}));
      if (!response.ok || typeof body.assertion !== 'string') {
        throw new PageError('signer_failed', `The signer answered HTTP ${response.status}${body.error_description ? `: ${body.error_description}` : ''}.`);
      }
      return body.assertion;
    },
  };
}

export function validateForm(cfg) {
  const need = [['issuer', 'issuer', 'the issuer'], ['clientId', 'client-id', 'the client ID'], ['redirectUri', 'redirect-uri', 'the redirect URI'], ['scope', 'scope', 'the scope']];
  if (cfg.authMode === 'assertion') need.push(['signerUrl', 'signer-url', 'the signer URL']);
  for (const input of document.querySelectorAll('#config-form [aria-invalid]')) input.removeAttribute('aria-invalid');
  for (const [key, id, what] of need) {
    if (!cfg[key]) {
      const input = $(id);
      input.setAttribute('aria-invalid', 'true');
      if (id === 'scope') $('advanced').open = true;
      input.focus();
      throw new PageError('form_incomplete', `Fill in ${what}.`);
    }
  }
  if (cfg.authMode === 'jwk' && !state.memoryKey) {
    $('jwk-text').focus();
    throw new PageError('key_missing', 'No private key is loaded in this page.');
  }
}

/**
 * The local double's demo backend signs only for a user logged in to the (demo) EPJ, and only for
 * the client id that login names: log in there as the chosen test user with its password (an
 * HttpOnly, SameSite=Strict cookie). A real EPJ has its own login.
 */
export async function demoEpjLogin(cfg) {
  if (cfg.authMode !== 'assertion' || currentPreset() !== 'local') return;
  const user = demoEpjUser(cfg.loginHint);
  let response;
  try {
    response = await fetch(new URL('/app-session', cfg.signerUrl), {
      method: 'POST',
      credentials: 'include',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user, password: $('epj-password').value, clientId: cfg.clientId }),
    });
  } catch (err) {
    throw new PageError('signer_failed', `The demo backend at ${cfg.signerUrl} could not be reached (${err.message}).`);
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new PageError('signer_failed', `The demo backend refused the EPJ login (HTTP ${response.status}${body.error_description ? `: ${body.error_description}` : ''}).`);
  }
}

// ------------------------------------------------------------------ private JWK (memory only)
const ALGS = {
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  RS384: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' },
  RS512: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
  PS384: { name: 'RSA-PSS', hash: 'SHA-384' },
  PS512: { name: 'RSA-PSS', hash: 'SHA-512' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  ES384: { name: 'ECDSA', namedCurve: 'P-384' },
  ES512: { name: 'ECDSA', namedCurve: 'P-521' },
};
const EC_ALG = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };

async function importPrivateJwk(text) {
  let jwk;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new PageError('jwk_invalid', 'The key is not valid JSON.');
  }
  if (Array.isArray(jwk?.keys)) {
    if (jwk.keys.length !== 1) throw new PageError('jwk_invalid', `That is a JWK set with ${jwk.keys.length} keys; paste one key.`);
    [jwk] = jwk.keys;
  }
  if (!jwk || typeof jwk !== 'object' || !jwk.kty) throw new PageError('jwk_invalid', 'The JSON has no “kty”: it is not a JWK.');
  if (!jwk.d) throw new PageError('jwk_invalid', 'This is a public key (no “d”). The client needs the private key to sign assertions.');
  const alg = jwk.alg ?? (jwk.kty === 'RSA' ? 'RS256' : EC_ALG[jwk.crv]);
  const algorithm = ALGS[alg];
  if (!algorithm) throw new PageError('jwk_invalid', `Unsupported key: kty ${jwk.kty}, alg ${alg ?? 'unknown'}.`);
  const { alg: _a, key_ops: _o, use: _u, ext: _e, kid, ...material } = jwk;
  let key;
  try {
    key = await crypto.subtle.importKey('jwk', material, algorithm, false, ['sign']);
  } catch (err) {
    throw new PageError('jwk_invalid', `WebCrypto refused the key (${err.message}).`);
  }
  return { key, alg, kid };
}

/** Imports the pasted (or loaded) JWK; the text leaves the page either way. */
async function useKeyText(text) {
  try {
    update({ memoryKey: await importPrivateJwk(text) });
  } finally {
    for (const id of ['jwk-text', 'jwk-file', 'finish-jwk', 'finish-file']) $(id).value = '';
  }
}

function renderKeyStatus() {
  const status = $('jwk-status');
  const { memoryKey } = state;
  if (memoryKey) {
    status.replaceChildren('Key in memory: ', code(memoryKey.alg), memoryKey.kid ? ', kid ' : ' (no kid: HelseID needs one)', memoryKey.kid ? code(shorten(memoryKey.kid, 20, 6)) : '', '. Non-extractable.');
    status.dataset.loaded = 'true';
  } else {
    status.textContent = 'No key loaded.';
    delete status.dataset.loaded;
  }
  $('jwk-forget').hidden = !memoryKey;
  renderTarget();
}

// ------------------------------------------------------------------ wiring
/** `onLogin(event)`: the form's submit; `onKeyLoaded()`: after a key is imported; `showError`. */
export function wireConfigPanel({ onLogin, onKeyLoaded, showError }) {
  const form = $('config-form');
  form.addEventListener('submit', onLogin);
  form.addEventListener('input', (e) => {
    e.target.removeAttribute?.('aria-invalid');
    if (e.target.name !== 'preset') saveForm();
  });
  form.addEventListener('change', (e) => {
    if (e.target.name === 'preset') switchPreset(e.target.value);
    else { syncFormVisibility(); saveForm(); }
    if (e.target.id === 'login-hint') fillDemoPassword();
  });
  $('reset-preset').addEventListener('click', () => {
    writeForm(currentPreset(), defaultsFor(currentPreset()));
    saveForm();
  });
  const useKey = (text) => useKeyText(text).then(onKeyLoaded).catch(showError);
  $('jwk-use').addEventListener('click', () => useKey($('jwk-text').value));
  $('finish-use').addEventListener('click', () => useKey($('finish-jwk').value));
  const fromFile = async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    if (file.size > 64 * 1024) { showError(new PageError('jwk_invalid', 'That file is too large to be a JWK.')); return; }
    await useKey(await file.text());
  };
  $('jwk-file').addEventListener('change', fromFile);
  $('finish-file').addEventListener('change', fromFile);
  $('jwk-forget').addEventListener('click', () => update({ memoryKey: null }));
  for (const id of Object.values(PORTAL_FIELDS)) $(id).addEventListener('input', saveForm);
}

/** The key status follows state.memoryKey. */
export function onStateChange(patch) {
  if ('memoryKey' in patch) renderKeyStatus();
}
