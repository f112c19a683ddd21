//! What comes in through [`super::Engine::handle`] ([`Input`]), and what the engine says: the
//! work under way ([`FlightId`], [`Ask`]), the token requests it hands out ([`Ticket`]), the
//! events for the app ([`AppEvent`], with their [`RefreshCause`]) and the actions the shell
//! carries out ([`Action`]), the reply to an app call among them.

use serde_json::Value;

use super::views::Remote;
use super::Signed;
use super::TokenKey;
use crate::core::callback::Transaction;
use crate::core::context::Context;
use crate::core::error::Result;
use crate::core::helseid::HelseIdView;
use crate::core::jwt::SignatureChecked;
use crate::core::secret::{AccessToken, AuthorizationCode, FormBody, RefreshToken};
use crate::core::token::{TokenResponse, TokenType};

/// Why a token request was made (API.md `tokenRefreshed`'s `cause`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The refresh timer.
    Schedule,
    /// `refresh()` or `getAccessToken`.
    Call,
    /// `setContext`.
    Context,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Schedule => "schedule",
            Cause::Call => "call",
            Cause::Context => "context",
        }
    }

    pub fn parse(text: &str) -> Option<Cause> {
        match text {
            "schedule" => Some(Cause::Schedule),
            "call" => Some(Cause::Call),
            "context" => Some(Cause::Context),
            _ => None,
        }
    }

    /// The cause as a tab sees it: a call or a switch another tab asked for is `other-tab`;
    /// the timer's refresh is everyone's.
    pub fn seen_by(self, by: Option<&str>, me: &str) -> RefreshCause {
        match (self, by) {
            (Cause::Schedule, _) => RefreshCause::Schedule,
            (_, Some(tab)) if tab != me => RefreshCause::OtherTab,
            (Cause::Call, _) => RefreshCause::Call,
            (Cause::Context, _) => RefreshCause::Context,
        }
    }
}

/// `tokenRefreshed`'s `cause` in one tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshCause {
    Schedule,
    Call,
    Context,
    OtherTab,
}

impl RefreshCause {
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshCause::Schedule => "schedule",
            RefreshCause::Call => "call",
            RefreshCause::Context => "context",
            RefreshCause::OtherTab => "other-tab",
        }
    }
}

/// One token request, or one question to the holder, under way: the engine names it, and
/// the shell keeps for each name only the promise of those who wait for it
/// ([`super::Engine::is_flying`] says whether it still is under way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlightId(pub u64);

/// A question to the holder (the session host, or the tab that holds the grant) for a fresh
/// token of `key`, or for a context switch: settle it with [`Input::AskSettled`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    pub id: FlightId,
    pub key: TokenKey,
    /// A forced refresh: the holder refreshes even when its token is fresh.
    pub force: bool,
}

#[derive(Debug)]
pub enum TicketKind {
    /// The code exchange (RFC 6749 §4.1.3) of a login that began with this `nonce`.
    Login {
        nonce: String,
    },
    Refresh,
    /// A refresh with a new context (API.md `setContext`).
    Switch,
}

/// A token request to make. Printing it never shows the refresh token or the code.
#[derive(Debug)]
pub struct Ticket {
    pub id: FlightId,
    pub key: TokenKey,
    pub kind: TicketKind,
    /// The form body, client authentication excepted.
    pub body: FormBody,
    /// The structured details the client assertion carries (API.md), if any.
    pub details: Option<Vec<Value>>,
    /// The context the answer is checked against.
    pub context: Option<Context>,
    pub cause: Cause,
    /// The tab that asked for it (its engine id): this engine's own, unless another tab asked.
    pub by: Option<String>,
}

impl Ticket {
    /// The request this ticket makes (`ctx.grantType` for `assertion_provider`).
    pub fn request(&self) -> crate::core::assertion::AsRequest {
        use crate::core::assertion::AsRequest;
        match self.kind {
            TicketKind::Login { .. } => AsRequest::AuthorizationCode,
            _ => AsRequest::RefreshToken,
        }
    }
}

/// Events for the application (API.md `on`).
#[derive(Clone, Debug, PartialEq)]
pub enum AppEvent {
    /// After every successful refresh; `resource` names the token that was renewed.
    TokenRefreshed {
        resource: String,
        cause: RefreshCause,
    },
    SessionExpired,
    LoggedOut,
    /// The context changed; `cause` is that of the refresh that carried the switch:
    /// `Context` when this tab's `setContext` made it, `OtherTab` when another tab or page did.
    ContextChanged {
        cause: RefreshCause,
    },
    ContextExpired,
    /// Another user's session appeared in another tab; this tab's session ended.
    UserChanged(Box<HelseIdView>),
}

/// Why a holder's session ended, as told to the other tabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    LoggedOut,
    Expired,
}

impl EndReason {
    /// The name in an end notice (`{"t":"end","reason":…}`).
    pub fn wire(self) -> &'static str {
        match self {
            EndReason::LoggedOut => "logout",
            EndReason::Expired => "expired",
        }
    }

    /// A genuine (signed) notice with a reason this version does not know still ends the
    /// session: as expired, the reason that asks the user for nothing but a new login.
    pub fn from_wire(reason: &str) -> EndReason {
        match reason {
            "logout" => EndReason::LoggedOut,
            _ => EndReason::Expired,
        }
    }
}

/// What happened, for [`super::Engine::handle`]: the shell's timer fired, a question to the
/// holder ended, the holder of the session went (its lock freed, or its signed end notice
/// came), a portal session opened or ended, the token endpoint answered, the shell verified an
/// answer's signatures. Time comes with it.
#[derive(Debug)]
// An input lives for one call; boxing the ticket would cost an allocation per refresh.
#[allow(clippy::large_enum_variant)]
pub enum Input {
    /// The wake-up [`super::Engine::next_wakeup`] asked for.
    Timer,
    /// A question to the holder ([`Action::AskHolder`]) was answered, or timed out, with this
    /// outcome: its flight lands ([`Action::Landed`]).
    AskSettled(Ask, Result<()>),
    /// The holder this tab follows is gone: with its end notice's reason, or without one
    /// (its tab closed, or the session host went).
    HolderEnded {
        holder: String,
        reason: Option<EndReason>,
    },
    /// A portal session of `resource` opened (`None`: the default resource).
    PortalOpened(Option<String>),
    /// A portal session of `resource` ended.
    PortalEnded(Option<String>),
    /// An app call: a valid access token for `resource` (`None`: the default one), `force`d to
    /// be new, for `by` (another tab's engine id, or the caller's own; `None`: this engine's
    /// app). Its reply is the last action:
    /// [`Action::Answer`], [`Action::Refresh`], [`Action::Wait`], [`Action::Busy`] or
    /// [`Action::AskHolder`].
    Token {
        resource: Option<String>,
        force: bool,
        by: Option<String>,
    },
    /// An app call, after the flight it waited for landed: the token for `resource`, even one
    /// already within the leeway (a refresh that gave a short-lived token still hands it out
    /// rather than refresh again), if it has not expired. Its reply: [`Action::Answer`].
    Fresh { resource: Option<String> },
    /// An app call: `setContext`, one refresh with the new context's details for `resource`,
    /// for `by`. Its reply is the last action, as for [`Input::Token`] (an
    /// [`Action::Answer`] only with an error).
    SetContext {
        context: Option<Context>,
        resource: Option<String>,
        by: Option<String>,
    },
    /// The token endpoint's answer to `ticket` (status and body), or why there is none:
    /// [`Action::Verify`] follows, or the flight lands ([`Action::Landed`]).
    TokenResponse {
        ticket: Ticket,
        answer: Result<(u16, String)>,
    },
    /// The signatures of `ticket`'s answer, as the shell verified them (WebCrypto), after
    /// [`Action::Verify`]: the flight lands ([`Action::Landed`]).
    Verified {
        ticket: Ticket,
        response: TokenResponse,
        signed: Result<Signed>,
    },
    /// Another tab's view of its session (`from_host`: the session host's, on this page's own
    /// port): [`Action::VerifyView`] follows, unless it is malformed, names this engine or a
    /// holder whose session ended.
    View { view: Value, from_host: bool },
    /// The signatures of a view's tokens, as the shell verified them (in the order of
    /// [`Remote::tokens`]), after [`Action::VerifyView`]: the engine checks their claims and
    /// adopts the view if it is news (API.md "Security guarantees").
    ViewVerified {
        remote: Remote,
        signed: Vec<Result<SignatureChecked>>,
    },
    /// An app call: the code exchange (RFC 6749 §4.1.3) of a login whose callback checked out,
    /// with the thumbprint (RFC 7638) of the DPoP key the shell holds now: a login that began
    /// with another key (another login in this browser since) is refused (RFC 9449 §10). Its
    /// reply: [`Action::Refresh`] (run it like any token request), or [`Action::Settled`] with
    /// the error. Once it lands, this engine holds the session ([`Action::Locks`]).
    CodeExchange {
        tx: Transaction,
        code: AuthorizationCode,
        dpop_jkt: Option<String>,
    },
    /// The DPoP key this engine's tokens are bound to (RFC 9449 §6.1): its thumbprint (RFC
    /// 7638), or none (a new key is made at the next login).
    DpopKey(Option<String>),
    /// An app call: `adoptSession()`, after `userChanged`: follow the other user's session kept
    /// for it. Its reply: [`Action::Settled`].
    AdoptSession,
    /// An app call: `logout()`, final here (RP-Initiated Logout 1.0, RFC 7009). Its actions:
    /// [`Action::Revoke`] first (the grant's refresh token), [`Action::AskLogout`] (a follower),
    /// the session's end ([`Action::EndSession`], the key forgotten), and the reply
    /// last: [`Action::Leave`] (where the browser goes, at `end_session_endpoint`).
    Logout {
        end_session_endpoint: Option<String>,
        state: Option<String>,
    },
}

/// What the shell must do after [`super::Engine::handle`].
#[derive(Debug)]
// An action lives until the shell carries it out; boxing the ticket would cost an allocation
// per refresh.
#[allow(clippy::large_enum_variant)]
pub enum Action {
    /// Send this token request, then feed the answer in as [`Input::TokenResponse`]. The reply
    /// to an app call: its caller runs it and waits for it (its flight's outcome), then reads
    /// [`super::Engine::fresh_token`].
    Refresh(Ticket),
    /// Verify the signatures of this answer to the ticket (WebCrypto), then feed them in as
    /// [`Input::Verified`].
    Verify(Ticket, TokenResponse),
    /// The reply to [`Input::View`]: verify the signatures of the view's tokens (WebCrypto;
    /// the session host's view was verified by the host), reading the DPoP key again first
    /// when `true` (a new login elsewhere made a new one), then [`Input::ViewVerified`].
    VerifyView(Remote, bool),
    /// The token request `FlightId` is over, with this outcome: its waiters get it. Always
    /// after the actions of the same input.
    Landed(FlightId, Result<()>),
    /// Ask the holder for a fresh token (or a switch), then [`Input::AskSettled`]. The reply
    /// to an app call: its caller asks and waits for the answer.
    AskHolder(Ask),
    /// The reply to an app call: the token, or why there is none.
    Answer(Result<(AccessToken, TokenType)>),
    /// The reply to an app call: a token request for this key, or a switch, is under way (here
    /// or at the holder): wait for that flight (its error is the caller's), then call again.
    Wait(FlightId),
    /// The reply to an app call: the grant is busy with a refresh of another key (its refresh
    /// token rotates with every answer, RFC 6749 §6, and a second use of the old one ends the
    /// grant): wait for that flight, whatever its outcome, then call again.
    Busy(FlightId),
    Emit(AppEvent),
    /// The shared view changed: tell the other tabs.
    Announce,
    /// This holder's session ended: tell the other tabs, proving it with a proof that names
    /// the session's last access token (a forged notice cannot).
    AnnounceEnd(EndReason, Option<AccessToken>),
    /// The session ended here: end the open portal sessions with the tokens they last used,
    /// then, when `forget_key`, delete the DPoP key (their proofs need it until then). After
    /// [`Action::AnnounceEnd`] and [`Action::AskLogout`], whose proofs need it too.
    EndSession {
        forget_key: bool,
    },
    /// Revoke this refresh token (RFC 7009) and forget it.
    Revoke(RefreshToken),
    /// The next wake-up changed: send [`Input::Timer`] in this many seconds (at least 1), or
    /// never. Only when it changes, and after every [`Input::Timer`] (its timer is spent).
    Reschedule(Option<i64>),
    /// At `logout()` in a tab that follows another tab's session: ask that holder to log out,
    /// with a request signed by the session's DPoP key over this access token (before
    /// [`Action::EndSession`] forgets the key).
    AskLogout {
        holder: String,
        token: AccessToken,
    },
    /// The reply to `logout()`: where the browser goes (the end-session URL), if anywhere.
    Leave(Option<String>),
    /// The reply to an app call that gives nothing but its outcome.
    Settled(Result<()>),
    /// The holder lock changed (Web Locks): `hold` it here, or let it go; `watch` the holder's
    /// lock (a follower: it is free once the holder's tab, or the session host, is gone). Only
    /// when it changes, or when another holder is followed (its lock is watched anew).
    Locks {
        hold: bool,
        watch: bool,
    },
}

impl Action {
    /// Whether this action goes after every other action of its input: an app call's reply
    /// (the shell hands it to the caller), a flight's landing (its waiters resume after the
    /// rest), and the timer's token requests. [`Action::Reschedule`] and [`Action::Locks`] go
    /// before it (`props.rs` checks the order).
    pub fn is_last(&self) -> bool {
        matches!(
            self,
            Action::Answer(_)
                | Action::Wait(_)
                | Action::Busy(_)
                | Action::Leave(_)
                | Action::Settled(_)
                | Action::Refresh(_)
                | Action::AskHolder(_)
                | Action::Verify(..)
                | Action::VerifyView(..)
                | Action::Landed(..)
        )
    }
}
