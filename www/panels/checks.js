// The "Checks" card: every check the library ran on the tokens, the context claims against the
// context in force, and, after a failed login, the check that failed.
import { $, el, code, clock, shorten, audOf } from '../dom.js';
import { state } from '../store.js';
import {
  SFM_ID_CLAIM, JOURNAL_ID_CLAIM, ORGNR_PARENT_CLAIM, ORGNR_CHILD_CLAIM, ATTEST_CLAIM,
  SFM_RESOURCE, KJ_RESOURCE, ATTEST_RESOURCES, CLOCK_TOLERANCE_SECONDS,
} from '../constants.js';
import { readForm } from './config.js';

const CHECK_LABELS = {
  callback: 'Authorization response',
  signature: 'Signatures',
  iss: 'Issuer (iss)',
  aud: 'Audience (aud)',
  exp: 'Lifetime (exp, iat, nbf)',
  nonce: 'Nonce',
  sfm: 'SFM id',
  level: 'Security level',
  dpop: 'DPoP binding',
};
const CONTEXT_CHECK_LABELS = {
  orgnr_parent: 'Parent organisation',
  orgnr_child: 'Child organisation',
  journal: 'SFM journal id',
  attest: 'Patient attest',
};
const STATUS_TEXT = { pass: 'Passed', fail: 'Failed', skip: 'Skipped', info: 'Info', unknown: 'Not confirmed' };
const STATUS_ICON = { pass: '✓', fail: '✕', skip: '–', info: 'i', unknown: '·' };

function checkItem(id, status, detail) {
  return el('li', { class: `check ${status}`, 'data-check': id, 'data-status': status },
    el('span', { class: 'check-icon', 'aria-hidden': 'true', text: STATUS_ICON[status] }),
    el('div', { class: 'check-body' },
      el('div', { class: 'check-title' },
        el('span', { text: CHECK_LABELS[id] ?? CONTEXT_CHECK_LABELS[id] ?? id }),
        el('span', { class: 'check-status', text: STATUS_TEXT[status] })),
      el('p', { class: 'check-detail' }, detail)));
}

/** The access token's JOSE header (the token itself is not shown). */
async function accessTokenHeader() {
  try {
    // The token of the session shown (cached: asking for another resource's could refresh).
    const resource = audOf(state.session.accessTokenClaims ?? {});
    return state.lib.decodeJwt(await state.client.getAccessToken(resource ? { resource } : undefined)).header;
  } catch {
    return undefined;
  }
}

function audNote(at, cfg) {
  if (!cfg.resources.length) return '';
  return audOf(at) === cfg.resources[0] ? ' (expected)' : [' (the token of the last refresh, for ', code(audOf(at)), ')'];
}

export async function renderChecks() {
  const s = state.session;
  if (!s) return;
  const cfg = readForm();
  const at = s.accessTokenClaims ?? {};
  const id = s.idTokenClaims ?? {};
  const header = await accessTokenHeader();
  const sfm = at[SFM_ID_CLAIM] !== undefined ? [SFM_ID_CLAIM, at[SFM_ID_CLAIM]] : at[JOURNAL_ID_CLAIM] !== undefined ? [JOURNAL_ID_CLAIM, at[JOURNAL_ID_CLAIM]] : undefined;
  const level = s.helseid?.securityLevel;
  // With the session host the page gets a view of the ID token's identity claims, not its aud,
  // exp or nonce (the host keeps the ID token): say so rather than print "undefined".
  const idClaim = (name, shown = (v) => v) => (id[name] === undefined ? el('span', { class: 'muted', text: 'not in this page’s view' }) : code(shown(id[name])));
  const checks = [
    ['callback', 'pass', ['state matched the login started here; ', code('iss'), ' = ', code(id.iss), ' (RFC 9207); code exchanged with the PKCE S256 verifier']],
    ['signature', 'pass', ['ID token and access token verified with WebCrypto against the issuer’s JWKS',
      header ? [' · access token ', code(header.alg), ', typ ', code(header.typ), header.kid ? [', kid ', code(shorten(header.kid, 10, 4))] : ''] : '']],
    ['iss', 'pass', [code(id.iss), ' in the ID token and the access token']],
    ['aud', 'pass', ['access token ', code('aud'), ' = ', code(audOf(at)), audNote(at, cfg), ' · ID token ', code('aud'), ' = ', idClaim('aud')]],
    ['exp', 'pass', ['access token valid until ', code(clock(at.exp)), ', ID token until ', idClaim('exp', clock), ` (tolerance ${CLOCK_TOLERANCE_SECONDS} s)`]],
    ['nonce', 'pass', ['ID token ', code('nonce'), ' ', idClaim('nonce', (v) => shorten(v, 10, 4)), ' equals the one sent at login']],
    cfg.requireSfmId && !sfm && audOf(at) !== SFM_RESOURCE
      ? ['sfm', 'skip', ['not an SFM token (', code('aud'), ' ', code(audOf(at)), '): no SFM id expected']]
      : cfg.requireSfmId
      ? ['sfm', 'pass', [code(sfm?.[0]), ' = ', code(typeof sfm?.[1] === 'object' ? JSON.stringify(sfm[1]) : sfm?.[1])]]
      : sfm ? ['sfm', 'info', ['present (', code(sfm[0]), '), not required']] : ['sfm', 'skip', ['not required (Require SFM id is off)']],
    cfg.requiredSecurityLevel
      ? ['level', 'pass', [code('security_level'), ` = ${level}, required ${cfg.requiredSecurityLevel}`]]
      : ['level', 'info', [`${level ?? 'absent'}; no level required`]],
    s.tokenType === 'DPoP'
      ? ['dpop', 'pass', ['token_type ', code('DPoP'), '; ', code('cnf.jkt'), ' = ', code(at.cnf?.jkt), ' is this browser’s DPoP key']]
      : ['dpop', 'skip', ['Bearer token (DPoP off)']],
  ];
  $('checks-intro').textContent = 'The library ran these in handleRedirectCallback and again on every refresh. A session exists only when all passed.';
  $('checks').replaceChildren(...checks.map(([checkId, status, detail]) => checkItem(checkId, status, detail)));
  renderContextChecks(s);
}

/**
 * The context claims of the current access token against the context in force. The library has
 * already refused a token whose claims differ from the context, so "fail" here would be a bug.
 */
function renderContextChecks(s) {
  const at = s.accessTokenClaims ?? {};
  const ctx = s.context ?? null;
  const aud = audOf(at);
  const compare = (id, claim, wanted, shown = (v) => v) => {
    const value = at[claim];
    if (wanted !== undefined && wanted !== '') {
      const same = JSON.stringify(shown(value)) === JSON.stringify(wanted);
      return checkItem(id, same ? 'pass' : 'fail', [code(claim.split('/').pop()), ' = ', code(shown(value) ?? 'absent'), same ? ', as in the context' : [', the context says ', code(wanted)]]);
    }
    if (value !== undefined) return checkItem(id, 'info', [code(shown(value)), ' (not from the context: the client’s own)']);
    return checkItem(id, 'skip', ['not in the context, not in the token']);
  };
  const attest = ctx?.trustFramework;
  let attestItem;
  if (attest && ATTEST_RESOURCES.includes(aud)) {
    const present = at[ATTEST_CLAIM] !== undefined;
    attestItem = checkItem('attest', present ? 'pass' : 'fail', present
      ? ['present; decision id ', code(shorten(at[ATTEST_CLAIM]?.care_relationship?.decision_ref?.id ?? '–', 8, 4)), ', purpose ', code(at[ATTEST_CLAIM]?.care_relationship?.purpose_of_use?.code ?? '–')]
      : ['missing although an attest was sent']);
  } else if (attest) {
    attestItem = checkItem('attest', 'info', ['in the context; only ', code(KJ_RESOURCE), ' tokens carry it (this one is for ', code(aud), ')']);
  } else {
    attestItem = at[ATTEST_CLAIM] !== undefined
      ? checkItem('attest', 'info', ['present without an attest in the context'])
      : checkItem('attest', 'skip', ['no attest in the context']);
  }
  $('context-checks').replaceChildren(
    compare('orgnr_parent', ORGNR_PARENT_CLAIM, ctx?.organization?.parent),
    compare('orgnr_child', ORGNR_CHILD_CLAIM, ctx?.organization?.child),
    compare('journal', JOURNAL_ID_CLAIM, ctx?.journalId, (v) => (v && typeof v === 'object' ? v.journal_id : v)),
    attestItem,
  );
}

/** Which check an error stands for (by its code and claim), or undefined when none does. */
function failedCheck(err) {
  switch (err?.code) {
    case 'missing_transaction': case 'state_mismatch': case 'authorization_response_iss_mismatch': case 'authorization_denied':
      return 'callback';
    case 'invalid_token': case 'unsupported_alg': case 'unknown_key': case 'signature_invalid':
      return 'signature';
    case 'token_expired': case 'token_not_yet_valid':
      return 'exp';
    case 'missing_sfm_id': return 'sfm';
    case 'security_level_insufficient': return 'level';
    case 'dpop_binding_mismatch': return 'dpop';
    case 'claim_invalid':
      return { iss: 'iss', aud: 'aud', azp: 'aud', nonce: 'nonce', iat: 'exp', exp: 'exp', nbf: 'exp', cnf: 'dpop', typ: 'signature', sub: 'iss' }[err.claim] ?? 'iss';
    default: return undefined;
  }
}

/** After a failed login: the check that failed, the ones before it, the ones not reached. */
export function renderFailedChecks(err) {
  const failed = failedCheck(err);
  if (!failed) { $('checks-failed').hidden = true; return; }
  if (failed === 'callback') {
    const detail = [err.message, err.oauthError ? [' (', code(err.oauthError), ')'] : ''];
    $('checks-failed-intro').textContent = 'The login ended at the authorization response, before any token was issued, so no token check ran.';
    $('checks-error').replaceChildren(checkItem('callback', 'fail', detail));
    $('checks-failed').hidden = false;
    return;
  }
  $('checks-failed-intro').textContent = 'The library refused the tokens at the check marked failed: no session was created and the tokens were thrown away. Checks marked “not confirmed” may or may not have passed.';
  const items = Object.keys(CHECK_LABELS).map((id) => {
    if (id === failed) {
      const detail = [err.message];
      if (err.claim) detail.push(' (claim ', code(err.claim), ')');
      if (err.oauthError) detail.push(' (', code(err.oauthError), ')');
      return checkItem(id, 'fail', detail);
    }
    // The callback itself was fine if the failure came later.
    if (id === 'callback') return checkItem(id, 'pass', ['state and ', code('iss'), ' matched; the code was exchanged']);
    return checkItem(id, 'unknown', ['the library stopped at the failed check before confirming this']);
  });
  $('checks-error').replaceChildren(...items);
  $('checks-failed').hidden = false;
}
