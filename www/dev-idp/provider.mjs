// The OpenID Provider part of the HelseID test double: HelseID's routes, resources, scopes and
// claims, the TEST-ONLY client definitions and keys, the OP's own signing keys, and the
// oidc-provider configuration that makes panva's oidc-provider 9.13.3 behave like HelseID test
// (PAR + PKCE S256 + private_key_jwt + DPoP with server nonces + resource indicators + JWT access
// tokens with HelseID claims + rotating refresh tokens). startDouble() in double.mjs composes it.
import {
  createPrivateKey,
  generateKeyPair as generateNodeKeyPair,
  randomBytes,
  sign as cryptoSign,
  constants as cryptoConstants,
} from 'node:crypto';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, exportJWK, generateKeyPair } from 'jose';
import { findUserBySub, identityClaims } from './users.mjs';
import { epoch, htmlEscape, page } from './http-util.mjs';
import { createOpContext } from './context.mjs';

// oidc-provider prints "Unsupported runtime" on Node 20 at import time (nothing else breaks).
// Keep that one line out of test output.
export const { default: Provider, interactionPolicy, errors: oidcErrors } = await (async () => {
  const warn = console.warn;
  console.warn = (...args) => {
    if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
    warn(...args);
  };
  try {
    return await import('oidc-provider');
  } finally {
    console.warn = warn;
  }
})();

const here = dirname(fileURLToPath(import.meta.url));
const KEYS_DIR = join(here, 'keys');

export const HELSEID_ROUTES = Object.freeze({
  authorization: '/connect/authorize',
  pushed_authorization_request: '/connect/par',
  token: '/connect/token',
  end_session: '/connect/endsession',
  revocation: '/connect/revocation',
  userinfo: '/connect/userinfo',
  introspection: '/connect/introspect',
  jwks: '/.well-known/openid-configuration/jwks',
});

export const SFM_RESOURCE = 'e-helse:sfm.api';
export const SFM_SCOPE = 'e-helse:sfm.api/sfm.api2';
export const SFM_ID_CLAIM = 'e-helse:sfm.api/client/claims/sfm-id';
export const OTHER_RESOURCE = 'e-helse:other.api';
export const OTHER_SCOPE = 'e-helse:other.api/api';
export const KJ_RESOURCE = 'nhn:kjernejournal';
export const KJ_SCOPE = 'nhn:kjernejournal/tillitsrammeverk';

/**
 * Resource servers (RFC 8707 indicators) the double knows. Every test client may ask for each of
 * them (resources and their scopes are global in oidc-provider). `sfm`: tokens carry the client's
 * SFM id; `attest`: tokens carry the trust-framework attest sent in the client assertion.
 */
export const RESOURCES = {
  [SFM_RESOURCE]: { scope: SFM_SCOPE, sfm: true },
  [OTHER_RESOURCE]: { scope: OTHER_SCOPE, sfm: false },
  [KJ_RESOURCE]: { scope: KJ_SCOPE, sfm: false, attest: true },
};

/** HelseID scope -> claims released for it (ID token, access token, userinfo). */
export const CLAIMS_BY_SCOPE = Object.freeze({
  openid: ['sub', 'idp', 'amr', 'auth_time'],
  profile: ['name', 'given_name', 'middle_name', 'family_name'],
  'helseid://scopes/identity/pid': ['helseid://claims/identity/pid'],
  'helseid://scopes/identity/pid_pseudonym': ['helseid://claims/identity/pid_pseudonym'],
  'helseid://scopes/identity/security_level': ['helseid://claims/identity/security_level'],
  'helseid://scopes/identity/assurance_level': ['helseid://claims/identity/assurance_level'],
  'helseid://scopes/hpr/hpr_number': ['helseid://claims/hpr/hpr_number'],
});

/** OpenID (non-resource) scopes. Resource scopes (e-helse:sfm.api/sfm.api2, ...) belong to RESOURCES. */
export const OIDC_SCOPES = Object.freeze([...Object.keys(CLAIMS_BY_SCOPE), 'offline_access']);

/**
 * Synthetic organisation numbers (9 digits, not real organisations) of the test clients' allow-
 * lists (context.mjs) and the demo EPJ users' allow-lists (signer.mjs).
 */
export const TEST_ORGS = Object.freeze({
  /** The single-tenant clients' own organisation: their tokens' orgnr_parent. */
  singleTenantParent: '910000001',
  /** Child organisations the single-tenant clients may name. */
  singleTenantChildren: Object.freeze(['910000011', '910000012']),
  /** Parent organisations the multi-tenant client may name (HID-1001 for any other). */
  multiTenantParents: Object.freeze(['920000001', '920000002', '920000009']),
  /** Child organisations the multi-tenant client may name (HID-1002 for any other). */
  multiTenantChildren: Object.freeze(['920000011', '920000012', '920000021']),
  /** A multi-tenant parent that has not accepted the terms (default of option termsNotAccepted). */
  termsNotAccepted: '920000009',
});

/**
 * Client ids, their key algorithm, their fixed SFM id (single-tenant SFM clients) and what they
 * may send as organisation context (context.mjs): `tenancy` 'single' (the child organisation
 * only; orgnr_parent is the client's own `orgnrParent`) or 'multi' (parent and child, each on an
 * allow-list); `orgNumbers: false` = the client may not send organisation numbers (HID-1010).
 * Keys: www/dev-idp/keys/.
 */
export const TEST_CLIENT_DEFS = Object.freeze([
  {
    clientId: 'helseid-wasm-rs256', alg: 'RS256', sfmId: '7f6b1a52-3c1e-4f0e-9d55-0b6c3e2a9a01',
    tenancy: 'single', orgnrParent: TEST_ORGS.singleTenantParent, childOrgs: TEST_ORGS.singleTenantChildren,
  },
  {
    clientId: 'helseid-wasm-es256', alg: 'ES256', sfmId: 'c2d1e0f4-8a9b-4c3d-b2e1-5f6a7b8c9d02',
    tenancy: 'single', orgnrParent: TEST_ORGS.singleTenantParent, childOrgs: TEST_ORGS.singleTenantChildren,
  },
  {
    // Multi-tenant (an EPJ vendor's client serving many organisations): no SFM id; SFM tokens
    // carry nhn:sfm:journal-id when a journal id is sent.
    clientId: 'helseid-wasm-multi', alg: 'ES256',
    tenancy: 'multi', parentOrgs: TEST_ORGS.multiTenantParents, childOrgs: TEST_ORGS.multiTenantChildren,
  },
  {
    // A client whose configuration does not allow organisation numbers (HID-1010).
    clientId: 'helseid-wasm-noorg', alg: 'RS256', sfmId: '0d3c2b1a-9e8f-4a7b-8c6d-5e4f3a2b1c03',
    tenancy: 'single', orgNumbers: false,
  },
]);

export const SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];
export const DPOP_ALGS = SIGNING_ALGS; // HelseID's dpop_signing_alg_values_supported
export const IDP = 'testidp-oidc';

export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
export function publicJwkOf(jwk) {
  const pub = { ...jwk };
  for (const m of PRIVATE_MEMBERS) delete pub[m];
  return pub;
}

export function keyFileFor(clientId) {
  return join(KEYS_DIR, `TEST-ONLY-${clientId}.private.jwk.json`);
}

/** Loads the committed TEST-ONLY client keys. */
export async function loadTestClients() {
  return Promise.all(TEST_CLIENT_DEFS.map(async (def) => {
    let privateJwk;
    try {
      privateJwk = JSON.parse(await readFile(keyFileFor(def.clientId), 'utf8'));
    } catch (cause) {
      throw new Error(`missing test key for ${def.clientId}: run node www/dev-idp/generate-keys.mjs`, { cause });
    }
    if (privateJwk.alg !== def.alg || !privateJwk.kid) {
      throw new Error(`test key for ${def.clientId} must have alg ${def.alg} and a kid`);
    }
    return { ...def, privateJwk: Object.freeze(privateJwk) };
  }));
}

/**
 * The provider's own RS256 signing key (ID tokens and access tokens); HelseID-like 40-hex kid.
 * `jwk` is the private JWK oidc-provider signs with. `current` is the key tokens are (re-)signed
 * with when a fault alters them; a rotation (fault `rotateSigningKey`) replaces it, restore()
 * (reset()) puts the original back. `verifier` knows every public key the OP has signed with (the
 * API accepts tokens signed by any of them, also after restore()).
 */
export async function createOpSigningKeys() {
  const { privateKey: opPrivateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const opSigningJwk = {
    ...(await exportJWK(opPrivateKey)),
    kid: randomBytes(20).toString('hex').toUpperCase(),
    alg: 'RS256',
    use: 'sig',
  };
  // Every public key the OP has signed with (the API accepts tokens signed by any of them).
  const publishedKeys = [publicJwkOf(opSigningJwk)];
  const original = keyHandle(opSigningJwk);
  const keys = {
    jwk: opSigningJwk,
    original,
    current: original,
    verifier: createLocalJWKSet({ keys: publishedKeys }),
    /** true while tokens are signed with a rotated key */
    get rotated() { return keys.current !== original; },
    async rotate() {
      const { privateKey } = await promisify(generateNodeKeyPair)('rsa', { modulusLength: 2048 });
      const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(20).toString('hex').toUpperCase(), alg: 'RS256', use: 'sig' };
      keys.current = keyHandle(jwk);
      publishedKeys.push(keys.current.publicJwk);
      keys.verifier = createLocalJWKSet({ keys: publishedKeys });
      return keys.current.kid;
    },
    restore() { keys.current = original; },
  };
  return keys;
}

/** A private JWK as { kid, publicJwk, sign(alg, input) } (RS*, PS*): re-signs altered tokens. */
function keyHandle(jwk) {
  const keyObject = createPrivateKey({ key: jwk, format: 'jwk' });
  return {
    kid: jwk.kid,
    publicJwk: publicJwkOf(jwk),
    async sign(alg, input) {
      const hash = `sha${alg.slice(2)}`;
      const options = alg.startsWith('PS')
        ? { key: keyObject, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 }
        : keyObject;
      return cryptoSign(hash, Buffer.from(input), options);
    },
  };
}

/**
 * The oidc-provider configuration of the double. `state` is the state object of startDouble()
 * (options, issuer, redirectUris, allowedOrigins, clients, clientById, keys, storage; the
 * TTLs and strictClientAssertion are read from state.options at each use, so setOptions() applies
 * at once); `policy` is the interaction policy (interactions.mjs).
 */
export function providerConfiguration(state, { policy }) {
  // HelseID's context details in client assertions (context.mjs): one per double.
  state.opContext ??= createOpContext(state, { InvalidRequest: oidcErrors.InvalidRequest });
  const { opContext } = state;
  const resourceServerInfo = (indicator, ctx) => {
    const r = RESOURCES[indicator];
    if (!r) throw new oidcErrors.InvalidTarget(`unknown resource indicator ${indicator}`);
    return {
      // At the token endpoint, less when the organisation has not accepted the terms.
      scope: ctx ? opContext.resourceScope(ctx, indicator, r.scope) : r.scope,
      audience: indicator,
      accessTokenTTL: state.options.accessTokenTtl,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    };
  };

  const oidcScopeSet = new Set(OIDC_SCOPES);

  // HelseID's client assertion rules (strictClientAssertion): header typ client-authentication+jwt,
  // sub = iss, aud = the issuer as one string, exp at most 60 s ahead.
  function assertHelseIdAssertionRules(claims, header) {
    if (header.typ !== 'client-authentication+jwt') {
      throw new oidcErrors.InvalidClientAuth('client assertion header typ must be client-authentication+jwt');
    }
    if (claims.sub !== claims.iss) {
      throw new oidcErrors.InvalidClientAuth('client assertion sub must equal iss (the client_id)');
    }
    if (typeof claims.aud !== 'string' || claims.aud !== state.issuer) {
      throw new oidcErrors.InvalidClientAuth('client assertion aud must be the issuer, as a single string');
    }
    if (claims.exp > epoch() + 60 + 15) {
      throw new oidcErrors.InvalidClientAuth('client assertion exp must be at most 60 seconds ahead');
    }
  }

  return {
    adapter: state.storage.adapter,
    clients: state.clients.map((c) => ({
      client_id: c.clientId,
      client_name: `helseid-wasm test client (${c.alg}, TEST ONLY)`,
      application_type: 'web',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: c.alg,
      jwks: { keys: [publicJwkOf(c.privateJwk)] },
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: state.redirectUris,
      post_logout_redirect_uris: state.redirectUris,
      dpop_bound_access_tokens: true,
      id_token_signed_response_alg: 'RS256',
    })),
    jwks: { keys: [state.keys.jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    routes: { ...HELSEID_ROUTES },
    scopes: [...OIDC_SCOPES],
    claims: {
      acr: null,
      sid: null,
      auth_time: null,
      iss: null,
      ...CLAIMS_BY_SCOPE,
    },
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['private_key_jwt'],
    enabledJWA: {
      clientAuthSigningAlgValues: SIGNING_ALGS,
      dPoPSigningAlgValues: DPOP_ALGS,
      idTokenSigningAlgValues: ['RS256'],
      requestObjectSigningAlgValues: SIGNING_ALGS,
      userinfoSigningAlgValues: ['RS256'],
      introspectionSigningAlgValues: ['RS256'],
      authorizationSigningAlgValues: ['RS256'],
    },
    features: {
      devInteractions: { enabled: false },
      pushedAuthorizationRequests: {
        enabled: true,
        requirePushedAuthorizationRequests: true,
      },
      dPoP: {
        enabled: true,
        nonceSecret: randomBytes(32),
        requireNonce: () => true,
      },
      resourceIndicators: {
        enabled: true,
        // Like HelseID (Duende): with no resource parameter, derive it from the API scopes asked
        // for; at the token endpoint a single granted resource is used.
        async defaultResource(ctx, client, oneOf) {
          if (oneOf) {
            if (Array.isArray(oneOf) && oneOf.length === 1) return oneOf[0];
            return oneOf;
          }
          if (ctx.oidc.route === 'token') return undefined;
          const scopes = new Set((ctx.oidc.params?.scope ?? '').split(' '));
          const derived = Object.entries(RESOURCES)
            .filter(([, r]) => r.scope.split(' ').some((s) => scopes.has(s)))
            .map(([id]) => id);
          if (derived.length === 0) return undefined;
          return derived.length === 1 ? derived[0] : derived;
        },
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, indicator) => resourceServerInfo(indicator, ctx),
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => {
          if (token.clientId !== client.clientId) {
            throw new oidcErrors.InvalidRequest('client is not authorized to revoke the presented token');
          }
          return true;
        },
      },
      introspection: {
        enabled: true,
        allowedPolicy: async () => true,
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // Confirm automatically: the browser goes straight back to post_logout_redirect_uri.
        async logoutSource(ctx, form) {
          const auto = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
          ctx.type = 'html';
          ctx.body = page('Signing out', `<h1>Signing out…</h1>
${auto}
<noscript><p><button type="submit" form="op.logoutForm">Continue signing out</button></p></noscript>
<script>document.getElementById('op.logoutForm').submit();</script>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = page('Signed out', '<h1>Signed out</h1><p>You are signed out of the HelseID test double.</p>');
        },
      },
    },
    extraTokenClaims: async (ctx, token) => {
      if (token.kind !== 'AccessToken' && token.kind !== 'ClientCredentials') return undefined;
      const client = state.clientById.get(token.clientId);
      const extra = { client_amr: 'private_key_jwt' };
      const resource = token.resourceServer?.identifier();
      if (client?.sfmId && RESOURCES[resource]?.sfm) extra[SFM_ID_CLAIM] = client.sfmId;
      // Organisation, SFM journal id, attest: from the details of this token request's assertion.
      Object.assign(extra, opContext.extraClaims(ctx, token, RESOURCES[resource]));
      if (token.accountId) {
        const user = findUserBySub(token.accountId);
        const grant = ctx?.oidc?.entities?.Grant
          ?? (token.grantId ? await ctx.oidc.provider.Grant.find(token.grantId) : undefined);
        const granted = new Set((grant?.getOIDCScope() ?? '').split(' '));
        if (user) {
          const claims = identityClaims(user);
          for (const [scope, names] of Object.entries(CLAIMS_BY_SCOPE)) {
            if (!granted.has(scope)) continue;
            for (const n of names) if (claims[n] !== undefined) extra[n] = claims[n];
          }
          extra.idp = IDP;
          extra.amr = ['pwd'];
        }
      }
      return extra;
    },
    formats: {
      customizers: {
        // HelseID: `scope` is a JSON array (OpenID scopes + this API's scopes), and nbf = iat.
        async jwt(ctx, token, jwt) {
          const source = ctx?.oidc?.entities?.AuthorizationCode ?? ctx?.oidc?.entities?.RefreshToken;
          const atScopes = new Set((token.scope ?? '').split(' ').filter(Boolean));
          const sourceScopes = (source?.scope ?? token.scope ?? '').split(' ').filter(Boolean);
          const list = sourceScopes.filter((s) => oidcScopeSet.has(s) || atScopes.has(s));
          for (const s of atScopes) if (!list.includes(s)) list.push(s);
          jwt.payload.scope = list;
          jwt.payload.nbf = jwt.payload.iat;
        },
      },
    },
    issueRefreshToken: async (ctx, client, source) => (
      client.grantTypeAllowed('refresh_token') && source.scopes.has('offline_access')
    ),
    rotateRefreshToken: true,
    clientBasedCORS: (ctx, origin) => state.allowedOrigins.has(origin),
    ttl: {
      AccessToken: () => state.options.accessTokenTtl,
      IdToken: () => state.options.idTokenTtl,
      RefreshToken: () => state.options.refreshTokenTtl,
      AuthorizationCode: () => 60,
      ClientCredentials: () => state.options.accessTokenTtl,
      Interaction: () => 600,
      Session: () => 8 * 3600,
      Grant: () => Math.max(8 * 3600, state.options.refreshTokenTtl * 2),
      DeviceCode: () => 600,
      BackchannelAuthenticationRequest: () => 600,
    },
    interactions: {
      policy,
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async findAccount(ctx, sub) {
      const user = findUserBySub(sub);
      if (!user) return undefined;
      return {
        accountId: user.sub,
        async claims() {
          return { sub: user.sub, idp: IDP, ...identityClaims(user) };
        },
      };
    },
    // HelseID rules for client assertions on top of oidc-provider's own checks (iss = client_id,
    // signature, exp, unique jti, aud among issuer/endpoint): header typ
    // client-authentication+jwt, sub = iss, aud = the issuer as one string, exp at most 60 s ahead.
    // Called once the signature is verified: then the context details of a token request are
    // read and checked (context.mjs; HID-10xx errors).
    async assertJwtClientAuthClaimsAndHeader(ctx, claims, header) {
      if (state.options.strictClientAssertion) assertHelseIdAssertionRules(claims, header);
      opContext.onVerifiedAssertion(ctx, claims);
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('HelseID test double: error', `<h1>Error</h1>
<dl>${Object.entries(out).map(([k, v]) => `<dt>${htmlEscape(k)}</dt><dd>${htmlEscape(v)}</dd>`).join('')}</dl>`);
    },
  };
}

/** The oidc-provider instance for the state object `state` (see providerConfiguration). */
export function createProvider(state, { policy }) {
  const provider = new Provider(state.issuer, providerConfiguration(state, { policy }));
  provider.proxy = false;

  // oidc-provider drops `offline_access` from an authorization request unless prompt=consent is
  // sent (OIDC Core 11). HelseID issues refresh tokens for `offline_access` without it. Treat such
  // requests as if they carried prompt=consent: consent is granted by the interaction
  // (interactions.mjs, automatically), so nothing changes for the client except that
  // offline_access stays.
  {
    const proto = provider.OIDCContext.prototype;
    const desc = Object.getOwnPropertyDescriptor(proto, 'prompts');
    const offlineRoutes = new Set(['authorization', 'pushed_authorization_request', 'resume']);
    Object.defineProperty(proto, 'prompts', {
      configurable: true,
      get() {
        const prompts = desc.get.call(this);
        if (offlineRoutes.has(this.route) && !prompts.has('none')
          && String(this.params?.scope ?? '').split(' ').includes('offline_access')) {
          prompts.add('consent');
        }
        return prompts;
      },
    });
  }

  const errorEvents = [
    'authorization.error', 'pushed_authorization_request.error', 'grant.error', 'revocation.error',
    'end_session.error', 'end_session_confirm.error', 'userinfo.error', 'introspection.error',
    'jwks.error', 'discovery.error', 'server_error', 'resume.error', 'interaction.error',
  ];
  for (const ev of errorEvents) {
    provider.on(ev, (ctx, err) => {
      if (ev === 'server_error' || !state.options.quiet) {
        console.error(`[helseid-double] ${ev}: ${err?.error ?? err?.name}: ${err?.error_description ?? err?.message}${err?.error_detail ? ` (detail: ${err.error_detail})` : ''}`);
        if (ev === 'server_error') console.error(err);
      }
    });
  }
  return provider;
}
