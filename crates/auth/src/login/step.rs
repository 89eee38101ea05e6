//! What a login step asks of the browser: one enum, rendered by the server in one place.

use gatehouse_types::FactorType;
use gatehouse_types::phone::DeliveryMethod;

/// The answer to one request of a browser login.
#[derive(Clone, Debug, PartialEq)]
pub struct LoginResponse {
    /// What to show or where to go.
    pub step: AuthStep,
    /// Cookies to set or clear.
    pub cookies: Vec<CookieChange>,
    /// What failed, when this is a `server_error` page: for the server log (written once by the HTTP layer), never
    /// shown.
    pub cause: Option<String>,
}

impl LoginResponse {
    /// A response without cookie changes.
    pub fn new(step: AuthStep) -> Self {
        LoginResponse { step, cookies: Vec::new(), cause: None }
    }
}

/// Every state a browser login can be shown in.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthStep {
    /// The login form.
    Login(LoginPage),
    /// A factor's challenge form.
    Challenge(ChallengePage),
    /// The factor picker.
    Picker(PickerPage),
    /// TOTP enrollment: QR code, secret, code field.
    EnrollOtp(EnrollOtpPage),
    /// Phone enrollment: the number, and text or voice.
    EnrollPhone(EnrollPhonePage),
    /// The organization picker.
    Organizations(OrganizationsPage),
    /// What the application asks to do, to accept or decline.
    Consent(ConsentPage),
    /// A new recovery code, shown once.
    RecoveryCode(RecoveryCodePage),
    /// Send the browser to another URL (a hosted page, or an action's `sendUserTo`).
    Redirect(String),
    /// The organization's name, asked before the login page (`pre_login_prompt`).
    OrganizationName(OrganizationNamePage),
    /// Answer the application, in its response mode.
    Respond(AppResponse),
    /// Show an error page (the application cannot be told, or the transaction is gone).
    Error(ErrorPage),
    /// The sign-up form (`/u/signup`).
    Signup(SignupPage),
    /// "Forgot your password?": the address to mail a reset link to, or (`sent`) the page saying it was mailed.
    ResetRequest(ResetRequestPage),
    /// The `password-reset-post-challenge` actions refused a reset (403).
    ResetDenied(ResetDeniedPage),
}

/// A password reset the actions refused.
#[derive(Clone, Debug, PartialEq)]
pub struct ResetDeniedPage {
    /// `en` or `ja`.
    pub lang: String,
    /// The action's reason, shown as it is (Auth0 presents it); `None`: a generic sentence.
    pub message: Option<String>,
    /// Where "Continue" goes: the application's login route, else the tenant's default.
    pub next: Option<String>,
}

/// The sign-up form.
#[derive(Clone, Debug, PartialEq)]
pub struct SignupPage {
    /// Context.
    pub ctx: PageContext,
    /// What was typed (after a refusal).
    pub email: Option<String>,
    /// The username field, when the connection requires one.
    pub username: Option<Option<String>>,
    /// The connection's password rules, met or not by what was typed.
    pub rules: Vec<crate::users::password_policy::RuleStatus>,
    /// The connection's policy level (the page checks the rules as the user types).
    pub level: gatehouse_types::config::PasswordPolicyLevel,
    /// Why the last try was refused, in the page's language.
    pub error: Option<String>,
    /// A notice (the form expired).
    pub notice: Option<Notice>,
}

/// "Forgot your password?".
#[derive(Clone, Debug, PartialEq)]
pub struct ResetRequestPage {
    /// Context.
    pub ctx: PageContext,
    /// The address typed.
    pub email: Option<String>,
    /// The link was (or would have been) mailed: the page says so whatever the address.
    pub sent: bool,
    /// Why the request was refused (a limit), in the page's language.
    pub error: Option<String>,
    /// A notice (the form expired).
    pub notice: Option<Notice>,
}

/// What every hosted page needs.
#[derive(Clone, Debug, PartialEq)]
pub struct PageContext {
    /// The transaction's handle (the `state` of hosted pages).
    pub state: String,
    /// The form's CSRF token.
    pub csrf: String,
    /// `en` or `ja`.
    pub lang: String,
    /// The application's name.
    pub client_name: String,
    /// The tenant's friendly name.
    pub tenant_name: String,
}

/// Messages shown on pages; the server translates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Wrong email or password.
    WrongCredentials,
    /// Too many failed logins for this account from this IP.
    LoginBlocked,
    /// The user is blocked by an administrator.
    UserBlocked,
    /// The code does not match.
    InvalidCode,
    /// Too many failed codes: the factor is blocked for a while.
    FactorBlocked,
    /// The code expired; a new one can be sent.
    CodeExpired,
    /// A new code was sent.
    CodeSent,
    /// The form was stale or forged.
    FormExpired,
    /// The send limit was reached: no new code was sent.
    TooManySends,
    /// The provider did not deliver the code (failed, dropped, timed out).
    NotSent,
    /// The evaluation phone provider has sent its 100 messages.
    ProviderExhausted,
    /// A new code was asked for before the cooldown ended.
    ResendTooSoon,
    /// The phone number is not a full international number.
    InvalidPhoneNumber,
    /// The provider asked for a retry: the code is on its way, later than usual.
    Delayed,
    /// No organization has the name typed (or it cannot be logged in through).
    UnknownOrganization,
}

/// The login form.
#[derive(Clone, Debug, PartialEq)]
pub struct LoginPage {
    /// Context.
    pub ctx: PageContext,
    /// Pre-filled email (`login_hint`).
    pub email: Option<String>,
    /// Notice to show.
    pub notice: Option<Notice>,
    /// Offer "Sign up" (the connection allows sign-up).
    pub signup: bool,
}

/// A challenge form.
#[derive(Clone, Debug, PartialEq)]
pub struct ChallengePage {
    /// Context.
    pub ctx: PageContext,
    /// The factor.
    pub factor: FactorType,
    /// Where a code went (masked), for email and phone.
    pub destination: Option<String>,
    /// Whether "Try another method" is offered.
    pub alternatives: bool,
    /// Notice to show.
    pub notice: Option<Notice>,
    /// For a phone code: how it was sent, the other methods the user may switch to, the resend cooldown.
    pub phone: Option<PhoneChallenge>,
}

/// What a phone challenge page shows beside the code field.
#[derive(Clone, Debug, PartialEq)]
pub struct PhoneChallenge {
    /// How the last code was sent.
    pub method: DeliveryMethod,
    /// Methods the user may switch to ("Call me instead").
    pub switch_to: Vec<DeliveryMethod>,
    /// Seconds until "Resend" is accepted (0: now).
    pub resend_in: i64,
    /// While enrolling: "Use a different number".
    pub change_number: bool,
}

/// Phone enrollment.
#[derive(Clone, Debug, PartialEq)]
pub struct EnrollPhonePage {
    /// Context.
    pub ctx: PageContext,
    /// Methods the user may choose from (one: no choice shown).
    pub methods: Vec<DeliveryMethod>,
    /// The number typed before, when the page is shown again.
    pub number: Option<String>,
    /// Whether another method can be chosen.
    pub alternatives: bool,
    /// Notice to show.
    pub notice: Option<Notice>,
}

/// The organizations a user may log in through.
#[derive(Clone, Debug, PartialEq)]
pub struct OrganizationsPage {
    /// Context.
    pub ctx: PageContext,
    /// `(id, display name)` of each, in the configuration's order.
    pub organizations: Vec<(String, String)>,
}

/// The page asking for the organization's name.
#[derive(Clone, Debug, PartialEq)]
pub struct OrganizationNamePage {
    /// Context.
    pub ctx: PageContext,
    /// What was typed before (after a name that was not found).
    pub name: Option<String>,
    /// Notice to show.
    pub notice: Option<Notice>,
}

/// The consent page.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsentPage {
    /// Context.
    pub ctx: PageContext,
    /// The API asked for, by name.
    pub api_name: Option<String>,
    /// Each scope asked for, with the API's description of it (OIDC scopes are described by the page).
    pub scopes: Vec<(String, Option<String>)>,
}

/// The factor picker.
#[derive(Clone, Debug, PartialEq)]
pub struct PickerPage {
    /// Context.
    pub ctx: PageContext,
    /// Factors offered, in order.
    pub factors: Vec<FactorType>,
    /// Whether the user enrolls (rather than verifies) one of them.
    pub enrolling: bool,
    /// The factor to go back to (the one shown before the picker), when there was one.
    pub back: Option<FactorType>,
}

/// TOTP enrollment.
#[derive(Clone, Debug, PartialEq)]
pub struct EnrollOtpPage {
    /// Context.
    pub ctx: PageContext,
    /// The secret, base32, to type into an app that cannot scan.
    pub secret: String,
    /// The `otpauth://` URI.
    pub uri: String,
    /// The QR code of the URI, as SVG.
    pub qr_svg: String,
    /// Whether another method can be chosen.
    pub alternatives: bool,
    /// Notice to show.
    pub notice: Option<Notice>,
}

/// A recovery code shown once.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryCodePage {
    /// Context.
    pub ctx: PageContext,
    /// The code.
    pub code: String,
}

/// How the application receives the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Query string of the redirect URI.
    Query,
    /// An auto-submitted form.
    FormPost,
    /// `postMessage` to the opener or parent (the SPA SDK's silent authentication).
    WebMessage,
}

/// The answer to the application.
#[derive(Clone, Debug, PartialEq)]
pub struct AppResponse {
    /// The redirect URI.
    pub redirect_uri: String,
    /// How to deliver it.
    pub mode: ResponseMode,
    /// `code`+`state`, or `error`+`error_description`+`state`.
    pub params: Vec<(String, String)>,
}

/// An error page.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorPage {
    /// `en` or `ja`.
    pub lang: String,
    /// Short title (an OAuth error code or a page title).
    pub title: String,
    /// What happened, for the user.
    pub detail: String,
    /// Where "Start again" goes: the application's login route (`initiate_login_uri`) when the login's client is
    /// known, else the tenant's `default_redirection_uri`; none, and the page says to go back to the application.
    pub start_again: Option<String>,
}

/// A cookie to set or clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieChange {
    /// The SSO session cookie.
    SetSession {
        /// Value (a bearer secret).
        value: String,
        /// Lifetime in seconds.
        max_age: i64,
    },
    /// Clears the SSO session cookie.
    ClearSession,
    /// The cookie binding a login transaction to this browser.
    SetBinding {
        /// Cookie name suffix (a short, public prefix of the transaction).
        slot: String,
        /// Value (a bearer secret).
        value: String,
        /// Lifetime in seconds.
        max_age: i64,
    },
    /// Clears a binding cookie.
    ClearBinding {
        /// Cookie name suffix.
        slot: String,
    },
    /// The long-lived device cookie (adaptive MFA's "known device").
    SetDevice {
        /// Value.
        value: String,
    },
}

/// Names of Gatehouse's cookies.
pub mod cookie_names {
    /// The SSO session.
    pub const SESSION: &str = "gatehouse_session";
    /// Prefix of transaction binding cookies.
    pub const BINDING_PREFIX: &str = "gatehouse_tx_";
    /// The device cookie.
    pub const DEVICE: &str = "gatehouse_device";
}
