//! The DPoP handle (RFC 9449): this session's key, the servers' nonces, and proofs. The key is
//! made by WebCrypto, non-extractable, and kept in IndexedDB: it must survive the login
//! redirect (the code is bound to it at PAR, §10) and the tabs share it.

use std::cell::{Cell, RefCell};
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
    /// Where the key lives (see [`KeyHome`]).
    home: Cell<KeyHome>,
}

/// Where a DPoP key is kept.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyHome {
    /// Page mode: IndexedDB, so that it survives the login redirect and the tabs share it.
    Stored,
    /// The session host: memory; IndexedDB too from a login's PAR to its code exchange (the
    /// worker may be ended meanwhile), where the engine can: WebKit cannot store a `CryptoKey`
    /// from a worker, and there the host outlives the redirect.
    Host,
    /// A page of a session host: no key at all; the host makes its proofs (no engine clones a
    /// `CryptoKey` into a worker reliably, and a page needs nothing but proofs).
    None,
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
            home: Cell::new(KeyHome::Stored),
        }
    }

    pub fn set_home(&self, home: KeyHome) {
        self.home.set(home);
    }

    /// The thumbprint (RFC 7638) of the key in use, if any.
    pub fn jkt(&self) -> Option<String> {
        self.key.borrow().as_ref().map(|k| k.jkt.clone())
    }

    /// The session host, once a login's code is exchanged: the key lives on in its memory only,
    /// so no page of the origin can read it from IndexedDB.
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
        match self.home.get() {
            KeyHome::Stored => store::idb_put(&self.record, &record).await?,
            KeyHome::Host => {
                let _ = store::idb_put(&self.record, &record).await;
            }
            KeyHome::None => return Err(Error::config("a page of a session host has no DPoP key")),
        }
        let key = Rc::new(Self::from_pair(private, &public).await?);
        *self.key.borrow_mut() = Some(key.clone());
        Ok(key)
    }

    /// The key, from memory or IndexedDB; `fresh` reads IndexedDB again (another tab may have
    /// made a new one for a new login). The host reads IndexedDB only when it has none.
    pub async fn load(&self, fresh: bool) -> Result<Option<Rc<DpopKey>>, Error> {
        if self.home.get() == KeyHome::None {
            return Ok(None);
        }
        if !fresh || self.home.get() == KeyHome::Host {
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
        if self.home.get() != KeyHome::None {
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
        let ath = access_token.map(dpop::access_token_hash);
        self.proof_ath(method, url, ath).await
    }

    /// [`Dpop::proof`] with `ath` (§4.3) given: the session host signs for its pages.
    pub async fn proof_ath(
        &self,
        method: &str,
        url: &str,
        ath: Option<String>,
    ) -> Result<String, Error> {
        let key = self.require().await?;
        let nonce = self
            .nonces
            .borrow()
            .get(uri::origin(url).unwrap_or(url))
            .map(String::from);
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
