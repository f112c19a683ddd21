// Stand-ins for the national portals a web EPJ embeds (tests and demo only), each on its own
// loopback server and origin, next to the HelseID test double:
//
//   SFM session gateway   (sfmGatewayOrigin)  POST /api/v2/Session/create|refresh|end, /api/v2/PatientTicket
//                                             (also without /v2), DPoP-bound tokens for e-helse:sfm.api;
//                                             plus the two calls of the SFM web client page:
//                                             POST /api/v2/Session/login, POST /api/v2/Session/patient
//   SFM web client page   (sfmClientOrigin)   GET /sfm-client/ (portal-pages/sfm-client.html), the iframe
//   Kjernejournal innlogging (kjApiOrigin)    POST /api/session/create|refresh|end, GET /api/session/ping,
//                                             DPoP-bound tokens for nhn:kjernejournal
//   Kjernejournal web     (kjWebOrigin)       GET /hentpasient.html?code=...&ehr_code_verifier=..., GET /loggut
//
// The facts they follow: ../../shared/helseid/README.md ("SFM", "Kjernejournal portal session"),
// ThulaSource/WebEPJSampleApp (2025) and NorskHelsenett/kjernejournal-innlogging-klient. The
// request and answer shapes, checks and statuses are listed in README.md ("Portal stand-ins").
// startDouble() (double.mjs) starts them with the state object and control part it owns; the
// counters, sessions and messages live here, one set per double, cleared by reset().
import { createServer } from 'node:http';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDpopVerifier, dpopChallenge, PortalError } from './dpop-verifier.mjs';
import { listen, closeServer, readRaw, htmlEscape, page, sha256b64u, sha256hex } from './http-util.mjs';
import { SFM_RESOURCE, SFM_ID_CLAIM, KJ_RESOURCE } from './provider.mjs';
import { JOURNAL_ID_CLAIM as SFM_JOURNAL_ID_CLAIM, ATTEST_CLAIM } from './context.mjs';

export { SFM_JOURNAL_ID_CLAIM };

const here = dirname(fileURLToPath(import.meta.url));
const PAGES_DIR = join(here, 'portal-pages');

const PID = 'helseid://claims/identity/pid';
const HPR = 'helseid://claims/hpr/hpr_number';
const LEVEL = 'helseid://claims/identity/security_level';
const ORGNR_PARENT = 'helseid://claims/client/claims/orgnr_parent';

/** The four portal servers (names for down()/up(), `server` in the request log). */
export const PORTAL_SERVERS = Object.freeze(['sfm-gateway', 'sfm-client', 'kj-api', 'kj-web']);

/** Endpoint names: counters, failNext({ endpoint }), the request log. */
export const PORTAL_ENDPOINTS = Object.freeze([
  'sfm-create', 'sfm-refresh', 'sfm-end', 'sfm-ticket', 'sfm-login', 'sfm-patient', 'sfm-client',
  'kj-create', 'kj-refresh', 'kj-end', 'kj-ping', 'kj-web', 'kj-web-logout',
]);

/** Zeroed portal counters: every request per endpoint, `ok` the 2xx answers among them. */
export const freshPortalCounts = () => ({
  ...Object.fromEntries(PORTAL_ENDPOINTS.map((e) => [e, 0])),
  ok: Object.fromEntries(PORTAL_ENDPOINTS.map((e) => [e, 0])),
  sfm_legacy_path: 0,
  other: 0,
  preflight: 0,
  preflight_by_endpoint: {},
});

/** Authorisation codes of Volven 9060 (HPR) that `practitioner_authorization.code` may carry. */
export const KJ_AUTHORIZATION_CODES = Object.freeze([
  'AA', 'AT', 'AU', 'BI', 'ET', 'FA1', 'FA2', 'FB', 'FO', 'FT', 'HE', 'HF', 'HP', 'JO', 'KE', 'KI', 'LE',
  'MT', 'NP', 'OA', 'OI', 'OP', 'OR', 'OS', 'PE', 'PM', 'PS', 'RA', 'SP', 'TH', 'TL', 'TP', 'TT', 'VE', 'VP', 'XX',
]);
export const KJ_ACCESS_BASIS_CODES = Object.freeze(['SAMTYKKE', 'AKUTT', 'UNNTAK']);

/** How long a one-time code (SFM session code, Kjernejournal code) and an SFM patient ticket live. */
const CODE_TTL = 300;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const B64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
const FNR_RE = /^\d{11}$/;

const bad = (d) => new PortalError(400, 'invalid_request', d);

/** Standard base64 of exactly `bytes` bytes (canonical: re-encoding gives the same text). */
function base64Of(value, bytes) {
  if (typeof value !== 'string' || !B64_RE.test(value)) return undefined;
  const buf = Buffer.from(value, 'base64');
  return buf.length === bytes && buf.toString('base64') === value ? buf : undefined;
}

async function readJsonBody(req) {
  const raw = await readRaw(req);
  if (!raw.trim()) throw bad('the body must be JSON');
  try {
    return JSON.parse(raw);
  } catch {
    throw bad('the body must be JSON');
  }
}
async function readObjectBody(req) {
  const body = await readJsonBody(req);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw bad('the body must be a JSON object');
  return body;
}
async function readEmptyBody(req, what) {
  if ((await readRaw(req)).trim()) throw bad(`${what} takes no body`);
}

/** `obj` has exactly the members `keys` (any order), each a string unless said otherwise. */
function exactMembers(obj, keys, where) {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw bad(`${where} must be an object`);
  const have = Object.keys(obj).sort().join(',');
  if (have !== [...keys].sort().join(',')) throw bad(`${where} must have exactly the members ${keys.join(', ')}`);
  for (const k of keys) if (typeof obj[k] !== 'string') throw bad(`${where}.${k} must be a string`);
}

function portalPage(title, body, status = 'ok') {
  return page(title, body, {
    lang: 'no',
    banner: 'Kjernejournal <strong>stand-in</strong> of the HelseID test double (127.0.0.1): synthetic data only.',
    status,
  });
}

/**
 * Starts the four portal servers of one double. `state` is the state object of startDouble()
 * (host, issuer, keys.verifier, allowedOrigins, options.apiNonceTtl, options.kjRequireAttest,
 * options.quiet); `control` its control part (nextFault, rawFault, logRequest). `ports`:
 * { sfmGateway, sfmClient, kjApi, kjWeb } (0 = ephemeral).
 */
export async function startPortals(state, control, { ports = {} } = {}) {
  const { host } = state;
  const servers = {};
  const origins = {};
  const handlers = {};
  const portOf = {
    'sfm-gateway': ports.sfmGateway ?? 0,
    'sfm-client': ports.sfmClient ?? 0,
    'kj-api': ports.kjApi ?? 0,
    'kj-web': ports.kjWeb ?? 0,
  };
  try {
    for (const name of PORTAL_SERVERS) {
      servers[name] = createServer((req, res) => handlers[name](req, res));
      const port = await listen(servers[name], portOf[name], host);
      portOf[name] = port;
      origins[name] = `http://${host}:${port}`;
    }
  } catch (err) {
    await Promise.all(Object.values(servers).filter((s) => s.listening).map(closeServer));
    throw err;
  }
  const sfmGatewayOrigin = origins['sfm-gateway'];
  const sfmClientOrigin = origins['sfm-client'];
  const kjApiOrigin = origins['kj-api'];
  const kjWebOrigin = origins['kj-web'];
  const sfmClientAddress = `${sfmClientOrigin}/sfm-client/`;
  const sfmApiAddress = `${sfmGatewayOrigin}/sfm-api`;

  // ---------------------------------------------------------------- state (reset() replaces it)
  const freshState = () => ({
    counts: freshPortalCounts(),
    sfmSessions: new Map(), // id -> session
    sfmByKey: new Map(), // `${sub}|${client_id}` -> id of the newest session
    sfmCodes: new Map(), // code -> id
    sfmTickets: new Map(), // ticket -> { sessionId, patientPid, createdAt, used }
    sfmClientSessions: new Map(), // clientSession (the page's handle after login) -> id
    sfmMessages: [],
    kjSessions: new Map(), // sessionId -> session
    kjCodes: new Map(), // code -> sessionId
    kjEventIds: new Set(),
    kjWebVisits: [],
    // answerSfmClientAddress(): the clientAddress Session/create answers instead of the stand-in's.
    sfmClientAddress: undefined,
  });
  let ps = freshState();

  // ---------------------------------------------------------------- token checks
  const invalidToken = (d) => new PortalError(401, 'invalid_token', d);
  function checkIdentity(t) {
    if (String(t[LEVEL]) !== '4') throw invalidToken(`security level 4 required (${LEVEL} is ${t[LEVEL] ?? 'missing'})`);
    if (typeof t[PID] !== 'string' || !t[PID]) throw invalidToken(`access token has no ${PID}`);
    if (typeof t[HPR] !== 'string' || !t[HPR]) throw invalidToken(`access token has no ${HPR}`);
  }
  const sfmVerifier = createDpopVerifier(state, {
    origin: () => sfmGatewayOrigin,
    audience: SFM_RESOURCE,
    checkClaims(t) {
      if (!t[SFM_ID_CLAIM] && !t[SFM_JOURNAL_ID_CLAIM]) {
        throw invalidToken(`access token has no SFM id claim (${SFM_ID_CLAIM} or ${SFM_JOURNAL_ID_CLAIM})`);
      }
      checkIdentity(t);
    },
  });
  const kjVerifier = createDpopVerifier(state, {
    origin: () => kjApiOrigin,
    audience: KJ_RESOURCE,
    checkClaims(t) {
      checkIdentity(t);
      const attest = t[ATTEST_CLAIM];
      const present = (typeof attest === 'string' && attest.length > 0)
        || (attest && typeof attest === 'object' && Object.keys(attest).length > 0);
      if (state.options.kjRequireAttest && !present) throw invalidToken(`access token has no ${ATTEST_CLAIM} (trust-framework attest)`);
    },
  });
  const userOf = (t) => ({
    sub: t.sub,
    pid: t[PID],
    hpr: t[HPR],
    name: t.name ?? [t.given_name, t.middle_name, t.family_name].filter(Boolean).join(' '),
    securityLevel: String(t[LEVEL]),
  });
  const keyOf = (t) => `${t.sub}|${t.client_id}`;

  // ---------------------------------------------------------------- SFM session gateway
  function currentSfmSession(token) {
    const id = ps.sfmByKey.get(keyOf(token));
    const s = id && ps.sfmSessions.get(id);
    if (!s) throw new PortalError(404, 'session_not_found', 'no SFM session for this user and client');
    if (s.ended) throw new PortalError(409, 'session_ended', `the SFM session ${s.id} has ended`);
    return s;
  }

  const sfmDpopRoutes = {
    async 'sfm-create'(req, url, legacy) {
      const { token, jkt } = await sfmVerifier.verify(req, url);
      const body = await readObjectBody(req);
      if (!base64Of(body.nonce, 64)) {
        throw bad('nonce must be the standard base64 of a SHA-512 hash (64 bytes): {"nonce": base64(SHA-512(64 random bytes))}');
      }
      const key = keyOf(token);
      const previous = ps.sfmSessions.get(ps.sfmByKey.get(key));
      if (previous && !previous.ended) Object.assign(previous, { ended: true, endedAt: Date.now(), endedBy: 'replaced' });
      const id = randomUUID();
      const code = randomBytes(32).toString('base64url');
      const s = {
        id,
        code,
        nonceHash: body.nonce,
        pathForm: legacy ? 'legacy' : 'v2',
        clientAddress: ps.sfmClientAddress ?? sfmClientAddress,
        apiAddress: sfmApiAddress,
        user: userOf(token),
        clientId: token.client_id,
        sfmId: token[SFM_ID_CLAIM],
        journalId: token[SFM_JOURNAL_ID_CLAIM],
        orgnrParent: token[ORGNR_PARENT],
        jkt,
        createdAt: Date.now(),
        codeRedeemed: false,
        loggedIn: false,
        loginAt: undefined,
        metadata: undefined,
        refreshed: 0,
        ended: false,
        endedAt: undefined,
        endedBy: undefined,
        tickets: [],
        patient: undefined,
      };
      ps.sfmSessions.set(id, s);
      ps.sfmByKey.set(key, id);
      ps.sfmCodes.set(code, id);
      return {
        status: 200,
        json: {
          id,
          code,
          clientAddress: s.clientAddress,
          apiAddress: sfmApiAddress,
          metadata: {
            patientportal: `${sfmClientAddress}?portal=patientportal`,
            displayportal: `${sfmClientAddress}?portal=displayportal`,
          },
        },
      };
    },
    async 'sfm-refresh'(req, url) {
      const { token } = await sfmVerifier.verify(req, url);
      await readEmptyBody(req, 'Session/refresh');
      const s = currentSfmSession(token);
      s.refreshed += 1;
      s.lastRefreshAt = Date.now();
      return { status: 204 };
    },
    async 'sfm-end'(req, url) {
      const { token } = await sfmVerifier.verify(req, url);
      await readEmptyBody(req, 'Session/end');
      const s = currentSfmSession(token);
      Object.assign(s, { ended: true, endedAt: Date.now(), endedBy: 'end' });
      return { status: 204 };
    },
    async 'sfm-ticket'(req, url) {
      const { token } = await sfmVerifier.verify(req, url);
      const body = await readObjectBody(req);
      if (typeof body.patientPid !== 'string' || !FNR_RE.test(body.patientPid)) {
        throw bad('body must be {"patientPid": "<fødselsnummer or d-nummer, 11 digits>"}');
      }
      const s = currentSfmSession(token);
      const ticket = randomBytes(32).toString('base64url');
      ps.sfmTickets.set(ticket, { sessionId: s.id, patientPid: body.patientPid, createdAt: Date.now(), used: false });
      s.tickets.push({ patientPid: body.patientPid, ticket, createdAt: Date.now() });
      return { status: 200, json: ticket };
    },
  };

  // The SFM web client page's calls (CORS for sfmClientOrigin, no DPoP: the one-time code and
  // the nonce are its credentials, then the clientSession handle it gets back).
  const sfmPageRoutes = {
    async 'sfm-login'(req) {
      const body = await readObjectBody(req);
      const id = typeof body.code === 'string' ? ps.sfmCodes.get(body.code) : undefined;
      const s = id && ps.sfmSessions.get(id);
      if (!s) throw new PortalError(400, 'invalid_grant', 'unknown session code');
      if (s.codeRedeemed) throw new PortalError(400, 'invalid_grant', 'the session code was used before');
      if (s.ended) throw new PortalError(400, 'invalid_grant', 'the SFM session has ended');
      if (Date.now() - s.createdAt > CODE_TTL * 1000) throw new PortalError(400, 'invalid_grant', 'the session code has expired');
      s.codeRedeemed = true; // one attempt per code
      const nonce = base64Of(body.nonce, 64);
      if (!nonce) throw new PortalError(400, 'invalid_nonce', 'nonce must be the standard base64 of 64 bytes');
      if (!createHash('sha512').update(nonce).digest().equals(Buffer.from(s.nonceHash, 'base64'))) {
        throw new PortalError(400, 'invalid_nonce', 'SHA-512 of the nonce does not match the hash given at Session/create');
      }
      if (body.apiEndpoint !== s.apiAddress) {
        throw bad(`apiEndpoint must be the apiAddress of Session/create (${s.apiAddress}), got ${JSON.stringify(body.apiEndpoint ?? null)}`);
      }
      const md = body.metadata;
      if (md !== undefined && md !== null) {
        if (typeof md !== 'object' || Array.isArray(md)) throw bad('metadata must be an object');
        for (const [k, v] of Object.entries(md)) if (typeof v !== 'string') throw bad(`metadata.${k} must be a string`);
        const pseudo = md['x-practitioner-pseudo'];
        if (pseudo !== undefined && pseudo.toLowerCase() !== sha256hex(s.user.hpr)) {
          throw bad('metadata x-practitioner-pseudo must be the hex SHA-256 of the HPR number of the session user');
        }
        const poc = md['x-point-of-care'];
        if (poc !== undefined && !/^\d{9}$/.test(poc)) throw bad('metadata x-point-of-care must be a 9-digit organisation number');
        if (poc !== undefined && s.orgnrParent && poc !== s.orgnrParent) {
          throw bad(`metadata x-point-of-care must be the orgnr_parent of the access token (${s.orgnrParent})`);
        }
      }
      s.loggedIn = true;
      s.loginAt = Date.now();
      s.metadata = md ?? null;
      const clientSession = randomBytes(24).toString('base64url');
      ps.sfmClientSessions.set(clientSession, s.id);
      return {
        status: 200,
        json: { clientSession, sessionId: s.id, user: { name: s.user.name, hpr: s.user.hpr }, metadata: s.metadata },
      };
    },
    async 'sfm-patient'(req) {
      const body = await readObjectBody(req);
      const id = typeof body.clientSession === 'string' ? ps.sfmClientSessions.get(body.clientSession) : undefined;
      const s = id && ps.sfmSessions.get(id);
      if (!s) throw new PortalError(401, 'invalid_token', 'not logged in');
      if (s.ended) throw new PortalError(409, 'session_ended', 'the SFM session has ended');
      const t = typeof body.ticket === 'string' ? ps.sfmTickets.get(body.ticket) : undefined;
      if (!t || t.sessionId !== s.id) throw new PortalError(400, 'invalid_ticket', 'unknown patient ticket');
      if (t.used) throw new PortalError(400, 'invalid_ticket', 'the patient ticket was used before');
      if (Date.now() - t.createdAt > CODE_TTL * 1000) throw new PortalError(400, 'invalid_ticket', 'the patient ticket has expired');
      t.used = true;
      const options = {};
      for (const k of ['showAllergies', 'showLib', 'onBehalfOf', 'encounterIdentifier']) if (body[k] !== undefined) options[k] = body[k];
      s.patient = { patientPid: t.patientPid, options, at: Date.now() };
      return { status: 200, json: { patientPid: t.patientPid, options } };
    },
  };

  function sfmGatewayRoute(method, path) {
    const m = /^\/api(\/v2)?\/(Session\/create|Session\/refresh|Session\/end|PatientTicket|Session\/login|Session\/patient)$/.exec(path);
    if (!m) return undefined;
    const name = {
      'Session/create': 'sfm-create',
      'Session/refresh': 'sfm-refresh',
      'Session/end': 'sfm-end',
      PatientTicket: 'sfm-ticket',
      'Session/login': 'sfm-login',
      'Session/patient': 'sfm-patient',
    }[m[2]];
    const page = name === 'sfm-login' || name === 'sfm-patient';
    return {
      name,
      method: 'POST',
      legacy: !m[1],
      dpop: !page,
      corsOrigins: page ? new Set([sfmClientOrigin]) : state.allowedOrigins,
      allowHeaders: page ? 'Content-Type' : 'Authorization, DPoP, Content-Type',
      run: (req, url) => (page ? sfmPageRoutes[name](req, url) : sfmDpopRoutes[name](req, url, !m[1])),
    };
  }

  // ---------------------------------------------------------------- SFM web client page
  function sfmClientRoute(method, path) {
    if (path === '/sfm-client/' || path === '/sfm-client/index.html') {
      return { name: 'sfm-client', method: 'GET', run: sfmClientPage };
    }
    if (path === '/sfm-client/sfm-client.js') return { name: null, method: 'GET', run: () => pageFile('sfm-client.js', 'text/javascript; charset=utf-8') };
    if (path === '/sfm-client/record') return { name: null, method: 'POST', run: recordSfmMessage };
    return undefined;
  }
  const frameAncestors = () => [...state.allowedOrigins].join(' ');
  async function sfmClientPage() {
    const html = (await readFile(join(PAGES_DIR, 'sfm-client.html'), 'utf8')).replaceAll('%%SFM_GATEWAY%%', htmlEscape(sfmGatewayOrigin));
    return {
      status: 200,
      html,
      headers: {
        'Content-Security-Policy': `default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self' ${sfmGatewayOrigin}; frame-ancestors ${frameAncestors()}`,
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Referrer-Policy': 'no-referrer',
      },
    };
  }
  async function pageFile(file, type) {
    return { status: 200, raw: await readFile(join(PAGES_DIR, file)), headers: { 'Content-Type': type } };
  }
  async function recordSfmMessage(req) {
    if (req.headers.origin !== sfmClientOrigin) throw new PortalError(403, 'forbidden', 'only the SFM client page records');
    const entry = await readObjectBody(req);
    ps.sfmMessages.push({ ...entry, receivedAt: Date.now() });
    if (ps.sfmMessages.length > 500) ps.sfmMessages.shift();
    return { status: 204 };
  }

  // ---------------------------------------------------------------- Kjernejournal innlogging
  function kjHeaders(req, { eventIdRequired }) {
    const source = req.headers['x-source-system'];
    if (typeof source !== 'string' || source.length < 3 || source.length > 512) {
      throw bad('X-SOURCE-SYSTEM must be 3 to 512 characters');
    }
    const eventId = req.headers['x-event-id'];
    if (eventId === undefined && !eventIdRequired) return { source };
    if (typeof eventId !== 'string' || !UUID_RE.test(eventId)) throw bad('X-EVENT-ID must be a UUID');
    return { source, eventId };
  }
  function kjClaims(claims) {
    if (!claims || typeof claims !== 'object' || Array.isArray(claims)) throw bad('claims must be an object');
    const names = ['patient_identifier', 'practitioner_authorization', 'access_basis'];
    if (Object.keys(claims).sort().join(',') !== [...names].sort().join(',')) {
      throw bad(`claims must have exactly the members ${names.join(', ')}`);
    }
    const pi = claims.patient_identifier;
    exactMembers(pi, ['id', 'system', 'authority'], 'claims.patient_identifier');
    if (!FNR_RE.test(pi.id)) throw bad('claims.patient_identifier.id must be a fødselsnummer or d-nummer (11 digits)');
    if (pi.system !== 'urn:oid:2.16.578.1.12.4.1.4.1') throw bad('claims.patient_identifier.system must be urn:oid:2.16.578.1.12.4.1.4.1');
    if (pi.authority !== 'https://www.skatteetaten.no') throw bad('claims.patient_identifier.authority must be https://www.skatteetaten.no');
    const pa = claims.practitioner_authorization;
    exactMembers(pa, ['code', 'system', 'assigner'], 'claims.practitioner_authorization');
    if (!KJ_AUTHORIZATION_CODES.includes(pa.code)) throw bad('claims.practitioner_authorization.code must be an authorisation code of Volven 9060 (LE, SP, ...)');
    if (pa.system !== 'urn:oid:2.16.578.1.12.4.1.1.9060') throw bad('claims.practitioner_authorization.system must be urn:oid:2.16.578.1.12.4.1.1.9060');
    if (pa.assigner !== 'https://www.helsedirektoratet.no/') throw bad('claims.practitioner_authorization.assigner must be https://www.helsedirektoratet.no/');
    const ab = claims.access_basis;
    exactMembers(ab, ['code', 'system', 'assigner'], 'claims.access_basis');
    if (!KJ_ACCESS_BASIS_CODES.includes(ab.code)) throw bad(`claims.access_basis.code must be one of ${KJ_ACCESS_BASIS_CODES.join(', ')}`);
    if (ab.system !== 'SYSTEM_GRUNNLAG') throw bad('claims.access_basis.system must be SYSTEM_GRUNNLAG');
    if (ab.assigner !== 'https://nhn.no') throw bad('claims.access_basis.assigner must be https://nhn.no');
  }
  function kjSessionOf(token, body) {
    if (typeof body.sessionId !== 'string' || !body.sessionId) throw bad('body must be {"sessionId": "<from api/session/create>"}');
    const s = ps.kjSessions.get(body.sessionId);
    if (!s) throw new PortalError(404, 'session_not_found', 'unknown Kjernejournal session');
    if (s.user.sub !== token.sub || s.clientId !== token.client_id) {
      throw new PortalError(403, 'access_denied', 'the session belongs to another user or client');
    }
    if (s.ended) throw new PortalError(409, 'session_ended', `the Kjernejournal session ${s.sessionId} has ended`);
    return s;
  }
  const kjRoutes = {
    async 'kj-create'(req, url) {
      const { token, jkt } = await kjVerifier.verify(req, url);
      const { source, eventId } = kjHeaders(req, { eventIdRequired: true });
      if (ps.kjEventIds.has(eventId.toLowerCase())) throw bad('X-EVENT-ID was used before: send a fresh UUID per event');
      const body = await readObjectBody(req);
      if (Object.keys(body).sort().join(',') !== 'claims,ehr_code_challenge') {
        throw bad('body must be {"ehr_code_challenge": "...", "claims": {...}}');
      }
      if (typeof body.ehr_code_challenge !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(body.ehr_code_challenge)) {
        throw bad('ehr_code_challenge must be base64url(SHA-256(verifier)), 43 characters');
      }
      kjClaims(body.claims);
      ps.kjEventIds.add(eventId.toLowerCase());
      const sessionId = randomUUID();
      const code = randomBytes(32).toString('base64url');
      ps.kjSessions.set(sessionId, {
        sessionId,
        code,
        challenge: body.ehr_code_challenge,
        claims: structuredClone(body.claims),
        patient: body.claims.patient_identifier.id,
        accessBasis: body.claims.access_basis.code,
        practitionerAuthorization: body.claims.practitioner_authorization.code,
        sourceSystem: source,
        eventId,
        user: userOf(token),
        clientId: token.client_id,
        attest: token[ATTEST_CLAIM],
        jkt,
        createdAt: Date.now(),
        codeUsed: false,
        webOpened: false,
        refreshed: 0,
        ended: false,
        endedAt: undefined,
      });
      ps.kjCodes.set(code, sessionId);
      return { status: 200, json: { code, sessionId } };
    },
    async 'kj-refresh'(req, url) {
      const { token } = await kjVerifier.verify(req, url);
      kjHeaders(req, { eventIdRequired: false });
      const s = kjSessionOf(token, await readObjectBody(req));
      s.refreshed += 1;
      s.lastRefreshAt = Date.now();
      return { status: 204 };
    },
    async 'kj-end'(req, url) {
      const { token } = await kjVerifier.verify(req, url);
      kjHeaders(req, { eventIdRequired: false });
      const s = kjSessionOf(token, await readObjectBody(req));
      s.ended = true;
      s.endedAt = Date.now();
      return { status: 204 };
    },
    async 'kj-ping'(req, url) {
      await kjVerifier.verify(req, url);
      kjHeaders(req, { eventIdRequired: false });
      return { status: 200, json: { status: 'ok' } };
    },
  };
  function kjApiRoute(method, path) {
    const name = {
      '/api/session/create': 'kj-create',
      '/api/session/refresh': 'kj-refresh',
      '/api/session/end': 'kj-end',
      '/api/session/ping': 'kj-ping',
    }[path];
    if (!name) return undefined;
    return {
      name,
      method: name === 'kj-ping' ? 'GET' : 'POST',
      dpop: true,
      corsOrigins: state.allowedOrigins,
      allowHeaders: 'Authorization, DPoP, Content-Type, X-SOURCE-SYSTEM, X-EVENT-ID',
      run: (req, url) => kjRoutes[name](req, url),
    };
  }

  // ---------------------------------------------------------------- Kjernejournal web
  function kjWebRoute(method, path) {
    if (path === '/hentpasient.html') return { name: 'kj-web', method: 'GET', run: hentPasient };
    if (path === '/loggut') {
      return {
        name: 'kj-web-logout',
        method: 'GET',
        run: async () => ({ status: 200, html: portalPage('Kjernejournal: logget ut', '<h1>Logget ut</h1><p id="status">You are logged out of the Kjernejournal stand-in.</p>') }),
      };
    }
    return undefined;
  }
  async function hentPasient(req, url) {
    const code = url.searchParams.get('code');
    const verifier = url.searchParams.get('ehr_code_verifier');
    const visit = { at: Date.now(), ok: false };
    ps.kjWebVisits.push(visit);
    const fail = (reason) => {
      visit.error = reason;
      return {
        status: 400,
        html: portalPage('Kjernejournal: feil', `<h1>Kjernejournal could not open the patient</h1>
<p class="error" id="error" role="alert">${htmlEscape(reason)}</p>`, 'error'),
      };
    };
    if (!code || !verifier) return fail('code and ehr_code_verifier are required');
    const sessionId = ps.kjCodes.get(code);
    const s = sessionId && ps.kjSessions.get(sessionId);
    if (!s) return fail('unknown code');
    visit.sessionId = s.sessionId;
    if (s.codeUsed) return fail('the code was used before');
    s.codeUsed = true; // one attempt per code
    if (s.ended) return fail('the Kjernejournal session has ended');
    if (Date.now() - s.createdAt > CODE_TTL * 1000) return fail('the code has expired');
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return fail('ehr_code_verifier must be 43 to 128 characters of [A-Za-z0-9._~-]');
    if (sha256b64u(verifier) !== s.challenge) return fail('ehr_code_verifier does not match the ehr_code_challenge');
    s.webOpened = true;
    s.webOpenedAt = Date.now();
    visit.ok = true;
    return {
      status: 200,
      html: portalPage('Kjernejournal: pasient', `<h1>Kjernejournal (stand-in)</h1>
<p id="status" role="status">Patient opened</p>
<dl>
<dt>Patient</dt><dd id="patient">${htmlEscape(s.patient)}</dd>
<dt>Access basis</dt><dd id="access-basis">${htmlEscape(s.accessBasis)}</dd>
<dt>User</dt><dd id="user">${htmlEscape(s.user.name)} (HPR ${htmlEscape(s.user.hpr)}, ${htmlEscape(s.practitionerAuthorization)})</dd>
<dt>Source system</dt><dd id="source-system">${htmlEscape(s.sourceSystem)}</dd>
<dt>Session</dt><dd id="session">${htmlEscape(s.sessionId)}</dd>
</dl>`),
    };
  }

  // ---------------------------------------------------------------- one handler per server
  const ROUTERS = {
    'sfm-gateway': sfmGatewayRoute,
    'sfm-client': sfmClientRoute,
    'kj-api': kjApiRoute,
    'kj-web': kjWebRoute,
  };
  const DPOP_SERVERS = { 'sfm-gateway': sfmVerifier, 'kj-api': kjVerifier };

  function makeHandler(server) {
    const origin = origins[server];
    const verifier = DPOP_SERVERS[server];
    return async function handler(req, res) {
      const url = new URL(req.url, origin);
      const path = url.pathname;
      const route = ROUTERS[server](req.method, path);
      const reqOrigin = req.headers.origin;
      const cors = { Vary: 'Origin' };
      if (route?.corsOrigins && reqOrigin && route.corsOrigins.has(reqOrigin)) {
        cors['Access-Control-Allow-Origin'] = reqOrigin;
        cors['Access-Control-Expose-Headers'] = 'DPoP-Nonce, WWW-Authenticate';
      }
      const common = {
        ...cors,
        'Cache-Control': 'no-store',
        'Cross-Origin-Resource-Policy': 'cross-origin',
        ...(verifier ? { 'DPoP-Nonce': verifier.currentNonce() } : {}),
      };
      const send = (status, { json, html, raw, headers = {} } = {}) => {
        const h = { ...common, ...headers };
        if (json !== undefined) {
          res.writeHead(status, { ...h, 'Content-Type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify(json));
        } else if (html !== undefined) {
          res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', ...h });
          res.end(html);
        } else if (raw !== undefined) {
          res.writeHead(status, h);
          res.end(raw);
        } else {
          res.writeHead(status, h);
          res.end();
        }
      };
      const log = (entry) => control.logRequest({ server, method: req.method, path, name: route?.name ?? 'other', ...entry });

      if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
        ps.counts.preflight += 1;
        const key = route?.name ?? 'other';
        ps.counts.preflight_by_endpoint[key] = (ps.counts.preflight_by_endpoint[key] ?? 0) + 1;
        send(204, {
          headers: route?.corsOrigins ? {
            'Access-Control-Allow-Methods': route.method,
            'Access-Control-Allow-Headers': route.allowHeaders,
            'Access-Control-Max-Age': '600',
          } : {},
        });
        log({ status: 204, preflight: true });
        return;
      }
      if (!route) {
        ps.counts.other += 1;
        send(404, { json: { error: 'not_found', error_description: `no route ${req.method} ${path}` } });
        log({ status: 404 });
        return;
      }
      if (route.name) {
        ps.counts[route.name] += 1;
        if (route.legacy && route.dpop) ps.counts.sfm_legacy_path += 1;
        const fault = await control.nextFault(route.name, { server, method: req.method, path }, res);
        if (fault) {
          log({ fault: fault.mode });
          if (typeof fault.mode === 'string') {
            control.rawFault(req, res, fault, { ...cors, 'Cross-Origin-Resource-Policy': 'cross-origin' });
          } else {
            send(fault.mode, {
              json: { error: fault.mode === 503 ? 'temporarily_unavailable' : 'server_error', error_description: 'injected fault (test double)' },
              headers: fault.retryAfter !== undefined ? { 'Retry-After': String(fault.retryAfter) } : {},
            });
          }
          return;
        }
      }
      let status = 500;
      let error;
      try {
        if (req.method !== route.method) {
          throw new PortalError(405, 'method_not_allowed', `use ${route.method}`, { Allow: route.method });
        }
        const out = await route.run(req, url);
        status = out.status;
        send(out.status, out);
        if (route.name && status >= 200 && status < 300) ps.counts.ok[route.name] += 1;
      } catch (err) {
        if (err instanceof PortalError) {
          status = err.status;
          error = err.error;
          const headers = { ...err.extra };
          if (err.status === 401 && route.dpop) headers['WWW-Authenticate'] = dpopChallenge(err);
          send(err.status, { json: err.error ? { error: err.error, error_description: err.message } : { error_description: err.message }, headers });
          if (!state.options.quiet) console.error(`[helseid-double] ${server} ${req.method} ${path}: ${err.status} ${err.error ?? ''} ${err.message}`);
        } else {
          status = err.status ?? 500;
          error = status === 500 ? 'server_error' : 'invalid_request';
          send(status, { json: { error, error_description: err.message } });
          if (status === 500) console.error(`[helseid-double] ${server} error`, err);
        }
      } finally {
        log({ status, ...(error ? { error } : {}) });
      }
    };
  }
  for (const name of PORTAL_SERVERS) handlers[name] = makeHandler(name);

  // ---------------------------------------------------------------- public part
  function serversOf(which) {
    if (which === 'portals') return [...PORTAL_SERVERS];
    if (!PORTAL_SERVERS.includes(which)) throw new TypeError(`down/up: which is one of ${PORTAL_SERVERS.join(', ')}, "portals"`);
    return [which];
  }
  let closed = false;
  async function down(which) {
    await Promise.all(serversOf(which).map(async (n) => { if (servers[n].listening) await closeServer(servers[n]); }));
  }
  async function up(which) {
    if (closed) throw new Error('the double is closed');
    await Promise.all(serversOf(which).map(async (n) => { if (!servers[n].listening) await listen(servers[n], portOf[n], host); }));
  }
  async function close() {
    closed = true;
    await Promise.all(Object.values(servers).filter((s) => s.listening).map(closeServer));
  }

  const rotateNonce = (which) => {
    if (which === 'sfm') return sfmVerifier.rotateNonce();
    if (which === 'kj') return kjVerifier.rotateNonce();
    throw new TypeError('rotatePortalNonce: which is "sfm" or "kj"');
  };
  const currentNonce = (which) => {
    if (which === 'sfm') return sfmVerifier.currentNonce();
    if (which === 'kj') return kjVerifier.currentNonce();
    throw new TypeError('portalNonce: which is "sfm" or "kj"');
  };
  const info = () => ({
    sfmGatewayOrigin,
    sfmClientOrigin,
    sfmClientAddress,
    sfmApiAddress,
    kjApiOrigin,
    kjWebOrigin,
    kjResource: KJ_RESOURCE,
  });

  const accessors = {
    counts: () => structuredClone(ps.counts),
    sfmSessions: () => structuredClone([...ps.sfmSessions.values()]),
    sfmClientMessages: () => structuredClone(ps.sfmMessages),
    kjSessions: () => structuredClone([...ps.kjSessions.values()]),
    kjWebVisits: () => structuredClone(ps.kjWebVisits),
  };
  return {
    sfmGatewayOrigin,
    sfmClientOrigin,
    sfmClientAddress,
    sfmApiAddress,
    kjApiOrigin,
    kjWebOrigin,
    ...accessors,
    reset() { ps = freshState(); },
    /** Session/create answers `address` as clientAddress until reset() (tests of the client's check). */
    answerSfmClientAddress(address) {
      if (typeof address !== 'string') throw new TypeError('answerSfmClientAddress takes a string');
      ps.sfmClientAddress = address;
    },
    rotateNonce,
    currentNonce,
    info,
    /** Everything for GET /__test/portals. */
    snapshot: () => Object.fromEntries(Object.entries(accessors).map(([k, f]) => [k, f()])),
    down,
    up,
    close,
  };
}

