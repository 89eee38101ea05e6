//! The Management API of the authorization directory (seed 004), in-process: roles and their permissions and
//! users, organizations with members, member roles, connections and client grants, client grants, resource-server
//! settings; each change seen at once in tokens. Auth0's paths, bodies, pagination and error shapes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use gatehouse_auth::clock::ManualClock;
use gatehouse_auth::tenant::Tenant;
use gatehouse_server::AppState;
use gatehouse_store::SledStore;
use gatehouse_tests::{MFA_DEFAULT, config, jwt_payload, open_tenant};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const API: &str = "https://api.example.com/";
const SCOPES: &[&str] = &[
    "read:roles",
    "create:roles",
    "update:roles",
    "delete:roles",
    "read:users",
    "update:users",
    "read:organizations",
    "create:organizations",
    "update:organizations",
    "delete:organizations",
    "read:organization_members",
    "create:organization_members",
    "delete:organization_members",
    "read:organization_member_roles",
    "create:organization_member_roles",
    "delete:organization_member_roles",
    "read:organization_connections",
    "create:organization_connections",
    "delete:organization_connections",
    "read:organization_client_grants",
    "create:organization_client_grants",
    "delete:organization_client_grants",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:resource_servers",
    "update:resource_servers",
];

fn directory_config() -> String {
    let scopes: Vec<String> = SCOPES.iter().map(|s| format!("\"{s}\"")).collect();
    let text = config(
        MFA_DEFAULT,
        &format!(
            r#"
[[clients]]
client_id = "test-admin"
name = "Test Admin"
app_type = "non_interactive"
client_secret = "test-admin-secret-0123456789"

[[client_grants]]
client_id = "test-admin"
audience = "http://127.0.0.1:0/api/v2/"
scopes = [{}]

[[clients]]
client_id = "reporting"
name = "Reporting job"
app_type = "non_interactive"
client_secret = "reporting-secret-0123456789"
"#,
            scopes.join(", ")
        ),
    );
    text.replace(
        "client_id = \"test-spa\"\nname = \"Test SPA\"",
        "client_id = \"test-spa\"\nname = \"Test SPA\"\norganization_usage = \"allow\"",
    )
}

struct Api {
    tenant: Arc<Tenant>,
    app: axum::Router,
    token: String,
    _dir: tempfile::TempDir,
}

async fn form(app: &axum::Router, fields: &[(&str, &str)]) -> (u16, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let request = http::Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

impl Api {
    async fn new() -> Api {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("actions").join("post-login")).unwrap();
        let clock = Arc::new(ManualClock::starting_now());
        let text = directory_config();
        let tenant = Arc::new(open_tenant(&text, dir.path(), Arc::new(SledStore::temporary().unwrap()), clock).await);
        let app = gatehouse_server::app(AppState { tenant: tenant.clone() });
        let (status, body) = form(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "test-admin"),
                ("client_secret", "test-admin-secret-0123456789"),
                ("audience", "http://127.0.0.1:0/api/v2/"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        Api { tenant, app, token: body["access_token"].as_str().unwrap().to_owned(), _dir: dir }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json");
        let request = builder.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn user_id(&self, email: &str) -> String {
        self.tenant.store.find_user_by_email(email).await.unwrap().unwrap().user_id
    }

    /// A password-grant token of `email` for the API.
    async fn password(&self, email: &str, scope: &str) -> Value {
        let (status, body) = form(
            &self.app,
            &[
                ("grant_type", "password"),
                ("client_id", "test-web"),
                ("client_secret", "test-web-secret-0123456789"),
                ("username", email),
                ("password", "correct-horse-battery"),
                ("audience", API),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn reporting(&self, organization: Option<&str>) -> (u16, Value) {
        let mut fields = vec![
            ("grant_type", "client_credentials"),
            ("client_id", "reporting"),
            ("client_secret", "reporting-secret-0123456789"),
            ("audience", API),
        ];
        if let Some(org) = organization {
            fields.push(("organization", org));
        }
        form(&self.app, &fields).await
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
}

#[tokio::test]
async fn roles_and_their_permissions_reach_tokens_through_rbac() {
    let api = Api::new().await;
    // RBAC on, permissions in the token: through the resource server's settings.
    let (status, body) = api
        .call(
            "PATCH",
            &format!("/api/v2/resource-servers/{}", enc(API)),
            Some(json!({ "enforce_policies": true, "token_dialect": "access_token_authz" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["enforce_policies"].as_bool(), body["token_dialect"].as_str()),
        (Some(true), Some("access_token_authz"))
    );
    // Without a role, taro gets none of the API's scopes.
    assert_eq!(api.password("taro@example.com", "read:data write:data").await["scope"], "");

    let (status, role) =
        api.call("POST", "/api/v2/roles", Some(json!({ "name": "editor", "description": "Edits data" }))).await;
    assert_eq!(status, 200, "{role}");
    let id = role["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rol_"), "{role}");
    let (status, body) = api.call("POST", "/api/v2/roles", Some(json!({ "name": "editor" }))).await;
    assert_eq!(status, 409, "one name, one role: {body}");

    // Permissions must be scopes of an API that exists.
    let perm = |name: &str, api: &str| json!({ "permissions": [{ "resource_server_identifier": api, "permission_name": name }] });
    let (status, body) =
        api.call("POST", &format!("/api/v2/roles/{id}/permissions"), Some(perm("fly:data", API))).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        api.call("POST", &format!("/api/v2/roles/{id}/permissions"), Some(perm("read:data", "https://nope/"))).await;
    assert_eq!((status, body["errorCode"].as_str()), (404, Some("inexistent_resource_server")), "{body}");
    for p in ["read:data", "write:data"] {
        let (status, _) = api.call("POST", &format!("/api/v2/roles/{id}/permissions"), Some(perm(p, API))).await;
        assert_eq!(status, 201);
    }
    let (_, listed) = api.call("GET", &format!("/api/v2/roles/{id}/permissions"), None).await;
    assert_eq!(listed[0]["permission_name"], "read:data");
    assert_eq!(listed[0]["resource_server_name"], "Test API");

    // taro gets the role: the token has both scopes and lists the permissions.
    let taro = api.user_id("taro@example.com").await;
    let (status, _) =
        api.call("POST", &format!("/api/v2/users/{}/roles", enc(&taro)), Some(json!({ "roles": [id] }))).await;
    assert_eq!(status, 204);
    let token = api.password("taro@example.com", "read:data write:data").await;
    assert_eq!(token["scope"], "read:data write:data");
    assert_eq!(
        strings(&jwt_payload(token["access_token"].as_str().unwrap())["permissions"]),
        ["read:data", "write:data"]
    );
    let (_, perms) = api.call("GET", &format!("/api/v2/users/{}/permissions", enc(&taro)), None).await;
    assert_eq!(perms[1]["permission_name"], "write:data");
    assert_eq!(perms[1]["sources"][0]["source_name"], "editor", "{perms}");
    let (_, holders) = api.call("GET", &format!("/api/v2/roles/{id}/users"), None).await;
    assert_eq!(holders[0]["user_id"], taro.as_str());

    // A renamed role stays with its users; one permission fewer is one scope fewer.
    let (status, _) = api.call("PATCH", &format!("/api/v2/roles/{id}"), Some(json!({ "name": "writer" }))).await;
    assert_eq!(status, 200);
    let (_, roles) = api.call("GET", &format!("/api/v2/users/{}/roles", enc(&taro)), None).await;
    assert_eq!(roles[0]["name"], "writer", "{roles}");
    let (status, _) =
        api.call("DELETE", &format!("/api/v2/roles/{id}/permissions"), Some(perm("write:data", API))).await;
    assert_eq!(status, 200);
    assert_eq!(api.password("taro@example.com", "read:data write:data").await["scope"], "read:data");

    // Deleted: taro loses it; the role is gone with Auth0's error shape.
    let (status, _) = api.call("DELETE", &format!("/api/v2/roles/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(api.password("taro@example.com", "read:data").await["scope"], "");
    let (status, body) = api.call("GET", &format!("/api/v2/roles/{id}"), None).await;
    assert_eq!(status, 404);
    assert_eq!((body["error"].as_str(), body["errorCode"].as_str()), (Some("Not Found"), Some("inexistent_role")));
    assert_eq!(api.tenant.store.find_user(&taro).await.unwrap().unwrap().roles, ["viewer"], "his other label stays");
}

#[tokio::test]
async fn lists_paginate_as_auth0_does_and_scopes_are_checked() {
    let api = Api::new().await;
    for i in 0..5 {
        let (status, _) = api.call("POST", "/api/v2/roles", Some(json!({ "name": format!("role-{i}") }))).await;
        assert_eq!(status, 200);
    }
    let (_, page) = api.call("GET", "/api/v2/roles?page=1&per_page=2&include_totals=true", None).await;
    assert_eq!((page["start"].as_u64(), page["limit"].as_u64(), page["total"].as_u64()), (Some(2), Some(2), Some(5)));
    let names: Vec<&str> = page["roles"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["role-2", "role-3"]);
    let (_, filtered) = api.call("GET", "/api/v2/roles?name_filter=ROLE-4", None).await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    let (status, body) = api.call("GET", "/api/v2/roles?per_page=101", None).await;
    assert_eq!((status, body["errorCode"].as_str()), (400, Some("invalid_query_string")));
    let (status, body) = api.call("POST", "/api/v2/roles", Some(json!({ "name": "x", "colour": "red" }))).await;
    assert_eq!(status, 400, "{body}");

    // A token without the scope: 403 in Auth0's words.
    let (_, token) = form(
        &api.app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "test-admin"),
            ("client_secret", "test-admin-secret-0123456789"),
            ("audience", "http://127.0.0.1:0/api/v2/"),
            ("scope", "read:users"),
        ],
    )
    .await;
    let weak = Api { token: token["access_token"].as_str().unwrap().to_owned(), ..api };
    let (status, body) = weak.call("GET", "/api/v2/roles", None).await;
    assert_eq!(status, 403);
    assert_eq!(body["message"], "Insufficient scope, expected any of: read:roles");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_creates_of_one_role_name_make_one_role() {
    let api = Arc::new(Api::new().await);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.call("POST", "/api/v2/roles", Some(json!({ "name": "auditor" }))).await.0
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    let (_, roles) = api.call("GET", "/api/v2/roles", None).await;
    assert_eq!(roles.as_array().unwrap().len(), 1, "{roles}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_role_assignments_to_one_user_are_all_kept() {
    let api = Arc::new(Api::new().await);
    let taro = api.user_id("taro@example.com").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let (status, role) = api.call("POST", "/api/v2/roles", Some(json!({ "name": format!("team-{i}") }))).await;
        assert_eq!(status, 200, "{role}");
        ids.push(role["id"].as_str().unwrap().to_owned());
    }
    // Eight assignments at once, each of its own role: every one stays (each used to write back the roles it read).
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let api = api.clone();
        let path = format!("/api/v2/users/{}/roles", enc(&taro));
        tasks.push(tokio::spawn(async move { api.call("POST", &path, Some(json!({ "roles": [id] }))).await.0 }));
    }
    for task in tasks {
        assert!(matches!(task.await.unwrap(), 200 | 204));
    }
    let (_, roles) = api.call("GET", &format!("/api/v2/users/{}/roles", enc(&taro)), None).await;
    let names: Vec<&str> = roles.as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    for i in 0..8 {
        assert!(names.contains(&format!("team-{i}").as_str()), "{roles}");
    }
    // Deleting a role takes it from its holders and leaves the rest.
    assert!(matches!(api.call("DELETE", &format!("/api/v2/roles/{}", ids[0]), None).await.0, 200 | 204));
    let (_, roles) = api.call("GET", &format!("/api/v2/users/{}/roles", enc(&taro)), None).await;
    let names: Vec<&str> = roles.as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(!names.contains(&"team-0") && names.contains(&"team-7"), "{roles}");
}

#[tokio::test]
async fn organizations_members_roles_connections_and_client_grants() {
    let api = Api::new().await;
    let (status, body) = api.call("POST", "/api/v2/organizations", Some(json!({ "name": "Not Valid" }))).await;
    assert_eq!(status, 400, "{body}");
    let (status, org) = api
        .call(
            "POST",
            "/api/v2/organizations",
            Some(json!({ "name": "initech", "display_name": "Initech", "metadata": { "plan": "pro" } })),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    let org_id = org["id"].as_str().unwrap().to_owned();
    assert!(org_id.starts_with("org_"));
    let (status, _) = api.call("POST", "/api/v2/organizations", Some(json!({ "name": "initech" }))).await;
    assert_eq!(status, 409);
    let (_, by_name) = api.call("GET", "/api/v2/organizations/name/initech", None).await;
    assert_eq!(by_name["id"], org_id.as_str());

    // Members and their roles in the organization.
    let jane = api.user_id("jane@example.com").await;
    let (status, body) = api
        .call("POST", &format!("/api/v2/organizations/{org_id}/members"), Some(json!({ "members": ["auth0|nobody"] })))
        .await;
    assert_eq!((status, body["errorCode"].as_str()), (404, Some("inexistent_user")));
    let (status, _) =
        api.call("POST", &format!("/api/v2/organizations/{org_id}/members"), Some(json!({ "members": [jane] }))).await;
    assert_eq!(status, 204);
    let (_, role) = api.call("POST", "/api/v2/roles", Some(json!({ "name": "initech-admin" }))).await;
    let role_id = role["id"].as_str().unwrap();
    let roles_path = format!("/api/v2/organizations/{org_id}/members/{}/roles", enc(&jane));
    let (status, _) = api.call("POST", &roles_path, Some(json!({ "roles": [role_id] }))).await;
    assert_eq!(status, 204);
    let (_, roles) = api.call("GET", &roles_path, None).await;
    assert_eq!(roles[0]["name"], "initech-admin");
    let (_, members) =
        api.call("GET", &format!("/api/v2/organizations/{org_id}/members?include_totals=true"), None).await;
    assert_eq!(
        (members["total"].as_u64(), members["members"][0]["email"].as_str()),
        (Some(1), Some("jane@example.com"))
    );
    let directory = api.tenant.directory();
    assert_eq!(directory.membership(&org_id, &jane).unwrap().roles, ["initech-admin"]);

    // A login through it needs the database connection enabled (none is, for an organization made here).
    let authorize = |org: &str| {
        let (_, challenge) = gatehouse_tests::pkce();
        format!(
            "/authorize?client_id=test-spa&response_type=code&redirect_uri={}&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256&organization={org}",
            enc(gatehouse_tests::SPA_CALLBACK)
        )
    };
    let location = |uri: String| {
        let app = api.app.clone();
        async move {
            let response = app.oneshot(http::Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
            response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned()
        }
    };
    let refused = location(authorize("initech")).await;
    assert!(refused.contains("error=invalid_request") && refused.contains("no+enabled+connection"), "{refused}");
    let (_, connections) = api.call("GET", &format!("/api/v2/organizations/{org_id}/enabled_connections"), None).await;
    assert_eq!(connections, json!([]));
    let (status, body) = api
        .call(
            "POST",
            &format!("/api/v2/organizations/{org_id}/enabled_connections"),
            Some(json!({ "connection_id": "con_gatehouse_database", "assign_membership_on_login": false })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = api
        .call(
            "POST",
            &format!("/api/v2/organizations/{org_id}/enabled_connections"),
            Some(json!({ "connection_id": "con_other" })),
        )
        .await;
    assert_eq!(status, 404);
    assert!(location(authorize("initech")).await.starts_with("/u/login"), "the login page now");

    // Client credentials for the organization: a grant that allows organizations, associated with it.
    let (status, grant) = api
        .call(
            "POST",
            "/api/v2/client-grants",
            Some(json!({ "client_id": "reporting", "audience": API, "scope": ["read:data"], "organization_usage": "allow" })),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    let (status, _) = api
        .call("POST", "/api/v2/client-grants", Some(json!({ "client_id": "reporting", "audience": API, "scope": [] })))
        .await;
    assert_eq!(status, 409, "one grant per client and API");
    let (status, token) = api.reporting(None).await;
    assert_eq!(status, 200, "{token}");
    let (status, body) = api.reporting(Some("initech")).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")), "not associated yet: {body}");
    let grant_id = grant["id"].as_str().unwrap();
    let (status, _) = api
        .call("POST", &format!("/api/v2/organizations/{org_id}/client-grants"), Some(json!({ "grant_id": grant_id })))
        .await;
    assert_eq!(status, 201);
    let (status, token) = api.reporting(Some("initech")).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(jwt_payload(token["access_token"].as_str().unwrap())["org_id"], org_id.as_str());

    // Scopes of the grant change at once; a deleted grant is refused.
    let (status, _) = api
        .call(
            "PATCH",
            &format!("/api/v2/client-grants/{grant_id}"),
            Some(json!({ "scope": ["read:data", "write:data"] })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(api.reporting(None).await.1["scope"], "read:data write:data");
    let (_, listed) = api.call("GET", "/api/v2/client-grants?client_id=reporting", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // The organization deleted: its memberships go, tokens for it are refused.
    let (status, _) = api.call("DELETE", &format!("/api/v2/organizations/{org_id}"), None).await;
    assert_eq!(status, 204);
    assert!(api.tenant.directory().membership(&org_id, &jane).is_none());
    let (status, _) = api.reporting(Some("initech")).await;
    assert_eq!(status, 400);
    let (status, _) = api.call("DELETE", &format!("/api/v2/client-grants/{grant_id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(api.reporting(None).await.0, 403);
}
