//! The hosted pages' chrome and wording (issue 15): the tenant's name and `[branding]`, friendly error headings,
//! the signed-out page in the user's language, the Japanese font stack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gatehouse_tests::{MFA_DEFAULT, Server, config};

fn branded() -> String {
    config(MFA_DEFAULT, "[branding]\nlogo_url = \"https://cdn.example.com/logo.png\"\nprimary_color = \"#0b6e4f\"\n")
}

#[tokio::test]
async fn pages_carry_the_tenants_name_logo_and_colour() {
    let server = Server::start(&branded(), &[]);
    let http = reqwest::Client::new();
    let page = http.get(server.url("authorize?client_id=nobody&response_type=code")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let body = page.text().await.unwrap();
    assert!(body.contains("<title>This sign-in link does not work | Gatehouse Test</title>"), "{body}");
    assert!(body.contains("<footer>Gatehouse Test</footer>"), "{body}");
    assert!(
        body.contains(r#"<img class="logo" src="https://cdn.example.com/logo.png" alt="Gatehouse Test">"#),
        "{body}"
    );
    assert!(
        body.contains("background:#0b6e4f") && !body.contains("#4f46e5"),
        "the primary colour replaces the default"
    );
    assert!(body.contains("'Hiragino Sans','Noto Sans JP','Yu Gothic',sans-serif"), "the Japanese font stack");
    assert!(csp.contains("img-src data: https://cdn.example.com;"), "{csp}");
    // A friendly heading, the code small for support; never the code as the heading.
    assert!(body.contains("<h1>This sign-in link does not work</h1>"), "{body}");
    assert!(!body.contains("<h1>invalid_request"), "{body}");
    assert!(body.contains("<code>invalid_request</code>"), "{body}");

    let ja = http
        .get(server.url("authorize?client_id=nobody&response_type=code"))
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ja.contains("<h1>このサインインのリンクは使えません</h1>"), "{ja}");
}

#[tokio::test]
async fn logout_without_return_to_shows_a_page_in_the_users_language() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let http = reqwest::Client::new();
    let en = http.get(server.url("v2/logout")).send().await.unwrap();
    assert_eq!(en.status(), 200);
    assert!(en.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let en = en.text().await.unwrap();
    assert!(en.contains("<h1>You are signed out</h1>") && en.contains("<footer>Gatehouse Test</footer>"), "{en}");
    let ja = http.get(server.url("v2/logout")).header("accept-language", "ja,en;q=0.5").send().await.unwrap();
    let ja = ja.text().await.unwrap();
    assert!(ja.contains("<html lang=\"ja\">") && ja.contains("<h1>サインアウトしました</h1>"), "{ja}");
}

#[test]
fn branding_is_checked_when_the_configuration_loads() {
    for (extra, key) in [
        ("[branding]\nprimary_color = \"red;}body{display:none\"\n", "branding.primary_color"),
        ("[branding]\nlogo_url = \"http://cdn.example.com/logo.png\"\n", "branding.logo_url"),
        ("[branding]\nlogo_url = \"https://x.example/\\\"><script>\"\n", "branding.logo_url"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gatehouse.toml"), config(MFA_DEFAULT, extra)).unwrap();
        let output = std::process::Command::new(gatehouse_tests::gatehouse_bin())
            .args(["serve", "--config"])
            .arg(dir.path().join("gatehouse.toml"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(key), "{extra}: {stderr}");
    }
}

#[tokio::test]
async fn error_pages_link_to_the_applications_login_route() {
    let portal = r#"[[clients]]
client_id = "test-portal"
name = "Portal"
app_type = "regular_web"
client_secret = "test-portal-secret-0123456789"
callbacks = ["https://portal.example.com/callback"]
initiate_login_uri = "https://portal.example.com/login"
"#;
    // `default_redirection_uri` is a top-level key: it must come before the first table of the file.
    let toml = format!("default_redirection_uri = \"https://www.example.com/login\"\n{}", config(MFA_DEFAULT, portal));
    let server = Server::start(&toml, &[]);
    let http = reqwest::Client::new();
    let page = |path: &'static str, lang: &'static str| {
        let http = http.clone();
        let url = server.url(path);
        async move { http.get(url).header("accept-language", lang).send().await.unwrap().text().await.unwrap() }
    };

    // The client is known (its redirect URI is not): its own login route.
    let known =
        page("authorize?client_id=test-portal&response_type=code&redirect_uri=https://evil.example/cb", "en").await;
    assert!(known.contains(r#"<a class="button" href="https://portal.example.com/login">Start again</a>"#), "{known}");
    assert!(!known.contains("Go back to the application"), "{known}");
    let ja =
        page("authorize?client_id=test-portal&response_type=code&redirect_uri=https://evil.example/cb", "ja").await;
    assert!(ja.contains(r#"href="https://portal.example.com/login">最初からやり直す</a>"#), "{ja}");

    // A known client without a login route, an unknown client and an expired login: the tenant's default route.
    for path in [
        "authorize?client_id=test-spa&response_type=code&redirect_uri=https://evil.example/cb",
        "authorize?client_id=nobody&response_type=code",
        "u/login?state=no-such-login",
    ] {
        let body = page(path, "en").await;
        assert!(
            body.contains(r#"<a class="button" href="https://www.example.com/login">Start again</a>"#),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn without_a_login_route_error_pages_say_to_go_back() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let body = reqwest::get(server.url("u/login?state=no-such-login")).await.unwrap().text().await.unwrap();
    assert!(body.contains("Go back to the application and try again.") && !body.contains("class=\"button\""), "{body}");
}

#[test]
fn a_login_route_must_be_https() {
    let toml = format!(
        "default_redirection_uri = \"http://www.example.com/login\"\n{}",
        config(
            MFA_DEFAULT,
            "[[clients]]\nclient_id = \"p\"\nname = \"P\"\napp_type = \"spa\"\ninitiate_login_uri = \"javascript:alert(1)\"\n"
        )
    );
    let config: gatehouse_types::config::TenantConfig = toml::from_str(&toml).unwrap();
    let problems = config.validate().into_iter().map(|p| format!("{}: {}", p.key, p.reason)).collect::<Vec<_>>();
    assert!(
        problems.iter().any(|p| p.starts_with("default_redirection_uri: a login route is an https://")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.starts_with("clients[3].initiate_login_uri: ")), "{problems:?}");
}
