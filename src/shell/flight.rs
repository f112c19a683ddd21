//! One outcome shared by everyone waiting for the same work (a refresh, a question to the
//! session holder). Errors stay Rust errors: nothing makes a round trip through a JS `Error`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::timer;
use crate::core::Error;

#[derive(Default)]
pub struct Flight {
    outcome: RefCell<Option<Result<(), Error>>>,
    waiters: RefCell<Vec<Function>>,
}

impl Flight {
    pub fn new() -> Rc<Flight> {
        Rc::new(Flight::default())
    }

    pub fn finish(&self, outcome: Result<(), Error>) {
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
    pub async fn wait(&self, timeout_ms: Option<i64>) -> Option<Result<(), Error>> {
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
}
