//! National portal sessions (API.md "Embedded national portals"): SFM in an iframe,
//! Kjernejournal in a new tab. Every call goes through the DPoP sender with the token of the
//! portal's resource, to the portal's own origin only. Open sessions are refreshed after each
//! refresh of their resource, and ended at logout and when the session expires; they live in
//! the tab that opened them, so one tab refreshes each.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::Promise;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::flight::Flight;
use super::js::{self, get, js_to_json, json_to_js, to_js_error};
use super::session::{Inner, Res};
use crate::core::context::uuid_v4;
use crate::core::portal::{self, kjernejournal as kj, sfm};
use crate::core::secret::AccessToken;
use crate::core::token::TokenType;
use crate::core::{pkce, uri, Error, ErrorCode};

/// How long `setPatient` waits for the SFM client's login, and for its answer.
const SFM_WAIT_MS: i64 = 30_000;

/// An open portal session, as the session's lifecycle sees it.
#[derive(Clone)]
pub enum PortalRef {
    Sfm(Rc<SfmPortal>),
    Kj(Rc<KjPortal>),
}

/// What a portal call sends and gets back.
struct Call<'a> {
    url: &'a str,
    body: Option<String>,
    headers: Vec<(&'static str, String)>,
}

/// The token a portal last used: its end after the session expired goes with it.
type LastToken = RefCell<Option<(AccessToken, TokenType)>>;

type MessageListener = Closure<dyn FnMut(web_sys::MessageEvent)>;

impl Inner {
    /// POSTs to a portal with the token of `resource` (or `token`), allowed to the portal's own
    /// origin only. Gives status, `WWW-Authenticate` and body.
    async fn portal_post(
        self: &Rc<Self>,
        call: Call<'_>,
        resource: &str,
        token: Option<(AccessToken, TokenType)>,
        last: &LastToken,
    ) -> Res<(u16, Option<String>, String)> {
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_redirect(web_sys::RequestRedirect::Manual);
        // A portal that never answers must not hold up logout(): the same limit as the
        // authorization server's requests, reading the body included.
        let controller = web_sys::AbortController::new().map_err(|_| {
            Error::new(
                ErrorCode::NetworkError,
                "could not start the portal request",
            )
        })?;
        let abort = controller.clone();
        let seconds = self.authz.config.http_timeout_seconds;
        let _deadline = super::timer::Timeout::new(seconds * 1000, move || abort.abort());
        init.set_signal(Some(&controller.signal()));
        let headers = web_sys::Headers::new().map_err(|_| Error::config("no Headers"))?;
        for (name, value) in &call.headers {
            let _ = headers.set(name, value);
        }
        if let Some(body) = &call.body {
            let _ = headers.set("Content-Type", "application/json");
            init.set_body(&JsValue::from_str(body));
        }
        init.set_headers(&headers);
        let request = web_sys::Request::new_with_str_and_init(call.url, &init)
            .map_err(|e| js::from_js(ErrorCode::ConfigInvalid, "invalid portal URL", &e))?;
        let token = match token {
            Some(t) => t,
            None => self.access_token(Some(resource), false).await?,
        };
        *last.borrow_mut() = Some(token.clone());
        let response = self.send_dpop(request, Some(resource), Some(token)).await?;
        let status = response.status();
        let www = response.headers().get("www-authenticate").ok().flatten();
        let text = match response.text() {
            Ok(p) => JsFuture::from(p).await.map_err(|e| {
                js::from_js(
                    ErrorCode::NetworkError,
                    "the portal's answer could not be read",
                    &e,
                )
                .retryable(true)
            })?,
            Err(_) => JsValue::from_str(""),
        };
        Ok((status, www, text.as_string().unwrap_or_default()))
    }

    pub fn add_portal(&self, portal: PortalRef) {
        self.portals.borrow_mut().push(portal);
    }

    /// After a refresh of `resource`: each open portal session of it is refreshed once.
    pub fn refresh_portals(self: &Rc<Self>, resource: &str) {
        let default = self.authz.config.default_resource().map(String::from);
        let portals: Vec<PortalRef> = self.portals.borrow().clone();
        for p in portals {
            if portal::refresh_after(p.resource(), resource, default.as_deref()) {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = p.refresh().await;
                });
            }
        }
    }

    /// Ends every open portal session: at logout with fresh tokens, after the session ended
    /// with the tokens they last used.
    pub async fn end_portals(self: &Rc<Self>, with_last_token: bool) {
        let portals: Vec<PortalRef> = self.portals.borrow_mut().drain(..).collect();
        for p in portals {
            let _ = p.end(with_last_token).await;
        }
    }
}

impl PortalRef {
    fn resource(&self) -> &str {
        match self {
            PortalRef::Sfm(p) => &p.resource,
            PortalRef::Kj(p) => &p.resource,
        }
    }

    async fn refresh(&self) -> Res<()> {
        match self {
            PortalRef::Sfm(p) => p.refresh().await,
            PortalRef::Kj(p) => p.refresh().await,
        }
    }

    async fn end(&self, with_last_token: bool) -> Res<()> {
        match self {
            PortalRef::Sfm(p) => p.end(with_last_token).await,
            PortalRef::Kj(p) => p.end(with_last_token).await,
        }
    }
}

fn gone() -> Error {
    Error::new(
        ErrorCode::LoginRequired,
        "the client that opened this portal session is gone",
    )
}

fn ended() -> Error {
    Error::new(ErrorCode::PortalFailed, "this portal session has ended")
}

// ---- SFM ----------------------------------------------------------------------------------

pub struct SfmPortal {
    inner: Weak<Inner>,
    resource: String,
    paths: sfm::Paths,
    info: sfm::Info,
    /// The plain nonce, for the SFM client's `login` message.
    nonce: String,
    client_origin: String,
    frame: RefCell<Option<web_sys::HtmlIFrameElement>>,
    listener: RefCell<Option<MessageListener>>,
    login_sent: Cell<bool>,
    logged_in: RefCell<Rc<Flight>>,
    patient: RefCell<Option<Rc<Flight>>>,
    ended: Cell<bool>,
    last: LastToken,
}

impl SfmPortal {
    fn inner(&self) -> Res<Rc<Inner>> {
        self.inner.upgrade().ok_or_else(gone)
    }

    async fn post(
        &self,
        url: &str,
        body: Option<String>,
        token: Option<(AccessToken, TokenType)>,
    ) -> Res<(u16, Option<String>, String)> {
        let call = Call {
            url,
            body,
            headers: Vec::new(),
        };
        self.inner()?
            .portal_post(call, &self.resource, token, &self.last)
            .await
    }

    async fn refresh(&self) -> Res<()> {
        if self.ended.get() {
            return Err(ended());
        }
        let (status, www, body) = self.post(&self.paths.refresh, None, None).await?;
        sfm::process_empty(
            "the SFM session gateway (Session/refresh)",
            status,
            www.as_deref(),
            &body,
        )
    }

    async fn end(&self, with_last_token: bool) -> Res<()> {
        if self.ended.replace(true) {
            return Ok(());
        }
        self.detach();
        let token = if with_last_token {
            self.last.borrow().clone()
        } else {
            None
        };
        if with_last_token && token.is_none() {
            return Ok(());
        }
        let (status, www, body) = self.post(&self.paths.end, None, token).await?;
        sfm::process_empty(
            "the SFM session gateway (Session/end)",
            status,
            www.as_deref(),
            &body,
        )
    }

    fn detach(&self) {
        if let (Some(listener), Some(window)) =
            (self.listener.borrow_mut().take(), web_sys::window())
        {
            let _ = window
                .remove_event_listener_with_callback("message", listener.as_ref().unchecked_ref());
        }
    }

    /// Posts to the SFM client, to its origin only (never `*`).
    fn post_to_client(&self, message: &Value) -> Res<()> {
        let frame = self.frame.borrow();
        let window = frame
            .as_ref()
            .and_then(|f| f.content_window())
            .ok_or_else(|| Error::config("the SFM iframe is not attached"))?;
        window
            .post_message(&json_to_js(message), &self.client_origin)
            .map_err(|e| {
                js::from_js(
                    ErrorCode::PortalFailed,
                    "postMessage to the SFM client failed",
                    &e,
                )
            })
    }

    /// A message from the SFM client: only from the iframe's window at the client's origin.
    fn on_message(
        self: &Rc<Self>,
        event: &web_sys::MessageEvent,
        metadata: &Value,
        extra: &Map<String, Value>,
    ) {
        if event.origin() != self.client_origin {
            return;
        }
        let from_frame = self
            .frame
            .borrow()
            .as_ref()
            .and_then(|f| f.content_window())
            .is_some_and(|w| {
                event
                    .source()
                    .is_some_and(|s| JsValue::from(s) == JsValue::from(w))
            });
        if !from_frame {
            return;
        }
        let data = event.data();
        if get(&data, "clientLoaded").as_string().as_deref() == Some("success")
            && !self.login_sent.replace(true)
        {
            let mut message = sfm::login_message(&self.info, &self.nonce, metadata.clone());
            for (k, v) in extra {
                message[k.as_str()] = v.clone();
            }
            if let Err(e) = self.post_to_client(&message) {
                self.logged_in.borrow().finish(Err(e));
            }
        }
        match get(&data, "login").as_string().as_deref() {
            Some("success") => self.logged_in.borrow().finish(Ok(())),
            Some(_) => self.logged_in.borrow().finish(Err(Error::new(
                ErrorCode::PortalFailed,
                format!(
                    "the SFM client refused the login: {}",
                    get(&data, "reason").as_string().unwrap_or_default()
                ),
            ))),
            None => {}
        }
        if let Some(answer) = get(&data, "setPatient").as_string() {
            if let Some(flight) = self.patient.borrow_mut().take() {
                flight.finish(match answer.as_str() {
                    "success" => Ok(()),
                    _ => Err(Error::new(
                        ErrorCode::PortalFailed,
                        format!(
                            "the SFM client refused the patient: {}",
                            get(&data, "reason").as_string().unwrap_or_default()
                        ),
                    )),
                });
            }
        }
    }

    async fn set_patient(self: &Rc<Self>, pid: String, options: Map<String, Value>) -> Res<()> {
        if self.ended.get() {
            return Err(ended());
        }
        sfm::check_patient(&pid)?;
        let logged_in = self.logged_in.borrow().clone();
        logged_in.wait(Some(SFM_WAIT_MS)).await?;
        let (status, www, body) = self
            .post(
                &self.paths.patient_ticket,
                Some(sfm::ticket_body(&pid)),
                None,
            )
            .await?;
        let ticket = sfm::process_ticket(status, www.as_deref(), &body)?;
        let flight = Flight::new();
        *self.patient.borrow_mut() = Some(flight.clone());
        self.post_to_client(&sfm::set_patient_message(&ticket, &options))?;
        flight.wait(Some(SFM_WAIT_MS)).await
    }
}

/// API.md `openSfmSession`'s result.
#[wasm_bindgen]
pub struct SfmSession {
    portal: Rc<SfmPortal>,
}

#[wasm_bindgen]
impl SfmSession {
    /// `{ id, clientAddress, apiAddress, metadata }` from `Session/create`.
    #[wasm_bindgen(
        getter,
        unchecked_return_type = "{ id: string, clientAddress: string, apiAddress: string, metadata: Record<string, unknown> }"
    )]
    pub fn info(&self) -> JsValue {
        json_to_js(&self.portal.info.to_json())
    }

    /// Loads the SFM client in `iframe`; when it says `clientLoaded`, posts the `login`
    /// message to its origin (never `*`). Messages from any other origin or window are ignored.
    pub fn attach(
        &self,
        #[wasm_bindgen(unchecked_param_type = "HTMLIFrameElement")] iframe: JsValue,
        #[wasm_bindgen(
            unchecked_optional_param_type = "{ sfmUserAgent?: string, encounterIdentifier?: string }"
        )]
        options: Option<JsValue>,
    ) -> Result<(), JsValue> {
        let p = &self.portal;
        let frame: web_sys::HtmlIFrameElement = iframe
            .dyn_into()
            .map_err(|_| to_js_error(&Error::config("attach needs an HTMLIFrameElement")))?;
        if p.ended.get() {
            return Err(to_js_error(&ended()));
        }
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let user_agent = js::get_string(&options, "sfmUserAgent")
            .unwrap_or_else(|| format!("helseid-wasm/{}", env!("CARGO_PKG_VERSION")));
        let session = p.inner.upgrade().and_then(|i| i.engine.borrow().session());
        let view = session.map(|s| s.helseid).unwrap_or_default();
        let metadata = sfm::login_metadata(
            &user_agent,
            view.orgnr_parent.as_deref(),
            view.hpr_number.as_deref(),
        );
        let mut extra = Map::new();
        if let Some(encounter) = js::get_string(&options, "encounterIdentifier") {
            extra.insert("encounterIdentifier".into(), Value::from(encounter));
        }
        p.detach();
        *p.logged_in.borrow_mut() = Flight::new();
        p.login_sent.set(false);
        *p.frame.borrow_mut() = Some(frame.clone());
        let weak = Rc::downgrade(p);
        let listener = MessageListener::new(move |event: web_sys::MessageEvent| {
            if let Some(portal) = weak.upgrade() {
                portal.on_message(&event, &metadata, &extra);
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window
                .add_event_listener_with_callback("message", listener.as_ref().unchecked_ref());
        }
        *p.listener.borrow_mut() = Some(listener);
        frame.set_src(&p.info.client_address);
        Ok(())
    }

    /// `POST PatientTicket`, then `{action: "setPatient", ticket, ...}` to the SFM client, once
    /// it is logged in; resolves when it says `setPatient: "success"`.
    #[wasm_bindgen(js_name = setPatient, unchecked_return_type = "Promise<void>")]
    pub fn set_patient(
        &self,
        pid: String,
        #[wasm_bindgen(
            unchecked_optional_param_type = "{ showAllergies?: boolean | string, showLib?: boolean | string, onBehalfOf?: string, encounterIdentifier?: string }"
        )]
        options: Option<JsValue>,
    ) -> Promise {
        let portal = self.portal.clone();
        let options = options
            .and_then(|o| js_to_json(&o))
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        future_to_promise(async move {
            portal
                .set_patient(pid, options)
                .await
                .map(|_| JsValue::UNDEFINED)
                .map_err(|e| to_js_error(&e))
        })
    }

    /// `POST Session/end`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn end(&self) -> Promise {
        let portal = self.portal.clone();
        future_to_promise(async move {
            if let Some(inner) = portal.inner.upgrade() {
                inner.forget_portal(&PortalRef::Sfm(portal.clone()));
            }
            portal
                .end(false)
                .await
                .map(|_| JsValue::UNDEFINED)
                .map_err(|e| to_js_error(&e))
        })
    }
}

impl Inner {
    fn forget_portal(&self, portal: &PortalRef) {
        self.portals.borrow_mut().retain(|p| match (p, portal) {
            (PortalRef::Sfm(a), PortalRef::Sfm(b)) => !Rc::ptr_eq(a, b),
            (PortalRef::Kj(a), PortalRef::Kj(b)) => !Rc::ptr_eq(a, b),
            _ => true,
        });
    }

    /// `openSfmSession({ gateway, resource?, apiBase? })`.
    pub async fn open_sfm(self: &Rc<Self>, options: &Value) -> Res<SfmSession> {
        let gateway = options
            .get("gateway")
            .and_then(Value::as_str)
            .filter(|g| uri::is_allowed_endpoint(g, self.authz.config.allow_insecure_http))
            .ok_or_else(|| {
                Error::config("gateway must be the https URL of the SFM session gateway")
            })?;
        let resource = options
            .get("resource")
            .and_then(Value::as_str)
            .unwrap_or(sfm::RESOURCE)
            .to_string();
        let base = options
            .get("apiBase")
            .and_then(Value::as_str)
            .unwrap_or("/api/v2");
        let paths = sfm::paths(gateway, base);
        let mut random = [0u8; 64];
        random[..32].copy_from_slice(&js::random32()?);
        random[32..].copy_from_slice(&js::random32()?);
        let (nonce, hash) = sfm::nonce(&random, &super::crypto::sha512(&random).await?);
        let last = RefCell::new(None);
        let call = Call {
            url: &paths.create,
            body: Some(sfm::create_body(&hash)),
            headers: Vec::new(),
        };
        let (status, www, body) = self.portal_post(call, &resource, None, &last).await?;
        let info = sfm::process_create(status, www.as_deref(), &body)?;
        let client_origin = uri::origin(&info.client_address)
            .unwrap_or_default()
            .to_string();
        let portal = Rc::new(SfmPortal {
            inner: Rc::downgrade(self),
            resource,
            paths,
            info,
            nonce,
            client_origin,
            frame: RefCell::new(None),
            listener: RefCell::new(None),
            login_sent: Cell::new(false),
            logged_in: RefCell::new(Flight::new()),
            patient: RefCell::new(None),
            ended: Cell::new(false),
            last,
        });
        self.add_portal(PortalRef::Sfm(portal.clone()));
        Ok(SfmSession { portal })
    }
}

// ---- Kjernejournal ------------------------------------------------------------------------

pub struct KjPortal {
    inner: Weak<Inner>,
    resource: String,
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

    async fn refresh(&self) -> Res<()> {
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

    async fn end(&self, with_last_token: bool) -> Res<()> {
        if self.ended.replace(true) {
            return Ok(());
        }
        let token = if with_last_token {
            self.last.borrow().clone()
        } else {
            None
        };
        if with_last_token && token.is_none() {
            return Ok(());
        }
        let (status, www, body) = self.post(&self.paths.end, token).await?;
        sfm::process_empty(
            "the Kjernejournal API (session/end)",
            status,
            www.as_deref(),
            &body,
        )
    }
}

/// API.md `openKjernejournalSession`'s result.
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

    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> String {
        self.portal.session_id.clone()
    }

    /// `POST api/session/end`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn end(&self) -> Promise {
        let portal = self.portal.clone();
        future_to_promise(async move {
            if let Some(inner) = portal.inner.upgrade() {
                inner.forget_portal(&PortalRef::Kj(portal.clone()));
            }
            portal
                .end(false)
                .await
                .map(|_| JsValue::UNDEFINED)
                .map_err(|e| to_js_error(&e))
        })
    }
}

impl Inner {
    /// `openKjernejournalSession({ api, web, sourceSystem, patient, accessBasis,
    /// practitionerAuthorization?, resource? })`.
    pub async fn open_kjernejournal(self: &Rc<Self>, o: &Value) -> Res<KjernejournalSession> {
        let insecure = self.authz.config.allow_insecure_http;
        let url_of = |name: &str| {
            o.get(name)
                .and_then(Value::as_str)
                .filter(|u| uri::is_allowed_endpoint(u, insecure))
                .map(String::from)
                .ok_or_else(|| Error::config(format!("{name} must be an https URL")))
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
