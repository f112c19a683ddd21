//! The browser shell: the JavaScript API of API.md over the protocol core. It performs the I/O
//! the core decides on: fetch, WebCrypto, storage, timers, tabs, `location`.

mod api_fetch;
mod authz;
mod client;
mod crypto;
mod dpop;
mod flight;
mod flows;
mod host;
mod host_link;
mod http;
mod js;
mod peers;
mod portal;
mod session;
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
/** What `assertion_provider`'s backend is asked to sign (API.md). The backend must check that
 * the logged-in user may act for `assertionDetails` before it signs: the library cannot. */
export interface AssertionContext {
  /** the issuer: the assertion's `aud` */
  audience: string;
  /** the URL of the endpoint about to be called */
  endpoint: string;
  grantType: "par" | "authorization_code" | "refresh_token" | "revocation";
  /** the exact array the assertion must carry, in `detailsClaim` */
  assertionDetails?: object[];
  detailsClaim: "assertion_details" | "authorization_details";
}

/** Client authentication (API.md). HelseID allows confidential clients only: keep the key in a
 * trusted host (a non-extractable CryptoKey, or a backend behind `assertion_provider`). */
export type ClientAuth =
  | { type: "private_key_jwt"; jwk: JsonWebKey; alg?: string; kid?: string }
  | { type: "private_key_jwt"; key: CryptoKey; alg: string; kid?: string }
  | { type: "assertion_provider"; getAssertion: (ctx: AssertionContext) => Promise<string> }
  | { type: "none" };

/** A coded value of the trust framework (Tillitsrammeverk §4.2.2.1). */
export interface TrustFrameworkCode { code: string; text?: string; system?: string; assigner?: string }
/** An identified party of the trust framework (same section). */
export interface TrustFrameworkId { id: string; name?: string; system?: string; authority?: string }

/**
 * `nhn:tillitsrammeverk:parameters` in its wire shape, without `type` (README "Context"). Only
 * these members are sent; any other is `context_invalid` naming it. Strings are at most 256
 * characters, the attest at most 8 KiB as JSON.
 */
export interface TrustFrameworkAttest {
  practitioner: {
    authorization?: TrustFrameworkCode;
    /** 9-digit organisation number */
    legal_entity: TrustFrameworkId;
    /** 9-digit organisation number */
    point_of_care: TrustFrameworkId;
    department?: TrustFrameworkId;
  };
  care_relationship: {
    healthcare_service?: TrustFrameworkCode;
    purpose_of_use: TrustFrameworkCode & { code: "TREAT" | "ETREAT" | "COC" | "BTG" };
    purpose_of_use_details?: TrustFrameworkCode;
    /** made by the library (a UUID v4) when `id` is missing */
    decision_ref?: { id?: string; user_selected?: boolean };
  };
  patients?: Array<{ point_of_care?: TrustFrameworkId; department?: TrustFrameworkId }>;
}

/** The user's context (API.md "Organisation, journal and patient context"). */
export interface HelseIdContext {
  /** 9-digit org numbers: `parent` for multi-tenant clients; `child` alone for single-tenant */
  organization?: { parent?: string; child?: string };
  /** SFM journal id (a UUID), multi-tenant SFM clients */
  journalId?: string;
  trustFramework?: TrustFrameworkAttest;
}

export interface HelseIdConfig {
  issuer: string;
  clientId: string;
  redirectUri: string;
  postLogoutRedirectUri?: string;
  scope: string;
  resources?: string[];
  clientAuth: ClientAuth;
  dpop?: boolean;
  par?: "auto" | "required" | "off";
  expectedAudience?: string;
  requireSfmId?: boolean;
  requiredSecurityLevel?: string;
  clockToleranceSeconds?: number;
  refreshLeewaySeconds?: number;
  autoRefresh?: boolean;
  storage?: "memory" | "session";
  allowInsecureHttp?: boolean;
  /** requests to the authorization server give up after this long: network_error (default 30) */
  httpTimeoutSeconds?: number;
  /** the initial context */
  context?: HelseIdContext;
  /** default "assertion_details" */
  detailsClaim?: "assertion_details" | "authorization_details";
  /** default 3600: HelseID refuses older attests */
  attestMaxAgeSeconds?: number;
  /** resources whose tokens carry the attest (default ["nhn:kjernejournal", "nhn:phr"]) */
  attestResources?: string[];
  /** per resource, the API origins its tokens may be sent to by `fetch` */
  apiOrigins?: Record<string, string[]>;
  /** where the session lives (API.md "Session host"); default "auto": the package's
   * SharedWorker when one starts within 2 s, else this page */
  sessionHost?: "auto" | "worker" | "page";
  /** where the app serves the package's helseid_wasm_worker.js, if it copies it */
  workerUrl?: string | URL;
  /** how long the session host waits for one page's getAssertion before it asks another
   * (default 10) */
  assertionTimeoutSeconds?: number;
}

/** `client.authHeaders(input, options)`. */
export interface AuthHeadersOptions {
  /** the request's method (upper-cased: `"post"` is `POST`); default the `Request`'s, else `GET` */
  method?: string;
  /** whose token to send; default the first of `resources` */
  resource?: string;
}

/** The headers `client.authHeaders` gives: set both on the request as they are. */
export interface AuthHeaders {
  /** `DPoP <access token>`, or `Bearer <access token>` when `dpop` is off */
  Authorization: string;
  /** the DPoP proof (RFC 9449) for this method and URL, with `ath` and the origin's nonce;
   * absent when `dpop` is off */
  DPoP?: string;
}

/** An API's answer as `client.takeDpopNonce` reads it, when it is not a `Response` (axios,
 * Angular's `HttpErrorResponse`): `headers` a `Headers` or a record, names in any case. */
export interface DpopAnswer {
  /** the URL the request went to (absolute, or relative to the page) */
  url: string;
  status: number;
  headers: Headers | Record<string, string>;
}

export interface LoginOptions {
  prompt?: string;
  acrValues?: string;
  loginHint?: string;
  extraParams?: Record<string, string>;
  /** the code exchange carries this context (else the configured one) */
  context?: HelseIdContext | null;
}

export interface HelseIdClaims {
  pid?: string; pidPseudonym?: string; hprNumber?: string; securityLevel?: string;
  assuranceLevel?: string; network?: string; name?: string; givenName?: string; familyName?: string;
  clientId?: string; orgnrParent?: string; orgnrChild?: string; orgnrSupplier?: string;
  sfmId?: string; journalId?: string;
  idp?: string;
  /** epoch seconds */
  authTime?: number;
  amr?: string[];
}

/** Why a token was refreshed (`tokenRefreshed`'s `cause`). */
export type TokenRefreshCause = "schedule" | "call" | "context" | "other-tab";

/** `tokenRefreshed`'s detail: the new Session and why it was refreshed. */
export interface TokenRefreshedDetail extends Session {
  cause: TokenRefreshCause;
}

export interface Session {
  idTokenClaims: Record<string, unknown>;
  accessTokenClaims: Record<string, unknown>;
  /** epoch seconds, from expires_in */
  expiresAt: number;
  tokenType: "DPoP" | "Bearer";
  scope: string[];
  helseid: HelseIdClaims;
  /** the context in force, with a generated decision_ref.id */
  context: HelseIdContext | null;
  /** scopes HelseID refused on a successful token response */
  rejectedScope: string[];
}

export type HelseIdErrorCode =
  | "config_invalid" | "discovery_failed" | "issuer_mismatch" | "missing_transaction"
  | "state_mismatch" | "authorization_response_iss_mismatch" | "authorization_denied"
  | "token_request_failed" | "network_error" | "invalid_token" | "unsupported_alg"
  | "unknown_key" | "signature_invalid" | "token_expired" | "token_not_yet_valid"
  | "claim_invalid" | "missing_sfm_id" | "security_level_insufficient"
  | "dpop_binding_mismatch" | "dpop_nonce_failed" | "login_required"
  | "context_invalid" | "context_expired" | "portal_failed" | "origin_not_allowed";

export interface HelseIdError extends Error {
  name: "HelseIdError";
  code: HelseIdErrorCode;
  claim?: string;
  oauthError?: string;
  oauthErrorDescription?: string;
  status?: number;
  retryable: boolean;
}

export interface VerifyOptions {
  jwks: { keys: JsonWebKey[] };
  issuer: string;
  /** the token must name one of these */
  audience: string | string[];
  /** default ["RS256", "PS256", "ES256"] */
  algorithms?: string[];
  typ?: string;
  nonce?: string;
  requireSfmId?: boolean;
  requiredSecurityLevel?: string;
  clockToleranceSeconds?: number;
  /** default 3600 */
  maxTokenAgeSeconds?: number;
  nowSeconds?: number;
}
"#;

/// `decodeJwt`: header and claims, no checks.
#[wasm_bindgen(js_name = decodeJwt, unchecked_return_type = "{ header: Record<string, unknown>, claims: Record<string, unknown> }")]
pub fn decode_jwt(token: &str) -> Result<JsValue, JsValue> {
    let decoded = jwt::decode(token).map_err(|e| js::to_js_error(&e))?;
    Ok(js::object(&[
        ("header", js::json_to_js(&Value::Object(decoded.header))),
        ("claims", js::json_to_js(&Value::Object(decoded.claims))),
    ])
    .into())
}

/// `verifyJwt`: signature through WebCrypto, then the claim checks, with the client's codes.
#[wasm_bindgen(js_name = verifyJwt, unchecked_return_type = "Promise<Record<string, unknown>>")]
pub fn verify_jwt(
    token: String,
    #[wasm_bindgen(unchecked_param_type = "VerifyOptions")] options: JsValue,
) -> js_sys::Promise {
    verify::verify_jwt(token, &options)
}

/// `isHelseIdError`.
#[wasm_bindgen(js_name = isHelseIdError, unchecked_return_type = "value is HelseIdError")]
pub fn is_helseid_error(#[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue) -> bool {
    js::is_helseid_error(&value)
}

/// The crate version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[cfg(test)]
mod tests;
