//! Where state lives between page loads: the login transaction in `sessionStorage` (one tab,
//! survives the redirect), DPoP keys in IndexedDB (`CryptoKey`s are stored as they are,
//! still non-extractable). Never the persistent, origin-wide Web Storage.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbFactory, IdbRequest, IdbTransactionMode, Storage};

use super::js::get;
use crate::core::{Error, ErrorCode};

const DB_NAME: &str = "helseid-wasm";
const STORE: &str = "keys";

fn storage_error(what: &str) -> Error {
    Error::new(
        ErrorCode::ConfigInvalid,
        format!("browser storage unavailable: {what}"),
    )
}

pub fn session_storage() -> Result<Storage, Error> {
    get(&js_sys::global(), "sessionStorage")
        .dyn_into::<Storage>()
        .map_err(|_| storage_error("sessionStorage"))
}

pub fn session_get(key: &str) -> Option<String> {
    session_storage().ok()?.get_item(key).ok().flatten()
}

pub fn session_set(key: &str, value: &str) -> Result<(), Error> {
    session_storage()?
        .set_item(key, value)
        .map_err(|_| storage_error("sessionStorage is full or blocked"))
}

pub fn session_remove(key: &str) {
    if let Ok(s) = session_storage() {
        let _ = s.remove_item(key);
    }
}

async fn await_request(request: &IdbRequest) -> Result<JsValue, Error> {
    let request2 = request.clone();
    let promise = Promise::new(&mut |resolve, reject| {
        let done = request2.clone();
        let on_success = Closure::once_into_js(move |_event: JsValue| {
            let _ = resolve.call1(&JsValue::NULL, &done.result().unwrap_or(JsValue::UNDEFINED));
        });
        let on_error = Closure::once_into_js(move |_event: JsValue| {
            let _ = reject.call0(&JsValue::NULL);
        });
        request2.set_onsuccess(Some(on_success.unchecked_ref()));
        request2.set_onerror(Some(on_error.unchecked_ref()));
    });
    JsFuture::from(promise)
        .await
        .map_err(|_| storage_error("IndexedDB request failed"))
}

async fn open() -> Result<IdbDatabase, Error> {
    let factory: IdbFactory = get(&js_sys::global(), "indexedDB")
        .dyn_into()
        .map_err(|_| storage_error("IndexedDB"))?;
    let request = factory
        .open_with_u32(DB_NAME, 1)
        .map_err(|_| storage_error("IndexedDB open"))?;
    let upgrade_target = request.clone();
    let on_upgrade = Closure::once_into_js(move |_event: JsValue| {
        if let Ok(db) = upgrade_target
            .result()
            .and_then(|r| r.dyn_into::<IdbDatabase>())
        {
            let _ = db.create_object_store(STORE);
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
    let db = await_request(&request).await?;
    db.dyn_into::<IdbDatabase>()
        .map_err(|_| storage_error("IndexedDB open"))
}

async fn with_store(
    mode: IdbTransactionMode,
    op: impl FnOnce(&web_sys::IdbObjectStore) -> Result<IdbRequest, JsValue>,
) -> Result<JsValue, Error> {
    let db = open().await?;
    let tx = db
        .transaction_with_str_and_mode(STORE, mode)
        .map_err(|_| storage_error("IndexedDB transaction"))?;
    let store = tx
        .object_store(STORE)
        .map_err(|_| storage_error("IndexedDB store"))?;
    let request = op(&store).map_err(|_| storage_error("IndexedDB operation"))?;
    let result = await_request(&request).await;
    db.close();
    result
}

pub async fn idb_get(key: &str) -> Result<JsValue, Error> {
    with_store(IdbTransactionMode::Readonly, |s| {
        s.get(&JsValue::from_str(key))
    })
    .await
}

pub async fn idb_put(key: &str, value: &JsValue) -> Result<(), Error> {
    with_store(IdbTransactionMode::Readwrite, |s| {
        s.put_with_key(value, &JsValue::from_str(key))
    })
    .await
    .map(|_| ())
}

pub async fn idb_delete(key: &str) -> Result<(), Error> {
    with_store(IdbTransactionMode::Readwrite, |s| {
        s.delete(&JsValue::from_str(key))
    })
    .await
    .map(|_| ())
}
