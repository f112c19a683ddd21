//! The Kjernejournal portal in a new tab (API.md `openKjernejournalSession`):
//! `api/session/create` with `ehr_code_challenge`, the URL to open, refresh and end.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::Promise;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::{end_token, ended, gone, Call, LastToken, PortalRef};
use crate::core::context::uuid_v4;
use crate::core::pkce;
use crate::core::portal::{kjernejournal as kj, sfm};
use crate::core::secret::AccessToken;
use crate::core::token::TokenType;
use crate::shell::js;
use crate::shell::runtime::{Inner, Res};

pub struct KjPortal {
    pub(super) inner: Weak<Inner>,
    pub(super) resource: String,
    paths: kj::Paths,
    source_system: String,
    session_id: String,
    url: String,
    ended: Cell<bool>,
    last: LastToken,
}

impl KjPortal {
    async fn post(
        &self,
        url: &str,
        token: Option<(AccessToken, TokenType)>,
    ) -> Res<(u16, Option<String>, String)> {
        let inner = self.inner.upgrade().ok_or_else(gone)?;
        let call = Call {
            url,
            body: Some(kj::session_body(&self.session_id)),
            headers: vec![
                ("X-SOURCE-SYSTEM", self.source_system.clone()),
                ("X-EVENT-ID", uuid_v4(js::random16())),
            ],
        };
        inner
            .portal_post(call, &self.resource, token, &self.last)
            .await
    }

    pub(super) async fn refresh(&self) -> Res<()> {
        if self.ended.get() {
            return Err(ended());
        }
        let (status, www, body) = self.post(&self.paths.refresh, None).await?;
        sfm::process_empty(
            "the Kjernejournal API (session/refresh)",
            status,
            www.as_deref(),
            &body,
        )
    }

    pub(super) async fn end(&self, with_last_token: bool) -> Res<()> {
        let Some(token) = end_token(&self.ended, &self.last, with_last_token) else {
            return Ok(());
        };
        let (status, www, body) = self.post(&self.paths.end, token).await?;
        sfm::process_empty(
            "the Kjernejournal API (session/end)",
            status,
            www.as_deref(),
            &body,
        )
    }
}

/// An open Kjernejournal portal session (`client.openKjernejournalSession`): kept alive after
/// each refresh of its resource's token, ended at `logout()`.
///
/// @example
/// ```ts
/// const kj = await client.openKjernejournalSession({ api, web, sourceSystem: "My EPJ", patient, accessBasis: "SAMTYKKE" });
/// window.open(kj.url, "_blank", "noopener");
/// ```
#[wasm_bindgen]
pub struct KjernejournalSession {
    portal: Rc<KjPortal>,
}

#[wasm_bindgen]
impl KjernejournalSession {
    /// `{web}/hentpasient.html?code=...&ehr_code_verifier=...`: open it in a new tab.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.portal.url.clone()
    }

    /// The portal session's id.
    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> String {
        self.portal.session_id.clone()
    }

    /// `POST api/session/end`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn end(&self) -> Promise {
        PortalRef::Kj(self.portal.clone()).end_by_app()
    }
}

impl Inner {
    /// `openKjernejournalSession({ api, web, sourceSystem, patient, accessBasis,
    /// practitionerAuthorization?, resource? })`.
    pub async fn open_kjernejournal(self: &Rc<Self>, o: &Value) -> Res<KjernejournalSession> {
        let insecure = self.auth_server.config.allow_insecure_http;
        let url_of = |name: &str| {
            let url = o.get(name).and_then(Value::as_str).unwrap_or_default();
            kj::check_url(name, url, insecure).map(|_| url.to_string())
        };
        let (api, web) = (url_of("api")?, url_of("web")?);
        let text = |name: &str| o.get(name).and_then(Value::as_str).map(String::from);
        let request = kj::Request {
            source_system: text("sourceSystem").unwrap_or_default(),
            patient: text("patient").unwrap_or_default(),
            access_basis: text("accessBasis").unwrap_or_default(),
            practitioner_authorization: text("practitionerAuthorization")
                .unwrap_or_else(|| "LE".into()),
        };
        request.check()?;
        let resource = text("resource").unwrap_or_else(|| kj::RESOURCE.into());
        let verifier = pkce::code_verifier(&js::random32()?);
        let paths = kj::paths(&api);
        let last = RefCell::new(None);
        let call = Call {
            url: &paths.create,
            body: Some(
                kj::create_body(&pkce::code_challenge_s256(&verifier), &request).to_string(),
            ),
            headers: vec![
                ("X-SOURCE-SYSTEM", request.source_system.clone()),
                ("X-EVENT-ID", uuid_v4(js::random16())),
            ],
        };
        let (status, www, body) = self.portal_post(call, &resource, None, &last).await?;
        let (code, session_id) = kj::process_create(status, www.as_deref(), &body)?;
        let portal = Rc::new(KjPortal {
            inner: Rc::downgrade(self),
            resource,
            paths,
            source_system: request.source_system,
            url: kj::portal_url(&web, &code, &verifier),
            session_id,
            ended: Cell::new(false),
            last,
        });
        self.add_portal(PortalRef::Kj(portal.clone()));
        Ok(KjernejournalSession { portal })
    }
}
