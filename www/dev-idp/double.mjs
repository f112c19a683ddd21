// Local "HelseID test double": a real OpenID Provider (panva's oidc-provider 9.13.3) set up to
// behave like HelseID test (PAR + PKCE S256 + private_key_jwt + DPoP with server nonces +
// resource indicators + JWT access tokens with HelseID claims + rotating refresh tokens), plus a
// small demo backend (client assertions for `assertion_provider`, and an SFM-style API that only
// takes DPoP-bound tokens). Everything listens on 127.0.0.1 only.
//
//   import { startDouble } from './www/dev-idp/double.mjs';
//   const d = await startDouble({ appOrigin: 'http://127.0.0.1:4000' });
//   d.issuer, d.apiOrigin, d.clients, d.counts(), d.reset(), d.setOptions({...}), await d.close()
//
// The parts, each given the one state object startDouble() creates (several doubles run in one
// process in tests, so nothing lives in module globals): provider.mjs (HelseID's routes, resources,
// scopes and claims, the test clients and keys, the oidc-provider configuration), interactions.mjs
// (login, consent, the user picker), control.mjs (the /__test/ control API, faults, counters,
// request log), backend.mjs (the demo backend: assertion signer and SFM-style DPoP API) and
// http-util.mjs (small shared helpers). This file owns the two servers and the OP's request
// pipeline (counting, faults, HelseID's token response extras) and returns the public object.
//
// See www/dev-idp/README.md for the full description.
import { createServer } from 'node:http';
import { USERS } from './users.mjs';
import { createMemoryAdapter } from './memory-adapter.mjs';
import { createInteractionPolicy, createInteractionRoute } from './interactions.mjs';
import { createControl, freshCounts } from './control.mjs';
import { createBackend } from './backend.mjs';
import { startPortals, PORTAL_SERVERS } from './portals.mjs';
import { sha256hex, isLoopback, listen, closeServer } from './http-util.mjs';
import { HELSEID_ROUTES, TEST_ORGS, loadTestClients, createOpSigningKeys, createProvider } from './provider.mjs';

export { FAULT_PRESETS } from './faults.mjs';
export { SFM_JOURNAL_ID_CLAIM, PORTAL_ENDPOINTS, PORTAL_SERVERS } from './portals.mjs';

export {
  HELSEID_ROUTES, SFM_RESOURCE, SFM_SCOPE, SFM_ID_CLAIM, OTHER_RESOURCE, OTHER_SCOPE, CLAIMS_BY_SCOPE,
  OIDC_SCOPES, TEST_CLIENT_DEFS, publicJwkOf, keyFileFor, loadTestClients,
  KJ_RESOURCE, KJ_SCOPE, TEST_ORGS,
} from './provider.mjs';
export {
  ORGNR_PARENT_CLAIM, ORGNR_CHILD_CLAIM, JOURNAL_ID_CLAIM, ATTEST_CLAIM, MULTI_TENANT_SYSTEM, SINGLE_TENANT_SYSTEM,
} from './context.mjs';
export { EPJ_USERS, EPJ_TEST_PASSWORDS, TEST_JOURNALS, APP_SESSION_COOKIE } from './signer.mjs';

/**
 * Starts the HelseID test double (OP + demo backend) on loopback.
 *
 * @param {object} opts
 * @param {string} [opts.host='127.0.0.1']
 * @param {number} [opts.opPort=0] 0 = ephemeral
 * @param {number} [opts.apiPort=0] 0 = ephemeral
 * @param {string} opts.appOrigin origin of the browser app (redirect URIs, CORS), e.g. http://127.0.0.1:4000
 * @param {string[]} [opts.extraOrigins=[]] more origins allowed for CORS (not for redirects)
 * @param {number} [opts.accessTokenTtl=60] seconds
 * @param {number} [opts.idTokenTtl=300] seconds
 * @param {number} [opts.refreshTokenTtl=3600] seconds
 * @param {number} [opts.apiNonceTtl=300] seconds a DPoP nonce of the demo API stays current
 * @param {boolean} [opts.autoLogin=true] complete login + consent without a page
 * @param {boolean} [opts.strictClientAssertion=true] enforce HelseID's client assertion rules
 *   (typ client-authentication+jwt, aud = issuer string, sub = iss, exp <= 60 s ahead)
 * @param {boolean} [opts.quiet=true] false: log oidc-provider error_detail to the console
 * @param {string[]} [opts.termsNotAccepted=[TEST_ORGS.termsNotAccepted]] multi-tenant parent
 *   organisations that have not accepted the terms (their token responses carry rejected_scope)
 * @param {number} [opts.sfmGatewayPort=0] portal stand-ins (portals.mjs), 0 = ephemeral: SFM session gateway,
 * @param {number} [opts.sfmClientPort=0]   SFM web client page,
 * @param {number} [opts.kjApiPort=0]       Kjernejournal innlogging API,
 * @param {number} [opts.kjWebPort=0]       Kjernejournal web
 * @param {boolean} [opts.kjRequireAttest=true] the Kjernejournal stand-in requires nhn:tillitsrammeverk:parameters
 */
export async function startDouble(opts = {}) {
  const {
    host = '127.0.0.1',
    opPort = 0,
    apiPort = 0,
    appOrigin,
    extraOrigins = [],
  } = opts;
  if (!appOrigin) throw new TypeError('startDouble: appOrigin is required (e.g. http://127.0.0.1:4000)');
  if (!isLoopback(host) && host !== 'localhost') throw new TypeError(`startDouble: host must be a loopback address, got ${host}`);
  const appOriginNorm = new URL(appOrigin).origin;
  const allowedOrigins = new Set([appOriginNorm, ...extraOrigins.map((o) => new URL(o).origin)]);

  // Mutable knobs (setOptions / POST /__test/options, control.mjs). Fault modes: control.mjs.
  const DEFAULT_OPTIONS = {
    autoLogin: opts.autoLogin ?? true,
    accessTokenTtl: opts.accessTokenTtl ?? 60,
    idTokenTtl: opts.idTokenTtl ?? 300,
    refreshTokenTtl: opts.refreshTokenTtl ?? 3600,
    apiNonceTtl: opts.apiNonceTtl ?? 300,
    strictClientAssertion: opts.strictClientAssertion ?? true,
    quiet: opts.quiet ?? true,
    termsNotAccepted: [...(opts.termsNotAccepted ?? [TEST_ORGS.termsNotAccepted])],
    kjRequireAttest: opts.kjRequireAttest ?? true,
  };

  // ---------------------------------------------------------------- clients, keys, state
  const testClients = await loadTestClients();

  // What the parts share (provider.mjs, interactions.mjs, control.mjs, backend.mjs): one object
  // per double, since several doubles run in one process in tests. issuer and apiOrigin are set
  // once the servers listen; reset() (control.mjs) replaces the counters and logs.
  const state = {
    host,
    appOrigin: appOriginNorm,
    redirectUris: ['/', '/index.html', '/e2e/app.html'].map((p) => `${appOriginNorm}${p}`),
    allowedOrigins,
    issuer: undefined,
    apiOrigin: undefined,
    // Mutable knobs (setOptions / POST /__test/options).
    options: { ...DEFAULT_OPTIONS },
    clients: testClients,
    clientById: new Map(testClients.map((c) => [c.clientId, c])),
    // The provider's own signing keys: keys.current re-signs altered tokens (provider.mjs).
    keys: await createOpSigningKeys(),
    // oidc-provider's storage (memory-adapter.mjs): revokeAllGrants() for the control API.
    storage: createMemoryAdapter(),
    // Tests only (control.mjs): counters, sha256 hex of every refresh token presented, the
    // request log, and the token responses sent (leak checks), newest last.
    counters: freshCounts(),
    rtSeen: [],
    requestLog: [],
    formsSeen: [],
    issued: [],
    // Transport faults: route name -> [{ mode, retryAfter, size }] (failNext), and the sockets
    // a `hang` or `stall` fault holds open (destroyed by reset() and close()).
    faults: new Map(),
    hungSockets: new Set(),
    // Protocol fault in force (setFault): what the OP sends, altered (faults.mjs).
    protocolFault: null,
  };

  // ---------------------------------------------------------------- servers
  // Both answer 503 until every part is wired up (the ports must be known first: the issuer).
  const starting = (req, res) => { res.statusCode = 503; res.end('starting'); };
  let opHandler = starting;
  let apiHandler = starting;
  const opServer = createServer((req, res) => opHandler(req, res));
  const apiServer = createServer((req, res) => apiHandler(req, res));
  const opActualPort = await listen(opServer, opPort, host);
  let apiActualPort;
  try {
    apiActualPort = await listen(apiServer, apiPort, host);
  } catch (err) {
    await closeServer(opServer);
    throw err;
  }
  const issuer = `http://${host}:${opActualPort}`;
  const apiOrigin = `http://${host}:${apiActualPort}`;
  state.issuer = issuer;
  state.apiOrigin = apiOrigin;
  const { redirectUris } = state;

  // ---------------------------------------------------------------- provider and interactions
  // provider.mjs: the oidc-provider instance; interactions.mjs: login, consent, the user picker.
  const provider = createProvider(state, { policy: createInteractionPolicy() });
  const interactionRoute = createInteractionRoute(provider, state);

  // ---------------------------------------------------------------- control and demo backend
  // control.mjs: /__test/..., faults, counters, request log; backend.mjs: the API server.
  let portals; // portals.mjs, started below
  const control = createControl(state, {
    rotateApiNonce: () => backend.rotateApiNonce(),
    down: (which) => down(which),
    up: (which) => up(which),
    portals: {
      reset: () => portals?.reset(),
      info: () => portals?.info() ?? {},
      snapshot: () => portals.snapshot(),
    },
  });
  const { rawFault, logRequest } = control;
  const backend = createBackend(state, control);
  // portals.mjs: the SFM and Kjernejournal stand-ins, each on its own loopback server.
  try {
    portals = await startPortals(state, control, {
      ports: { sfmGateway: opts.sfmGatewayPort, sfmClient: opts.sfmClientPort, kjApi: opts.kjApiPort, kjWeb: opts.kjWebPort },
    });
  } catch (err) {
    await Promise.all([closeServer(opServer), closeServer(apiServer)]);
    throw err;
  }

  // ---------------------------------------------------------------- OP middleware
  const ROUTE_NAMES = new Map([
    ['/.well-known/openid-configuration', 'discovery'],
    ['/.well-known/oauth-authorization-server', 'discovery'],
    [HELSEID_ROUTES.jwks, 'jwks'],
    [HELSEID_ROUTES.pushed_authorization_request, 'par'],
    [HELSEID_ROUTES.authorization, 'authorize'],
    [HELSEID_ROUTES.token, 'token'],
    [HELSEID_ROUTES.revocation, 'revocation'],
    [HELSEID_ROUTES.end_session, 'end_session'],
    [`${HELSEID_ROUTES.end_session}/confirm`, 'end_session_confirm'],
    [`${HELSEID_ROUTES.end_session}/success`, 'end_session_success'],
    [HELSEID_ROUTES.userinfo, 'userinfo'],
    [HELSEID_ROUTES.introspection, 'introspection'],
  ]);
  function routeName(path) {
    if (ROUTE_NAMES.has(path)) return ROUTE_NAMES.get(path);
    if (path.startsWith(`${HELSEID_ROUTES.authorization}/`)) return 'authorize_resume';
    if (path.startsWith('/interaction/')) return 'interaction';
    if (path.startsWith('/__test/')) return 'control';
    return 'other';
  }

  provider.use(async (ctx, next) => {
    ctx.set('Cross-Origin-Resource-Policy', 'cross-origin');
    const path = ctx.path;
    const name = routeName(path);
    const isPreflight = ctx.method === 'OPTIONS' && !!ctx.get('Access-Control-Request-Method');

    if (name === 'control') return control.controlApi(ctx);

    if (isPreflight) {
      state.counters.preflight += 1;
      state.counters.preflight_by_endpoint[name] = (state.counters.preflight_by_endpoint[name] ?? 0) + 1;
    } else {
      state.counters[name] += 1;
    }

    const fault = isPreflight ? undefined : await control.nextFault(name, { server: 'op', method: ctx.method, path }, ctx.res);
    if (fault) {
      logRequest({ server: 'op', method: ctx.method, path, name, fault: fault.mode });
      const origin = ctx.get('Origin');
      if (typeof fault.mode === 'string') {
        ctx.respond = false;
        // The browser resets connections it gives up on: not an error of the double.
        ctx.onerror = () => {};
        rawFault(ctx.req, ctx.res, fault, {
          'Cross-Origin-Resource-Policy': 'cross-origin',
          'Cache-Control': 'no-store',
          ...(origin && allowedOrigins.has(origin) ? { 'Access-Control-Allow-Origin': origin } : {}),
        });
        return undefined;
      }
      if (origin && allowedOrigins.has(origin)) ctx.set('Access-Control-Allow-Origin', origin);
      if (fault.retryAfter !== undefined) ctx.set('Retry-After', String(fault.retryAfter));
      ctx.status = fault.mode;
      ctx.body = { error: fault.mode === 503 ? 'temporarily_unavailable' : 'server_error', error_description: 'injected fault (test double)' };
      return undefined;
    }

    if (name === 'interaction') {
      await interactionRoute(ctx);
      logRequest({ server: 'op', method: ctx.method, path, name, status: ctx.status });
      return undefined;
    }

    await next();

    if ((name === 'token' || name === 'par') && ctx.method === 'POST') {
      // Tests read what each PAR and token request carried (the engines' request interception
      // does not all expose request bodies: Firefox over BiDi gives none).
      const body = ctx.oidc?.body ?? {};
      state.formsSeen.push({
        t: Date.now(),
        ep: name,
        grant: body.grant_type ?? null,
        resource: body.resource ?? null,
        clientAssertion: typeof body.client_assertion === 'string' ? body.client_assertion : null,
        status: ctx.status,
      });
      if (state.formsSeen.length > 500) state.formsSeen.shift();
    }
    if (name === 'token' && !isPreflight) {
      // ctx.oidc.body is the parsed request body (set by oidc-provider's body parser).
      const body = ctx.oidc?.body ?? {};
      const gt = body.grant_type;
      state.counters.token_by_grant[gt === 'authorization_code' || gt === 'refresh_token' ? gt : 'other'] += 1;
      if (gt === 'refresh_token' && typeof body.refresh_token === 'string') state.rtSeen.push(sha256hex(body.refresh_token));
    }
    if (name === 'token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.refresh_token) {
      // HelseID extra: refresh token lifetime in the token response.
      ctx.body.rt_expires_in = state.options.refreshTokenTtl;
    }
    if (name === 'token' && ctx.status === 200 && typeof ctx.body?.access_token === 'string') {
      // HelseID lists all granted scopes in the token response, not only the API's.
      try {
        const p = JSON.parse(Buffer.from(ctx.body.access_token.split('.')[1], 'base64url').toString('utf8'));
        if (Array.isArray(p.scope)) ctx.body.scope = p.scope.join(' ');
      } catch { /* opaque token: leave scope as is */ }
    }
    // HelseID's context details (context.mjs): rejected_scope, the log of details seen.
    if (name === 'token' && !isPreflight) state.opContext.afterTokenRequest(ctx);
    if (!isPreflight) await control.applyProtocolFault(ctx, name);
    if (name === 'token' && ctx.status === 200 && typeof ctx.body?.access_token === 'string') {
      const { access_token: accessToken, id_token: idToken, refresh_token: refreshToken } = ctx.body;
      state.issued.push({ grant: ctx.oidc?.body?.grant_type, accessToken, idToken, refreshToken });
      if (state.issued.length > 100) state.issued.shift();
    }
    const error = ctx.status >= 400 && ctx.body && typeof ctx.body === 'object' ? ctx.body.error : undefined;
    // A token request's grant and resource, so tests can order token and portal requests.
    const form = name === 'token' && !isPreflight
      ? { grant: ctx.oidc?.body?.grant_type ?? null, resource: ctx.oidc?.body?.resource ?? null } : {};
    logRequest({ server: 'op', method: ctx.method, path, name, status: ctx.status, ...form, ...(error ? { error } : {}), ...(isPreflight ? { preflight: true } : {}) });
    return undefined;
  });

  opHandler = provider.callback();
  apiHandler = backend.handler;

  // ---------------------------------------------------------------- public surface
  // "Provider down": the server stops listening (connections are refused) until up().
  const serverPorts = { op: [opServer, opActualPort], api: [apiServer, apiActualPort] };
  function serversOf(which) {
    if (which === 'both') return ['op', 'api'];
    if (which !== 'op' && which !== 'api') throw new TypeError('down/up: which is "op", "api" or "both"');
    return [which];
  }
  async function down(which = 'op') {
    if (which === 'portals' || PORTAL_SERVERS.includes(which)) return portals.down(which);
    await Promise.all(serversOf(which).map(async (w) => {
      const [server] = serverPorts[w];
      if (server.listening) await closeServer(server);
    }));
  }
  async function up(which = 'op') {
    if (closed) throw new Error('the double is closed');
    if (which === 'portals' || PORTAL_SERVERS.includes(which)) return portals.up(which);
    await Promise.all(serversOf(which).map(async (w) => {
      const [server, port] = serverPorts[w];
      if (!server.listening) await listen(server, port, host);
    }));
  }

  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    for (const socket of state.hungSockets) socket.destroy();
    await Promise.all([...[opServer, apiServer].filter((srv) => srv.listening).map(closeServer), portals.close()]);
  }

  return {
    issuer,
    apiOrigin,
    sfmGatewayOrigin: portals.sfmGatewayOrigin,
    sfmClientOrigin: portals.sfmClientOrigin,
    kjApiOrigin: portals.kjApiOrigin,
    kjWebOrigin: portals.kjWebOrigin,
    appOrigin: appOriginNorm,
    redirectUris,
    clients: testClients.map((c) => ({ clientId: c.clientId, privateJwk: c.privateJwk, alg: c.alg, sfmId: c.sfmId })),
    users: USERS,
    provider,
    counts: control.counts,
    reset: control.reset,
    setOptions: control.setOptions,
    options: control.options,
    refreshTokensSeen: control.refreshTokensSeen,
    requests: control.requests,
    detailsSeen: control.detailsSeen,
    formsSeen: control.formsSeen,
    signerLog: control.signerLog,
    rotateApiNonce: backend.rotateApiNonce,
    currentApiNonce: backend.currentApiNonce,
    signAssertion: (o) => backend.signAssertion(o),
    failNext: control.failNext,
    pendingFaults: control.pendingFaults,
    clearFaults: control.clearFaults,
    setFault: control.setFault,
    clearFault: control.clearFault,
    fault: () => structuredClone(state.protocolFault),
    issuedTokens: () => structuredClone(state.issued),
    signingKid: () => state.keys.current.kid,
    down,
    up,
    revokeAllGrants: () => state.storage.revokeAllGrants(),
    info: control.info,
    // portal stand-ins (portals.mjs, README "Portal stand-ins")
    portalCounts: portals.counts,
    sfmSessions: portals.sfmSessions,
    answerSfmClientAddress: portals.answerSfmClientAddress,
    sfmClientMessages: portals.sfmClientMessages,
    kjSessions: portals.kjSessions,
    kjWebVisits: portals.kjWebVisits,
    rotatePortalNonce: portals.rotateNonce,
    portalNonce: portals.currentNonce,
    close,
  };
}
