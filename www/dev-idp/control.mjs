// The loopback control API of the HelseID test double (`/__test/...` on the OP, tests only) and
// what it drives: the mutable options, counters, refresh tokens seen, the request log, the token
// responses sent, and the fault injection glue (transport faults: failNext, takeFault, nextFault, rawFault;
// protocol faults: setFault, applyProtocolFault; see faults.mjs and README.md). Everything lives
// on the state object of startDouble() (double.mjs), never in module globals.
import { Readable } from 'node:stream';
import { USERS } from './users.mjs';
import { FAULT_PRESETS, resolveFault, alterJwt, alterMembers, alterQuery } from './faults.mjs';
import { isLoopback, readJson } from './http-util.mjs';
import { RESOURCES } from './provider.mjs';
import { EPJ_USERS } from './signer.mjs';
import { PORTAL_SERVERS } from './portals.mjs';

/** The options setOptions() takes (POST /__test/options) and their types. */
const OPTION_TYPES = {
  autoLogin: 'boolean',
  accessTokenTtl: 'number',
  idTokenTtl: 'number',
  refreshTokenTtl: 'number',
  apiNonceTtl: 'number',
  strictClientAssertion: 'boolean',
  quiet: 'boolean',
  termsNotAccepted: 'orgnr[]',
  kjRequireAttest: 'boolean',
};

/** Zeroed counters: counts() and reset(). */
export const freshCounts = () => ({
  discovery: 0,
  jwks: 0,
  par: 0,
  authorize: 0,
  authorize_resume: 0,
  interaction: 0,
  token: 0,
  token_by_grant: { authorization_code: 0, refresh_token: 0, other: 0 },
  revocation: 0,
  end_session: 0,
  end_session_confirm: 0,
  end_session_success: 0,
  userinfo: 0,
  introspection: 0,
  api: 0,
  assertion: 0,
  app_session: 0,
  other: 0,
  preflight: 0,
  preflight_by_endpoint: {},
});

// Transport faults for the next requests to an endpoint (tests only): `drop` closes the
// connection without an answer (the browser sees a network error); a number answers that HTTP
// status with an OAuth error body (CORS headers set, so the browser can read it); `hang` never
// answers; `stall` sends 200 headers and half a JSON body, then nothing; `invalid-json` answers
// 200 with a body that is not JSON; `huge` answers 200 with `size` bytes (default 30 MiB) and a
// Content-Length; `huge-chunked` the same without Content-Length. Route names are those of
// counts() (`token`, `par`, `discovery`, `jwks`, ...), plus `api` and `assertion` on the API server,
// and the portal stand-ins' endpoints (PORTAL_ENDPOINTS in portals.mjs: `sfm-create`, `kj-create`, ...).
// `delay` and `delay-response` are not failures: the request waits `ms` milliseconds before the
// server sees it, or the server handles it at once and its answer is held back `ms` (the answer
// is the real one, only late: races such as a logout during a refresh).
const DELAY_MODES = new Set(['delay', 'delay-response']);
const TRANSPORT_MODES = new Set(['drop', 'hang', 'stall', 'invalid-json', 'huge', 'huge-chunked', ...DELAY_MODES]);

/**
 * The control part of one double. `state` is the state object of startDouble(): this reads and
 * replaces its options, counters, rtSeen, requestLog, issued, faults, hungSockets,
 * protocolFault, and uses keys, storage, issuer, apiOrigin, appOrigin, redirectUris, clients.
 * `hooks` are parts that live elsewhere: rotateApiNonce() (backend.mjs), down() and up()
 * (double.mjs), portals.{reset, info, snapshot}() (portals.mjs), called at request time.
 */
export function createControl(state, hooks) {
  function failNext({ endpoint, mode = 'drop', count = 1, retryAfter, size, ms } = {}) {
    if (typeof endpoint !== 'string') throw new TypeError('failNext: endpoint (a route name such as "token") is required');
    if (!TRANSPORT_MODES.has(mode) && !(Number.isInteger(mode) && mode >= 400 && mode <= 599)) {
      throw new TypeError(`failNext: mode is an HTTP error status or one of ${[...TRANSPORT_MODES].join(', ')}`);
    }
    if (size !== undefined && !(Number.isInteger(size) && size > 0)) throw new TypeError('failNext: size must be a positive integer');
    if (DELAY_MODES.has(mode) !== (ms !== undefined)) throw new TypeError('failNext: ms goes with the modes "delay" and "delay-response" (and only with them)');
    if (ms !== undefined && !(Number.isInteger(ms) && ms > 0 && ms <= 120_000)) throw new TypeError('failNext: ms must be an integer from 1 to 120000');
    const queue = state.faults.get(endpoint) ?? [];
    for (let i = 0; i < count; i += 1) queue.push({ mode, retryAfter, size, ...(ms !== undefined ? { ms } : {}) });
    state.faults.set(endpoint, queue);
    return { endpoint, pending: queue.length };
  }
  /** Transport faults still queued for `name`. */
  function pendingFaults(name) {
    return state.faults.get(name)?.length ?? 0;
  }
  /** Drops every queued transport fault (the counters and logs stay). */
  function clearFaults() {
    state.faults.clear();
  }
  function takeFault(name) {
    const queue = state.faults.get(name);
    return queue?.length ? queue.shift() : undefined;
  }
  /**
   * The next transport fault for `name` that the caller must answer (see takeFault), or
   * undefined. A `delay` fault is waited out here (then undefined: the request goes on as
   * usual); a `delay-response` fault holds back the end of `res` (the raw Node response) by its
   * `ms`, and the request goes on at once.
   */
  async function nextFault(name, where = {}, res = undefined) {
    const fault = takeFault(name);
    if (!DELAY_MODES.has(fault?.mode)) return fault;
    logRequest({ ...where, name, fault: fault.mode, ms: fault.ms });
    if (fault.mode === 'delay' || !res) {
      await new Promise((resolve) => { setTimeout(resolve, fault.ms); });
      return undefined;
    }
    const end = res.end.bind(res);
    res.end = (...args) => {
      setTimeout(() => { if (!res.destroyed) end(...args); }, fault.ms);
      return res;
    };
    return undefined;
  }
  /** Answers a transport fault on a raw Node response (status faults are answered by the caller). */
  function rawFault(req, res, fault, headers) {
    const socket = req.socket;
    if (fault.mode === 'drop') {
      socket.destroy();
      return;
    }
    if (fault.mode === 'hang' || fault.mode === 'stall') {
      state.hungSockets.add(socket);
      socket.once('close', () => state.hungSockets.delete(socket));
      if (fault.mode === 'stall') {
        res.writeHead(200, { ...headers, 'Content-Type': 'application/json' });
        res.write('{"access_token":"');
      }
      return;
    }
    if (fault.mode === 'invalid-json') {
      const body = '{"access_token": "x", "token_type": <html>not JSON';
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    // huge, huge-chunked
    const size = fault.size ?? 30 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let left = size;
    const stream = new Readable({
      read() {
        if (left <= 0) { this.push(null); return; }
        const n = Math.min(left, chunk.length);
        left -= n;
        this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
      },
    });
    res.writeHead(200, {
      ...headers,
      'Content-Type': 'application/json',
      ...(fault.mode === 'huge' ? { 'Content-Length': size } : {}),
    });
    stream.on('error', () => {});
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  }

  // Protocol faults (tests only): what the OP sends, altered (see faults.mjs and README.md).

  /**
   * Puts the OP into a protocol fault until clearFault() or reset(): a preset name, a fault
   * object, or a list of them (see faults.mjs). Resolves to the fault in force.
   */
  async function setFault(spec) {
    const f = resolveFault(spec);
    if (f.rotateSigningKey) await state.keys.rotate();
    state.protocolFault = f;
    return structuredClone(f);
  }
  function clearFault() {
    state.protocolFault = null;
  }

  /** Alters an OP response after oidc-provider made it (protocol faults and key rotation). */
  async function applyProtocolFault(ctx, name) {
    const f = state.protocolFault;
    const rotated = state.keys.rotated;
    if (!f && !rotated) return;
    const body = ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body) ? ctx.body : undefined;
    if (name === 'token' && ctx.status === 200 && body) {
      const applies = !f?.grant || f.grant === ctx.oidc?.body?.grant_type;
      for (const [member, section] of [['id_token', 'idToken'], ['access_token', 'accessToken']]) {
        if (typeof body[member] !== 'string') continue;
        const tf = applies ? f?.[section] : undefined;
        if (tf || rotated) body[member] = await alterJwt(body[member], tf ?? {}, state.keys.current);
      }
      if (applies && f?.tokenResponse) alterMembers(body, f.tokenResponse);
    } else if (name === 'jwks' && ctx.status === 200 && body) {
      let keys = rotated ? [state.keys.current.publicJwk] : body.keys;
      if (f?.jwks?.removeKid) keys = keys.map(({ kid, ...k }) => k);
      ctx.body = { ...body, keys: keys.map((k) => ({ ...k })) };
    } else if (name === 'discovery' && ctx.status === 200 && body && f?.discovery) {
      ctx.body = alterMembers({ ...body }, f.discovery);
    } else if ((name === 'authorize' || name === 'authorize_resume') && f?.authorizationResponse
      && ctx.status >= 300 && ctx.status < 400) {
      const location = ctx.response.get('Location');
      const target = location ? URL.parse(location) : null;
      if (target && state.redirectUris.includes(`${target.origin}${target.pathname}`)
        && (target.searchParams.has('code') || target.searchParams.has('error'))) {
        ctx.set('Location', alterQuery(location, f.authorizationResponse));
      }
    }
  }

  function setOptions(partial = {}) {
    if (typeof partial !== 'object' || partial === null) throw new TypeError('options must be an object');
    for (const [k, v] of Object.entries(partial)) {
      if (!(k in OPTION_TYPES)) throw new TypeError(`unknown option ${k}`);
      if (OPTION_TYPES[k] === 'orgnr[]') {
        if (!Array.isArray(v) || !v.every((o) => typeof o === 'string' && /^\d{9}$/.test(o))) {
          throw new TypeError(`option ${k} must be an array of 9-digit organisation numbers`);
        }
        partial = { ...partial, [k]: [...v] };
        continue;
      }
      if (typeof v !== OPTION_TYPES[k]) throw new TypeError(`option ${k} must be a ${OPTION_TYPES[k]}`);
      if (OPTION_TYPES[k] === 'number' && !(Number.isInteger(v) && v > 0)) {
        throw new TypeError(`option ${k} must be a positive integer`);
      }
    }
    Object.assign(state.options, partial);
    return options();
  }
  function options() {
    return structuredClone(state.options);
  }

  function logRequest(entry) {
    state.requestLog.push({ t: Date.now(), ...entry });
    if (state.requestLog.length > 1000) state.requestLog.shift();
  }

  function counts() {
    return structuredClone(state.counters);
  }
  function reset() {
    state.faults.clear();
    state.protocolFault = null;
    state.keys.restore();
    for (const socket of state.hungSockets) socket.destroy();
    state.hungSockets.clear();
    state.counters = freshCounts();
    state.rtSeen = [];
    state.requestLog = [];
    state.formsSeen = [];
    state.issued = [];
    state.detailsSeen = [];
    state.signerLog = [];
    hooks.portals?.reset();
  }
  function refreshTokensSeen() {
    return [...state.rtSeen];
  }
  function requests() {
    return structuredClone(state.requestLog);
  }
  /** Every PAR and token POST: endpoint, grant_type, resource, the raw client assertion, status. */
  function formsSeen() {
    return structuredClone(state.formsSeen);
  }
  /** Every token request whose client assertion was verified, with the details it carried (context.mjs). */
  function detailsSeen() {
    return structuredClone(state.detailsSeen ?? []);
  }
  /** What the demo signer signed and refused (signer.mjs). */
  function signerLog() {
    return structuredClone(state.signerLog ?? []);
  }
  function info() {
    return {
      issuer: state.issuer,
      apiOrigin: state.apiOrigin,
      appOrigin: state.appOrigin,
      redirectUris: state.redirectUris,
      clients: state.clients.map((c) => ({
        clientId: c.clientId, alg: c.alg, kid: c.privateJwk.kid, sfmId: c.sfmId,
        tenancy: c.tenancy, orgnrParent: c.orgnrParent, parentOrgs: c.parentOrgs, childOrgs: c.childOrgs,
        orgNumbers: c.orgNumbers !== false,
      })),
      epjUsers: structuredClone(EPJ_USERS),
      users: USERS.map((u) => ({ key: u.key, sub: u.sub, pid: u.pid, hpr: u.hpr, security_level: u.security_level, name: u.name })),
      resources: Object.fromEntries(Object.entries(RESOURCES).map(([k, v]) => [k, v.scope])),
      options: options(),
      ...hooks.portals?.info(),
    };
  }

  // ---------------------------------------------------------------- control API (/__test/)
  async function controlApi(ctx) {
    const origin = ctx.get('Origin');
    if (origin && state.allowedOrigins.has(origin)) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.vary('Origin');
    }
    ctx.set('Cache-Control', 'no-store');
    if (!isLoopback(ctx.req.socket.remoteAddress)) {
      ctx.status = 403;
      ctx.body = { error: 'forbidden' };
      return;
    }
    if (ctx.method === 'OPTIONS') {
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, DELETE');
      ctx.set('Access-Control-Allow-Headers', 'Content-Type');
      ctx.status = 204;
      return;
    }
    const route = `${ctx.method} ${ctx.path}`;
    try {
      switch (route) {
        case 'GET /__test/counts': ctx.body = counts(); return;
        case 'POST /__test/reset': reset(); ctx.body = counts(); return;
        case 'GET /__test/options': ctx.body = options(); return;
        case 'POST /__test/options': ctx.body = setOptions(await readJson(ctx.req)); return;
        case 'GET /__test/refresh-tokens': ctx.body = refreshTokensSeen(); return;
        case 'GET /__test/requests': ctx.body = requests(); return;
        case 'GET /__test/details-seen': ctx.body = detailsSeen(); return;
        case 'GET /__test/signer-log': ctx.body = signerLog(); return;
        case 'POST /__test/api-nonce/rotate': ctx.body = { nonce: hooks.rotateApiNonce() }; return;
        case 'GET /__test/info': ctx.body = info(); return;
        case 'POST /__test/fail-next': ctx.body = failNext(await readJson(ctx.req)); return;
        case 'POST /__test/revoke-all': state.storage.revokeAllGrants(); ctx.body = { revoked: true }; return;
        case 'GET /__test/fault': ctx.body = { fault: state.protocolFault, presets: Object.keys(FAULT_PRESETS) }; return;
        case 'POST /__test/fault': ctx.body = { fault: await setFault(await readJson(ctx.req)) }; return;
        case 'DELETE /__test/fault': clearFault(); ctx.body = { fault: null }; return;
        case 'POST /__test/api/down': await hooks.down('api'); ctx.body = { api: 'down' }; return;
        case 'POST /__test/api/up': await hooks.up('api'); ctx.body = { api: 'up' }; return;
        case 'GET /__test/portals': ctx.body = hooks.portals.snapshot(); return;
        case 'POST /__test/portals/down': case 'POST /__test/portals/up': {
          const which = (await readJson(ctx.req)).which ?? 'portals';
          if (which !== 'portals' && !PORTAL_SERVERS.includes(which)) throw new TypeError(`which is "portals" or one of ${PORTAL_SERVERS.join(', ')}`);
          await hooks[ctx.path.endsWith('/down') ? 'down' : 'up'](which);
          ctx.body = { [which]: ctx.path.endsWith('/down') ? 'down' : 'up' };
          return;
        }
        default:
          ctx.status = 404;
          ctx.body = { error: 'not_found', routes: ['GET /__test/counts', 'POST /__test/reset', 'GET|POST /__test/options', 'GET /__test/refresh-tokens', 'GET /__test/requests', 'GET /__test/details-seen', 'GET /__test/signer-log', 'POST /__test/api-nonce/rotate', 'GET /__test/info', 'POST /__test/fail-next', 'POST /__test/revoke-all', 'GET|POST|DELETE /__test/fault', 'POST /__test/api/down', 'POST /__test/api/up', 'GET /__test/portals', 'POST /__test/portals/down', 'POST /__test/portals/up'] };
      }
    } catch (err) {
      ctx.status = err.status ?? 400;
      ctx.body = { error: 'invalid_request', error_description: err.message };
    }
  }

  return {
    failNext,
    pendingFaults,
    clearFaults,
    takeFault,
    nextFault,
    rawFault,
    setFault,
    clearFault,
    applyProtocolFault,
    setOptions,
    options,
    logRequest,
    counts,
    reset,
    refreshTokensSeen,
    requests,
    detailsSeen,
    formsSeen,
    signerLog,
    info,
    controlApi,
  };
}
