//! The browser shell: the JavaScript API of API.md over the protocol core. It performs the I/O
//! the core decides on: fetch, WebCrypto, storage, timers, tabs, `location`.

mod api_fetch;
mod auth_server;
mod client;
mod crypto;
mod dpop;
mod dpop_send;
mod flight;
mod flows;
mod host;
mod host_link;
mod http;
mod js;
mod peers;
mod portal;
mod runtime;
mod store;
mod tabs;
mod task;
mod timer;
mod verify;

use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::core::jwt;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/**
 * What `assertion_provider`'s backend is asked to sign (API.md). The backend must check that
 * the logged-in user may act for `assertionDetails` before it signs: the library cannot.
 */
export interface AssertionContext {
  /** The issuer: the assertion's `aud`. */
  audience: string;
  /** The URL of the endpoint about to be called. */
  endpoint: string;
  /** The request the assertion is for: PAR, the code exchange, a refresh or the revocation. */
  grantType: "par" | "authorization_code" | "refresh_token" | "revocation";
  /** The exact array the assertion must carry, in `detailsClaim` (the context). */
  assertionDetails?: object[];
  /** The claim `assertionDetails` goes in. */
  detailsClaim: "assertion_details" | "authorization_details";
}

/** `clientAuth` with the client's private key as a JWK; imported non-extractable at once. */
export interface PrivateJwkClientAuth {
  /** Signed client assertions (RFC 7523). */
  type: "private_key_jwt";
  /** The private key. */
  jwk: JsonWebKey;
  /** Default: the JWK's `alg`, else from its key type. */
  alg?: string;
  /** Default: the JWK's `kid`. */
  kid?: string;
}

/** `clientAuth` with a non-extractable `CryptoKey` (for example from IndexedDB). */
export interface CryptoKeyClientAuth {
  /** Signed client assertions (RFC 7523). */
  type: "private_key_jwt";
  /** The private key. */
  key: CryptoKey;
  /** The key's algorithm, e.g. `"PS256"`. */
  alg: string;
  /** The key id HelseID knows the key by. */
  kid?: string;
}

/**
 * `clientAuth` through your backend, which holds the key and signs each client assertion.
 *
 * @example
 * ```ts
 * const clientAuth: ClientAuth = {
 *   type: "assertion_provider",
 *   getAssertion: async (ctx) => (await (await fetch("/assertion", {
 *     method: "POST", credentials: "include", body: JSON.stringify(ctx),
 *   })).json()).assertion,
 * };
 * ```
 */
export interface AssertionProviderClientAuth {
  /** A backend signs. */
  type: "assertion_provider";
  /**
   * Resolves with a fresh signed client assertion for `ctx`. A `TypeError` rejection (the
   * backend cannot be reached) is `network_error`; any other is `token_request_failed`.
   */
  getAssertion: (ctx: AssertionContext) => Promise<string>;
}

/** No client authentication (public clients; HelseID has none). */
export interface NoClientAuth {
  /** No assertion is sent. */
  type: "none";
}

/** Client authentication (API.md). HelseID allows confidential clients only: keep the key in a
 * trusted host (a non-extractable CryptoKey, or a backend behind `assertion_provider`). */
export type ClientAuth = PrivateJwkClientAuth | CryptoKeyClientAuth | AssertionProviderClientAuth | NoClientAuth;

/** A coded value of the trust framework (Tillitsrammeverk §4.2.2.1). */
export interface TrustFrameworkCode {
  /** The code, e.g. `"TREAT"`. */
  code: string;
  /** Its text. */
  text?: string;
  /** The code system (an OID). */
  system?: string;
  /** Who assigns the codes. */
  assigner?: string;
}

/** An identified party of the trust framework (same section). */
export interface TrustFrameworkId {
  /** The identifier, e.g. a 9-digit organisation number. */
  id: string;
  /** Its name. */
  name?: string;
  /** The identifier system (an OID). */
  system?: string;
  /** Who issues the identifiers. */
  authority?: string;
}

/**
 * `nhn:tillitsrammeverk:parameters` in its wire shape, without `type` (README "Context"). Only
 * these members are sent; any other is `context_invalid` naming it. Strings are at most 256
 * characters, the attest at most 8 KiB as JSON.
 */
export interface TrustFrameworkAttest {
  /** Who acts, and where. */
  practitioner: {
    /** The practitioner's authorisation (e.g. `LE`, physician). */
    authorization?: TrustFrameworkCode;
    /** 9-digit organisation number */
    legal_entity: TrustFrameworkId;
    /** 9-digit organisation number */
    point_of_care: TrustFrameworkId;
    /** The department. */
    department?: TrustFrameworkId;
  };
  /** Why the practitioner needs the patient's data. */
  care_relationship: {
    /** The health service given. */
    healthcare_service?: TrustFrameworkCode;
    /** The purpose: treatment, emergency treatment, coordination, or break the glass. */
    purpose_of_use: TrustFrameworkCode & {
      /** `TREAT`, `ETREAT`, `COC` or `BTG`. */
      code: "TREAT" | "ETREAT" | "COC" | "BTG";
    };
    /** More about the purpose. */
    purpose_of_use_details?: TrustFrameworkCode;
    /** The decision behind the access. */
    decision_ref?: {
      /** Made by the library (a UUID v4) when missing. */
      id?: string;
      /** Whether the user chose the patient. */
      user_selected?: boolean;
    };
  };
  /** Where each patient is treated. */
  patients?: Array<{
    /** The patient's point of care. */
    point_of_care?: TrustFrameworkId;
    /** The patient's department. */
    department?: TrustFrameworkId;
  }>;
}

/**
 * The user's context (API.md "Organisation, journal and patient context").
 *
 * @example
 * ```ts
 * await client.setContext({ organization: { parent: "912345678", child: "998877665" } });
 * ```
 */
export interface HelseIdContext {
  /** 9-digit org numbers: `parent` for multi-tenant clients; `child` alone for single-tenant. */
  organization?: {
    /** The organisation the client acts for (multi-tenant). */
    parent?: string;
    /** Its sub-unit, or the organisation of a single-tenant client. */
    child?: string;
  };
  /** SFM journal id (a UUID), multi-tenant SFM clients. */
  journalId?: string;
  /** The trust-framework attest for Kjernejournal and Pasientens journaldokumenter. */
  trustFramework?: TrustFrameworkAttest;
}

/**
 * `HelseIdClient.create`'s config (README "Configuration"). Unknown keys are `config_invalid`.
 *
 * @example
 * ```ts
 * const client = await HelseIdClient.create({
 *   issuer: "https://helseid-sts.test.nhn.no",
 *   clientId: "<your client id>",
 *   redirectUri: `${location.origin}/`,
 *   scope: "openid profile offline_access e-helse:sfm.api/sfm.api2",
 *   resources: ["e-helse:sfm.api"],
 *   apiOrigins: { "e-helse:sfm.api": ["https://sfm.example"] },
 *   clientAuth: { type: "assertion_provider", getAssertion: (ctx) => myBackend.sign(ctx) },
 * });
 * ```
 */
export interface HelseIdConfig {
  /** E.g. `https://helseid-sts.test.nhn.no`; discovery's `issuer` must equal it exactly. */
  issuer: string;
  /** The client id HelseID gave. */
  clientId: string;
  /** Where HelseID sends the browser back. */
  redirectUri: string;
  /** Where `logout()` ends up. */
  postLogoutRedirectUri?: string;
  /** Space separated; `openid` must be in it. */
  scope: string;
  /** RFC 8707 audiences sent at PAR (e.g. `["e-helse:sfm.api"]`); the first is the default resource. */
  resources?: string[];
  /** How the client authenticates. */
  clientAuth: ClientAuth;
  /** DPoP (RFC 9449) with a non-extractable key; default true. */
  dpop?: boolean;
  /** Pushed authorization requests (RFC 9126); default `"auto"`: when discovery has the endpoint. */
  par?: "auto" | "required" | "off";
  /** The access tokens' exact `aud`; default the first of `resources`. */
  expectedAudience?: string;
  /** Access tokens must carry the SFM id (or the SFM journal id). */
  requireSfmId?: boolean;
  /** E.g. `"4"`: the security level the ID token (and the access token, when it says) must have. */
  requiredSecurityLevel?: string;
  /** Leeway on `exp`/`nbf`/`iat`; default 30. */
  clockToleranceSeconds?: number;
  /** Refresh this long before the access token expires; default 30. */
  refreshLeewaySeconds?: number;
  /** Refresh on a timer, not only on demand; default true. */
  autoRefresh?: boolean;
  /** Retired: both keep every token in memory only. */
  storage?: "memory" | "session";
  /** Permits `http://` for loopback hosts only (tests, the local double). */
  allowInsecureHttp?: boolean;
  /** Requests to the authorization server give up after this long: `network_error` (default 30). */
  httpTimeoutSeconds?: number;
  /** The initial context. */
  context?: HelseIdContext;
  /** The client-assertion claim the context rides in; default `"assertion_details"`. */
  detailsClaim?: "assertion_details" | "authorization_details";
  /** An attest older than this is `context_expired`; default 3600 (HelseID refuses older ones). */
  attestMaxAgeSeconds?: number;
  /** Resources whose tokens carry the attest (default `["nhn:kjernejournal", "nhn:phr"]`). */
  attestResources?: string[];
  /**
   * Per resource, the API origins its tokens may be sent to by `fetch`, `authHeaders` and the
   * portals; any other is `origin_not_allowed` and nothing is sent.
   */
  apiOrigins?: Record<string, string[]>;
  /** Where the session lives (API.md "Session host"); default `"auto"`: the package's
   * SharedWorker when one starts within 2 s, else this page. */
  sessionHost?: "auto" | "worker" | "page";
  /** Where the app serves the package's helseid_wasm_worker.js, if it copies it. */
  workerUrl?: string | URL;
  /** How long the session host waits for one page's getAssertion before it asks another
   * (default 10). */
  assertionTimeoutSeconds?: number;
}

/** `client.authHeaders(input, options)`. */
export interface AuthHeadersOptions {
  /** The request's method (upper-cased: `"post"` is `POST`); default the `Request`'s, else `GET`. */
  method?: string;
  /** Whose token to send; default the first of `resources`. */
  resource?: string;
}

/**
 * The headers `client.authHeaders` gives: set them all on the request as they are.
 * `Authorization` is `DPoP <access token>` and `DPoP` the proof (RFC 9449) for this method and
 * URL, with `ath` and the origin's current nonce; with `dpop: false`, `Authorization` is
 * `Bearer <access token>` and there is no `DPoP`.
 */
export type AuthHeaders = Record<string, string> & {
  /** `DPoP <access token>`, or `Bearer <access token>` when `dpop` is off. */
  Authorization: string;
};

/**
 * An API's answer as `client.takeDpopNonce` reads it when it is not a `Response` (axios'
 * response, Angular's `HttpResponse`/`HttpErrorResponse`).
 */
export interface DpopAnswer {
  /** The URL the request went to (absolute, or relative to the page); needed when the answer
   * carries a `DPoP-Nonce`. */
  url?: string | null;
  /** The HTTP status. */
  status: number;
  /** The response headers: anything with a `get(name)` (`Headers`, `AxiosHeaders`, Angular's
   * `HttpHeaders`), or a plain record whose names may be in any case. */
  headers: Headers | HeaderGetter | Record<string, string>;
}

/** Response headers read through `get(name)`, as `Headers`, axios' `AxiosHeaders` and Angular's
 * `HttpHeaders` have it. */
export interface HeaderGetter {
  /** The value of the header `name` (any case), or null/undefined when there is none. */
  get(name: string): string | null | undefined;
}

/** `loginWithRedirect`'s options. */
export interface LoginOptions {
  /** OIDC `prompt`, e.g. `"login"`. */
  prompt?: string;
  /** OIDC `acr_values`. */
  acrValues?: string;
  /** OIDC `login_hint`. */
  loginHint?: string;
  /** More authorization request parameters. */
  extraParams?: Record<string, string>;
  /** The code exchange carries this context (else the configured one). */
  context?: HelseIdContext | null;
}

/** The HelseID claims present in the tokens, by their short names. */
export interface HelseIdClaims {
  /** `helseid://claims/identity/pid`: the national identity number. */
  pid?: string;
  /** `helseid://claims/identity/pid_pseudonym`. */
  pidPseudonym?: string;
  /** `helseid://claims/hpr/hpr_number`: the health personnel number. */
  hprNumber?: string;
  /** `helseid://claims/identity/security_level`. */
  securityLevel?: string;
  /** `helseid://claims/identity/assurance_level`. */
  assuranceLevel?: string;
  /** `helseid://claims/identity/network`. */
  network?: string;
  /** `name`. */
  name?: string;
  /** `given_name`. */
  givenName?: string;
  /** `family_name`. */
  familyName?: string;
  /** `helseid://claims/client/client_id` (or `client_id`). */
  clientId?: string;
  /** `helseid://claims/client/claims/orgnr_parent`. */
  orgnrParent?: string;
  /** `helseid://claims/client/claims/orgnr_child`. */
  orgnrChild?: string;
  /** `helseid://claims/client/claims/orgnr_supplier`. */
  orgnrSupplier?: string;
  /** `e-helse:sfm.api/client/claims/sfm-id`. */
  sfmId?: string;
  /** `nhn:sfm:journal-id`'s `journal_id`. */
  journalId?: string;
  /** `idp`: the identity provider the user logged in with. */
  idp?: string;
  /** `auth_time`, epoch seconds. */
  authTime?: number;
  /** `amr`: how the user authenticated. */
  amr?: string[];
}

/** Why a token was refreshed (`tokenRefreshed`'s `cause`): the refresh timer, `refresh()` or
 * `getAccessToken` in this tab, `setContext`, or another tab. */
export type TokenRefreshCause = "schedule" | "call" | "context" | "other-tab";

/**
 * `tokenRefreshed`'s detail: the new Session and why it was refreshed.
 *
 * @example
 * ```ts
 * client.on("tokenRefreshed", (detail: TokenRefreshedDetail) => {
 *   if (detail.cause !== "other-tab") console.log("refreshed here", detail.expiresAt);
 * });
 * ```
 */
export interface TokenRefreshedDetail extends Session {
  /** Why it was refreshed. */
  cause: TokenRefreshCause;
}

/**
 * `contextChanged`'s detail: the new Session and who switched.
 *
 * @example
 * ```ts
 * client.on("contextChanged", (detail: ContextChangedDetail) => {
 *   if (detail.cause === "other-tab") showNotice("The organisation was changed in another tab");
 * });
 * ```
 */
export interface ContextChangedDetail extends Session {
  /** `"context"`: this tab's (or page's) `setContext` made the switch; `"other-tab"`: another did. */
  cause: "context" | "other-tab";
}

/** The session as a page sees it: checked claims, never a token. */
export interface Session {
  /** The ID token's claims. */
  idTokenClaims: Record<string, unknown>;
  /** The access token's claims (the default resource's). */
  accessTokenClaims: Record<string, unknown>;
  /** Epoch seconds, from expires_in. */
  expiresAt: number;
  /** `DPoP` for DPoP-bound tokens. */
  tokenType: "DPoP" | "Bearer";
  /** The scopes granted. */
  scope: string[];
  /** The HelseID claims present. */
  helseid: HelseIdClaims;
  /** The context in force, with a generated decision_ref.id. */
  context: HelseIdContext | null;
  /** Scopes HelseID refused on a successful token response. */
  rejectedScope: string[];
}

/** Every `HelseIdError.code` (README "Errors"). */
export type HelseIdErrorCode =
  | "config_invalid" | "discovery_failed" | "issuer_mismatch" | "missing_transaction"
  | "state_mismatch" | "authorization_response_iss_mismatch" | "authorization_denied"
  | "token_request_failed" | "network_error" | "invalid_token" | "unsupported_alg"
  | "unknown_key" | "signature_invalid" | "token_expired" | "token_not_yet_valid"
  | "claim_invalid" | "missing_sfm_id" | "security_level_insufficient"
  | "dpop_binding_mismatch" | "dpop_nonce_failed" | "login_required"
  | "context_invalid" | "context_expired" | "portal_failed" | "origin_not_allowed";

/**
 * What every promise of the library rejects with: a real `Error` with a stable `code`.
 *
 * @example
 * ```ts
 * try {
 *   await client.fetch(url);
 * } catch (e) {
 *   if (isHelseIdError(e) && e.code === "login_required") await client.loginWithRedirect();
 *   else throw e;
 * }
 * ```
 */
export interface HelseIdError extends Error {
  /** Always `"HelseIdError"`. */
  name: "HelseIdError";
  /** What failed. */
  code: HelseIdErrorCode;
  /** The claim that failed a check (`claim_invalid`, `context_invalid`). */
  claim?: string;
  /** The server's OAuth `error`. */
  oauthError?: string;
  /** The server's `error_description`. */
  oauthErrorDescription?: string;
  /** The HTTP status. */
  status?: number;
  /** Whether the same call may succeed later (`network_error`). */
  retryable: boolean;
}

/** `verifyJwt`'s options. */
export interface VerifyOptions {
  /** The issuer's keys. */
  jwks: {
    /** Public JWKs. */
    keys: JsonWebKey[];
  };
  /** The exact `iss`. */
  issuer: string;
  /** The token must name one of these. */
  audience: string | string[];
  /** Default ["RS256", "PS256", "ES256"]. */
  algorithms?: string[];
  /** The header's `typ`, e.g. `"at+jwt"`. */
  typ?: string;
  /** The ID token's `nonce`. */
  nonce?: string;
  /** The SFM id (or SFM journal id) must be present. */
  requireSfmId?: boolean;
  /** The security level the token must have. */
  requiredSecurityLevel?: string;
  /** Leeway on `exp`/`nbf`/`iat`; default 30. */
  clockToleranceSeconds?: number;
  /** Default 3600. */
  maxTokenAgeSeconds?: number;
  /** The time to check against (tests); default now. */
  nowSeconds?: number;
}

/** A JWT's parts, as `decodeJwt` gives them (unchecked). */
export interface DecodedJwt {
  /** The JOSE header. */
  header: Record<string, unknown>;
  /** The claims. */
  claims: Record<string, unknown>;
}

/** An SFM portal session's details, from `Session/create`. */
export interface SfmSessionInfo {
  /** The session id. */
  id: string;
  /** Where the SFM client (the iframe) is loaded from. */
  clientAddress: string;
  /** The SFM API the client calls. */
  apiAddress: string;
  /** What the `login` message carries as `metadata`. */
  metadata: Record<string, unknown>;
}
"#;

/// A JWT's header and claims, with no checks at all; `invalid_token` when it is not a JWS.
#[wasm_bindgen(js_name = decodeJwt, unchecked_return_type = "DecodedJwt")]
pub fn decode_jwt(token: &str) -> Result<JsValue, JsValue> {
    let decoded = jwt::decode(token).map_err(|e| js::to_js_error(&e))?;
    Ok(js::object(&[
        ("header", js::json_to_js(&Value::Object(decoded.header))),
        ("claims", js::json_to_js(&Value::Object(decoded.claims))),
    ])
    .into())
}

/// Verifies a JWT: the signature through WebCrypto against `options.jwks`, then the claim
/// checks, with the client's error codes; resolves to the claims.
///
/// @example
/// ```ts
/// const claims = await verifyJwt(token, { jwks, issuer: "https://helseid-sts.test.nhn.no", audience: "e-helse:sfm.api" });
/// ```
#[wasm_bindgen(js_name = verifyJwt, unchecked_return_type = "Promise<Record<string, unknown>>")]
pub fn verify_jwt(
    token: String,
    #[wasm_bindgen(unchecked_param_type = "VerifyOptions")] options: JsValue,
) -> js_sys::Promise {
    verify::verify_jwt(token, &options)
}

/// Whether `value` is a `HelseIdError` (a type guard).
#[wasm_bindgen(js_name = isHelseIdError, unchecked_return_type = "value is HelseIdError")]
pub fn is_helseid_error(#[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue) -> bool {
    js::is_helseid_error(&value)
}

/// The package version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[cfg(test)]
mod tests;
