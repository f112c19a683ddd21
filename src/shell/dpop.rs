//! The DPoP handle (RFC 9449): this session's key, the servers' nonces, and proofs. The key is
//! made by WebCrypto, non-extractable, and kept in IndexedDB: it must survive the login
//! redirect (the code is bound to it at PAR, §10) and the tabs share it.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;
use wasm_bindgen::JsCast;
use web_sys::CryptoKey;

use super::js::{self, get, object};
use super::{crypto, store};
use crate::core::dpop::{self, NonceCache};
use crate::core::{alg, jwk, jws, uri, Error, ErrorCode};

const NONCES_KEY: &str = "helseid-wasm:dpop-nonces";

pub struct DpopKey {
    private: CryptoKey,
    public_jwk: Value,
    /// RFC 7638 thumbprint: what `cnf.jkt` must say.
    pub jkt: String,
}

pub struct Dpop {
    record: String,
    key: RefCell<Option<Rc<DpopKey>>>,
    nonces: RefCell<NonceCache>,
    /// A page of a session host: the key comes from the host with each view and is never
    /// read from or written to IndexedDB here.
    from_host: std::cell::Cell<bool>,
}

impl Dpop {
    pub fn new(issuer: &str, client_id: &str) -> Dpop {
        let mut nonces = NonceCache::default();
        if let Some(saved) =
            store::session_get(NONCES_KEY).and_then(|t| serde_json::from_str(&t).ok())
        {
            nonces.merge_json(&saved);
        }
        Dpop {
            record: format!("dpop:{issuer}:{client_id}"),
            key: RefCell::new(None),
            nonces: RefCell::new(nonces),
            from_host: std::cell::Cell::new(false),
        }
    }

    /// This page's key comes from its session host (see `from_host`).
    pub fn use_host_key(&self) {
        self.from_host.set(true);
    }

    /// The private key and public JWK the host hands to its pages with each view (the
    /// `CryptoKey` is cloned by `postMessage` and stays non-extractable).
    pub fn handover(&self) -> Option<(CryptoKey, Value)> {
        let key = self.key.borrow().clone()?;
        Some((key.private.clone(), key.public_jwk.clone()))
    }

    /// Takes the key the host handed over; `None` when it is not one.
    pub fn adopt(&self, private: CryptoKey, public_jwk: Value) -> Option<String> {
        let same = self
            .key
            .borrow()
            .as_ref()
            .is_some_and(|k| k.public_jwk == public_jwk);
        if !same {
            let jkt = jwk::Jwk::from_json(&public_jwk).and_then(|k| jwk::thumbprint(&k).ok())?;
            *self.key.borrow_mut() = Some(Rc::new(DpopKey {
                private,
                public_jwk,
                jkt,
            }));
        }
        self.key.borrow().as_ref().map(|k| k.jkt.clone())
    }

    /// The host, once a login's code is exchanged: the key lives on in its memory only, so no
    /// page of the origin can read it from IndexedDB (it was there for the login redirect).
    pub async fn keep_in_memory_only(&self) {
        let _ = store::idb_delete(&self.record).await;
    }

    async fn from_pair(private: CryptoKey, public: &CryptoKey) -> Result<DpopKey, Error> {
        let public_jwk = crypto::export_public_jwk(public).await?;
        let jkt = jwk::Jwk::from_json(&public_jwk)
            .ok_or_else(|| Error::config("the DPoP public key is not a JWK"))
            .and_then(|k| jwk::thumbprint(&k))?;
        Ok(DpopKey {
            private,
            public_jwk,
            jkt,
        })
    }

    /// A new key for a new login, stored for the redirect and the other tabs.
    pub async fn create(&self) -> Result<Rc<DpopKey>, Error> {
        let (private, public) = crypto::generate_dpop_key().await?;
        let record = object(&[
            ("privateKey", private.clone().into()),
            ("publicKey", public.clone().into()),
        ]);
        store::idb_put(&self.record, &record).await?;
        let key = Rc::new(Self::from_pair(private, &public).await?);
        *self.key.borrow_mut() = Some(key.clone());
        Ok(key)
    }

    /// The key, from memory or IndexedDB; `fresh` reads IndexedDB again (another tab may have
    /// made a new one for a new login).
    pub async fn load(&self, fresh: bool) -> Result<Option<Rc<DpopKey>>, Error> {
        if !fresh || self.from_host.get() {
            if let Some(key) = self.key.borrow().clone() {
                return Ok(Some(key));
            }
        }
        let record = store::idb_get(&self.record)
            .await
            .unwrap_or(wasm_bindgen::JsValue::UNDEFINED);
        let private = get(&record, "privateKey").dyn_into::<CryptoKey>();
        let public = get(&record, "publicKey").dyn_into::<CryptoKey>();
        let key = match (private, public) {
            (Ok(private), Ok(public)) => Some(Rc::new(Self::from_pair(private, &public).await?)),
            _ => None,
        };
        *self.key.borrow_mut() = key.clone();
        Ok(key)
    }

    pub async fn require(&self) -> Result<Rc<DpopKey>, Error> {
        self.load(false).await?.ok_or_else(|| {
            Error::new(
                ErrorCode::LoginRequired,
                "the DPoP key of this session is gone; log in again",
            )
        })
    }

    /// Deletes the key (the session ended).
    pub async fn forget(&self) {
        *self.key.borrow_mut() = None;
        if !self.from_host.get() {
            let _ = store::idb_delete(&self.record).await;
        }
    }

    /// RFC 9449 §4: a proof for one request; `ath` (§4.3) toward APIs.
    pub async fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, Error> {
        let key = self.require().await?;
        let nonce = self
            .nonces
            .borrow()
            .get(uri::origin(url).unwrap_or(url))
            .map(String::from);
        let ath = access_token.map(dpop::access_token_hash);
        let header = dpop::proof_header(alg::DPOP, &key.public_jwk);
        let claims = dpop::proof_claims(
            method,
            url,
            &js::random_token()?,
            js::now_seconds(),
            nonce.as_deref(),
            ath.as_deref(),
        );
        let input = jws::signing_input(&header, &claims);
        let signature = crypto::sign(alg::DPOP, &key.private, input.as_bytes()).await?;
        Ok(jws::compact(&input, &signature))
    }

    /// RFC 9449 §8: the newest nonce per server, kept across page loads of this tab (nonces
    /// are not secrets), so the callback's token request needs no extra round trip.
    pub fn remember_nonce(&self, url: &str, nonce: &str) -> bool {
        let origin = uri::origin(url).unwrap_or(url);
        let changed = self.nonces.borrow_mut().remember(origin, nonce);
        if changed {
            let _ = store::session_set(NONCES_KEY, &self.nonces.borrow().to_json().to_string());
        }
        changed
    }

    pub fn nonces_json(&self) -> Value {
        self.nonces.borrow().to_json()
    }

    pub fn merge_nonces(&self, value: &Value) {
        self.nonces.borrow_mut().merge_json(value);
    }
}
