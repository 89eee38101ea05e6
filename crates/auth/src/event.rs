//! Building the post-login `event` from a user, their authenticators and the request.

use gatehouse_types::config::{ClientConfig, TenantConfig};
use gatehouse_types::event::{
    Authentication, Authorization, Client, Connection, EnrolledFactor, Request, ResourceServer, Stats,
    Tenant as TenantPart, Transaction, User as UserPart,
};
use gatehouse_types::records::{Authenticator, AuthenticatorKind, User};
use gatehouse_types::{AuthMethod, FactorType, JsonMap, PostLoginEvent};
use serde_json::{Value, json};

use crate::directory::Directory;

/// The database connection every Gatehouse user belongs to.
pub const DATABASE_CONNECTION: &str = "Username-Password-Authentication";
/// Its id.
pub const DATABASE_CONNECTION_ID: &str = "con_gatehouse_database";

/// What the request contributes to the event.
#[derive(Clone, Debug, Default)]
pub struct RequestFacts {
    /// Client IP.
    pub ip: String,
    /// HTTP method.
    pub method: String,
    /// Query of the authorization request (or token request fields).
    pub query: JsonMap,
    /// Body, for token-endpoint flows.
    pub body: JsonMap,
    /// Host name.
    pub hostname: Option<String>,
    /// Browser language.
    pub language: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
}

/// What the transaction contributes to the event.
#[derive(Clone, Debug, Default)]
pub struct TransactionFacts {
    /// Public transaction id.
    pub id: Option<String>,
    /// `acr_values`.
    pub acr_values: Vec<String>,
    /// Requested scopes.
    pub requested_scopes: Vec<String>,
    /// `prompt`.
    pub prompt: Vec<String>,
    /// Protocol (`oidc-basic-profile`, `oauth2-password`, `oauth2-refresh-token`).
    pub protocol: String,
    /// Redirect URI.
    pub redirect_uri: Option<String>,
    /// The app's state.
    pub state: Option<String>,
    /// `ui_locales`.
    pub ui_locales: Vec<String>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// Response mode.
    pub response_mode: Option<String>,
    /// Response type.
    pub response_type: Vec<String>,
    /// Resolved locale.
    pub locale: Option<String>,
}

/// The factors a user can be challenged with: active authenticators, plus email when the tenant enables it and
/// the address is verified (Auth0: "all verified emails appear as email authenticators").
pub fn enrolled_factors(config: &TenantConfig, user: &User, authenticators: &[Authenticator]) -> Vec<FactorType> {
    let mut factors: Vec<FactorType> = Vec::new();
    for authenticator in authenticators.iter().filter(|a| a.active) {
        // Email codes only ever go to the account's own address (login::mfa::email_destination).
        if matches!(&authenticator.kind, AuthenticatorKind::Email { email } if !email.eq_ignore_ascii_case(&user.email))
        {
            continue;
        }
        let factor = authenticator.kind.factor();
        if !factors.contains(&factor) {
            factors.push(factor);
        }
    }
    if config.mfa.factors.contains(&FactorType::Email) && user.email_verified && !factors.contains(&FactorType::Email) {
        factors.push(FactorType::Email);
    }
    factors
}

/// `event.user.multifactor`: `guardian` once the user has an authenticator beyond email (Auth0's exact values
/// are undocumented; Gatehouse's factors are Guardian's).
pub fn multifactor_providers(authenticators: &[Authenticator]) -> Vec<String> {
    if authenticators.iter().any(|a| a.active && !matches!(a.kind, AuthenticatorKind::Email { .. })) {
        vec!["guardian".to_owned()]
    } else {
        Vec::new()
    }
}

/// `event.user`'s typed fields: an identity provider's attribute of one of these names never replaces them.
const TYPED_USER_FIELDS: &[&str] = &[
    "user_id",
    "email",
    "email_verified",
    "username",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "picture",
    "phone_number",
    "phone_verified",
    "created_at",
    "updated_at",
    "last_password_reset",
    "app_metadata",
    "user_metadata",
    "identities",
    "multifactor",
    "enrolledFactors",
];

/// The user part of the event.
pub fn user_part(config: &TenantConfig, user: &User, authenticators: &[Authenticator]) -> UserPart {
    let enrolled = enrolled_factors(config, user, authenticators)
        .into_iter()
        .map(|kind| EnrolledFactor { kind, options: None })
        .collect();
    UserPart {
        user_id: user.user_id.clone(),
        email: Some(user.email.clone()),
        email_verified: user.email_verified,
        username: user.username.clone(),
        name: user.name.clone(),
        nickname: user.nickname.clone(),
        given_name: user.given_name.clone(),
        family_name: user.family_name.clone(),
        picture: user.picture.clone(),
        phone_number: user.phone_number.clone(),
        phone_verified: user.phone_number.as_ref().map(|_| user.phone_verified),
        created_at: user.created_at.clone(),
        updated_at: user.updated_at.clone(),
        last_password_reset: user.last_password_reset.clone(),
        app_metadata: user.app_metadata.clone(),
        user_metadata: user.user_metadata.clone(),
        identities: vec![json!({
            "connection": user.connection,
            "provider": "auth0",
            "user_id": user.user_id.trim_start_matches("auth0|"),
            "isSocial": false,
        })],
        multifactor: multifactor_providers(authenticators),
        enrolled_factors: enrolled,
        // The typed fields above win over an attribute of the same name.
        extra: user
            .attributes
            .iter()
            .filter(|(k, _)| !TYPED_USER_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// The whole post-login event.
#[allow(clippy::too_many_arguments)]
pub fn post_login_event(
    config: &TenantConfig,
    secrets: &std::collections::BTreeMap<String, String>,
    client: &ClientConfig,
    user: &User,
    authenticators: &[Authenticator],
    methods: &[AuthMethod],
    audience: Option<&str>,
    request: RequestFacts,
    transaction: TransactionFacts,
    risk_assessment: Option<Value>,
    session_id: Option<&str>,
) -> PostLoginEvent {
    PostLoginEvent {
        authentication: Authentication { methods: methods.to_vec(), risk_assessment },
        authorization: Authorization { roles: user.roles.clone() },
        client: Client {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            metadata: client.metadata.clone(),
        },
        connection: Connection {
            id: DATABASE_CONNECTION_ID.to_owned(),
            name: config.connection.name.clone(),
            strategy: "auth0".to_owned(),
            metadata: Some(Default::default()),
        },
        organization: None,
        request: Request {
            ip: request.ip,
            method: request.method,
            query: request.query,
            body: request.body,
            geoip: JsonMap::new(),
            hostname: request.hostname,
            language: request.language,
            user_agent: request.user_agent,
            asn: None,
        },
        resource_server: audience.map(|a| ResourceServer { identifier: a.to_owned() }),
        secrets: secrets.clone(),
        session: session_id.map(|id| json!({ "id": id })),
        stats: Stats { logins_count: user.logins_count + 1 },
        tenant: TenantPart { id: config.tenant_name() },
        transaction: Transaction {
            id: transaction.id,
            acr_values: transaction.acr_values,
            requested_scopes: transaction.requested_scopes,
            prompt: transaction.prompt,
            protocol: Some(transaction.protocol),
            redirect_uri: transaction.redirect_uri,
            state: transaction.state,
            locale: transaction.locale,
            ui_locales: transaction.ui_locales,
            login_hint: transaction.login_hint,
            response_mode: transaction.response_mode,
            response_type: transaction.response_type,
            correlation_id: None,
            metadata: JsonMap::new(),
        },
        user: user_part(config, user, authenticators),
        refresh_token: None,
        prompt: None,
        custom_domain: None,
        security_context: None,
    }
}

/// Adaptive MFA's assessment: Gatehouse assesses `NewDevice` (a device cookie seen for this user within 30
/// days); the overall confidence is that assessment's.
pub fn risk_assessment(known_device: bool, first_login: bool) -> Value {
    let (confidence, code) = match (known_device, first_login) {
        (true, _) => ("high", "match"),
        (false, true) => ("low", "initial_login"),
        (false, false) => ("low", "no_match"),
    };
    json!({
        "confidence": confidence,
        "version": "1",
        "assessments": {
            "NewDevice": { "confidence": confidence, "code": code, "details": { "device": if known_device { "known" } else { "unknown" } } }
        }
    })
}

/// Puts the organization a login goes through in its event: `event.organization`, and the member's roles in it as
/// `event.authorization.roles` (reference §1.6, §9.1).
pub fn set_organization(directory: &Directory, event: &mut PostLoginEvent, user: &User, organization: Option<&str>) {
    let Some(org) = organization.and_then(|id| directory.organization(id)) else { return };
    event.organization = Some(gatehouse_types::event::Organization {
        id: org.id.clone(),
        name: org.name.clone(),
        display_name: org.display_name.clone(),
        metadata: org.metadata.clone(),
    });
    event.authorization.roles = crate::authorization::roles(directory, user, Some(&org.id));
}
