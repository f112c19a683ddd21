//! SFM in an iframe (API.md `openSfmSession`): `Session/create|refresh|end`, `PatientTicket`,
//! and the postMessage handshake with the SFM web client, origin-checked both ways.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::Promise;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::{end_token, ended, gone, Call, LastToken, PortalRef};
use crate::core::portal::sfm;
use crate::core::secret::AccessToken;
use crate::core::token::TokenType;
use crate::core::{uri, Error, ErrorCode};
use crate::shell::flight::Flight;
use crate::shell::js::{self, get, js_to_json, json_to_js, to_js_error};
use crate::shell::runtime::{Inner, Res};

type MessageListener = Closure<dyn FnMut(web_sys::MessageEvent)>;

pub struct SfmPortal {
    pub(super) inner: Weak<Inner>,
    pub(super) resource: String,
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

    pub(super) async fn refresh(&self) -> Res<()> {
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

    pub(super) async fn end(&self, with_last_token: bool) -> Res<()> {
        self.detach();
        let Some(token) = end_token(&self.ended, &self.last, with_last_token) else {
            return Ok(());
        };
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
        let wait_ms = Some(sfm::CLIENT_ANSWER_SECONDS * 1000);
        let logged_in = self.logged_in.borrow().clone();
        logged_in
            .wait(wait_ms)
            .await
            .unwrap_or_else(|| Err(sfm::login_not_finished()))?;
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
        flight.wait(wait_ms).await.unwrap_or_else(|| {
            // No answer will settle this call any more; the session and the client stay.
            let mut pending = self.patient.borrow_mut();
            if pending.as_ref().is_some_and(|f| Rc::ptr_eq(f, &flight)) {
                *pending = None;
            }
            Err(sfm::set_patient_unanswered())
        })
    }
}

/// An open SFM portal session (`client.openSfmSession`): kept alive after each refresh of its
/// resource's token, ended at `logout()`.
///
/// @example
/// ```ts
/// const sfm = await client.openSfmSession({ gateway: "https://sfm-gateway.example" });
/// sfm.attach(document.querySelector("iframe")!);
/// await sfm.setPatient("13116900216");
/// ```
#[wasm_bindgen]
pub struct SfmSession {
    portal: Rc<SfmPortal>,
}

#[wasm_bindgen]
impl SfmSession {
    /// `{ id, clientAddress, apiAddress, metadata }` from `Session/create`.
    #[wasm_bindgen(getter, unchecked_return_type = "SfmSessionInfo")]
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
        crate::shell::task::promise(async move {
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
        PortalRef::Sfm(self.portal.clone()).end_by_app()
    }
}

impl Inner {
    /// `openSfmSession({ gateway, resource?, apiBase? })`.
    pub async fn open_sfm(self: &Rc<Self>, options: &Value) -> Res<SfmSession> {
        let gateway = options
            .get("gateway")
            .and_then(Value::as_str)
            .filter(|g| uri::is_allowed_endpoint(g, self.auth_server.config.allow_insecure_http))
            .ok_or_else(|| {
                Error::config("gateway must be the https URL of the SFM session gateway")
            })?;
        let resource = options
            .get("resource")
            .and_then(Value::as_str)
            .unwrap_or(sfm::RESOURCE)
            .to_string();
        let paths = sfm::paths(gateway, options.get("apiBase"))?;
        let mut random = [0u8; 64];
        random[..32].copy_from_slice(&js::random32()?);
        random[32..].copy_from_slice(&js::random32()?);
        let (nonce, hash) = sfm::nonce(&random, &crate::shell::crypto::sha512(&random).await?);
        let last = RefCell::new(None);
        let call = Call {
            url: &paths.create,
            body: Some(sfm::create_body(&hash)),
            headers: Vec::new(),
        };
        let (status, www, body) = self.portal_post(call, &resource, None, &last).await?;
        let info = sfm::process_create(
            status,
            www.as_deref(),
            &body,
            self.auth_server.config.allow_insecure_http,
        )?;
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
