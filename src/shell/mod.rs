//! The browser shell: the JavaScript API of API.md over the protocol core.

mod client;
mod crypto;
mod http;
mod js;
mod store;
mod tabs;
mod verify;

use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::core::claims::Expectations;
use crate::core::jwk::Jwks;
use crate::core::{jwt, Error};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Client authentication (API.md). HelseID allows confidential clients only: keep the key in a
 * trusted host (a non-extractable CryptoKey, or a backend behind `assertion_provider`). */
export type ClientAuth =
  | { type: "private_key_jwt"; jwk: JsonWebKey; alg?: string; kid?: string }
  | { type: "private_key_jwt"; key: CryptoKey; alg: string; kid?: string }
  | { type: "assertion_provider"; getAssertion: (ctx: { audience: string; endpoint: string }) => Promise<string> }
  | { type: "none" };

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
}

export interface LoginOptions {
  prompt?: string;
  acrValues?: string;
  loginHint?: string;
  extraParams?: Record<string, string>;
}

export interface HelseIdClaims {
  pid?: string; pidPseudonym?: string; hprNumber?: string; securityLevel?: string;
  assuranceLevel?: string; network?: string; name?: string; givenName?: string; familyName?: string;
  clientId?: string; orgnrParent?: string; orgnrChild?: string; orgnrSupplier?: string;
  sfmId?: string; journalId?: string;
}

export interface Session {
  idTokenClaims: Record<string, unknown>;
  accessTokenClaims: Record<string, unknown>;
  /** epoch seconds, from expires_in */
  expiresAt: number;
  tokenType: "DPoP" | "Bearer";
  scope: string[];
  helseid: HelseIdClaims;
}

export type HelseIdErrorCode =
  | "config_invalid" | "discovery_failed" | "issuer_mismatch" | "missing_transaction"
  | "state_mismatch" | "authorization_response_iss_mismatch" | "authorization_denied"
  | "token_request_failed" | "network_error" | "invalid_token" | "unsupported_alg"
  | "unknown_key" | "signature_invalid" | "token_expired" | "token_not_yet_valid"
  | "claim_invalid" | "missing_sfm_id" | "security_level_insufficient"
  | "dpop_binding_mismatch" | "dpop_nonce_failed" | "login_required";

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

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerifyOptions {
    jwks: Jwks,
    issuer: String,
    /// A string or an array of strings (read by hand: an untagged enum costs wasm bytes).
    audience: Value,
    #[serde(default)]
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    require_sfm_id: Option<bool>,
    #[serde(default)]
    required_security_level: Option<String>,
    #[serde(default)]
    clock_tolerance_seconds: Option<f64>,
    #[serde(default)]
    max_token_age_seconds: Option<f64>,
    #[serde(default)]
    now_seconds: Option<f64>,
}

/// `verifyJwt`: signature through WebCrypto, then the claim checks, with the client's codes.
#[wasm_bindgen(js_name = verifyJwt, unchecked_return_type = "Promise<Record<string, unknown>>")]
pub fn verify_jwt(
    token: String,
    #[wasm_bindgen(unchecked_param_type = "VerifyOptions")] options: JsValue,
) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let result: Result<Value, Error> = async {
            let opts: VerifyOptions = js::from_js_strict(options)
                .map_err(|e| Error::config(format!("invalid verifyJwt options: {e}")))?;
            let audiences: Vec<String> = match &opts.audience {
                Value::String(a) => vec![a.clone()],
                Value::Array(list) => list
                    .iter()
                    .map(|a| a.as_str().map(String::from))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        Error::config("audience must be a string or an array of strings")
                    })?,
                _ => {
                    return Err(Error::config(
                        "audience must be a string or an array of strings",
                    ))
                }
            };
            if audiences.is_empty() {
                return Err(Error::config("audience must name at least one audience"));
            }
            let algorithms = opts.algorithms.unwrap_or_else(|| {
                jwt::DEFAULT_ALGORITHMS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            });
            let whole = |v: Option<f64>, default: i64| {
                v.filter(|v| v.is_finite())
                    .map(|v| v as i64)
                    .unwrap_or(default)
            };
            let now = whole(opts.now_seconds, js::now_seconds());
            let typ_list: Vec<&str> = opts.typ.as_deref().into_iter().collect();
            let mut e = Expectations::generic(
                &opts.issuer,
                &audiences,
                now,
                whole(opts.clock_tolerance_seconds, 30),
            );
            e.max_age = whole(opts.max_token_age_seconds, 3600);
            e.nonce = opts.nonce.as_deref();
            e.require_sfm_id = opts.require_sfm_id.unwrap_or(false);
            e.required_security_level = opts.required_security_level.as_deref();
            if opts.typ.is_some() {
                e.allowed_typ = Some(&typ_list);
            }
            let decoded = verify::verify(&token, &algorithms, &opts.jwks, &e).await?;
            Ok(Value::Object(decoded.claims))
        }
        .await;
        result
            .map(|v| js::json_to_js(&v))
            .map_err(|e| js::to_js_error(&e))
    })
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
