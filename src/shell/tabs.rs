//! Tabs of one origin share a session memory to memory (BroadcastChannel) and take turns to
//! refresh (Web Locks API), so two tabs near expiry make one token request. Nothing here
//! touches the persistent, origin-wide Web Storage.

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::js::{get, object};

fn lock_manager() -> Option<JsValue> {
    let locks = get(&get(&js_sys::global(), "navigator"), "locks");
    locks.is_object().then_some(locks)
}

/// Runs `work` (which returns a Promise) while holding the exclusive lock `name`.
/// Without the Web Locks API it runs `work` at once.
pub async fn with_lock(
    name: &str,
    work: impl FnOnce() -> Promise + 'static,
) -> Result<JsValue, JsValue> {
    let Some(locks) = lock_manager() else {
        return JsFuture::from(work()).await;
    };
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue { work().into() });
    let request: Function = get(&locks, "request").unchecked_into();
    let promise: Promise = request
        .call2(&locks, &JsValue::from_str(name), &callback)?
        .unchecked_into();
    JsFuture::from(promise).await
}

/// Holds the shared lock `name` until the returned function is called: how a tab says "I hold
/// a session" to tabs that open later (`is_held`).
pub fn hold_shared(name: &str) -> Option<Function> {
    let locks = lock_manager()?;
    let mut release: Option<Function> = None;
    let held = Promise::new(&mut |resolve, _reject| release = Some(resolve));
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue { held.into() });
    let request: Function = get(&locks, "request").unchecked_into();
    let options = object(&[("mode", "shared".into())]);
    let _ = request.call3(&locks, &JsValue::from_str(name), &options, &callback);
    release
}

/// Is the lock `name` held by any tab of this origin?
pub async fn is_held(name: &str) -> bool {
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

/// Resolves `true` when `resolve` is called, `false` after `timeout_ms`. (The executor runs
/// synchronously, so the resolver is always there; `None` only if the engine broke that.)
pub fn timeout_promise(timeout_ms: i32) -> Option<(Promise, Function)> {
    let mut resolve_fn: Option<Function> = None;
    let promise = Promise::new(&mut |resolve, _reject| {
        if let Ok(set_timeout) = get(&js_sys::global(), "setTimeout").dyn_into::<Function>() {
            let on_timeout = resolve.bind1(&JsValue::NULL, &JsValue::FALSE);
            let _ = set_timeout.call2(&JsValue::NULL, &on_timeout, &JsValue::from(timeout_ms));
        }
        resolve_fn = Some(resolve);
    });
    resolve_fn.map(|resolve| (promise, resolve))
}
