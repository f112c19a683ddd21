//! Requests to the authorization server: discovery, the JWKS and signature checks, and form
//! POSTs (PAR, token, revocation) with client authentication (RFC 7523) and DPoP (RFC 9449),
//! through the one DPoP sender.

use std::cell::RefCell;
use std::future::Future;

use js_sys::{Function, Object, Promise};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;

use super::dpop::Dpop;
use super::dpop_send::{self, DpopRequest, Sent};
use super::js::{self, from_js, get, get_string, json_to_js};
use super::timer::Timeout;
use super::{crypto, http, verify};
use crate::core::assertion::AsRequest;
use crate::core::config::{ClientAuthMethod, Config};
use crate::core::discovery::{self, Metadata};
use crate::core::engine::Signed;
use crate::core::jwk::{self, Jwks, TokenSource};
use crate::core::jwt::SignatureChecked;
use crate::core::secret::FormBody;
use crate::core::token::TokenResponse;
use crate::core::vecmap::VecMap;
use crate::core::{alg, assertion, jws, jwt, Error, ErrorCode};

type Res<T> = Result<T, Error>;

/// How client assertions are made.
pub enum Signer {
    Key {
        key: CryptoKey,
        alg: String,
        kid: Option<String>,
    },
    /// The app's backend signs (API.md `assertion_provider`).
    Provider(Function),
    /// The session host asks its pages, each of which calls its own `getAssertion`.
    Pages(std::rc::Rc<super::host::PageSigners>),
    None,
}

/// What an assertion is for: `ctx` of `assertion_provider` (API.md).
pub struct Purpose<'a> {
    pub request: AsRequest,
    pub details: Option<&'a [Value]>,
}

thread_local! {
    /// Discovery documents per issuer, for `DISCOVERY_CACHE_SECONDS`.
    static DISCOVERY: RefCell<VecMap<String, (Metadata, i64)>> = const { RefCell::new(VecMap::new()) };
}

/// OIDC Discovery 1.0 §4, cached per issuer (NHN: about a day).
pub async fn discover(config: &Config) -> Res<Metadata> {
    let now = js::now_seconds();
    let cached = DISCOVERY.with(|d| d.borrow().get(&config.issuer).cloned());
    if let Some((metadata, at)) = cached {
        if now - at < discovery::DISCOVERY_CACHE_SECONDS {
            return Ok(metadata);
        }
    }
    let url = discovery::discovery_url(&config.issuer);
    let response = http::get_json(&url, config.http_timeout_seconds)
        .await
        .map_err(|e| Error::new(ErrorCode::DiscoveryFailed, e.message).retryable(true))?;
    let metadata = discovery::process_discovery_response(
        response.status,
        &response.body,
        &config.issuer,
        config.allow_insecure_http,
    )?;
    DISCOVERY.with(|d| {
        d.borrow_mut()
            .insert(config.issuer.clone(), (metadata.clone(), now))
    });
    Ok(metadata)
}

/// Reads `clientAuth` (API.md) without copying key material into wasm memory.
pub async fn read_client_auth(value: &JsValue) -> Res<(ClientAuthMethod, Signer)> {
    if !value.is_object() {
        return Err(Error::config(
            "clientAuth is required (private_key_jwt, assertion_provider or none)",
        ));
    }
    let kind = get_string(value, "type").unwrap_or_default();
    let allowed: &[&str] = match kind.as_str() {
        "private_key_jwt" => &["type", "jwk", "key", "alg", "kid"],
        "assertion_provider" => &["type", "getAssertion"],
        "none" => &["type"],
        _ => {
            return Err(Error::config(
                "clientAuth.type must be private_key_jwt, assertion_provider or none",
            ))
        }
    };
    for key in Object::keys(value.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            return Err(Error::config(format!("unknown clientAuth key {key}")));
        }
    }
    match kind.as_str() {
        "private_key_jwt" => {
            let kid = get_string(value, "kid");
            let jwk_value = get(value, "jwk");
            if jwk_value.is_object() {
                if !get(&jwk_value, "d").is_string() {
                    return Err(Error::config(
                        "clientAuth.jwk must be a private key (it has no \"d\")",
                    ));
                }
                let alg = get_string(value, "alg")
                    .or_else(|| {
                        alg::for_key(
                            get_string(&jwk_value, "alg").as_deref(),
                            get_string(&jwk_value, "kty").as_deref(),
                            get_string(&jwk_value, "crv").as_deref(),
                        )
                        .map(String::from)
                    })
                    .ok_or_else(|| Error::config("clientAuth.alg is needed for this key"))?;
                if alg::find(&alg).is_none() {
                    return Err(Error::config(format!(
                        "clientAuth.alg {alg} is not supported"
                    )));
                }
                let kid = kid.or_else(|| get_string(&jwk_value, "kid"));
                let key = crypto::import_private_jwk(&jwk_value, &alg).await?;
                let method = ClientAuthMethod::PrivateKeyJwt {
                    alg: alg.clone(),
                    kid: kid.clone(),
                };
                Ok((method, Signer::Key { key, alg, kid }))
            } else if let Some(key) = get(value, "key").dyn_ref::<CryptoKey>() {
                let alg = get_string(value, "alg").ok_or_else(|| {
                    Error::config("clientAuth.alg is required with clientAuth.key")
                })?;
                if key.extractable() {
                    return Err(Error::config("clientAuth.key must be non-extractable"));
                }
                if key.type_() != "private" {
                    return Err(Error::config("clientAuth.key must be a private key"));
                }
                let method = ClientAuthMethod::PrivateKeyJwt {
                    alg: alg.clone(),
                    kid: kid.clone(),
                };
                Ok((
                    method,
                    Signer::Key {
                        key: key.clone(),
                        alg,
                        kid,
                    },
                ))
            } else {
                Err(Error::config(
                    "private_key_jwt needs clientAuth.jwk (a private JWK) or clientAuth.key (a CryptoKey)",
                ))
            }
        }
        "assertion_provider" => {
            let f = get(value, "getAssertion")
                .dyn_into::<Function>()
                .map_err(|_| Error::config("clientAuth.getAssertion must be a function"))?;
            Ok((ClientAuthMethod::AssertionProvider, Signer::Provider(f)))
        }
        _ => Ok((ClientAuthMethod::None, Signer::None)),
    }
}

/// `getAssertion` rejected: a `TypeError` is what `fetch` throws when the backend cannot be
/// reached (`network_error`, retryable); anything else is the backend refusing to sign
/// (`token_request_failed`, not retryable: its checks said no).
fn provider_failure(e: &JsValue) -> Error {
    let network = e
        .dyn_ref::<js_sys::Error>()
        .is_some_and(|e| e.name() == "TypeError");
    if network {
        from_js(
            ErrorCode::NetworkError,
            "assertion_provider could not reach its signer",
            e,
        )
        .retryable(true)
    } else {
        from_js(
            ErrorCode::TokenRequestFailed,
            "assertion_provider refused to sign",
            e,
        )
    }
}

pub struct AuthServer {
    pub config: Config,
    pub metadata: Metadata,
    signer: Signer,
    /// The issuer's JWKS, and when it was fetched (epoch seconds).
    jwks: RefCell<Option<(Jwks, i64)>>,
    pub dpop: Dpop,
}

impl AuthServer {
    pub fn new(config: Config, metadata: Metadata, signer: Signer) -> AuthServer {
        let dpop = Dpop::new(&config.issuer, &config.client_id);
        AuthServer {
            config,
            metadata,
            signer,
            jwks: RefCell::new(None),
            dpop,
        }
    }

    /// RFC 7523 §2.2: a fresh client assertion for one request to `endpoint`.
    async fn client_assertion(&self, endpoint: &str, purpose: &Purpose<'_>) -> Res<Option<String>> {
        let c = &self.config;
        let details = purpose.details.map(|d| (c.details_claim.as_str(), d));
        match &self.signer {
            Signer::None => Ok(None),
            Signer::Key { .. } => self.sign_with_key(details).await.map(Some),
            Signer::Provider(_) | Signer::Pages(_) => {
                let mut ctx = vec![
                    ("audience", Value::from(c.issuer.as_str())),
                    ("endpoint", Value::from(endpoint)),
                    ("grantType", Value::from(purpose.request.grant_type())),
                    ("detailsClaim", Value::from(c.details_claim.as_str())),
                ];
                if let Some(details) = purpose.details {
                    ctx.push(("assertionDetails", Value::Array(details.to_vec())));
                }
                let ctx = Value::Object(ctx.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
                match &self.signer {
                    Signer::Pages(pages) => pages.sign(&ctx).await.map(Some),
                    _ => self.call_provider(&ctx).await.map(Some),
                }
            }
        }
    }

    /// `getAssertion(ctx)` of this page's `assertion_provider`: a JWS, or why not.
    async fn call_provider(&self, ctx: &Value) -> Res<String> {
        let Signer::Provider(f) = &self.signer else {
            return Err(Error::new(
                ErrorCode::TokenRequestFailed,
                "this page has no assertion_provider",
            ));
        };
        let value = match f.call1(&JsValue::NULL, &json_to_js(ctx)) {
            Ok(result) => JsFuture::from(Promise::resolve(&result)).await,
            Err(e) => Err(e),
        }
        .map_err(|e| provider_failure(&e))?;
        let assertion = value.as_string().ok_or_else(|| {
            Error::config("assertion_provider must resolve to a string (a signed JWT)")
        })?;
        if jwt::decode(&assertion).is_err() {
            return Err(Error::config(
                "assertion_provider returned something that is not a JWS",
            ));
        }
        Ok(assertion)
    }

    /// RFC 7523 §2.2 with this page's non-extractable key; `details`: the claim and the
    /// structured details to carry.
    async fn sign_with_key(&self, details: Option<(&str, &[Value])>) -> Res<String> {
        let Signer::Key { key, alg, kid } = &self.signer else {
            return Err(Error::config("this page holds no client key"));
        };
        let c = &self.config;
        let header = assertion::header(alg, kid.as_deref());
        let claims = assertion::claims_text(
            &c.client_id,
            &c.issuer,
            &js::random_token()?,
            js::now_seconds(),
            details,
        );
        let input = jws::signing_input_text(&header, &claims);
        let signature = crypto::sign(alg, key, input.as_bytes()).await?;
        Ok(jws::compact(&input, &signature))
    }

    /// A page of a session host, asked by the host to sign for `ctx` (an `AssertionContext`):
    /// with its key, or its `getAssertion`. The key never leaves the page.
    pub async fn sign_for_host(
        &self,
        ctx: &Value,
    ) -> Result<String, crate::core::host::SignFailure> {
        let result = match &self.signer {
            Signer::Key { .. } => {
                let details = ctx.get("assertionDetails").and_then(Value::as_array);
                let claim = self.config.details_claim.as_str();
                self.sign_with_key(details.map(|d| (claim, d.as_slice())))
                    .await
            }
            _ => self.call_provider(ctx).await,
        };
        result.map_err(|e| super::host_link::sign_failure(&e))
    }

    /// POST to an authorization server endpoint with client authentication and DPoP, through
    /// the one DPoP sender ([`dpop_send::send`]: the `use_dpop_nonce` retry of RFC 9449 §8).
    pub fn post<'a>(
        &'a self,
        endpoint: &'a str,
        params: &'a FormBody,
        purpose: &'a Purpose<'a>,
    ) -> impl Future<Output = Res<Sent>> + 'a {
        dpop_send::send(DpopRequest::Form {
            auth_server: self,
            endpoint,
            params,
            purpose,
        })
    }

    /// One attempt of [`AuthServer::post`]: a new client assertion (each is used once) and a
    /// new proof, which only a revocation may go without.
    pub async fn form_request(
        &self,
        endpoint: &str,
        params: &FormBody,
        purpose: &Purpose<'_>,
    ) -> Res<(web_sys::Request, Timeout)> {
        let mut body = FormBody(params.0.clone());
        if let Some(assertion) = self.client_assertion(endpoint, purpose).await? {
            for (name, value) in assertion::body_params(&assertion) {
                body.push(name, value);
            }
        }
        let proof = if self.config.dpop {
            match self.dpop.proof("POST", endpoint, None).await {
                Ok(proof) => Some(proof),
                Err(_) if purpose.request.proof_optional() => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        http::form_request(
            endpoint,
            &body,
            proof.as_deref(),
            self.config.http_timeout_seconds,
        )
    }

    async fn jwks(&self, refetch: bool) -> Res<Jwks> {
        if !refetch {
            if let Some((jwks, _)) = self.jwks.borrow().clone() {
                return Ok(jwks);
            }
        }
        let response = http::get_json(&self.metadata.jwks_uri, self.config.http_timeout_seconds)
            .await
            .map_err(|e| Error::new(ErrorCode::DiscoveryFailed, e.message).retryable(true))?;
        if !(200..300).contains(&response.status) {
            return Err(Error::new(
                ErrorCode::DiscoveryFailed,
                format!("the JWKS answered HTTP {}", response.status),
            )
            .with_status(response.status));
        }
        let jwks = Jwks::parse(&response.body)?;
        *self.jwks.borrow_mut() = Some((jwks.clone(), js::now_seconds()));
        Ok(jwks)
    }

    /// The signature of a token from this issuer (sent by `source`), against its JWKS; on an
    /// unknown key the JWKS is fetched once more when [`jwk::refetch_jwks`] says so (key
    /// rotation).
    pub async fn verify_signature(
        &self,
        token: &str,
        source: TokenSource,
    ) -> Res<SignatureChecked> {
        let algorithms: Vec<String> = alg::DEFAULT_VERIFY.iter().map(|s| s.to_string()).collect();
        let jwks = self.jwks(false).await?;
        match verify::verify_signature(token, &algorithms, &jwks).await {
            Err(e) => {
                let last_fetch = self.jwks.borrow().as_ref().map(|(_, at)| *at);
                if !jwk::refetch_jwks(&e, source, last_fetch, js::now_seconds()) {
                    return Err(e);
                }
                let jwks = self.jwks(true).await?;
                verify::verify_signature(token, &algorithms, &jwks).await
            }
            ok => ok,
        }
    }

    /// The signatures of a token response's ID token and access token.
    pub async fn verify_response(&self, response: &TokenResponse) -> Res<Signed> {
        let id_token = match &response.id_token {
            Some(t) => Some(
                self.verify_signature(t.expose(), TokenSource::Issuer)
                    .await?,
            ),
            None => None,
        };
        let access_token = self
            .verify_signature(response.access_token.expose(), TokenSource::Issuer)
            .await?;
        Ok(Signed {
            id_token,
            access_token,
        })
    }
}
