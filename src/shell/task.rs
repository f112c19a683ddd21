//! The async entry points. Every future is boxed before it reaches wasm-bindgen-futures, so its
//! task and promise machinery exists once in the wasm rather than once per future type.

use std::future::Future;
use std::pin::Pin;

use js_sys::Promise;
use wasm_bindgen::JsValue;

type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;

/// A promise settled by `future` (`future_to_promise`).
pub fn promise<F>(future: F) -> Promise
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    wasm_bindgen_futures::future_to_promise(Box::pin(future) as Boxed<_>)
}

/// Runs `future` to its end on the event loop (`spawn_local`).
pub fn spawn<F>(future: F)
where
    F: Future<Output = ()> + 'static,
{
    wasm_bindgen_futures::spawn_local(Box::pin(future) as Boxed<()>)
}
