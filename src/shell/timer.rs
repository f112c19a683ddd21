//! A one-shot timer owned by its holder (the gloo model): dropping it cancels it. Bound to the
//! global `setTimeout`, so it also runs in workers.

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::js::get;

#[must_use = "a Timeout is cancelled when it is dropped"]
pub struct Timeout {
    handle: Option<JsValue>,
    _callback: Closure<dyn FnMut()>,
}

impl Timeout {
    /// Calls `callback` once after `millis` (clamped to what `setTimeout` takes).
    pub fn new(millis: i64, callback: impl FnOnce() + 'static) -> Timeout {
        let mut callback = Some(callback);
        let closure = Closure::<dyn FnMut()>::new(move || {
            if let Some(f) = callback.take() {
                f();
            }
        });
        let handle = get(&js_sys::global(), "setTimeout")
            .dyn_into::<Function>()
            .ok()
            .and_then(|set| {
                let delay = JsValue::from_f64(millis.clamp(0, 2_147_483_647) as f64);
                set.call2(&JsValue::NULL, closure.as_ref(), &delay).ok()
            });
        Timeout {
            handle,
            _callback: closure,
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let (Some(handle), Ok(clear)) = (
            self.handle.take(),
            get(&js_sys::global(), "clearTimeout").dyn_into::<Function>(),
        ) {
            let _ = clear.call1(&JsValue::NULL, &handle);
        }
    }
}

/// A promise that resolves to `undefined` after `millis` (never rejects).
pub fn sleep(millis: i64) -> js_sys::Promise {
    js_sys::Promise::new(&mut |resolve, _| {
        if let Ok(set) = get(&js_sys::global(), "setTimeout").dyn_into::<Function>() {
            let delay = JsValue::from_f64(millis.clamp(0, 2_147_483_647) as f64);
            let _ = set.call2(&JsValue::NULL, &resolve, &delay);
        }
    })
}
