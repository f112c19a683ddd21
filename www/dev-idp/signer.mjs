// The demo backend's assertion signer (`POST /assertion`) and its demo "EPJ login"
// (`/app-session`): the pattern an EPJ backend behind `assertion_provider` should copy. It signs a
// client assertion only for a request that
//   - comes from an allowed app origin (Origin header) as `Content-Type: application/json` (so a
//     cross-site HTML form or a `text/plain` POST, which need no CORS preflight, are refused),
//   - carries the app's session cookie (HttpOnly, SameSite=Strict; set by POST /app-session, which
//     needs the EPJ user's password and names the one client id the session may sign for),
//   - is for that client id,
//   - names the issuer as `audience` and one of the issuer's PAR, token or revocation endpoints as
//     `endpoint` (and a `grantType` that fits that endpoint, when given),
//   - asks only for details the logged-in EPJ user may act under (EPJ_USERS below): organisations,
//     SFM journal ids, trust-framework attests whose legal entity and point of care are the
//     user's organisations; details only on token-endpoint assertions; a trust-framework attest
//     only for a user granted attests, and purpose_of_use BTG (break the glass) only for a user
//     granted that too.
// Everything it signs (and refuses) goes to state.signerLog (emptied by reset()). backend.mjs
// routes the requests here; see README.md, "Demo backend".
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ApiError, readRaw } from './http-util.mjs';
import { HELSEID_ROUTES, TEST_ORGS } from './provider.mjs';
import {
  ORG_DETAIL, JOURNAL_DETAIL, ATTEST_DETAIL, MULTI_TENANT_SYSTEM, SINGLE_TENANT_SYSTEM, DETAILS_CLAIMS,
} from './context.mjs';

export const APP_SESSION_COOKIE = 'epj_session';

/** Synthetic SFM journal ids (UUIDs) of the demo EPJ users. */
export const TEST_JOURNALS = Object.freeze({
  kvart1: '5f0c3b8e-2d4a-4c1e-9b7a-1a2b3c4d5e01',
  kvart2: '5f0c3b8e-2d4a-4c1e-9b7a-1a2b3c4d5e02',
  lege2: '5f0c3b8e-2d4a-4c1e-9b7a-1a2b3c4d5e03',
});

/**
 * TEST ONLY. The demo EPJ's passwords for its synthetic users, so that an EPJ session has to be
 * earned (POST /app-session). They are in the repository on purpose: never use them, or this way
 * of keeping passwords, for anything but the local test double.
 */
export const EPJ_TEST_PASSWORDS = Object.freeze({
  kvart: 'kvart-test-only-password',
  lege2: 'lege2-test-only-password',
  niva3: 'niva3-test-only-password',
});

/**
 * The demo EPJ's users (same keys as the HelseID test users) and what each may act for:
 * `organizations` [{ parent, children }] (the multi-tenant form needs the parent listed and the
 * child among its children; the single-tenant form needs the child among the children of the
 * client's own organisation), `journalIds`. Some entries are on purpose NOT on the test clients'
 * allow-lists, so that the OP's HID errors can be reached through the signer:
 * parent 920000003 (HID-1001 for helseid-wasm-multi), child 920000099 of 920000001 (HID-1002),
 * child 910000099 of 910000001 (HID-1002 for the single-tenant clients). `attest`: may have
 * trust-framework attests (for a patient) signed; `breakTheGlass`: may use purpose_of_use BTG.
 */
export const EPJ_USERS = Object.freeze({
  kvart: {
    organizations: [
      { parent: TEST_ORGS.singleTenantParent, children: ['910000011', '910000012', '910000099'] },
      { parent: '920000001', children: ['920000011', '920000012', '920000099'] },
      { parent: '920000002', children: ['920000021'] },
      { parent: TEST_ORGS.termsNotAccepted, children: [] },
      { parent: '920000003', children: [] },
    ],
    journalIds: [TEST_JOURNALS.kvart1, TEST_JOURNALS.kvart2],
    attest: true,
    breakTheGlass: true,
  },
  lege2: {
    organizations: [
      { parent: TEST_ORGS.singleTenantParent, children: ['910000012'] },
      { parent: '920000002', children: ['920000021'] },
    ],
    journalIds: [TEST_JOURNALS.lege2],
    attest: true,
    breakTheGlass: false,
  },
  niva3: { organizations: [], journalIds: [], attest: false, breakTheGlass: false },
});

const GRANT_ENDPOINT = {
  par: 'pushed_authorization_request',
  authorization_code: 'token',
  refresh_token: 'token',
  revocation: 'revocation',
};
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function cookieValue(req, name) {
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

const sha256 = (text) => createHash('sha256').update(String(text)).digest();
/** Whether `password` is `user`'s test password (compared in constant time). */
function passwordMatches(user, password) {
  return typeof password === 'string' && Object.hasOwn(EPJ_TEST_PASSWORDS, user)
    && timingSafeEqual(sha256(password), sha256(EPJ_TEST_PASSWORDS[user]));
}

/**
 * The signer of one double. `state`: issuer, allowedOrigins, clientById; this adds
 * state.appSessions (session id -> { user, clientId, at }; kept by reset(), so a page keeps its EPJ login)
 * and state.signerLog. `signAssertion` is the backend's signing function.
 */
export function createSigner(state, { signAssertion }) {
  state.appSessions ??= new Map();
  state.signerLog ??= [];

  /** Origin and Content-Type, the same for /app-session and /assertion. */
  function checkRequest(req) {
    const origin = req.headers.origin;
    if (!origin || !state.allowedOrigins.has(origin)) {
      throw new ApiError(403, 'origin_not_allowed', `requests must come from an allowed app origin (Origin: ${origin ?? 'none'})`);
    }
    const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') {
      throw new ApiError(415, 'invalid_request', `Content-Type must be application/json (got ${type || 'none'})`);
    }
  }

  async function jsonBody(req) {
    const raw = await readRaw(req);
    try {
      const body = raw.trim() ? JSON.parse(raw) : {};
      if (!isObject(body)) throw new Error('not an object');
      return body;
    } catch {
      throw new ApiError(400, 'invalid_request', 'the body must be a JSON object');
    }
  }

  function sessionOf(req) {
    const id = cookieValue(req, APP_SESSION_COOKIE);
    return id ? state.appSessions.get(id) : undefined;
  }

  /**
   * /app-session: POST {"user", "password", "clientId"} logs in to the demo EPJ (sets the cookie)
   * for one client id (the signer signs for no other); GET tells who is logged in, for which
   * client; DELETE logs out. Returns { status, body, headers }. Every refused POST is logged.
   */
  async function appSession(req) {
    if (req.method === 'GET') {
      const s = sessionOf(req);
      if (!s) throw new ApiError(401, 'login_required', 'no EPJ session');
      return { status: 200, body: { user: s.user, clientId: s.clientId } };
    }
    if (req.method === 'DELETE') {
      const id = cookieValue(req, APP_SESSION_COOKIE);
      if (id) state.appSessions.delete(id);
      return { status: 200, body: { loggedOut: true }, headers: { 'Set-Cookie': `${APP_SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` } };
    }
    if (req.method !== 'POST') throw new ApiError(405, 'invalid_request', 'use POST, GET or DELETE');
    const entry = { route: 'app-session', signed: false };
    try {
      checkRequest(req);
      const { user, password, clientId } = await jsonBody(req);
      Object.assign(entry, { user: typeof user === 'string' ? user.slice(0, 64) : undefined, clientId });
      if (typeof user !== 'string' || !Object.hasOwn(EPJ_USERS, user) || !passwordMatches(user, password)) {
        throw new ApiError(401, 'invalid_credentials', 'unknown EPJ user or wrong password');
      }
      if (!state.clientById.has(clientId)) {
        throw new ApiError(400, 'invalid_request', `clientId must be the test client this EPJ session signs for (${[...state.clientById.keys()].join(', ')})`);
      }
      const id = randomBytes(24).toString('base64url');
      state.appSessions.set(id, { user, clientId, at: Date.now() });
      return {
        status: 200,
        body: { user, clientId },
        headers: { 'Set-Cookie': `${APP_SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict` },
      };
    } catch (err) {
      if (err instanceof ApiError) Object.assign(entry, { status: err.status, error: err.error, error_description: err.message });
      log(entry);
      throw err;
    }
  }

  /** Why the EPJ user may not have `detail` signed (a string), or undefined when allowed. */
  function notAllowed(user, detail, client, i) {
    const u = EPJ_USERS[user];
    const orgs = u.organizations;
    const known = new Set(orgs.flatMap((o) => [o.parent, ...o.children]));
    if (!isObject(detail) || typeof detail.type !== 'string') {
      throw new ApiError(400, 'invalid_request', `assertionDetails[${i}] must be an object with a string "type"`);
    }
    if (detail.type === ORG_DETAIL) {
      const id = detail.practitioner_role?.organization?.identifier;
      if (id?.system === MULTI_TENANT_SYSTEM && typeof id.value === 'string') {
        const m = /^NO:ORGNR:([^:]*):([^:]*)$/.exec(id.value);
        if (!m) throw new ApiError(400, 'invalid_request', `assertionDetails[${i}]: identifier.value must be NO:ORGNR:<parent>:<child>`);
        const entry = orgs.find((o) => o.parent === m[1]);
        if (!entry) return `the EPJ user ${user} may not act for the organization ${m[1]}`;
        if (m[2] !== '' && !entry.children.includes(m[2])) return `the EPJ user ${user} may not act for the organization ${m[1]}:${m[2]}`;
        return undefined;
      }
      if (id?.system === SINGLE_TENANT_SYSTEM && typeof id.value === 'string') {
        const entries = client.orgnrParent ? orgs.filter((o) => o.parent === client.orgnrParent) : orgs;
        if (!entries.some((o) => o.children.includes(id.value))) return `the EPJ user ${user} may not act for the organization ${id.value}`;
        return undefined;
      }
      throw new ApiError(400, 'invalid_request', `assertionDetails[${i}] (${ORG_DETAIL}) needs practitioner_role.organization.identifier with system ${MULTI_TENANT_SYSTEM} or ${SINGLE_TENANT_SYSTEM}`);
    }
    if (detail.type === JOURNAL_DETAIL) {
      const j = detail.value?.journal_id;
      if (typeof j !== 'string') throw new ApiError(400, 'invalid_request', `assertionDetails[${i}] (${JOURNAL_DETAIL}) needs value.journal_id`);
      if (!u.journalIds.includes(j.toLowerCase())) return `the EPJ user ${user} may not open the SFM journal ${j}`;
      return undefined;
    }
    if (detail.type === ATTEST_DETAIL) {
      if (!u.attest) return `the EPJ user ${user} may not attest for a patient`;
      if (detail.care_relationship?.purpose_of_use?.code === 'BTG' && !u.breakTheGlass) {
        return `the EPJ user ${user} may not break the glass (purpose_of_use BTG)`;
      }
      const le = detail.practitioner?.legal_entity?.id;
      const poc = detail.practitioner?.point_of_care?.id;
      if (typeof le !== 'string' || typeof poc !== 'string') {
        throw new ApiError(400, 'invalid_request', `assertionDetails[${i}] (${ATTEST_DETAIL}) needs practitioner.legal_entity.id and practitioner.point_of_care.id`);
      }
      for (const [what, id] of [['legal entity', le], ['point of care', poc]]) {
        if (!known.has(id)) return `the EPJ user ${user} may not attest with ${id} as ${what}`;
      }
      for (const p of Array.isArray(detail.patients) ? detail.patients : []) {
        const id = p?.point_of_care?.id;
        if (id !== undefined && !known.has(id)) return `the EPJ user ${user} may not attest with ${id} as the patient's point of care`;
      }
      return undefined;
    }
    throw new ApiError(400, 'invalid_request', `assertionDetails[${i}] has a type the signer does not sign: ${JSON.stringify(detail.type)}`);
  }

  function log(entry) {
    state.signerLog.push({ t: Date.now(), ...entry });
    if (state.signerLog.length > 500) state.signerLog.shift();
  }

  /** POST /assertion: { status, body }. Every refusal throws an ApiError (and is logged). */
  async function assertion(req) {
    const entry = { signed: false };
    try {
      if (req.method !== 'POST') throw new ApiError(405, 'invalid_request', 'use POST');
      checkRequest(req);
      const session = sessionOf(req);
      if (!session) throw new ApiError(401, 'login_required', `no EPJ session: log in first (POST /app-session), and send the request with credentials: "include"`);
      entry.user = session.user;
      const body = await jsonBody(req);
      const { audience, endpoint, grantType, assertionDetails } = body;
      const detailsClaim = body.detailsClaim ?? 'assertion_details';
      const clientId = body.clientId ?? session.clientId;
      Object.assign(entry, { clientId, endpoint, grantType, detailsClaim, details: assertionDetails });
      const client = state.clientById.get(clientId);
      if (!client) throw new ApiError(400, 'invalid_request', `unknown clientId ${JSON.stringify(clientId)}`);
      if (clientId !== session.clientId) {
        throw new ApiError(403, 'access_denied', `the EPJ session was opened for the client ${session.clientId}, not ${clientId}`);
      }
      if (audience !== state.issuer) {
        throw new ApiError(400, 'invalid_request', `audience must be the issuer ${state.issuer}`);
      }
      const endpoints = Object.fromEntries(['pushed_authorization_request', 'token', 'revocation']
        .map((k) => [`${state.issuer}${HELSEID_ROUTES[k]}`, k]));
      const endpointName = endpoints[endpoint];
      if (!endpointName) {
        throw new ApiError(400, 'invalid_request', `endpoint must be the issuer's PAR, token or revocation endpoint (${Object.keys(endpoints).join(', ')})`);
      }
      if (grantType !== undefined && GRANT_ENDPOINT[grantType] !== endpointName) {
        throw new ApiError(400, 'invalid_request', `grantType ${JSON.stringify(grantType)} does not fit the endpoint ${endpoint}`);
      }
      if (!DETAILS_CLAIMS.includes(detailsClaim)) {
        throw new ApiError(400, 'invalid_request', `detailsClaim must be ${DETAILS_CLAIMS.join(' or ')}`);
      }
      if (assertionDetails !== undefined && !Array.isArray(assertionDetails)) {
        throw new ApiError(400, 'invalid_request', 'assertionDetails must be an array');
      }
      const details = assertionDetails ?? [];
      if (details.length && endpointName !== 'token') {
        throw new ApiError(400, 'invalid_request', 'assertionDetails only go on token-endpoint assertions');
      }
      for (const [i, d] of details.entries()) {
        const why = notAllowed(session.user, d, client, i);
        if (why) throw new ApiError(403, 'access_denied', why);
      }
      const signed = await signAssertion({
        clientId: client.clientId,
        audience,
        ...(details.length ? { assertionDetails: details, detailsClaim } : {}),
      });
      entry.signed = true;
      return { status: 200, body: { assertion: signed } };
    } catch (err) {
      if (err instanceof ApiError) Object.assign(entry, { status: err.status, error: err.error, error_description: err.message });
      throw err;
    } finally {
      log(entry);
    }
  }

  return { appSession, assertion };
}
