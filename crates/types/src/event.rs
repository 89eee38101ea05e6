//! The post-login `event` (trigger version v3), as typed Rust structs.
//!
//! Every part a script may read without a guard is a non-optional field with a default, so an action written
//! against Auth0's shape (`event.transaction.requested_scopes.includes(...)`,
//! `event.authorization.roles.includes(...)`) never meets `undefined` where Auth0 gives an array or object.
//! Optional parts (`organization`, `resource_server`, `authentication.riskAssessment`...) are absent in JSON when
//! not set, exactly as in Auth0.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::JsonMap;
use crate::factor::FactorType;

/// The post-login event. See reference §1.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostLoginEvent {
    /// Methods completed in this session, and the risk assessment.
    #[serde(default)]
    pub authentication: Authentication,
    /// The user's roles.
    #[serde(default)]
    pub authorization: Authorization,
    /// The application the user logs in to.
    #[serde(default)]
    pub client: Client,
    /// The connection the user authenticated with.
    #[serde(default)]
    pub connection: Connection,
    /// The organization of the transaction, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Organization>,
    /// The HTTP request that started (or resumed) the flow.
    #[serde(default)]
    pub request: Request,
    /// The API (audience) requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_server: Option<ResourceServer>,
    /// The action's secrets.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// The SSO session, when one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<serde_json::Value>,
    /// Login statistics.
    #[serde(default)]
    pub stats: Stats,
    /// The tenant.
    #[serde(default)]
    pub tenant: Tenant,
    /// The authorization transaction.
    #[serde(default)]
    pub transaction: Transaction,
    /// The user.
    #[serde(default)]
    pub user: User,
    /// The refresh token being exchanged, on `oauth2-refresh-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<serde_json::Value>,
    /// Data collected by a custom prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<serde_json::Value>,
    /// The custom domain in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_domain: Option<serde_json::Value>,
    /// TLS fingerprints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<serde_json::Value>,
}

/// `event.authentication`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    /// Methods completed during the session, first factor first.
    #[serde(default)]
    pub methods: Vec<AuthMethod>,
    /// Adaptive MFA's risk assessment (free-form, see reference §1.2).
    #[serde(rename = "riskAssessment", default, skip_serializing_if = "Option::is_none")]
    pub risk_assessment: Option<serde_json::Value>,
}

/// One completed authentication method: `{ name: 'pwd', timestamp }` or `{ name: 'mfa', type: 'otp', timestamp }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthMethod {
    /// `pwd`, `federated`, `passkey`, `sms`, `email`, `mfa`, or a custom method URL.
    pub name: String,
    /// ISO-8601 time it was completed.
    pub timestamp: String,
    /// The factor used, only when `name` is `mfa`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FactorType>,
}

/// `event.authorization`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Role names assigned to the user.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `event.client`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// The client id.
    #[serde(default)]
    pub client_id: String,
    /// The application name.
    #[serde(default)]
    pub name: String,
    /// Client metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// `event.connection`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Connection id.
    #[serde(default)]
    pub id: String,
    /// Connection name, e.g. `Username-Password-Authentication`.
    #[serde(default)]
    pub name: String,
    /// Strategy, `auth0` for database connections.
    #[serde(default)]
    pub strategy: String,
    /// Connection metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `event.organization`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    /// `org_...` id.
    pub id: String,
    /// Machine name.
    #[serde(default)]
    pub name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Organization metadata (string values).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// `event.request`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Originating IP.
    #[serde(default)]
    pub ip: String,
    /// HTTP method.
    #[serde(default)]
    pub method: String,
    /// Query string of the authorization request.
    #[serde(default)]
    pub query: JsonMap,
    /// POST body, where there is one.
    #[serde(default)]
    pub body: JsonMap,
    /// Geolocation of the IP.
    #[serde(default)]
    pub geoip: JsonMap,
    /// Host name used for the flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Language requested by the browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Autonomous system number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<String>,
}

/// `event.resource_server`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServer {
    /// The API identifier (audience).
    pub identifier: String,
}

/// `event.stats`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Number of logins including this one.
    #[serde(default)]
    pub logins_count: u64,
}

/// `event.tenant`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Tenant name.
    #[serde(default)]
    pub id: String,
}

/// `event.transaction`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    /// Transaction id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `acr_values` of the request.
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// Scopes requested.
    #[serde(default)]
    pub requested_scopes: Vec<String>,
    /// `prompt` values of the request.
    #[serde(default)]
    pub prompt: Vec<String>,
    /// `oidc-basic-profile`, `oauth2-password`, `oauth2-refresh-token`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Redirect URI of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// The application's `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Resolved locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// `ui_locales` of the request.
    #[serde(default)]
    pub ui_locales: Vec<String>,
    /// `login_hint` of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// `query`, `fragment`, `form_post` or `web_message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mode: Option<String>,
    /// `code`, `token`, `id_token`.
    #[serde(default)]
    pub response_type: Vec<String>,
    /// Correlation id of the initial request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Transaction metadata shared between actions (`api.transaction.setMetadata`).
    #[serde(default)]
    pub metadata: JsonMap,
}

/// `event.user`: the fields Auth0 documents, typed, and whatever other root attributes the identity provider
/// supplied (`groups`, SAML or social profile attributes) in [`User::extra`], kept as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// `auth0|...`.
    #[serde(default)]
    pub user_id: String,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email address is verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Nickname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Picture URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// Phone number (E.164).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether the phone number is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_verified: Option<bool>,
    /// Creation time.
    #[serde(default)]
    pub created_at: String,
    /// Last update time.
    #[serde(default)]
    pub updated_at: String,
    /// Last password reset, database users only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_password_reset: Option<String>,
    /// Access-affecting metadata.
    #[serde(default)]
    pub app_metadata: JsonMap,
    /// User preferences.
    #[serde(default)]
    pub user_metadata: JsonMap,
    /// Linked identities.
    #[serde(default)]
    pub identities: Vec<serde_json::Value>,
    /// MFA providers the user is enrolled with (`guardian`, `google-authenticator`).
    #[serde(default)]
    pub multifactor: Vec<String>,
    /// Active enrolled factors.
    #[serde(rename = "enrolledFactors", default)]
    pub enrolled_factors: Vec<EnrolledFactor>,
    /// Other root attributes (an enterprise directory's `groups`, SAML or social profile attributes).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One active factor: `{ type: 'phone', options: {...} }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolledFactor {
    /// Factor type.
    #[serde(rename = "type")]
    pub kind: FactorType,
    /// Factor details (`{ phone_number }` masked, `{ email }` masked...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<JsonMap>,
}

impl PostLoginEvent {
    /// Whether the user has an active enrollment of `kind`.
    pub fn is_enrolled(&self, kind: FactorType) -> bool {
        self.user.enrolled_factors.iter().any(|f| f.kind == kind)
    }
}
