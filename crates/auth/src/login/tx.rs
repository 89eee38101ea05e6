//! A browser login in progress, kept in the store between requests.
//!
//! The transaction is found by the hash of its handle (the `state` of hosted pages) and bound to the browser that
//! started it by a cookie whose hash it keeps: a handle copied to another browser is useless. It expires with the
//! Universal Login transaction (10 minutes by default).

use gatehouse_engine::flow::PausedFlow;
use gatehouse_types::phone::DeliveryMethod;
use gatehouse_types::{AuthMethod, FactorType, JsonMap, Outcome};
use serde::{Deserialize, Serialize};

use crate::account::reset_challenge::ResetPause;
use crate::claims::MFA_ACR_VALUES;
use crate::login::step::ResponseMode;

/// A validated `/authorize` request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    /// The client.
    pub client_id: String,
    /// Where to answer (one of the client's callbacks, exactly).
    pub redirect_uri: String,
    /// Whether the request named it (rather than defaulting to the client's only callback).
    #[serde(default)]
    pub redirect_uri_sent: bool,
    /// How to answer.
    pub response_mode: ResponseMode,
    /// Requested scopes.
    pub scope: Vec<String>,
    /// Requested API.
    pub audience: Option<String>,
    /// The application's state, returned unchanged.
    pub state: Option<String>,
    /// Echoed in the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `acr_values`.
    pub acr_values: Vec<String>,
    /// `prompt` values.
    pub prompt: Vec<String>,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `ui_locales`.
    pub ui_locales: Vec<String>,
    /// The raw query, as actions see it in `event.request.query`.
    pub query: JsonMap,
    /// The organization the login goes through (its id), from `organization=<id or name>`.
    #[serde(default)]
    pub organization: Option<String>,
}

impl AuthorizeRequest {
    /// The request a password reset's transaction carries (`crate::login::reset`): only the application the reset
    /// came from, for its name on the pages and in the logs. Nothing answers an application from such a
    /// transaction.
    pub fn for_reset(client_id: Option<&str>) -> Self {
        AuthorizeRequest {
            client_id: client_id.unwrap_or_default().to_owned(),
            redirect_uri: String::new(),
            redirect_uri_sent: false,
            response_mode: ResponseMode::Query,
            scope: Vec::new(),
            audience: None,
            state: None,
            nonce: None,
            code_challenge: None,
            acr_values: Vec::new(),
            prompt: Vec::new(),
            max_age: None,
            login_hint: None,
            ui_locales: Vec::new(),
            query: JsonMap::new(),
            organization: None,
        }
    }

    /// Whether the request asks for an MFA authentication context class.
    pub fn requires_mfa_acr(&self) -> Option<&str> {
        self.acr_values.iter().map(String::as_str).find(|v| MFA_ACR_VALUES.contains(v))
    }

    /// Whether `prompt=none` (no interaction allowed).
    pub fn is_silent(&self) -> bool {
        self.prompt.iter().any(|p| p == "none")
    }
}

/// Where a transaction stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for email and password.
    Credentials,
    /// The post-login flow waits for a prompt (challenge or enrollment).
    Flow {
        /// The paused flow.
        paused: Box<PausedFlow>,
        /// What the user is doing about it.
        mfa: MfaState,
    },
    /// The post-login flow waits for the browser to come back to `/continue`.
    Redirect {
        /// The paused flow.
        paused: Box<PausedFlow>,
    },
    /// The flow allowed the login; MFA is still required (policy, `multifactor.enable`, `acr_values`).
    FinalMfa {
        /// The flow's outcome, applied once MFA is done.
        outcome: Box<Outcome>,
        /// What the user is doing about it.
        mfa: MfaState,
    },
    /// The password is checked; the user picks one of their organizations (a client that requires one).
    OrganizationPicker,
    /// The flow allowed the login (and MFA is done); the user allows or declines what the application asks for.
    Consent {
        /// The flow's outcome, applied once the user accepts.
        outcome: Box<Outcome>,
        /// The scopes shown (recorded as consented on accept).
        scopes: Vec<String>,
    },
    /// A password reset whose `password-reset-post-challenge` actions asked for an MFA challenge
    /// (`crate::login::reset`).
    ResetChallenge {
        /// The paused reset.
        pause: Box<ResetPause>,
        /// What the user is doing about it.
        mfa: MfaState,
    },
    /// A password reset whose actions sent the browser away; it comes back to `/continue`.
    ResetRedirect {
        /// The paused reset.
        pause: Box<ResetPause>,
    },
    /// A recovery code was shown; the user acknowledges it, then `after` continues.
    RecoveryShown {
        /// Where the login goes next.
        after: Box<Stage>,
        /// The factor the user completed (to report to a paused flow).
        completed: FactorType,
    },
}

impl Stage {
    /// The MFA prompt this stage waits on, if it waits on one.
    pub fn mfa(&self) -> Option<&MfaState> {
        match self {
            Stage::Flow { mfa, .. } | Stage::FinalMfa { mfa, .. } | Stage::ResetChallenge { mfa, .. } => Some(mfa),
            _ => None,
        }
    }

    /// The same, to change.
    pub fn mfa_mut(&mut self) -> Option<&mut MfaState> {
        match self {
            Stage::Flow { mfa, .. } | Stage::FinalMfa { mfa, .. } | Stage::ResetChallenge { mfa, .. } => Some(mfa),
            _ => None,
        }
    }
}

/// The user's progress through one MFA prompt.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MfaState {
    /// Factors the prompt accepts, the default first.
    pub offered: Vec<FactorType>,
    /// Whether the prompt enrolls rather than verifies.
    pub enrolling: bool,
    /// The factor being shown (`None`: the picker).
    pub current: Option<FactorType>,
    /// A TOTP secret awaiting its first code (enrollment).
    #[serde(default)]
    pub pending_secret: Option<String>,
    /// A factor to enroll once this prompt is passed (end-of-flow MFA for a user whose only factor is email).
    #[serde(default)]
    pub then_enroll: Option<FactorType>,
    /// Phone: the delivery methods the prompt allows (`challengeWith`'s `preferredMethod`); empty means every
    /// method of `[mfa.phone] delivery_methods`.
    #[serde(default)]
    pub phone_methods: Vec<DeliveryMethod>,
    /// Phone: where codes go (the number being enrolled, or the enrolled one) and how.
    #[serde(default)]
    pub phone: Option<PhoneTarget>,
    /// When the last phone code was sent (epoch seconds), for the resend cooldown.
    #[serde(default)]
    pub last_sent_at: Option<i64>,
    /// The factor shown before the user opened the picker: the picker's way back.
    #[serde(default)]
    pub previous: Option<FactorType>,
}

/// Where a login's phone codes go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneTarget {
    /// The number, E.164.
    pub number: String,
    /// Text or voice.
    pub method: DeliveryMethod,
}

/// A browser login in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoginTx {
    /// Public id (`event.transaction.id`, logs); not a secret.
    pub public_id: String,
    /// SHA-256 of the binding cookie's value.
    pub binding_hash: String,
    /// Cookie slot name of the binding cookie.
    pub slot: String,
    /// CSRF token of the hosted forms.
    pub csrf: String,
    /// The authorize request.
    pub request: AuthorizeRequest,
    /// `en` or `ja`.
    pub lang: String,
    /// Creation (epoch seconds).
    pub created_at: i64,
    /// Expiry (epoch seconds).
    pub expires_at: i64,
    /// The user, once known.
    pub user_id: Option<String>,
    /// Methods completed, in this transaction and in the SSO session it continues.
    pub methods: Vec<AuthMethod>,
    /// First-factor time (`auth_time`), epoch seconds.
    pub auth_time: Option<i64>,
    /// Store key of the SSO session this transaction continues, if any.
    pub session_key: Option<String>,
    /// Whether an MFA factor was completed in this transaction.
    pub mfa_done: bool,
    /// Adaptive MFA: whether the device was seen for this user in the last 30 days.
    pub known_device: bool,
    /// Adaptive MFA: hash of the device cookie.
    pub device_hash: String,
    /// HTTP request data actions see (`ip`, `user_agent`, `language`, `hostname`).
    pub client_ip: String,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// Where the login stands.
    pub stage: Stage,
    /// The user accepted the consent page in this login.
    #[serde(default)]
    pub consented: bool,
}
