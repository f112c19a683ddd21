//! One outcome shared by everyone waiting for the same work (a refresh, a question to the
//! session holder or the host, a page asked to sign). Errors stay Rust errors: nothing makes a
//! round trip through a JS `Error`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::timer;
use crate::core::Error;

pub struct Flight<T = ()> {
    outcome: RefCell<Option<Result<T, Error>>>,
    waiters: RefCell<Vec<Function>>,
}

impl<T: Clone> Flight<T> {
    pub fn new() -> Rc<Flight<T>> {
        Rc::new(Flight {
            outcome: RefCell::new(None),
            waiters: RefCell::new(Vec::new()),
        })
    }

    pub fn finish(&self, outcome: Result<T, Error>) {
        if self.outcome.borrow().is_some() {
            return;
        }
        *self.outcome.borrow_mut() = Some(outcome);
        for resolve in self.waiters.borrow_mut().drain(..) {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }

    /// The outcome, once there is one; `None` when there was none within `timeout_ms` (when
    /// given): the waiter says what it waited for.
    pub async fn wait(&self, timeout_ms: Option<i64>) -> Option<Result<T, Error>> {
        if let Some(outcome) = self.outcome.borrow().clone() {
            return Some(outcome);
        }
        let done = Promise::new(&mut |resolve, _| self.waiters.borrow_mut().push(resolve));
        let waiting = match timeout_ms {
            Some(ms) => Promise::race(&Array::of2(&done, &timer::sleep(ms))),
            None => done,
        };
        let _ = JsFuture::from(waiting).await;
        self.outcome.borrow().clone()
    }

    /// The outcome, once there is one; after `timeout_ms` (when given) the error `on_timeout`
    /// makes (which says what was waited for).
    pub async fn wait_or(
        &self,
        timeout_ms: Option<i64>,
        on_timeout: impl FnOnce() -> Error,
    ) -> Result<T, Error> {
        self.wait(timeout_ms)
            .await
            .unwrap_or_else(|| Err(on_timeout()))
    }
}
