//! `HelseIdClient`: the browser side of the login and the token lifecycle. Protocol decisions
//! live in `crate::core`; this file does the I/O in between.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Promise};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::CryptoKey;

use crate::core::authorization::{self, LoginOptions, Transaction};
use crate::core::claims::Expectations;
use crate::core::config::{self, ClientAuthMethod, Config, ConfigInput, ParMode, StorageMode};
use crate::core::discovery::{self, Metadata};
use crate::core::jwk::{self, Jwks};
use crate::core::session::{self, HelseIdView, Session};
use crate::core::token::{self, TokenResponse, TokenType};
use crate::core::{assertion, dpop, jws, jwt, pkce, uri, Error, ErrorCode};

use super::js::{self, from_js, get, get_string, object, to_js_error};
use super::{crypto, http, store, tabs, verify};

type Res<T> = Result<T, Error>;

const NONCES_KEY: &str = "helseid-wasm:dpop-nonces";

/// How client assertions are made.
enum Signer {
    Key {
        key: CryptoKey,
        alg: String,
        kid: Option<String>,
    },
    Provider(Function),
    None,
}

#[derive(Clone)]
struct DpopKey {
    private: CryptoKey,
    public_jwk: Value,
    jkt: String,
}

/// An access token for one resource (RFC 8707), with when it expires and the generation that
/// brought it.
#[derive(Clone, Serialize, Deserialize)]
struct ResourceToken {
    token: String,
    expires_at: i64,
    generation: f64,
}

/// The tokens of a session, shared with the other tabs of this origin (memory to memory).
/// `generation` grows with every change (milliseconds, so tabs can order them); Debug is not
/// derived, so nothing prints a token.
#[derive(Clone, Serialize, Deserialize)]
struct Tokens {
    generation: f64,
    access_token: String,
    /// Generation of `access_token` (a refresh for another resource does not renew it).
    access_generation: f64,
    refresh_token: Option<String>,
    id_token: Option<String>,
    session: Session,
    /// Access tokens for other resources, obtained by refresh.
    resource_tokens: BTreeMap<String, ResourceToken>,
}

impl Tokens {
    /// The token for `resource` (None: the default), and when it expires.
    fn token_for(&self, resource: Option<&str>) -> Option<(String, i64, f64)> {
        match resource {
            None => Some((
                self.access_token.clone(),
                self.session.expires_at,
                self.access_generation,
            )),
            Some(r) => self
                .resource_tokens
                .get(r)
                .map(|t| (t.token.clone(), t.expires_at, t.generation)),
        }
    }
}

/// The BroadcastChannel to the other tabs and the handler that must live as long.
type Channel = (
    web_sys::BroadcastChannel,
    Closure<dyn FnMut(web_sys::MessageEvent)>,
);

/// What tabs say to each other: `hello`, `session` (with the tokens), `logout`, `expired`.
#[derive(Deserialize)]
struct TabMessage {
    t: String,
    #[serde(default)]
    tokens: Option<Tokens>,
    #[serde(default)]
    nonces: BTreeMap<String, String>,
}

struct Inner {
    config: Config,
    metadata: Metadata,
    signer: Signer,
    jwks: RefCell<Option<Jwks>>,
    /// RFC 9449 §8: the newest `DPoP-Nonce` per server origin.
    nonces: RefCell<BTreeMap<String, String>>,
    dpop_key: RefCell<Option<DpopKey>>,
    tokens: RefCell<Option<Tokens>>,
    refreshing: RefCell<BTreeMap<String, Promise>>,
    listeners: RefCell<Vec<(u32, String, Function)>>,
    next_listener: Cell<u32>,
    timer: Cell<Option<i32>>,
    /// Consecutive failed timer refreshes, for the backoff.
    failures: Cell<u32>,
    disposed: Cell<bool>,
    /// The BroadcastChannel to the other tabs, and its message handler.
    channel: RefCell<Option<Channel>>,
    /// Releases the shared "this tab holds a session" lock.
    holder: RefCell<Option<Function>>,
    /// Resolved when a session of at least this generation arrives from another tab.
    waiters: RefCell<Vec<(f64, Function)>>,
}

#[wasm_bindgen]
pub struct HelseIdClient {
    inner: Rc<Inner>,
}

fn err_js(e: Error) -> JsValue {
    to_js_error(&e)
}

fn to_promise<F, T>(future: F) -> Promise
where
    F: std::future::Future<Output = Res<T>> + 'static,
    T: Into<JsValue>,
{
    future_to_promise(async move { future.await.map(Into::into).map_err(err_js) })
}

thread_local! {
    /// Discovery documents per issuer, for `DISCOVERY_CACHE_SECONDS`.
    static DISCOVERY: RefCell<BTreeMap<String, (Metadata, i64)>> = const { RefCell::new(BTreeMap::new()) };
}

async fn discover(config: &Config) -> Res<Metadata> {
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

/// Reads `clientAuth` (API.md) without ever copying key material into wasm memory.
async fn read_client_auth(value: &JsValue) -> Res<(ClientAuthMethod, Signer)> {
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
    for key in js_sys::Object::keys(value.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            return Err(Error::config(format!("unknown clientAuth key {key}")));
        }
    }
    match kind.as_str() {
        "private_key_jwt" => {
            let kid_opt = get_string(value, "kid");
            let jwk_value = get(value, "jwk");
            let key_value = get(value, "key");
            if jwk_value.is_object() {
                if !get(&jwk_value, "d").is_string() {
                    return Err(Error::config(
                        "clientAuth.jwk must be a private key (it has no \"d\")",
                    ));
                }
                let alg = get_string(value, "alg")
                    .or_else(|| {
                        config::default_assertion_alg(
                            get_string(&jwk_value, "alg").as_deref(),
                            get_string(&jwk_value, "kty").as_deref(),
                            get_string(&jwk_value, "crv").as_deref(),
                        )
                    })
                    .ok_or_else(|| Error::config("clientAuth.alg is needed for this key"))?;
                if !config::ASSERTION_ALGORITHMS.contains(&alg.as_str()) {
                    return Err(Error::config(format!(
                        "clientAuth.alg {alg} is not supported"
                    )));
                }
                let kid = kid_opt.or_else(|| get_string(&jwk_value, "kid"));
                let key = crypto::import_private_jwk(&jwk_value, &alg).await?;
                Ok((
                    ClientAuthMethod::PrivateKeyJwt {
                        alg: alg.clone(),
                        kid: kid.clone(),
                    },
                    Signer::Key { key, alg, kid },
                ))
            } else if let Some(key) = key_value.dyn_ref::<CryptoKey>() {
                let alg = get_string(value, "alg").ok_or_else(|| {
                    Error::config("clientAuth.alg is required with clientAuth.key")
                })?;
                if key.extractable() {
                    return Err(Error::config("clientAuth.key must be non-extractable"));
                }
                if key.type_() != "private" {
                    return Err(Error::config("clientAuth.key must be a private key"));
                }
                Ok((
                    ClientAuthMethod::PrivateKeyJwt {
                        alg: alg.clone(),
                        kid: kid_opt.clone(),
                    },
                    Signer::Key {
                        key: key.clone(),
                        alg,
                        kid: kid_opt,
                    },
                ))
            } else {
                Err(Error::config("private_key_jwt needs clientAuth.jwk (a private JWK) or clientAuth.key (a CryptoKey)"))
            }
        }
        "assertion_provider" => {
            let f = get(value, "getAssertion");
            let f = f
                .dyn_into::<Function>()
                .map_err(|_| Error::config("clientAuth.getAssertion must be a function"))?;
            Ok((ClientAuthMethod::AssertionProvider, Signer::Provider(f)))
        }
        _ => Ok((ClientAuthMethod::None, Signer::None)),
    }
}

fn parse_config_input(config: &JsValue) -> Res<ConfigInput> {
    if !config.is_object() {
        return Err(Error::config("config must be an object"));
    }
    let rest = Object::assign(&Object::new(), config.unchecked_ref());
    let _ = js_sys::Reflect::delete_property(&rest, &JsValue::from_str("clientAuth"));
    js::from_js_strict(rest.into()).map_err(|e| Error::config(config::config_error_message(&e)))
}

/// The query parameters of a URL, parsed by the browser.
fn query_pairs(url: &web_sys::Url) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if let Ok(Some(iter)) = js_sys::try_iter(&url.search_params()) {
        for entry in iter.flatten() {
            let entry: js_sys::Array = entry.unchecked_into();
            if let (Some(k), Some(v)) = (entry.get(0).as_string(), entry.get(1).as_string()) {
                pairs.push((k, v));
            }
        }
    }
    pairs
}

fn location() -> Option<web_sys::Location> {
    web_sys::window().map(|w| w.location())
}

fn session_to_js(session: &Session) -> JsValue {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    serde::Serialize::serialize(session, &serializer).unwrap_or(JsValue::NULL)
}

impl Inner {
    fn tx_key(&self) -> String {
        format!(
            "helseid-wasm:tx:{}:{}",
            self.config.issuer, self.config.client_id
        )
    }

    fn dpop_key_name(&self) -> String {
        format!("dpop:{}:{}", self.config.issuer, self.config.client_id)
    }

    fn session_key(&self) -> String {
        format!(
            "helseid-wasm:session:{}:{}",
            self.config.issuer, self.config.client_id
        )
    }

    /// RFC 9449 §8: keep the newest nonce per server, across page loads of this tab (nonces
    /// are not secrets), so the callback's token request needs no extra round trip.
    fn remember_nonce(&self, origin: &str, nonce: &str) {
        let mut nonces = self.nonces.borrow_mut();
        if nonces.get(origin).map(String::as_str) == Some(nonce) {
            return;
        }
        nonces.insert(origin.to_string(), nonce.to_string());
        if let Ok(json) = serde_json::to_string(&*nonces) {
            let _ = store::session_set(NONCES_KEY, &json);
        }
    }

    fn use_par(&self) -> bool {
        self.config.par != ParMode::Off
            && self
                .metadata
                .pushed_authorization_request_endpoint
                .is_some()
    }

    // ---- keys ---------------------------------------------------------------------------

    async fn key_from_pair(private: CryptoKey, public: &CryptoKey) -> Res<DpopKey> {
        let public_jwk = crypto::export_public_jwk(public).await?;
        let jkt = jwk_thumbprint(&public_jwk)?;
        Ok(DpopKey {
            private,
            public_jwk,
            jkt,
        })
    }

    /// A fresh DPoP key for a new login, kept in IndexedDB so it survives the redirect.
    async fn new_dpop_key(&self) -> Res<DpopKey> {
        let (private, public) = crypto::generate_dpop_key().await?;
        let record = object(&[
            ("privateKey", private.clone().into()),
            ("publicKey", public.clone().into()),
        ]);
        store::idb_put(&self.dpop_key_name(), &record).await?;
        let key = Self::key_from_pair(private, &public).await?;
        *self.dpop_key.borrow_mut() = Some(key.clone());
        Ok(key)
    }

    async fn dpop_key(&self) -> Res<DpopKey> {
        if let Some(key) = self.dpop_key.borrow().clone() {
            return Ok(key);
        }
        let record = store::idb_get(&self.dpop_key_name()).await?;
        let private = get(&record, "privateKey").dyn_into::<CryptoKey>();
        let public = get(&record, "publicKey").dyn_into::<CryptoKey>();
        match (private, public) {
            (Ok(private), Ok(public)) => {
                let key = Self::key_from_pair(private, &public).await?;
                *self.dpop_key.borrow_mut() = Some(key.clone());
                Ok(key)
            }
            _ => Err(Error::new(
                ErrorCode::LoginRequired,
                "the DPoP key of this session is gone; log in again",
            )),
        }
    }

    /// RFC 9449 §4: a proof for one request.
    async fn dpop_proof(&self, method: &str, url: &str, access_token: Option<&str>) -> Res<String> {
        let key = self.dpop_key().await?;
        let origin = uri::origin(url).unwrap_or(url).to_string();
        let nonce = self.nonces.borrow().get(&origin).cloned();
        let ath = access_token.map(dpop::access_token_hash);
        let header = dpop::proof_header("ES256", &key.public_jwk);
        let claims = dpop::proof_claims(
            method,
            url,
            &js::random_token()?,
            js::now_seconds(),
            nonce.as_deref(),
            ath.as_deref(),
        );
        let input = jws::signing_input(&header, &claims);
        let signature = crypto::sign("ES256", &key.private, input.as_bytes()).await?;
        Ok(jws::compact(&input, &signature))
    }

    /// RFC 7523 §2.2: a fresh client assertion for a request to `endpoint`.
    async fn client_auth_params(&self, endpoint: &str) -> Res<Vec<(String, String)>> {
        let assertion = match &self.signer {
            Signer::None => return Ok(Vec::new()),
            Signer::Key { key, alg, kid } => {
                let header = assertion::header(alg, kid.as_deref());
                let claims = assertion::claims(
                    &self.config.client_id,
                    &self.config.issuer,
                    &js::random_token()?,
                    js::now_seconds(),
                );
                let input = jws::signing_input(&header, &claims);
                let signature = crypto::sign(alg, key, input.as_bytes()).await?;
                jws::compact(&input, &signature)
            }
            Signer::Provider(f) => {
                let ctx = object(&[
                    ("audience", self.config.issuer.as_str().into()),
                    ("endpoint", endpoint.into()),
                ]);
                let result = f.call1(&JsValue::NULL, &ctx).map_err(|e| {
                    from_js(ErrorCode::NetworkError, "assertion_provider threw", &e).retryable(true)
                })?;
                let value = JsFuture::from(Promise::resolve(&result))
                    .await
                    .map_err(|e| {
                        from_js(ErrorCode::NetworkError, "assertion_provider failed", &e)
                            .retryable(true)
                    })?;
                let assertion = value.as_string().ok_or_else(|| {
                    Error::new(
                        ErrorCode::ConfigInvalid,
                        "assertion_provider must resolve to a string (a signed JWT)",
                    )
                })?;
                if jwt::decode(&assertion).is_err() {
                    return Err(Error::new(
                        ErrorCode::ConfigInvalid,
                        "assertion_provider returned something that is not a JWS",
                    ));
                }
                assertion
            }
        };
        Ok(assertion::body_params(&assertion)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect())
    }

    /// POST to an authorization server endpoint with client authentication and DPoP,
    /// retrying once on `use_dpop_nonce` (RFC 9449 §8) with a new proof and a new assertion.
    async fn post_to_as(
        &self,
        endpoint: &str,
        params: &[(String, String)],
    ) -> Res<http::HttpResponse> {
        let origin = uri::origin(endpoint).unwrap_or(endpoint).to_string();
        for attempt in 0..2 {
            let mut body = params.to_vec();
            body.extend(self.client_auth_params(endpoint).await?);
            let proof = if self.config.dpop {
                Some(self.dpop_proof("POST", endpoint, None).await?)
            } else {
                None
            };
            let response = http::post_form(
                endpoint,
                &body,
                proof.as_deref(),
                self.config.http_timeout_seconds,
            )
            .await?;
            if let Some(nonce) = &response.dpop_nonce {
                self.remember_nonce(&origin, nonce);
            }
            if self.config.dpop
                && dpop::is_authorization_server_nonce_challenge(response.status, &response.body)
            {
                if attempt == 0 && response.dpop_nonce.is_some() {
                    continue;
                }
                return Err(Error::new(
                    ErrorCode::DpopNonceFailed,
                    "the authorization server still asks for a DPoP nonce after one retry",
                )
                .with_status(response.status)
                .with_oauth("use_dpop_nonce", None));
            }
            return Ok(response);
        }
        unreachable_nonce()
    }

    // ---- verification -------------------------------------------------------------------

    async fn jwks(&self, refetch: bool) -> Res<Jwks> {
        if !refetch {
            if let Some(jwks) = self.jwks.borrow().clone() {
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
        let jwks: Jwks = serde_json::from_str(&response.body)
            .map_err(|_| Error::new(ErrorCode::DiscoveryFailed, "the JWKS is not valid JSON"))?;
        *self.jwks.borrow_mut() = Some(jwks.clone());
        Ok(jwks)
    }

    /// Verifies with the cached JWKS, and once more with a fresh one on an unknown key.
    async fn verify(&self, token: &str, expectations: &Expectations<'_>) -> Res<jwt::DecodedJwt> {
        let algorithms: Vec<String> = jwt::DEFAULT_ALGORITHMS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let jwks = self.jwks(false).await?;
        match verify::verify(token, &algorithms, &jwks, expectations).await {
            Err(e) if e.code == ErrorCode::UnknownKey => {
                let jwks = self.jwks(true).await?;
                verify::verify(token, &algorithms, &jwks, expectations).await
            }
            other => other,
        }
    }

    /// Checks a token response (code exchange or refresh) and makes the new tokens.
    async fn complete(
        &self,
        response: TokenResponse,
        nonce: Option<&str>,
        previous: Option<&Tokens>,
        generation: f64,
    ) -> Res<Tokens> {
        let now = js::now_seconds();
        // RFC 9449 §5: refused before anything is fetched or verified.
        let token_type = token::check_token_type(&response.token_type, self.config.dpop)?;
        let config = &self.config;
        // OIDC Core 3.1.3.7 for the ID token; §12.2 on refresh: same iss and sub.
        let id_claims = match (&response.id_token, previous) {
            (Some(id_token), _) => {
                let mut e = Expectations::id_token(
                    &config.issuer,
                    &config.client_id,
                    nonce,
                    now,
                    config.clock_tolerance_seconds,
                );
                e.required_security_level = config.required_security_level.as_deref();
                if previous.is_some() {
                    e.nonce = None;
                }
                let decoded = self.verify(id_token, &e).await?;
                if let Some(prev) = previous {
                    if decoded.claims.get("sub") != prev.session.id_token_claims.get("sub") {
                        return Err(Error::claim(
                            "sub",
                            "the refreshed ID token names another subject",
                        ));
                    }
                }
                decoded.claims
            }
            (None, Some(prev)) => prev.session.id_token_claims.clone(),
            (None, None) => {
                return Err(Error::new(
                    ErrorCode::TokenRequestFailed,
                    "the token response has no id_token (is openid in scope?)",
                ))
            }
        };
        let (at_claims, expires_at) = self
            .verify_access_token(
                &response,
                token_type,
                config.expected_audience.as_deref(),
                now,
            )
            .await?;
        let scope =
            session::parse_scope(response.scope.as_ref().or_else(|| at_claims.get("scope")));
        let helseid = HelseIdView::from_claims(&id_claims, &at_claims);
        let session = Session {
            id_token_claims: id_claims,
            access_token_claims: at_claims,
            expires_at,
            token_type: token_type.as_str().to_string(),
            scope,
            helseid,
        };
        Ok(Tokens {
            generation,
            access_generation: generation,
            access_token: response.access_token,
            refresh_token: response
                .refresh_token
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            id_token: response
                .id_token
                .or_else(|| previous.and_then(|p| p.id_token.clone())),
            session,
            resource_tokens: BTreeMap::new(),
        })
    }

    // ---- session ------------------------------------------------------------------------

    fn emit(&self, event: &str, detail: &JsValue) {
        let listeners: Vec<Function> = self
            .listeners
            .borrow()
            .iter()
            .filter(|(_, e, _)| e == event)
            .map(|(_, _, f)| f.clone())
            .collect();
        for f in listeners {
            // A listener that throws must not break the library.
            let _ = f.call1(&JsValue::NULL, detail);
        }
    }

    fn persist(&self) {
        if self.config.storage != StorageMode::Session {
            return;
        }
        // sessionStorage (one tab, API.md `storage: "session"`), never the persistent,
        // origin-wide Web Storage.
        match &*self.tokens.borrow() {
            Some(t) => {
                if let Ok(json) = serde_json::to_string(t) {
                    let _ = store::session_set(&self.session_key(), &json);
                }
            }
            None => store::session_remove(&self.session_key()),
        }
    }

    /// `storage: "session"`: the tokens this tab kept across a reload.
    fn restore_tokens(&self) -> Option<Tokens> {
        if self.config.storage != StorageMode::Session {
            return None;
        }
        serde_json::from_str(&store::session_get(&self.session_key())?).ok()
    }

    /// HelseID: every token request names one resource (RFC 8707 §2.2); the default is the
    /// expected audience when it is one of `resources`, else the first resource.
    fn default_resource(&self) -> Option<&str> {
        let resources = &self.config.resources;
        let expected = self.config.expected_audience.as_deref();
        expected
            .filter(|a| resources.iter().any(|r| r == a))
            .or(resources.first().map(String::as_str))
    }

    fn lock_name(&self, what: &str) -> String {
        format!(
            "helseid-wasm:{what}:{}:{}",
            self.config.issuer, self.config.client_id
        )
    }

    /// Stores new tokens here, in sessionStorage when asked, and tells the other tabs.
    fn set_tokens(self: &Rc<Self>, tokens: Option<Tokens>, announce: bool) {
        let had = self.tokens.borrow().is_some();
        // A session from another tab may be bound to a newer key (a new login there).
        let stale_key = match (&tokens, self.dpop_key.borrow().as_ref()) {
            (Some(new), Some(key)) => jkt_of(&new.session) != Some(key.jkt.as_str()),
            _ => false,
        };
        if stale_key {
            self.dpop_key.replace(None);
        }
        let generation = tokens.as_ref().map(|t| t.generation);
        *self.tokens.borrow_mut() = tokens;
        self.persist();
        self.schedule_refresh();
        match (had, generation) {
            (false, Some(_)) => {
                *self.holder.borrow_mut() = tabs::hold_shared(&self.lock_name("holder"))
            }
            (true, None) => {
                if let Some(release) = self.holder.borrow_mut().take() {
                    let _ = release.call0(&JsValue::NULL);
                }
            }
            _ => {}
        }
        if let Some(generation) = generation {
            let ready: Vec<Function> = {
                let mut waiters = self.waiters.borrow_mut();
                let (done, pending): (Vec<_>, Vec<_>) =
                    waiters.drain(..).partition(|(g, _)| *g <= generation);
                *waiters = pending;
                done.into_iter().map(|(_, f)| f).collect()
            };
            for resolve in ready {
                let _ = resolve.call1(&JsValue::NULL, &JsValue::TRUE);
            }
            if announce {
                self.announce_session();
            }
        }
    }

    fn broadcast(&self, message: &Value) {
        if let Some((channel, _)) = &*self.channel.borrow() {
            let _ = channel.post_message(&JsValue::from_str(&message.to_string()));
        }
    }

    fn announce_session(&self) {
        let tokens = self.tokens.borrow().clone();
        if let Some(tokens) = tokens {
            // DPoP nonces travel along (they are not secrets): the tab that refreshes next
            // then needs no use_dpop_nonce round trip.
            let nonces = self.nonces.borrow().clone();
            self.broadcast(
                &serde_json::json!({ "t": "session", "tokens": tokens, "nonces": nonces }),
            );
        }
    }

    /// Messages from the other tabs of this origin.
    fn on_message(self: &Rc<Self>, data: &str) {
        let Ok(message) = serde_json::from_str::<TabMessage>(data) else {
            return;
        };
        match message.t.as_str() {
            "hello" => self.announce_session(),
            "session" => {
                for (origin, nonce) in &message.nonces {
                    self.remember_nonce(origin, nonce);
                }
                let Some(tokens) = message.tokens else {
                    return;
                };
                let current = self.tokens.borrow().as_ref().map(|t| t.generation);
                if current.is_some_and(|g| g >= tokens.generation) {
                    return;
                }
                let refreshed = current.is_some();
                let session = tokens.session.clone();
                self.set_tokens(Some(tokens), false);
                if refreshed {
                    self.emit("tokenRefreshed", &session_to_js(&session));
                }
            }
            "logout" if self.tokens.borrow().is_some() => {
                self.set_tokens(None, false);
                self.emit("loggedOut", &JsValue::UNDEFINED);
            }
            "expired" if self.tokens.borrow().is_some() => {
                self.set_tokens(None, false);
                self.emit("sessionExpired", &JsValue::UNDEFINED);
            }
            _ => {}
        }
    }

    fn open_channel(self: &Rc<Self>) {
        let Ok(channel) = web_sys::BroadcastChannel::new(&self.lock_name("session")) else {
            return;
        };
        let weak = Rc::downgrade(self);
        let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                if let (Some(inner), Some(data)) = (weak.upgrade(), event.data().as_string()) {
                    inner.on_message(&data);
                }
            },
        );
        channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
        *self.channel.borrow_mut() = Some((channel, handler));
    }

    /// Waits (bounded) until tokens of at least `generation` are here.
    async fn wait_for_generation(&self, generation: f64, timeout_ms: i32) -> bool {
        if self
            .tokens
            .borrow()
            .as_ref()
            .is_some_and(|t| t.generation >= generation)
        {
            return true;
        }
        let Some((promise, resolve)) = tabs::timeout_promise(timeout_ms) else {
            return false;
        };
        self.waiters.borrow_mut().push((generation, resolve));
        JsFuture::from(promise)
            .await
            .map(|v| v.is_truthy())
            .unwrap_or(false)
    }

    /// A new tab asks a tab that holds the session for it (without a redirect).
    async fn join_other_tabs(self: &Rc<Self>) {
        if self.tokens.borrow().is_some() || !tabs::is_held(&self.lock_name("holder")).await {
            return;
        }
        self.broadcast(&serde_json::json!({ "t": "hello" }));
        self.wait_for_generation(f64::MIN_POSITIVE, 2_000).await;
    }

    /// Ends a session that ended without `logout()`: tokens go here and in the other tabs,
    /// `sessionExpired` fires once per tab.
    fn expire(self: &Rc<Self>) -> Error {
        let had = self.tokens.borrow().is_some();
        self.set_tokens(None, false);
        if had {
            self.broadcast(&serde_json::json!({ "t": "expired" }));
            self.emit("sessionExpired", &JsValue::UNDEFINED);
        }
        Error::new(
            ErrorCode::LoginRequired,
            "the session has ended; log in again",
        )
    }

    fn clear_timer(&self) {
        if let Some(handle) = self.timer.take() {
            if let Ok(f) = get(&js_sys::global(), "clearTimeout").dyn_into::<Function>() {
                let _ = f.call1(&JsValue::NULL, &JsValue::from(handle));
            }
        }
    }

    /// `autoRefresh`: one timer, `refreshLeewaySeconds` before expiry.
    fn schedule_refresh(self: &Rc<Self>) {
        self.clear_timer();
        if !self.config.auto_refresh || self.disposed.get() {
            return;
        }
        let expires_at = match &*self.tokens.borrow() {
            Some(t) if t.refresh_token.is_some() => t.session.expires_at,
            _ => return,
        };
        let delay = (expires_at - self.config.refresh_leeway_seconds - js::now_seconds()).max(1);
        self.set_timer(delay * 1000);
    }

    fn set_timer(self: &Rc<Self>, delay_ms: i64) {
        let weak: Weak<Inner> = Rc::downgrade(self);
        let callback = Closure::once_into_js(move || {
            if let Some(inner) = weak.upgrade() {
                inner.timer.set(None);
                wasm_bindgen_futures::spawn_local(async move {
                    match inner.refresh_shared(None).await {
                        Ok(()) => inner.failures.set(0),
                        Err(e) if e.retryable && inner.tokens.borrow().is_some() => {
                            // Backoff: 5 s, 10 s, 20 s, ... at most a minute.
                            let n = inner.failures.get().min(4);
                            inner.failures.set(n + 1);
                            inner.set_timer((5_000 << n).min(60_000));
                        }
                        Err(_) => {}
                    }
                });
            }
        });
        if let Ok(f) = get(&js_sys::global(), "setTimeout").dyn_into::<Function>() {
            let delay = JsValue::from_f64(delay_ms.clamp(0, 2_147_483_647) as f64);
            if let Ok(handle) = f.call2(&JsValue::NULL, &callback, &delay) {
                self.timer.set(handle.as_f64().map(|h| h as i32));
            }
        }
    }

    /// Concurrent callers in this tab share one refresh per resource; tabs take turns.
    async fn refresh_shared(self: &Rc<Self>, resource: Option<String>) -> Res<()> {
        let key = resource.clone().unwrap_or_default();
        let existing = self.refreshing.borrow().get(&key).cloned();
        let promise = match existing {
            Some(p) => p,
            None => {
                let inner = self.clone();
                let res = resource.clone();
                // What the caller saw: a refresh by another tab after this point counts.
                let seen = self
                    .tokens
                    .borrow()
                    .as_ref()
                    .and_then(|t| t.token_for(res.as_deref()))
                    .map_or(0.0, |(_, _, g)| g);
                let p = future_to_promise(async move {
                    let lock = inner.lock_name("refresh");
                    let worker = inner.clone();
                    let work_resource = res.clone();
                    let result = tabs::with_lock(&lock, move || {
                        future_to_promise(async move {
                            worker
                                .refresh_under_lock(work_resource.as_deref(), seen)
                                .await
                                .map(|_| JsValue::UNDEFINED)
                                .map_err(err_js)
                        })
                    })
                    .await;
                    inner
                        .refreshing
                        .borrow_mut()
                        .remove(&res.unwrap_or_default());
                    result
                });
                self.refreshing.borrow_mut().insert(key, p.clone());
                p
            }
        };
        JsFuture::from(promise)
            .await
            .map(|_| ())
            .map_err(|e| js_error_back(&e))
    }

    /// Inside the refresh lock: another tab may have refreshed while this one waited.
    async fn refresh_under_lock(self: &Rc<Self>, resource: Option<&str>, seen: f64) -> Res<()> {
        let shared = store::idb_get(&self.lock_name("generation"))
            .await
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let local = self.tokens.borrow().as_ref().map_or(0.0, |t| t.generation);
        if shared > local {
            // Its tokens are on their way over the BroadcastChannel.
            self.wait_for_generation(shared, 3_000).await;
        }
        let current = self
            .tokens
            .borrow()
            .as_ref()
            .and_then(|t| t.token_for(resource));
        // Newer than what the caller saw: another tab (or call) refreshed meanwhile.
        if current.is_some_and(|(_, _, generation)| generation > seen) {
            return Ok(());
        }
        self.refresh_once(resource).await?;
        let generation = self.tokens.borrow().as_ref().map_or(0.0, |t| t.generation);
        let _ = store::idb_put(
            &self.lock_name("generation"),
            &JsValue::from_f64(generation),
        )
        .await;
        Ok(())
    }

    fn next_generation(&self) -> f64 {
        let local = self.tokens.borrow().as_ref().map_or(0.0, |t| t.generation);
        js_sys::Date::now().max(local + 1.0)
    }

    async fn refresh_once(self: &Rc<Self>, resource: Option<&str>) -> Res<()> {
        let previous = self.tokens.borrow().clone();
        let Some(previous) = previous else {
            return Err(Error::new(
                ErrorCode::LoginRequired,
                "no session: log in first",
            ));
        };
        let Some(refresh_token) = previous.refresh_token.clone() else {
            return Err(self.expire());
        };
        let target = resource.or(self.default_resource());
        let params = token::refresh_params(&refresh_token, &self.config.client_id, target);
        let response = self
            .post_to_as(&self.metadata.token_endpoint, &params)
            .await?;
        let response = match token::process_token_response(response.status, &response.body) {
            Ok(r) => r,
            // RFC 6749 §5.2: the refresh token is invalid, expired or revoked.
            Err(e) if e.oauth_error.as_deref() == Some("invalid_grant") => {
                return Err(self.expire())
            }
            Err(e) => return Err(e),
        };
        let generation = self.next_generation();
        match resource {
            Some(resource) => {
                let token_type = token::check_token_type(&response.token_type, self.config.dpop)?;
                let (_, expires_at) = self
                    .verify_access_token(&response, token_type, Some(resource), js::now_seconds())
                    .await?;
                let token = response.access_token.clone();
                let mut tokens = previous.clone();
                if let Some(rt) = response.refresh_token {
                    tokens.refresh_token = Some(rt);
                }
                tokens.generation = generation;
                tokens.resource_tokens.insert(
                    resource.to_string(),
                    ResourceToken {
                        token,
                        expires_at,
                        generation,
                    },
                );
                self.set_tokens(Some(tokens), true);
            }
            None => {
                let mut tokens = self
                    .complete(response, None, Some(&previous), generation)
                    .await?;
                tokens.resource_tokens = previous.resource_tokens.clone();
                let session = tokens.session.clone();
                self.set_tokens(Some(tokens), true);
                self.emit("tokenRefreshed", &session_to_js(&session));
            }
        }
        Ok(())
    }

    /// Checks an access token from a token response whose `token_type` was checked (`cnf.jkt`
    /// for DPoP, signature, `aud` = `audience` (RFC 8707), the security level when it carries
    /// one, the SFM id for the expected audience) and works out when it expires.
    async fn verify_access_token(
        &self,
        response: &TokenResponse,
        token_type: TokenType,
        audience: Option<&str>,
        now: i64,
    ) -> Res<(serde_json::Map<String, Value>, i64)> {
        let config = &self.config;
        let jkt = if token_type == TokenType::DPoP {
            Some(self.dpop_key().await?.jkt)
        } else {
            None
        };
        let mut e = Expectations::access_token(
            &config.issuer,
            audience,
            jkt.as_deref(),
            now,
            config.clock_tolerance_seconds,
        );
        e.require_sfm_id = config.require_sfm_id && audience == config.expected_audience.as_deref();
        e.required_security_level = config.required_security_level.as_deref();
        let at = self.verify(&response.access_token, &e).await?;
        let exp = at.claims.get("exp").and_then(|v| v.as_i64());
        let expires_at = session::expires_at(now, response.expires_in, exp).ok_or_else(|| {
            Error::claim(
                "exp",
                "neither expires_in nor exp tells when the access token expires",
            )
        })?;
        Ok((at.claims, expires_at))
    }

    async fn access_token(self: &Rc<Self>, resource: Option<String>, force: bool) -> Res<String> {
        if self.disposed.get() {
            return Err(Error::new(
                ErrorCode::LoginRequired,
                "the client was disposed",
            ));
        }
        let resource =
            resource.filter(|r| Some(r.as_str()) != self.config.expected_audience.as_deref());
        if !force {
            let tokens = self.tokens.borrow();
            let Some(tokens) = tokens.as_ref() else {
                return Err(Error::new(
                    ErrorCode::LoginRequired,
                    "no session: log in first",
                ));
            };
            if let Some((token, expires_at, _)) = tokens.token_for(resource.as_deref()) {
                if expires_at - self.config.refresh_leeway_seconds > js::now_seconds() {
                    return Ok(token);
                }
            }
        }
        self.refresh_shared(resource.clone()).await?;
        // A refresh that gives a token already within the leeway still returns it.
        let tokens = self.tokens.borrow();
        let tokens = tokens
            .as_ref()
            .ok_or_else(|| Error::new(ErrorCode::LoginRequired, "no session: log in first"))?;
        tokens
            .token_for(resource.as_deref())
            .map(|(t, _, _)| t)
            .ok_or_else(|| Error::new(ErrorCode::TokenRequestFailed, "no token for that resource"))
    }
}

/// `cnf.jkt` of a session's access token.
fn jkt_of(session: &Session) -> Option<&str> {
    session.access_token_claims.get("cnf")?.get("jkt")?.as_str()
}

fn unreachable_nonce<T>() -> Res<T> {
    Err(Error::new(
        ErrorCode::DpopNonceFailed,
        "the server still asks for a DPoP nonce",
    ))
}

/// A rejection from one of our own promises, back into a core error.
fn js_error_back(value: &JsValue) -> Error {
    let code_str = get_string(value, "code").unwrap_or_default();
    let code = ErrorCode::ALL
        .iter()
        .copied()
        .find(|c| c.as_str() == code_str)
        .unwrap_or(ErrorCode::NetworkError);
    let mut e = Error::new(code, get_string(value, "message").unwrap_or_default());
    e.retryable = get(value, "retryable").as_bool().unwrap_or(false);
    e.oauth_error = get_string(value, "oauthError");
    e.oauth_error_description = get_string(value, "oauthErrorDescription");
    e.status = get(value, "status").as_f64().map(|s| s as u16);
    e.claim = claim_name(get_string(value, "claim").as_deref());
    e
}

fn claim_name(claim: Option<&str>) -> Option<&'static str> {
    const NAMES: [&str; 13] = [
        "iss",
        "aud",
        "azp",
        "sub",
        "nonce",
        "iat",
        "exp",
        "nbf",
        "typ",
        "cnf",
        "helseid://claims/identity/security_level",
        "e-helse:sfm.api/client/claims/sfm-id",
        "scope",
    ];
    claim.and_then(|c| NAMES.iter().copied().find(|n| *n == c))
}

fn jwk_thumbprint(public_jwk: &Value) -> Res<String> {
    let jwk = jwk::Jwk::from_json(public_jwk)
        .ok_or_else(|| Error::new(ErrorCode::ConfigInvalid, "the DPoP public key is not a JWK"))?;
    jwk::thumbprint(&jwk)
}

#[wasm_bindgen]
impl HelseIdClient {
    /// Validates the config, fetches (or reuses) discovery, imports the client key.
    #[wasm_bindgen(unchecked_return_type = "Promise<HelseIdClient>")]
    pub fn create(
        #[wasm_bindgen(unchecked_param_type = "HelseIdConfig")] config: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            let result: Res<HelseIdClient> = async {
                let input = parse_config_input(&config)?;
                let (method, signer) = read_client_auth(&get(&config, "clientAuth")).await?;
                let config = Config::from_input(input, method)?;
                let metadata = discover(&config).await?;
                if config.par == ParMode::Required && metadata.pushed_authorization_request_endpoint.is_none() {
                    return Err(Error::config("par is \"required\" but discovery has no pushed_authorization_request_endpoint"));
                }
                if config.par == ParMode::Off && metadata.require_pushed_authorization_requests {
                    return Err(Error::config("the provider requires PAR, but par is \"off\""));
                }
                let inner = Rc::new(Inner {
                    config,
                    metadata,
                    signer,
                    jwks: RefCell::new(None),
                    nonces: RefCell::new(
                        store::session_get(NONCES_KEY)
                            .and_then(|j| serde_json::from_str(&j).ok())
                            .unwrap_or_default(),
                    ),
                    dpop_key: RefCell::new(None),
                    tokens: RefCell::new(None),
                    refreshing: RefCell::new(BTreeMap::new()),
                    listeners: RefCell::new(Vec::new()),
                    next_listener: Cell::new(1),
                    timer: Cell::new(None),
                    failures: Cell::new(0),
                    disposed: Cell::new(false),
                    channel: RefCell::new(None),
                    holder: RefCell::new(None),
                    waiters: RefCell::new(Vec::new()),
                });
                inner.open_channel();
                let restored = inner.tokens.borrow().is_none().then(|| inner.restore_tokens()).flatten();
                if let Some(tokens) = restored {
                    inner.set_tokens(Some(tokens), false);
                }
                inner.join_other_tabs().await;
                Ok(HelseIdClient { inner })
            }
            .await;
            result.map(JsValue::from).map_err(err_js)
        })
    }

    /// PKCE S256 + state + nonce, PAR when on, then `location.assign` to the authorize endpoint.
    #[wasm_bindgen(js_name = loginWithRedirect, unchecked_return_type = "Promise<void>")]
    pub fn login_with_redirect(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "LoginOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let inner = self.inner.clone();
        to_promise(async move {
            let options: LoginOptions = if options.is_undefined() || options.is_null() {
                LoginOptions::default()
            } else {
                js::from_js_strict(options)
                    .map_err(|e| Error::config(config::config_error_message(&e)))?
            };
            let url = inner.authorization_url(&options).await?;
            let location =
                location().ok_or_else(|| Error::config("loginWithRedirect needs a window"))?;
            location
                .assign(&url)
                .map_err(|_| Error::config("location.assign failed"))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Does this URL (default: the current one) carry `code`/`error` and `state`?
    #[wasm_bindgen(js_name = isRedirectCallback)]
    pub fn is_redirect_callback(&self, url: Option<String>) -> bool {
        let href = url.or_else(|| location().and_then(|l| l.href().ok()));
        href.and_then(|h| web_sys::Url::new(&h).ok())
            .map(|u| authorization::is_callback(&query_pairs(&u)))
            .unwrap_or(false)
    }

    /// Validates the authorization response, exchanges the code, validates the tokens.
    #[wasm_bindgen(js_name = handleRedirectCallback, unchecked_return_type = "Promise<Session>")]
    pub fn handle_redirect_callback(&self, url: Option<String>) -> Promise {
        let inner = self.inner.clone();
        to_promise(async move {
            let session = inner.handle_callback(url).await?;
            Ok(session_to_js(&session))
        })
    }

    /// A valid access token, refreshed when within `refreshLeewaySeconds` of expiry.
    #[wasm_bindgen(js_name = getAccessToken, unchecked_return_type = "Promise<string>")]
    pub fn get_access_token(
        &self,
        #[wasm_bindgen(
            unchecked_optional_param_type = "{ resource?: string, forceRefresh?: boolean }"
        )]
        options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let inner = self.inner.clone();
        let resource = get_string(&options, "resource");
        let force = get(&options, "forceRefresh").as_bool().unwrap_or(false);
        to_promise(async move { inner.access_token(resource, force).await.map(JsValue::from) })
    }

    /// Refresh now.
    #[wasm_bindgen(unchecked_return_type = "Promise<Session>")]
    pub fn refresh(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let inner = self.inner.clone();
        let resource = get_string(&options, "resource")
            .filter(|r| Some(r.as_str()) != inner.config.expected_audience.as_deref());
        to_promise(async move {
            inner.refresh_shared(resource).await?;
            let session = inner.tokens.borrow().as_ref().map(|t| t.session.clone());
            session
                .map(|s| session_to_js(&s))
                .ok_or_else(|| Error::new(ErrorCode::LoginRequired, "no session"))
        })
    }

    /// The current session, or null.
    #[wasm_bindgen(unchecked_return_type = "Session | null")]
    pub fn session(&self) -> JsValue {
        self.inner
            .tokens
            .borrow()
            .as_ref()
            .map(|t| session_to_js(&t.session))
            .unwrap_or(JsValue::NULL)
    }

    /// Calls an API with `Authorization: DPoP <at>` and a proof with `ath` (or `Bearer`),
    /// retrying once on `use_dpop_nonce` (RFC 9449 §9).
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Request")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestInit")] init: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let init = init.unwrap_or(JsValue::UNDEFINED);
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let inner = self.inner.clone();
        let resource = get_string(&options, "resource");
        to_promise(async move { inner.api_fetch(input, init, resource).await })
    }

    /// Forgets the tokens, revokes the refresh token, redirects to `end_session_endpoint`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn logout(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ state?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let inner = self.inner.clone();
        let state = get_string(&options, "state");
        to_promise(async move {
            let url = inner.logout(state).await?;
            if let (Some(url), Some(location)) = (url, location()) {
                let _ = location.assign(&url);
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Subscribes to `tokenRefreshed`, `sessionExpired` or `loggedOut`; returns unsubscribe.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "\"tokenRefreshed\" | \"sessionExpired\" | \"loggedOut\""
        )]
        event: String,
        #[wasm_bindgen(unchecked_param_type = "(detail: any) => void")] callback: Function,
    ) -> Result<JsValue, JsValue> {
        if !["tokenRefreshed", "sessionExpired", "loggedOut"].contains(&event.as_str()) {
            return Err(err_js(Error::config(format!("unknown event {event}"))));
        }
        let id = self.inner.next_listener.get();
        self.inner.next_listener.set(id + 1);
        self.inner
            .listeners
            .borrow_mut()
            .push((id, event, callback));
        let weak = Rc::downgrade(&self.inner);
        let unsubscribe = Closure::<dyn FnMut()>::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.listeners.borrow_mut().retain(|(i, _, _)| *i != id);
            }
        });
        Ok(unsubscribe.into_js_value())
    }

    /// Stops timers and listeners.
    pub fn dispose(&self) {
        let inner = &self.inner;
        inner.disposed.set(true);
        inner.clear_timer();
        inner.listeners.borrow_mut().clear();
        if let Some((channel, _handler)) = inner.channel.borrow_mut().take() {
            channel.close();
        }
        if let Some(release) = inner.holder.borrow_mut().take() {
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

impl Inner {
    async fn authorization_url(self: &Rc<Self>, options: &LoginOptions) -> Res<String> {
        let verifier = pkce::code_verifier(&js::random32()?);
        let challenge = pkce::code_challenge_s256(&verifier);
        let dpop_jkt = if self.config.dpop {
            Some(self.new_dpop_key().await?.jkt)
        } else {
            None
        };
        let tx = Transaction {
            state: js::random_token()?,
            nonce: js::random_token()?,
            code_verifier: verifier,
            redirect_uri: self.config.redirect_uri.clone(),
            created_at: js::now_seconds(),
            dpop_jkt,
        };
        let params = authorization::request_params(&self.config, &tx, &challenge, options)?;
        let tx_json = serde_json::to_string(&tx)
            .map_err(|_| Error::config("could not store the login attempt"))?;
        store::session_set(&self.tx_key(), &tx_json)?;
        if self.use_par() {
            let endpoint = self
                .metadata
                .pushed_authorization_request_endpoint
                .clone()
                .unwrap_or_default();
            let response = self.post_to_as(&endpoint, &params).await?;
            let par = authorization::process_par_response(response.status, &response.body)?;
            Ok(authorization::authorization_url_after_par(
                &self.metadata.authorization_endpoint,
                &self.config.client_id,
                &par.request_uri,
            ))
        } else {
            Ok(authorization::authorization_url(
                &self.metadata.authorization_endpoint,
                &params,
            ))
        }
    }

    async fn handle_callback(self: &Rc<Self>, url: Option<String>) -> Res<Session> {
        let current = location().and_then(|l| l.href().ok());
        let href = url
            .clone()
            .or_else(|| current.clone())
            .ok_or_else(|| Error::config("no URL to read the callback from"))?;
        let parsed = web_sys::Url::new(&href).map_err(|_| {
            Error::new(
                ErrorCode::StateMismatch,
                "the callback URL cannot be parsed",
            )
        })?;
        let params = query_pairs(&parsed);
        // The code must not stay in the address bar (or the history) longer than needed.
        if url.is_none() || url == current {
            strip_callback_params(&parsed);
        }
        let tx: Option<Transaction> =
            store::session_get(&self.tx_key()).and_then(|t| serde_json::from_str(&t).ok());
        let now = js::now_seconds();
        let code = match authorization::process_callback(
            &params,
            tx.as_ref(),
            &self.config.issuer,
            self.metadata.authorization_response_iss_parameter_supported,
            now,
        ) {
            Ok(code) => code,
            Err(e) => {
                if e.code != ErrorCode::StateMismatch {
                    store::session_remove(&self.tx_key());
                }
                return Err(e);
            }
        };
        // Used once (a replayed callback finds nothing).
        store::session_remove(&self.tx_key());
        let tx = tx.ok_or_else(|| Error::new(ErrorCode::MissingTransaction, "no login attempt"))?;
        if let Some(jkt) = &tx.dpop_jkt {
            let key = self.dpop_key().await?;
            if &key.jkt != jkt {
                return Err(Error::new(
                    ErrorCode::DpopBindingMismatch,
                    "the DPoP key changed since the login began (another login in this browser?)",
                ));
            }
        }
        let params = token::authorization_code_params(
            &code,
            &tx.redirect_uri,
            &tx.code_verifier,
            &self.config.client_id,
        );
        let mut params = params;
        if let Some(resource) = self.default_resource() {
            params.push(("resource".into(), resource.into()));
        }
        let response = self
            .post_to_as(&self.metadata.token_endpoint, &params)
            .await?;
        let response = token::process_token_response(response.status, &response.body)?;
        let generation = self.next_generation();
        let tokens = self
            .complete(response, Some(&tx.nonce), None, generation)
            .await?;
        let session = tokens.session.clone();
        self.set_tokens(Some(tokens), true);
        Ok(session)
    }

    async fn api_fetch(
        self: &Rc<Self>,
        input: JsValue,
        init: JsValue,
        resource: Option<String>,
    ) -> Res<JsValue> {
        let init_obj: web_sys::RequestInit = if init.is_object() {
            Object::assign(&Object::new(), init.unchecked_ref()).unchecked_into()
        } else {
            web_sys::RequestInit::new()
        };
        // Never follow a redirect with the token attached (it could lead to another origin).
        if get(&init_obj, "redirect").is_undefined() {
            init_obj.set_redirect(web_sys::RequestRedirect::Manual);
        }
        let base = if let Some(url) = input.as_string() {
            web_sys::Request::new_with_str_and_init(&url, &init_obj)
        } else if let Some(request) = input.dyn_ref::<web_sys::Request>() {
            web_sys::Request::new_with_request_and_init(request, &init_obj)
        } else {
            return Err(Error::config("fetch input must be a string or a Request"));
        }
        .map_err(|e| from_js(ErrorCode::ConfigInvalid, "invalid fetch arguments", &e))?;
        let url = base.url();
        let method = base.method();
        let origin = uri::origin(&url).unwrap_or(&url).to_string();
        let fetch_fn: Function = get(&js_sys::global(), "fetch").unchecked_into();
        for attempt in 0..2 {
            let token = self.access_token(resource.clone(), false).await?;
            let request = base.clone().map_err(|e| {
                from_js(
                    ErrorCode::ConfigInvalid,
                    "the request body cannot be sent twice",
                    &e,
                )
            })?;
            let headers = request.headers();
            let dpop_on = self.config.dpop;
            let scheme = if dpop_on { "DPoP" } else { "Bearer" };
            let _ = headers.set("Authorization", &format!("{scheme} {token}"));
            if dpop_on {
                let proof = self.dpop_proof(&method, &url, Some(&token)).await?;
                let _ = headers.set("DPoP", &proof);
            }
            let response = JsFuture::from(
                fetch_fn
                    .call1(&JsValue::NULL, &request)
                    .map_err(|e| {
                        from_js(ErrorCode::NetworkError, "fetch failed", &e).retryable(true)
                    })?
                    .unchecked_into::<Promise>(),
            )
            .await
            .map_err(|e| from_js(ErrorCode::NetworkError, "fetch failed", &e).retryable(true))?;
            let response: web_sys::Response = response.unchecked_into();
            let response_headers = response.headers();
            if let Ok(Some(nonce)) = response_headers.get("dpop-nonce") {
                self.remember_nonce(&origin, &nonce);
            }
            let challenge = response_headers.get("www-authenticate").ok().flatten();
            if dpop_on
                && dpop::is_resource_server_nonce_challenge(response.status(), challenge.as_deref())
            {
                if attempt == 0 {
                    continue;
                }
                return Err(Error::new(
                    ErrorCode::DpopNonceFailed,
                    "the API still asks for a DPoP nonce after one retry",
                )
                .with_status(401));
            }
            return Ok(response.into());
        }
        unreachable_nonce()
    }

    async fn logout(self: &Rc<Self>, state: Option<String>) -> Res<Option<String>> {
        let tokens = self.tokens.borrow().clone();
        self.set_tokens(None, false);
        self.broadcast(&serde_json::json!({ "t": "logout" }));
        self.clear_timer();
        if let (Some(endpoint), Some(rt)) = (
            self.metadata.revocation_endpoint.clone(),
            tokens.as_ref().and_then(|t| t.refresh_token.clone()),
        ) {
            // RFC 7009 §2: best effort; the session is gone here whatever the answer.
            let _ = self
                .post_to_as(
                    &endpoint,
                    &token::revocation_params(&rt, &self.config.client_id),
                )
                .await;
        }
        let _ = store::idb_delete(&self.dpop_key_name()).await;
        *self.dpop_key.borrow_mut() = None;
        self.emit("loggedOut", &JsValue::UNDEFINED);
        let Some(endpoint) = self.metadata.end_session_endpoint.clone() else {
            return Ok(None);
        };
        // OIDC RP-Initiated Logout 1.0 §2.
        let mut params: Vec<(String, String)> =
            vec![("client_id".into(), self.config.client_id.clone())];
        if let Some(id_token) = tokens.as_ref().and_then(|t| t.id_token.clone()) {
            params.push(("id_token_hint".into(), id_token));
        }
        if let Some(uri) = &self.config.post_logout_redirect_uri {
            params.push(("post_logout_redirect_uri".into(), uri.clone()));
        }
        if let Some(state) = state {
            params.push(("state".into(), state));
        }
        Ok(Some(authorization::authorization_url(&endpoint, &params)))
    }
}

/// Removes the authorization response from the address bar (`history.replaceState`).
fn strip_callback_params(url: &web_sys::Url) {
    let search = url.search_params();
    for name in authorization::CALLBACK_PARAMS {
        search.delete(name);
    }
    let clean = url.href();
    if let Some(window) = web_sys::window() {
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&clean));
        }
    }
}
