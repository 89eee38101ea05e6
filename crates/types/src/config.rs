//! The tenant configuration (`gatehouse.toml`), as data.
//!
//! Parsing rejects unknown keys and values of the wrong kind; [`TenantConfig::validate`] checks what serde cannot
//! (unique ids, absolute callback URLs, grants that name known clients and APIs). The server refuses to start on
//! any error, naming the key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::JsonMap;
use crate::factor::FactorType;

/// The whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tokens' `iss`, with a trailing slash: `http://127.0.0.1:3000/`.
    pub issuer: String,
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where the store keeps its data.
    #[serde(default = "default_data_dir")]
    pub data_dir: String,
    /// The folder holding one sub-folder per trigger (`post-login/`...).
    #[serde(default = "default_actions_dir")]
    pub actions_dir: String,
    /// Name shown on hosted pages and in OTP apps.
    #[serde(default = "default_friendly_name")]
    pub friendly_name: String,
    /// Tenant name (`event.tenant.id`); defaults to a slug of the friendly name.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Auth0's tenant "Default Login Route": where an error page's "Start again" link goes when the application is
    /// not known (a login that expired). https, or http on localhost.
    #[serde(default)]
    pub default_redirection_uri: Option<String>,
    /// MFA settings.
    #[serde(default)]
    pub mfa: MfaConfig,
    /// Applications.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// APIs (audiences).
    #[serde(default)]
    pub apis: Vec<ApiConfig>,
    /// Which machine-to-machine clients may ask for which API and scopes.
    #[serde(default)]
    pub client_grants: Vec<ClientGrantConfig>,
    /// Roles and the permissions they grant (RBAC).
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// Organizations (B2B): members log in through them.
    #[serde(default)]
    pub organizations: Vec<OrganizationConfig>,
    /// Put `org_name` in tokens beside `org_id` ("Organization Names in Authentication API").
    #[serde(default)]
    pub organization_names_in_tokens: bool,
    /// Users seeded into `Username-Password-Authentication` on first start.
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// Values exposed to actions as `event.secrets` (also `GATEHOUSE_SECRET_<NAME>`).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Session and token lifetimes.
    #[serde(default)]
    pub sessions: SessionConfig,
    /// Brute-force protection.
    #[serde(default)]
    pub attack_protection: AttackProtectionConfig,
    /// Limits of action executions.
    #[serde(default)]
    pub actions: ActionsConfig,
    /// Where actions' `fetch` may go.
    #[serde(default)]
    pub outbound: OutboundConfig,
    /// Where the tenant's state lives: sled in `data_dir` (the default) or PostgreSQL.
    #[serde(default)]
    pub store: StoreConfig,
    /// The hosted pages' logo and colour.
    #[serde(default)]
    pub branding: BrandingConfig,
    /// The database connection: sign-up, its password policy, password resets.
    #[serde(default)]
    pub connection: ConnectionConfig,
    /// How email leaves: SMTP, or the outbox folder.
    #[serde(default)]
    pub email: EmailConfig,
}

/// `[connection]`: the one database connection users sign up to and log in with (Auth0's
/// `Username-Password-Authentication`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// The connection's name (`event.connection.name`, `connection` of `/dbconnections/*`, the `realm` of the
    /// password-realm grant).
    #[serde(default = "default_connection_name")]
    pub name: String,
    /// Refuse sign-ups (`/dbconnections/signup` and the hosted page); users are created by the operator.
    #[serde(default)]
    pub disable_signup: bool,
    /// A sign-up must give a `username` too.
    #[serde(default)]
    pub requires_username: bool,
    /// Auth0's password strength levels: `none`, `low`, `fair` (the default), `good`, `excellent`.
    #[serde(default)]
    pub password_policy: PasswordPolicyLevel,
    /// Refuse the passwords of the dictionary of common passwords shipped with the product (Auth0's "Password
    /// Dictionary"), on by default.
    #[serde(default = "yes")]
    pub password_dictionary: bool,
    /// Refuse a password that contains the user's email local part, username or name (Auth0's "Personal Data").
    #[serde(default = "yes")]
    pub password_no_personal_info: bool,
    /// A completed password reset (or change) revokes the user's refresh tokens and ends their SSO sessions.
    #[serde(default = "yes")]
    pub revoke_sessions_on_password_change: bool,
    /// How long a password-reset link works, seconds (default 1 day, Auth0's `ttl_sec` default for tickets is 5
    /// days; reset links are kept shorter).
    #[serde(default = "one_day")]
    pub reset_link_lifetime: u64,
    /// How long an email-verification link works, seconds (default 5 days, as Auth0).
    #[serde(default = "five_days")]
    pub verification_link_lifetime: u64,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            name: default_connection_name(),
            disable_signup: false,
            requires_username: false,
            password_policy: PasswordPolicyLevel::default(),
            password_dictionary: true,
            password_no_personal_info: true,
            revoke_sessions_on_password_change: true,
            reset_link_lifetime: one_day(),
            verification_link_lifetime: five_days(),
        }
    }
}

/// The database connection Auth0 creates in every tenant.
pub const DEFAULT_CONNECTION: &str = "Username-Password-Authentication";

fn default_connection_name() -> String {
    DEFAULT_CONNECTION.to_owned()
}
fn one_day() -> u64 {
    86_400
}
fn five_days() -> u64 {
    5 * 86_400
}

/// Auth0's password strength levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordPolicyLevel {
    /// At least 1 character.
    None,
    /// At least 6 characters.
    Low,
    /// At least 8 characters with lower case, upper case and digits.
    #[default]
    Fair,
    /// At least 8 characters with three of: lower case, upper case, digits, special characters.
    Good,
    /// At least 10 characters, three of the four classes, no more than 2 identical characters in a row.
    Excellent,
}

/// `[email]`: where messages go. Without `smtp_url` they are written to `<data_dir>/outbox` (development).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// `smtp://host:587` (STARTTLS, required), `smtps://host:465` (TLS from the first byte); `smtp://` with
    /// `?tls=none` only to a loopback host (a relay on the same machine, tests).
    #[serde(default)]
    pub smtp_url: Option<String>,
    /// The SMTP user name.
    #[serde(default)]
    pub smtp_username: Option<String>,
    /// The name of the `[secrets]` entry (or `GATEHOUSE_SECRET_<NAME>`) holding the SMTP password.
    #[serde(default)]
    pub smtp_password_secret: Option<String>,
    /// The `From:` of every message (default `<friendly_name> <no-reply@…>` of the issuer's host).
    #[serde(default)]
    pub from: Option<String>,
    /// PEM files of extra certificate authorities the SMTP connection trusts (a relay behind a private CA; tests),
    /// next to the system's. Relative to the configuration file's folder.
    #[serde(default)]
    pub ca_files: Vec<String>,
    /// A folder of `<kind>.<lang>.liquid` files replacing built-in email templates (`verify_email.ja.liquid`...).
    /// Relative to the configuration file's folder.
    #[serde(default)]
    pub templates_dir: Option<String>,
}

/// Where `[email] smtp_url` points, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpEndpoint {
    /// Host name or IP address (an IPv6 address without brackets), as certificates name it.
    pub host: String,
    /// Port (default 587 for `smtp://`, 465 for `smtps://`).
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
}

/// How an SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: plain at first, then `STARTTLS`, which the relay must offer (nothing is sent in clear otherwise).
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Tls,
    /// `smtp://...?tls=none`: no TLS at all, only to a loopback host.
    None,
}

impl EmailConfig {
    /// The relay `smtp_url` names (`None` without one: the outbox), or why the URL is refused.
    pub fn smtp_endpoint(&self) -> Option<Result<SmtpEndpoint, String>> {
        self.smtp_url.as_deref().map(parse_smtp_url)
    }

    /// The problems of `[email]`: a URL that is refused, credentials half given or given without a relay, a `from`
    /// that is not one address.
    fn check(&self, problems: &mut Vec<ConfigProblem>) {
        let mut problem = |key: &str, reason: String| problems.push(ConfigProblem { key: key.to_owned(), reason });
        let empty = |value: &Option<String>| value.as_deref().is_some_and(|v| v.trim().is_empty());
        if let Some(Err(reason)) = self.smtp_endpoint() {
            problem("email.smtp_url", reason);
        }
        if self.smtp_url.is_none() {
            for (key, given) in [
                ("email.smtp_username", self.smtp_username.is_some()),
                ("email.smtp_password_secret", self.smtp_password_secret.is_some()),
                ("email.ca_files", !self.ca_files.is_empty()),
            ] {
                if given {
                    problem(key, "is used only with smtp_url; without one, mail goes to the outbox folder".to_owned());
                }
            }
        }
        if empty(&self.smtp_username) {
            problem("email.smtp_username", "is empty: remove it, or give the relay's user name".to_owned());
        }
        if empty(&self.smtp_password_secret) {
            problem("email.smtp_password_secret", "is empty: name a [secrets] entry".to_owned());
        }
        match (&self.smtp_username, &self.smtp_password_secret) {
            (None, Some(_)) => problem(
                "email.smtp_password_secret",
                "a password needs its user name: set smtp_username too".to_owned(),
            ),
            (Some(_), None) => problem(
                "email.smtp_username",
                "a user name needs its password: set smtp_password_secret to the name of a [secrets] entry".to_owned(),
            ),
            _ => {}
        }
        if let Some(from) = &self.from
            && (from.chars().any(char::is_control) || !from.contains('@') || from.trim().is_empty())
        {
            problem("email.from", "must be one address, e.g. \"Example <no-reply@example.com>\"".to_owned());
        }
        if empty(&self.templates_dir) {
            problem("email.templates_dir", "is empty: remove it, or name a folder".to_owned());
        }
    }
}

/// Parses and checks an `smtp://` or `smtps://` URL (see [`EmailConfig::smtp_url`]).
fn parse_smtp_url(text: &str) -> Result<SmtpEndpoint, String> {
    let url = url::Url::parse(text)
        .map_err(|e| format!("not a URL ({e}); write smtp://host:587 (STARTTLS) or smtps://host:465 (TLS)"))?;
    let (mut security, default_port) = match url.scheme() {
        "smtp" => (SmtpSecurity::StartTls, 587),
        "smtps" => (SmtpSecurity::Tls, 465),
        other => {
            return Err(format!(
                "the scheme is smtp:// (STARTTLS) or smtps:// (TLS from the first byte), not {other}://"
            ));
        }
    };
    let host = match url.host() {
        // A host name (an opaque host: `smtp` is not a special scheme, so even `127.0.0.1` arrives here).
        Some(url::Host::Domain(domain))
            if !domain.is_empty() && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') =>
        {
            domain.to_ascii_lowercase()
        }
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err("names no host: write smtp://host:587".to_owned()),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries credentials: use smtp_username and smtp_password_secret, which keep the password out of \
                    the file"
            .to_owned());
    }
    if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
        return Err("has a path or a fragment: an SMTP URL is scheme://host:port".to_owned());
    }
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref()) {
            ("tls", "none") if security == SmtpSecurity::StartTls => security = SmtpSecurity::None,
            ("tls", "none") => return Err("tls=none contradicts smtps://, which is TLS from the first byte".to_owned()),
            _ => return Err(format!("unknown option {key}={value}: the only one is tls=none (loopback relays)")),
        }
    }
    if security == SmtpSecurity::None && !is_loopback_host(&host) {
        return Err(format!(
            "tls=none sends mail and credentials in clear, so it is accepted only for a relay on this machine \
             (127.0.0.1, ::1, localhost), not {host}"
        ));
    }
    Ok(SmtpEndpoint { host, port: url.port().unwrap_or(default_port), security })
}

/// `localhost` or a loopback address.
fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `[branding]`: what the hosted pages show besides the tenant's `friendly_name`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingConfig {
    /// An `https://` URL of the logo shown above every page (150 × 150 px at most on screen).
    #[serde(default)]
    pub logo_url: Option<String>,
    /// The buttons' and links' colour, `#rrggbb` (default `#4f46e5`).
    #[serde(default)]
    pub primary_color: Option<String>,
}

impl BrandingConfig {
    /// Whether `color` is `#rrggbb` (anything else could end the page's style sheet).
    pub fn is_color(color: &str) -> bool {
        color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|c| c.is_ascii_hexdigit())
    }
}

/// `[store]`: without a `url`, sled in `data_dir` (one process); with `url = "postgres://..."` (or
/// `GATEHOUSE_STORE_URL`), PostgreSQL, which any number of server processes share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://user:password@host:port/database`.
    #[serde(default)]
    pub url: Option<String>,
    /// Connections per process.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// PEM certificates trusted, besides the system's roots, to verify the database's certificate when the URL has
    /// `sslmode=require` (relative to the configuration file's folder).
    #[serde(default)]
    pub ca_file: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { url: None, pool_size: default_pool_size(), ca_file: None }
    }
}

fn default_pool_size() -> usize {
    16
}

fn default_listen() -> String {
    "127.0.0.1:3000".to_owned()
}
fn default_data_dir() -> String {
    "data".to_owned()
}
fn default_actions_dir() -> String {
    "actions".to_owned()
}
fn default_friendly_name() -> String {
    "Gatehouse".to_owned()
}

/// `[mfa]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaConfig {
    /// Enabled factors.
    #[serde(default = "default_factors")]
    pub factors: Vec<FactorType>,
    /// When MFA is required regardless of actions.
    #[serde(default)]
    pub policy: MfaPolicy,
    /// "Customize MFA Factors using Actions".
    #[serde(default = "yes")]
    pub customize_with_actions: bool,
    /// `[mfa.phone]`: how SMS and voice codes are delivered.
    #[serde(default)]
    pub phone: PhoneConfig,
}

impl Default for MfaConfig {
    fn default() -> Self {
        MfaConfig {
            factors: default_factors(),
            policy: MfaPolicy::Never,
            customize_with_actions: true,
            phone: PhoneConfig::default(),
        }
    }
}

/// Who delivers SMS and voice messages (`[mfa.phone] provider`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhoneProvider {
    /// Gatehouse's evaluation provider, as Auth0's: text only, 100 messages in the tenant's lifetime, written to the
    /// outbox folder.
    #[default]
    Default,
    /// The action in `actions/custom-phone-provider/` (`onExecuteCustomPhoneProvider`).
    CustomPhoneProvider,
    /// The actions in `actions/send-phone-message/` (`onExecuteSendPhoneMessage`, Auth0's older trigger).
    SendPhoneMessage,
}

impl PhoneProvider {
    /// The trigger whose actions deliver the messages, for a provider that is an action.
    pub fn trigger(self) -> Option<crate::Trigger> {
        match self {
            PhoneProvider::Default => None,
            PhoneProvider::CustomPhoneProvider => Some(crate::Trigger::CustomPhoneProvider),
            PhoneProvider::SendPhoneMessage => Some(crate::Trigger::SendPhoneMessage),
        }
    }
}

/// `[mfa.phone]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneConfig {
    /// Who delivers the messages.
    #[serde(default)]
    pub provider: PhoneProvider,
    /// `["text"]`, `["voice"]` or `["text", "voice"]` (default text).
    #[serde(default = "text_only")]
    pub delivery_methods: Vec<crate::phone::DeliveryMethod>,
    /// Sender number for SMS (E.164), `event.notification.from` when delivering by text.
    #[serde(default)]
    pub from_text: Option<String>,
    /// Sender number for voice calls (E.164).
    #[serde(default)]
    pub from_voice: Option<String>,
    /// Liquid template of enrollment messages, replacing the built-in English and Japanese ones.
    #[serde(default)]
    pub enrollment_template: Option<String>,
    /// Liquid template of verification messages.
    #[serde(default)]
    pub verification_template: Option<String>,
}

impl Default for PhoneConfig {
    fn default() -> Self {
        PhoneConfig {
            provider: PhoneProvider::Default,
            delivery_methods: text_only(),
            from_text: None,
            from_voice: None,
            enrollment_template: None,
            verification_template: None,
        }
    }
}

fn text_only() -> Vec<crate::phone::DeliveryMethod> {
    vec![crate::phone::DeliveryMethod::Text]
}

/// Whether `number` is an E.164 phone number: `+`, a country code that does not start with 0, 8 to 15 digits.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

fn default_factors() -> Vec<FactorType> {
    vec![FactorType::Otp, FactorType::RecoveryCode, FactorType::Email]
}
fn yes() -> bool {
    true
}

/// The tenant's MFA policy ("Define policy").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicy {
    /// Only when an action or `acr_values` asks for it.
    #[default]
    Never,
    /// On every login.
    Always,
    /// When the risk assessment's confidence is low (a device not seen for this user in 30 days).
    Adaptive,
}

/// Kind of application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    /// Single-page application (public client).
    Spa,
    /// Server-side web application (confidential client).
    RegularWeb,
    /// Mobile or desktop application (public client).
    Native,
    /// Machine-to-machine (confidential client).
    NonInteractive,
}

impl AppType {
    /// Whether the client cannot keep a secret (PKCE is then required).
    pub fn is_public(self) -> bool {
        matches!(self, AppType::Spa | AppType::Native)
    }
}

/// `[[clients]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The client id.
    pub client_id: String,
    /// Display name (`event.client.name`).
    pub name: String,
    /// Kind of application.
    pub app_type: AppType,
    /// Secret of a confidential client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Allowed redirect URIs (exact match).
    #[serde(default)]
    pub callbacks: Vec<String>,
    /// Origins allowed for CORS and `web_message`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Where `/v2/logout` may send the user.
    #[serde(default)]
    pub allowed_logout_urls: Vec<String>,
    /// Grant types the client may use (default by app type).
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// `event.client.metadata`.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Whether users log in through an organization: `deny` (never), `allow` (when `/authorize` names one),
    /// `require` (every login names one).
    #[serde(default)]
    pub organization_usage: OrganizationUsage,
    /// With `organization_usage = "require"`, a login that names none: `no_prompt` (refused), `pre_login_prompt`
    /// (the user types the organization's name before the login page) or `post_login_prompt` (after the password
    /// the user picks one of their organizations).
    #[serde(default)]
    pub organization_require_behavior: OrganizationPrompt,
    /// A first-party application (the default) is the tenant's own; a third-party one (`false`) always shows
    /// users a consent page before it gets their data or API access.
    #[serde(default = "yes")]
    pub is_first_party: bool,
    /// Auth0's "Application Login URI": the application's route that starts a login (it redirects to
    /// `/authorize`). Error pages of this client's logins link to it ("Start again"). https, or http on localhost.
    #[serde(default)]
    pub initiate_login_uri: Option<String>,
}

/// A client's `organization_require_behavior`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationPrompt {
    /// `/authorize` without `organization` is refused.
    #[default]
    NoPrompt,
    /// Ask for the organization's name before the login page.
    PreLoginPrompt,
    /// After the password, the user picks one of their organizations.
    PostLoginPrompt,
}

/// A client's `organization_usage`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationUsage {
    /// `/authorize?organization=` is refused.
    #[default]
    Deny,
    /// An organization may be named.
    Allow,
    /// An organization must be named.
    Require,
}

/// `[[organizations]]`: an organization, its members and their roles in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationConfig {
    /// `org_` followed by letters and digits.
    pub id: String,
    /// Machine name: lower-case letters, digits, `-` and `_`.
    pub name: String,
    /// Shown to people.
    #[serde(default)]
    pub display_name: String,
    /// `event.organization.metadata`.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Members by email, with their roles in this organization.
    #[serde(default)]
    pub members: Vec<OrganizationMember>,
}

/// A member of an organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationMember {
    /// The user's email.
    pub email: String,
    /// Role names in this organization (`[[roles]]`).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Every grant type Gatehouse implements.
pub const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "password",
    "http://auth0.com/oauth/grant-type/password-realm",
    "client_credentials",
    "http://auth0.com/oauth/grant-type/mfa-otp",
    "http://auth0.com/oauth/grant-type/mfa-oob",
    "http://auth0.com/oauth/grant-type/mfa-recovery-code",
];

impl ClientConfig {
    /// The grant types in force: configured, or the defaults for the app type.
    pub fn grant_types(&self) -> Vec<String> {
        if let Some(list) = &self.grant_types {
            return list.clone();
        }
        let defaults: &[&str] = match self.app_type {
            AppType::Spa | AppType::Native => &["authorization_code", "refresh_token"],
            AppType::RegularWeb => &["authorization_code", "refresh_token", "client_credentials"],
            AppType::NonInteractive => &["client_credentials"],
        };
        defaults.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Whether the client may use `grant_type`.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types().iter().any(|g| g == grant_type)
    }
}

/// `[[apis]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// The audience.
    pub identifier: String,
    /// Display name.
    pub name: String,
    /// Scopes (permissions) the API defines.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Access token lifetime, seconds (default 86400).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime: u64,
    /// Role-based access control ("Enable RBAC"): the API scopes a user is granted are the requested ones their
    /// roles give them a permission for (`[[roles]]`). `rbac` is accepted for it.
    #[serde(default, alias = "rbac")]
    pub enforce_policies: bool,
    /// The access token's shape: `access_token` (Auth0's), `access_token_authz` (with `permissions`),
    /// `rfc9068_profile` (RFC 9068: `typ: at+jwt`, `client_id`, `jti`) or `rfc9068_profile_authz`.
    #[serde(default)]
    pub token_dialect: TokenDialect,
    /// "Add Permissions in the Access Token": the same as an `*_authz` dialect.
    #[serde(default)]
    pub add_permissions: bool,
    /// Whether a refresh token may be issued for this API (`offline_access`).
    #[serde(default = "yes")]
    pub allow_offline_access: bool,
    /// "Allow Skipping User Consent": first-party clients get tokens for this API without a consent page, unless
    /// their redirect URI is on `localhost` or a loopback address (which no one can verify as first-party).
    #[serde(default = "yes")]
    pub skip_consent_for_verifiable_first_party_clients: bool,
    /// What each scope lets a client do, shown on the consent page (`"read:data" = "Read your data"`).
    #[serde(default)]
    pub scope_descriptions: BTreeMap<String, String>,
}

impl ApiConfig {
    /// The dialect, with `add_permissions` turning a plain one into its `_authz` variant.
    pub fn dialect(&self) -> TokenDialect {
        match (self.token_dialect, self.add_permissions) {
            (TokenDialect::AccessToken, true) => TokenDialect::AccessTokenAuthz,
            (TokenDialect::Rfc9068Profile, true) => TokenDialect::Rfc9068ProfileAuthz,
            (dialect, _) => dialect,
        }
    }
}

/// An API's access token profile (reference §9.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenDialect {
    /// Auth0's profile: `azp`, `gty`, `scope`.
    #[default]
    AccessToken,
    /// Auth0's profile with `permissions`.
    AccessTokenAuthz,
    /// RFC 9068: header `typ: at+jwt`, `client_id`, `jti`.
    Rfc9068Profile,
    /// RFC 9068 with `permissions`.
    Rfc9068ProfileAuthz,
}

impl TokenDialect {
    /// Whether the access token lists the permissions.
    pub fn with_permissions(self) -> bool {
        matches!(self, TokenDialect::AccessTokenAuthz | TokenDialect::Rfc9068ProfileAuthz)
    }

    /// Whether it is RFC 9068's profile.
    pub fn rfc9068(self) -> bool {
        matches!(self, TokenDialect::Rfc9068Profile | TokenDialect::Rfc9068ProfileAuthz)
    }
}

/// `[[roles]]`: a role and the permissions it grants, per API. Users get roles by name (`[[users]] roles`, the
/// Management API); `event.authorization.roles` lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// The role's name.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// API identifier to the permissions (scopes of that API) the role grants.
    #[serde(default)]
    pub permissions: BTreeMap<String, Vec<String>>,
}

fn default_token_lifetime() -> u64 {
    86_400
}

/// `[[client_grants]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientGrantConfig {
    /// The client.
    pub client_id: String,
    /// The API.
    pub audience: String,
    /// Scopes granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Tokens for an organization (`organization=` on `client_credentials`): `deny` (default), `allow`, `require`.
    #[serde(default)]
    pub organization_usage: OrganizationUsage,
    /// Any organization may be named.
    #[serde(default)]
    pub allow_any_organization: bool,
    /// The organizations (ids or names) that may be named, without `allow_any_organization`.
    #[serde(default)]
    pub organizations: Vec<String>,
}

/// `[[users]]`: seeded on first start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    /// Email (the login name).
    pub email: String,
    /// Initial password (stored as an argon2id hash).
    pub password: String,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone number (E.164).
    #[serde(default)]
    pub phone_number: Option<String>,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
    /// `app_metadata`.
    #[serde(default)]
    pub app_metadata: JsonMap,
    /// `user_metadata`.
    #[serde(default)]
    pub user_metadata: JsonMap,
    /// Other root attributes, as an identity provider would supply them (`groups = ["admins"]`), for trying
    /// actions that read them.
    #[serde(default)]
    pub attributes: JsonMap,
}

/// `[sessions]`: lifetimes in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// SSO session, absolute (default 7 days).
    #[serde(default = "week")]
    pub lifetime: u64,
    /// SSO session, idle (default 3 days).
    #[serde(default = "three_days")]
    pub idle_lifetime: u64,
    /// ID token (default 36000, Auth0's).
    #[serde(default = "ten_hours")]
    pub id_token_lifetime: u64,
    /// Refresh token, absolute (default 30 days).
    #[serde(default = "thirty_days")]
    pub refresh_token_lifetime: u64,
    /// A login transaction (login page to callback), default 10 minutes.
    #[serde(default = "ten_minutes")]
    pub transaction_lifetime: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            lifetime: week(),
            idle_lifetime: three_days(),
            id_token_lifetime: ten_hours(),
            refresh_token_lifetime: thirty_days(),
            transaction_lifetime: ten_minutes(),
        }
    }
}

fn week() -> u64 {
    7 * 86_400
}
fn three_days() -> u64 {
    3 * 86_400
}
fn ten_hours() -> u64 {
    36_000
}
fn thirty_days() -> u64 {
    30 * 86_400
}
fn ten_minutes() -> u64 {
    600
}

/// `[attack_protection]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackProtectionConfig {
    /// Failed logins for one user from one IP before further tries are blocked (default 10).
    #[serde(default = "ten")]
    pub max_attempts: u32,
    /// How long the block lasts after the last failure, seconds (default 3600).
    #[serde(default = "hour")]
    pub block_seconds: u64,
    /// Sign-ups from one IP address per hour (default 50; Auth0's `limit_mu`).
    #[serde(default = "fifty")]
    pub signups_per_ip_per_hour: u32,
    /// Password-reset emails for one account per hour (default 5).
    #[serde(default = "five")]
    pub password_resets_per_user_per_hour: u32,
    /// Password-reset requests from one IP address per hour (default 50).
    #[serde(default = "fifty")]
    pub password_resets_per_ip_per_hour: u32,
}

impl Default for AttackProtectionConfig {
    fn default() -> Self {
        AttackProtectionConfig {
            max_attempts: ten(),
            block_seconds: hour(),
            signups_per_ip_per_hour: fifty(),
            password_resets_per_user_per_hour: five(),
            password_resets_per_ip_per_hour: fifty(),
        }
    }
}

fn fifty() -> u32 {
    50
}
fn five() -> u32 {
    5
}

fn ten() -> u32 {
    10
}
fn hour() -> u64 {
    3600
}

/// `[outbound]`: where actions' `fetch` may connect. By default only public addresses: loopback, private,
/// link-local (cloud metadata), shared and unspecified addresses are refused after DNS resolution and on every
/// redirect, so an action cannot reach the server itself, other local services or the internal network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// Let actions reach loopback, private and link-local addresses (an operator whose providers live there; tests).
    #[serde(default)]
    pub allow_private_networks: bool,
    /// Host names or IP addresses actions may reach even when they resolve to a private address.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// PEM files of extra certificate authorities actions' HTTPS requests trust, next to the system's (a provider
    /// behind a private CA; tests). Relative to the configuration file's folder.
    #[serde(default)]
    pub ca_files: Vec<String>,
}

/// `[actions]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    /// Wall-clock budget of each execution, milliseconds (default 20000).
    #[serde(default = "twenty_seconds")]
    pub timeout_ms: u64,
    /// Memory cap of each sandbox process, MiB (default 128).
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// Runs each sandbox run beside the host thread that sends it, on one CPU, while that CPU has no other run
    /// (default true; see docs/DEPLOYMENT.md).
    #[serde(default = "yes")]
    pub colocate: bool,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig { timeout_ms: twenty_seconds(), memory_mb: default_memory(), colocate: true }
    }
}

fn twenty_seconds() -> u64 {
    20_000
}
fn default_memory() -> u64 {
    128
}

/// A configuration problem: the key it concerns and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key, e.g. `clients[1].callbacks[0]`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl TenantConfig {
    /// Checks what the types cannot express.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem = |key: String, reason: &str| problems.push(ConfigProblem { key, reason: reason.to_owned() });
        if !(self.issuer.starts_with("http://") || self.issuer.starts_with("https://")) || !self.issuer.ends_with('/') {
            problem("issuer".into(), "must be an http(s) URL ending with '/', e.g. http://127.0.0.1:3000/");
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            problem("listen".into(), "must be an address like 127.0.0.1:3000");
        }
        if let Some(url) = &self.store.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            problem("store.url".into(), "must be a PostgreSQL URL: postgres://user@host:5432/database");
        }
        if self.store.pool_size == 0 || self.store.pool_size > 1000 {
            problem("store.pool_size".into(), "must be 1 to 1000 connections");
        }
        const SUPPORTED: [FactorType; 4] =
            [FactorType::Otp, FactorType::RecoveryCode, FactorType::Email, FactorType::Phone];
        for (i, factor) in self.mfa.factors.iter().enumerate() {
            if !SUPPORTED.contains(factor) {
                problem(format!("mfa.factors[{i}]"), "Gatehouse offers otp, recovery-code, email and phone");
            }
        }
        let phone = &self.mfa.phone;
        if phone.delivery_methods.is_empty() {
            problem("mfa.phone.delivery_methods".into(), "must list \"text\", \"voice\" or both");
        }
        if phone.provider == PhoneProvider::Default
            && phone.delivery_methods.contains(&crate::phone::DeliveryMethod::Voice)
        {
            problem(
                "mfa.phone.delivery_methods".into(),
                "the default provider sends text only, as Auth0's does; voice needs provider = \"custom-phone-provider\" \
                 or \"send-phone-message\"",
            );
        }
        let mut seen_methods = std::collections::BTreeSet::new();
        for method in &phone.delivery_methods {
            if !seen_methods.insert(format!("{method:?}")) {
                problem("mfa.phone.delivery_methods".into(), "lists a delivery method twice");
            }
        }
        for (key, number) in [("mfa.phone.from_text", &phone.from_text), ("mfa.phone.from_voice", &phone.from_voice)] {
            if let Some(number) = number
                && !is_e164(number)
            {
                problem(key.into(), "must be an E.164 number, e.g. +81312345678");
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, client) in self.clients.iter().enumerate() {
            if client.client_id.is_empty() || !ids.insert(client.client_id.clone()) {
                problem(format!("clients[{i}].client_id"), "must be non-empty and unique");
            }
            match (client.app_type.is_public(), &client.client_secret) {
                (true, Some(_)) => problem(
                    format!("clients[{i}].client_secret"),
                    "spa and native clients are public and cannot have a secret",
                ),
                (false, None) => problem(
                    format!("clients[{i}].client_secret"),
                    "regular_web and non_interactive clients need a client_secret",
                ),
                (false, Some(secret)) if secret.len() < 16 => {
                    problem(format!("clients[{i}].client_secret"), "must be at least 16 characters")
                }
                _ => {}
            }
            for (j, url) in client.callbacks.iter().chain(&client.allowed_logout_urls).enumerate() {
                if !is_absolute_url(url) || url.contains('#') {
                    problem(
                        format!("clients[{i}].callbacks/allowed_logout_urls[{j}]"),
                        "must be an absolute URL without a fragment",
                    );
                }
            }
            for (j, origin) in client.allowed_origins.iter().enumerate() {
                if !is_absolute_url(origin) || origin.trim_end_matches('/').matches('/').count() != 2 {
                    problem(
                        format!("clients[{i}].allowed_origins[{j}]"),
                        "must be an origin like https://app.example.com",
                    );
                }
            }
            for (j, grant) in client.grant_types.iter().flatten().enumerate() {
                if !GRANT_TYPES.contains(&grant.as_str()) {
                    problem(format!("clients[{i}].grant_types[{j}]"), "unknown grant type");
                }
            }
        }
        let mut audiences = std::collections::BTreeSet::new();
        for (i, api) in self.apis.iter().enumerate() {
            if api.identifier.is_empty() || !audiences.insert(api.identifier.clone()) {
                problem(format!("apis[{i}].identifier"), "must be non-empty and unique");
            }
            if api.identifier == self.management_audience() {
                problem(
                    format!("apis[{i}].identifier"),
                    "is the Management API's audience, which Gatehouse defines itself",
                );
            }
            for (j, scope) in api.scopes.iter().enumerate() {
                if scope.is_empty() || scope.chars().any(char::is_whitespace) {
                    problem(format!("apis[{i}].scopes[{j}]"), "must be non-empty without whitespace");
                }
            }
            if api.token_lifetime == 0 || api.token_lifetime > 2_592_000 {
                problem(format!("apis[{i}].token_lifetime"), "must be between 1 and 2592000 seconds");
            }
        }
        let mut role_names = std::collections::BTreeSet::new();
        for (i, role) in self.roles.iter().enumerate() {
            if role.name.trim().is_empty() || !role_names.insert(role.name.clone()) {
                problem(format!("roles[{i}].name"), "must be non-empty and unique");
            }
            for (audience, permissions) in &role.permissions {
                let Some(api) = self.api(audience) else {
                    problem(format!("roles[{i}].permissions.\"{audience}\""), "names no API ([[apis]] identifier)");
                    continue;
                };
                for (j, permission) in permissions.iter().enumerate() {
                    if !api.scopes.contains(permission) {
                        problem(
                            format!("roles[{i}].permissions.\"{audience}\"[{j}]"),
                            "is not one of that API's scopes",
                        );
                    }
                }
            }
        }
        let mut org_keys = std::collections::BTreeSet::new();
        for (i, org) in self.organizations.iter().enumerate() {
            let id_ok = org
                .id
                .strip_prefix("org_")
                .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()));
            if !id_ok || !org_keys.insert(org.id.clone()) {
                problem(format!("organizations[{i}].id"), "must be unique, org_ followed by letters and digits");
            }
            let name_ok = !org.name.is_empty()
                && org.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !name_ok || !org_keys.insert(org.name.clone()) {
                problem(format!("organizations[{i}].name"), "must be unique, lower-case letters, digits, '-' and '_'");
            }
        }
        for (i, grant) in self.client_grants.iter().enumerate() {
            if !ids.contains(&grant.client_id) {
                problem(format!("client_grants[{i}].client_id"), "names no client");
            }
            if !audiences.contains(&grant.audience) && grant.audience != self.management_audience() {
                problem(format!("client_grants[{i}].audience"), "names no API");
            }
            for (j, org) in grant.organizations.iter().enumerate() {
                if self.organization(org).is_none() {
                    problem(format!("client_grants[{i}].organizations[{j}]"), "names no organization");
                }
            }
        }
        let mut emails = std::collections::BTreeSet::new();
        for (i, user) in self.users.iter().enumerate() {
            if !user.email.contains('@') || !emails.insert(user.email.to_lowercase()) {
                problem(format!("users[{i}].email"), "must be a unique email address");
            }
            if user.password.len() < 8 {
                problem(format!("users[{i}].password"), "must be at least 8 characters");
            }
        }
        if let Some(color) = &self.branding.primary_color
            && !BrandingConfig::is_color(color)
        {
            problem("branding.primary_color".to_owned(), "a colour is #rrggbb, e.g. \"#0b6e4f\"");
        }
        if let Some(logo) = &self.branding.logo_url
            && !(logo.len() > "https://".len()
                && logo.starts_with("https://")
                && !logo.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'<>\\`".contains(c)))
        {
            problem("branding.logo_url".to_owned(), "the logo is an https:// URL");
        }
        if let Some(uri) = &self.default_redirection_uri
            && !is_login_route(uri)
        {
            problem("default_redirection_uri".to_owned(), "a login route is an https:// URL (http:// on localhost)");
        }
        for (i, client) in self.clients.iter().enumerate() {
            if let Some(uri) = &client.initiate_login_uri
                && !is_login_route(uri)
            {
                problem(
                    format!("clients[{i}].initiate_login_uri"),
                    "a login route is an https:// URL (http:// on localhost)",
                );
            }
        }
        for name in self.secrets.keys() {
            if name.is_empty() || name.len() > 128 {
                problem(format!("secrets.{name}"), "secret names are 1 to 128 characters");
            }
        }
        self.email.check(&mut problems);
        problems
    }

    /// The Management API's audience: `<issuer>api/v2/`.
    pub fn management_audience(&self) -> String {
        format!("{}api/v2/", self.issuer)
    }

    /// The MFA API's audience: `<issuer>mfa/`.
    pub fn mfa_audience(&self) -> String {
        format!("{}mfa/", self.issuer)
    }

    /// The tenant name.
    pub fn tenant_name(&self) -> String {
        self.tenant.clone().unwrap_or_else(|| {
            let slug: String = self
                .friendly_name
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            slug.trim_matches('-').to_owned()
        })
    }

    /// The client with `client_id`.
    pub fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// The API with `identifier`.
    pub fn api(&self, identifier: &str) -> Option<&ApiConfig> {
        self.apis.iter().find(|a| a.identifier == identifier)
    }

    /// The organization with this id or name.
    pub fn organization(&self, id_or_name: &str) -> Option<&OrganizationConfig> {
        self.organizations.iter().find(|o| o.id == id_or_name || o.name == id_or_name)
    }
}

/// A URL a page may link to: https (http only for a loopback host, in development), with nothing that could leave
/// an HTML attribute.
fn is_login_route(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else { return false };
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let scheme_ok = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
    scheme_ok
        && parsed.host_str().is_some_and(|h| !h.is_empty())
        && !url.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'<>\\`".contains(c))
}

fn is_absolute_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else { return false };
    !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) && !rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_routes() {
        for good in ["https://app.example.com/login", "http://localhost:3000/login", "http://127.0.0.1:8080/"] {
            assert!(is_login_route(good), "{good}");
        }
        for bad in [
            "http://app.example.com/login",
            "javascript:alert(1)",
            "https://",
            "/login",
            "https://app.example.com/\"onmouseover=x",
            "http://localhost.evil.example/",
        ] {
            assert!(!is_login_route(bad), "{bad}");
        }
    }

    #[test]
    fn smtp_urls() {
        let endpoint = |url: &str| parse_smtp_url(url);
        let ok =
            |host: &str, port: u16, security: SmtpSecurity| Ok(SmtpEndpoint { host: host.to_owned(), port, security });
        assert_eq!(endpoint("smtp://mail.example.com"), ok("mail.example.com", 587, SmtpSecurity::StartTls));
        assert_eq!(endpoint("smtp://Mail.Example.com:2525/"), ok("mail.example.com", 2525, SmtpSecurity::StartTls));
        assert_eq!(endpoint("smtps://mail.example.com"), ok("mail.example.com", 465, SmtpSecurity::Tls));
        assert_eq!(endpoint("smtp://127.0.0.1:25?tls=none"), ok("127.0.0.1", 25, SmtpSecurity::None));
        assert_eq!(endpoint("smtp://[::1]:25?tls=none"), ok("::1", 25, SmtpSecurity::None));
        assert_eq!(endpoint("smtp://localhost:1025?tls=none"), ok("localhost", 1025, SmtpSecurity::None));
        for (bad, reason) in [
            ("http://mail.example.com", "the scheme is smtp://"),
            ("mail.example.com:587", "scheme"),
            ("smtp://", "no host"),
            ("smtp://user:pw@mail.example.com", "carries credentials"),
            ("smtp://mail.example.com/x", "path"),
            ("smtp://mail.example.com?tls=none", "only for a relay on this machine"),
            ("smtp://10.0.0.1?tls=none", "not 10.0.0.1"),
            ("smtps://127.0.0.1?tls=none", "contradicts smtps"),
            ("smtp://mail.example.com?tls=opportunistic", "unknown option"),
            ("smtp://mail%20example.com", "no host"),
        ] {
            let err = endpoint(bad).expect_err(bad);
            assert!(err.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn email_problems_name_the_key() {
        let problems = |email: EmailConfig| {
            let mut found = Vec::new();
            email.check(&mut found);
            found.into_iter().map(|p| p.key).collect::<Vec<_>>()
        };
        let relay = || EmailConfig { smtp_url: Some("smtp://mail.example.com".into()), ..EmailConfig::default() };
        assert!(problems(relay()).is_empty());
        assert!(problems(EmailConfig::default()).is_empty());
        let with = |user: Option<&str>, secret: Option<&str>| EmailConfig {
            smtp_username: user.map(str::to_owned),
            smtp_password_secret: secret.map(str::to_owned),
            ..relay()
        };
        assert!(problems(with(Some("mailer"), Some("SMTP_PASSWORD"))).is_empty());
        assert_eq!(problems(with(None, Some("SMTP_PASSWORD"))), ["email.smtp_password_secret"]);
        assert_eq!(problems(with(Some("mailer"), None)), ["email.smtp_username"]);
        let no_relay = EmailConfig { smtp_url: None, ..with(Some("mailer"), Some("SMTP_PASSWORD")) };
        assert_eq!(problems(no_relay), ["email.smtp_username", "email.smtp_password_secret"]);
        let bad_url = EmailConfig { smtp_url: Some("smtp://mail.example.com?tls=none".into()), ..relay() };
        assert_eq!(problems(bad_url), ["email.smtp_url"]);
        for from in ["no address", "A <a@example.com>\r\nBcc: x@example.com", " "] {
            assert_eq!(problems(EmailConfig { from: Some(from.into()), ..relay() }), ["email.from"], "{from:?}");
        }
    }

    #[test]
    fn e164_numbers() {
        for good in ["+819012345678", "+14155550123", "+81300000001"] {
            assert!(is_e164(good), "{good}");
        }
        for bad in ["819012345678", "+0312345678", "+81-90-1234-5678", "+1234567", "+1234567890123456", "+", ""] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
