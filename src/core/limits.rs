//! Every number the library waits, bounds or defaults by, in one place (issue 19: they were
//! written in several files). API.md and the README name the ones an app sees.

/// `clockToleranceSeconds` default: leeway on `exp`/`nbf`/`iat`.
pub const CLOCK_TOLERANCE_SECONDS: i64 = 30;
/// `refreshLeewaySeconds` default: refresh this long before the access token expires.
pub const REFRESH_LEEWAY_SECONDS: i64 = 30;
/// `httpTimeoutSeconds` default: requests to the authorization server give up after this.
pub const HTTP_TIMEOUT_SECONDS: i64 = 30;
/// `verifyJwt`'s `maxTokenAgeSeconds` default: an older `iat` is `claim_invalid`.
pub const MAX_TOKEN_AGE_SECONDS: i64 = 3600;
/// `attestMaxAgeSeconds` default: HelseID refuses older trust-framework attests.
pub const ATTEST_MAX_AGE_SECONDS: i64 = 3600;
/// `assertionTimeoutSeconds` default: how long the session host waits for one page to sign.
pub const ASSERTION_TIMEOUT_SECONDS: i64 = 10;

/// `sessionHost: "auto"`: a worker that has not said `alive` within this long is not used. Also
/// how long a new tab waits for the holder's view, and how long a holder, host or page whose
/// lock went free has to show it is still there.
pub const ANSWER_MS: u32 = 2_000;
/// A lock stolen from its page or worker is asked for again after `LOCK_RETAKE_MS`; a lock that
/// is free is looked at once more after `LOCK_RECHECK_MS` before its owner is taken for gone.
pub const LOCK_RETAKE_MS: i64 = 50;
pub const LOCK_RECHECK_MS: i64 = 300;
/// Another tab (or the host) answers a request within `httpTimeoutSeconds` plus this.
pub const PEER_GRACE_SECONDS: i64 = 5;
/// `logout()` waits at most `min(httpTimeoutSeconds, this)` for work under way (revocations,
/// the other tabs' notice) before the browser leaves.
pub const LOGOUT_WAIT_SECONDS: i64 = 10;
/// `setPatient` and the SFM web client's login: silence this long is `portal_failed`.
pub const SFM_CLIENT_ANSWER_SECONDS: i64 = 15;

/// An app call asks the engine again after each flight it waited for: at most this many times
/// for a token (`getAccessToken`), and for a switch (`setContext`). Each step waits for a
/// flight under way, so the bound is only a guard against a loop.
pub const TOKEN_CALL_STEPS: usize = 8;
pub const SWITCH_CALL_STEPS: usize = 4;

/// A token another page sent (a tab's view) that names a key the cached JWKS lacks makes the
/// JWKS be fetched again at most once in this many seconds ([`crate::core::jwk::refetch_jwks`]).
pub const JWKS_REFETCH_COOLDOWN_SECONDS: i64 = 30;

/// Other tabs' forced refreshes: at most this many per token in the window below.
pub const PEER_FORCE_BURST: usize = 3;
pub const PEER_FORCE_WINDOW_SECONDS: i64 = 10;

/// Tab and host messages longer than this (UTF-16 code units, checked before they cross into
/// wasm) are dropped: a view with a handful of tokens is about 10 KB.
pub const MAX_MESSAGE_CHARS: usize = 256 * 1024;
