//! The tabs of one origin: a BroadcastChannel for messages (readable by any page of the origin,
//! so it never carries a refresh token or an ID token), and Web Locks for what a message cannot
//! prove: which tab holds the session, and when it is gone. Nothing here touches the
//! persistent, origin-wide Web Storage.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, JsString, Promise};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::js::{get, object};
use crate::core::host::MAX_MESSAGE_CHARS;
use crate::core::limits;

fn lock_manager() -> Option<JsValue> {
    let locks = get(&get(&js_sys::global(), "navigator"), "locks");
    locks.is_object().then_some(locks)
}

type Handler = Closure<dyn FnMut(web_sys::MessageEvent)>;

pub struct Tabs {
    channel: Option<(web_sys::BroadcastChannel, Handler)>,
    /// The exclusive lock the session holder keeps while it holds the session.
    holder_lock: String,
    /// Releases the holder lock this tab keeps (emptied when another page steals it).
    release: Rc<RefCell<Option<Function>>>,
    /// Called when another page steals the holder lock from this tab.
    on_stolen: RefCell<Option<Rc<dyn Fn()>>>,
    /// This tab waits for the holder's lock to be free (the holder is gone).
    watching: Cell<bool>,
}

impl Tabs {
    /// Opens the channel `name`; `on_message` gets every message from the other tabs.
    pub fn open(name: &str, holder_lock: String, on_message: impl Fn(Value) + 'static) -> Tabs {
        let channel = web_sys::BroadcastChannel::new(name).ok().map(|channel| {
            let handler = Handler::new(move |event: web_sys::MessageEvent| {
                // Any page of the origin can post here: a text longer than any message of ours is
                // dropped before it is copied into wasm (finding 10).
                let data = event.data();
                let Some(text) = data.dyn_ref::<JsString>() else {
                    return;
                };
                if text.length() as usize > MAX_MESSAGE_CHARS {
                    return;
                }
                if let Some(value) = text.as_string().and_then(|t| serde_json::from_str(&t).ok()) {
                    on_message(value);
                }
            });
            channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
            (channel, handler)
        });
        Tabs {
            channel,
            holder_lock,
            release: Rc::new(RefCell::new(None)),
            on_stolen: RefCell::new(None),
            watching: Cell::new(false),
        }
    }

    pub fn post(&self, message: &Value) {
        if let Some((channel, _)) = &self.channel {
            let _ = channel.post_message(&JsValue::from_str(&message.to_string()));
        }
    }

    pub fn close(&self) {
        if let Some((channel, _)) = &self.channel {
            channel.close();
        }
        self.release();
    }

    /// Without the Web Locks API a message cannot be checked against the holder's lock.
    pub fn has_locks(&self) -> bool {
        lock_manager().is_some()
    }

    /// Takes the holder lock and keeps it until [`Tabs::release`]. `steal`: a new login takes
    /// it from an older holder (whose request then fails; it learns of the new session from
    /// the channel).
    pub fn hold(&self, steal: bool) {
        if self.release.borrow().is_some() {
            return;
        }
        // Any page of the origin can steal a lock (Web Locks `steal`): the holder notices and
        // takes it back, so that its followers do not take it for gone (issue 20, finding 5).
        let _ = leaving();
        let slot = self.release.clone();
        let on_stolen = self.on_stolen.borrow().clone();
        let lost = move || {
            slot.borrow_mut().take();
            // A moment later: a tab that is going away (its request is aborted too) never gets
            // there (WebKit mishandles a lock request made then).
            super::task::spawn(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(super::timer::sleep(
                    limits::LOCK_RETAKE_MS,
                ))
                .await;
                if let (false, Some(f)) = (leaving(), &on_stolen) {
                    f();
                }
            });
        };
        *self.release.borrow_mut() =
            hold_lock_watched(&self.holder_lock, steal, Some(Box::new(lost)));
    }

    /// What to do when the holder lock is stolen.
    pub fn on_stolen(&self, f: impl Fn() + 'static) {
        *self.on_stolen.borrow_mut() = Some(Rc::new(f));
    }

    pub fn holds(&self) -> bool {
        self.release.borrow().is_some()
    }

    pub fn release(&self) {
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::NULL);
        }
    }

    /// Calls `on_free` once the holder lock is free: the holder ended its session, or its tab
    /// went away. A forged message cannot free it.
    pub fn watch(&self, on_free: impl FnOnce() + 'static) {
        if self.watching.replace(true) {
            return;
        }
        when_free(&self.holder_lock, on_free);
    }

    /// The watch fired (or was given up): a later session may be watched again.
    pub fn watch_ended(&self) {
        self.watching.set(false);
    }

    pub fn holder_lock(&self) -> String {
        self.holder_lock.clone()
    }
}

thread_local! {
    /// The page is going away (`pagehide`): a lock request it loses then is not made again.
    static LEAVING: Cell<bool> = const { Cell::new(false) };
    static WATCHING_PAGEHIDE: Cell<bool> = const { Cell::new(false) };
}

/// Whether the page is going away; starts watching `pagehide` on the first call.
fn leaving() -> bool {
    if !WATCHING_PAGEHIDE.with(|w| w.replace(true)) {
        if let Some(window) = web_sys::window() {
            let on_hide = Closure::<dyn FnMut()>::new(|| LEAVING.with(|l| l.set(true)));
            let _ = window
                .add_event_listener_with_callback("pagehide", on_hide.as_ref().unchecked_ref());
            on_hide.forget();
        }
    }
    LEAVING.with(Cell::get)
}

/// An exclusive Web Lock held for as long as its page or worker lives. Any page of the origin
/// can steal a lock; this one is then requested again at once (granted when the thief lets
/// go), so that a theft never passes for the holder's end (issue 20, finding 5).
pub struct HeldLock {
    name: String,
    release: Rc<RefCell<Option<Function>>>,
}

impl HeldLock {
    /// Holds `name`; the promise resolves once it is granted the first time (`None` without
    /// Web Locks).
    pub fn hold(name: &str) -> (Rc<HeldLock>, Option<Promise>) {
        let lock = Rc::new(HeldLock {
            name: name.to_string(),
            release: Rc::new(RefCell::new(None)),
        });
        let granted = lock.request();
        (lock, granted)
    }

    fn request(self: &Rc<Self>) -> Option<Promise> {
        let _ = leaving();
        let weak = Rc::downgrade(self);
        let on_lost = move || {
            if let Some(lock) = weak.upgrade() {
                lock.release.borrow_mut().take();
                // Asked again a moment later: a page or worker that is going away (its request
                // is aborted too) never gets there (WebKit mishandles a request made then).
                super::task::spawn(async move {
                    let _ = wasm_bindgen_futures::JsFuture::from(super::timer::sleep(
                        limits::LOCK_RETAKE_MS,
                    ))
                    .await;
                    if !leaving() {
                        let _ = lock.request();
                    }
                });
            }
        };
        let (release, granted) = hold_lock_full(&self.name, false, Some(Box::new(on_lost)))?;
        *self.release.borrow_mut() = Some(release);
        Some(granted)
    }

    pub fn release(&self) {
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

fn hold_lock_watched(
    name: &str,
    steal: bool,
    on_lost: Option<Box<dyn FnOnce()>>,
) -> Option<Function> {
    hold_lock_full(name, steal, on_lost).map(|(release, _)| release)
}

/// `on_lost`: called if the lock is taken from this holder (its request rejects then).
fn hold_lock_full(
    name: &str,
    steal: bool,
    on_lost: Option<Box<dyn FnOnce()>>,
) -> Option<(Function, Promise)> {
    let locks = lock_manager()?;
    let mut release: Option<Function> = None;
    let held = Promise::new(&mut |resolve, _| release = Some(resolve));
    let mut granted_resolve: Option<Function> = None;
    let granted = Promise::new(&mut |resolve, _| granted_resolve = Some(resolve));
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        if let Some(resolve) = granted_resolve {
            let _ = resolve.call0(&JsValue::NULL);
        }
        held.into()
    });
    let request: Function = get(&locks, "request").unchecked_into();
    let options = object(&[("steal", JsValue::from_bool(steal))]);
    if let Ok(p) = request.call3(&locks, &JsValue::from_str(name), &options, &callback) {
        // A stolen lock rejects the request.
        if let Ok(catch) = get(&p, "catch").dyn_into::<Function>() {
            let _ = catch.call1(
                &p,
                &Closure::once_into_js(move |_: JsValue| {
                    if let Some(f) = on_lost {
                        f();
                    }
                }),
            );
        }
    }
    release.map(|r| (r, granted))
}

/// Calls `on_free` once nobody holds the Web Lock `name` exclusively (its holder released it,
/// or its page or worker went away). A message cannot fake that.
pub fn when_free(name: &str, on_free: impl FnOnce() + 'static) {
    let Some(locks) = lock_manager() else { return };
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        on_free();
        JsValue::UNDEFINED
    });
    let request: Function = get(&locks, "request").unchecked_into();
    let options = object(&[("mode", "shared".into())]);
    let _ = request.call3(&locks, &JsValue::from_str(name), &options, &callback);
}

/// The names of the Web Locks held in this origin now (`navigator.locks.query()`); `None`
/// without Web Locks.
pub async fn held_locks() -> Option<Vec<String>> {
    let locks = lock_manager()?;
    let query = get(&locks, "query").dyn_into::<Function>().ok()?;
    let promise = query.call0(&locks).ok()?;
    let snapshot = JsFuture::from(promise.unchecked_into::<Promise>())
        .await
        .ok()?;
    let held: Array = get(&snapshot, "held").unchecked_into();
    Some(
        held.iter()
            .filter_map(|l| get(&l, "name").as_string())
            .collect(),
    )
}

/// Is the lock `name` held by any tab of this origin?
pub async fn is_held(name: &str) -> bool {
    {
        let Some(locks) = lock_manager() else {
            return false;
        };
        let Ok(query) = get(&locks, "query").dyn_into::<Function>() else {
            return false;
        };
        let Ok(promise) = query.call0(&locks) else {
            return false;
        };
        let Ok(snapshot) = JsFuture::from(promise.unchecked_into::<Promise>()).await else {
            return false;
        };
        let held: Array = get(&snapshot, "held").unchecked_into();
        held.iter()
            .any(|lock| get(&lock, "name").as_string().as_deref() == Some(name))
    }
}
