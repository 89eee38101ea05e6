//! The hosted login page drawn by a real browser (issue 15): Debian's Chromium through playwright-core takes a
//! screenshot in English and in Japanese (left in `target/screenshots/` to look at), and reports the fonts it drew
//! the heading with: the Japanese heading must come out of a Japanese font (scripts/e2e-deps.sh installs Debian's
//! fonts-noto-cjk), which the pages' font stack lets the system pick. Fails, never skips, without its tools.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use gatehouse_tests::{MFA_DEFAULT, Server, config, pkce, repo_root};
use serde_json::Value;

#[tokio::test]
async fn the_login_page_in_english_and_japanese_in_chromium() {
    let install = "install the end-to-end dependencies with `scripts/e2e-deps.sh` (`.ci/run` runs it)";
    assert!(std::path::Path::new("/usr/bin/chromium").exists(), "Chromium is missing: {install}");
    let fonts = Command::new("fc-list").arg(":lang=ja").output().expect("fc-list");
    assert!(!fonts.stdout.is_empty(), "no Japanese font: {install}");

    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    // The script opens /authorize in each browser context (the login transaction is bound to that browser's
    // cookie, and its language to the browser's Accept-Language), which leads to the login page.
    let (_, challenge) = pkce();
    let login = server.url(&format!(
        "authorize?client_id=test-spa&response_type=code&redirect_uri=https%3A%2F%2Fspa.example.com%2Fcallback&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256"
    ));

    let out = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&out).unwrap();
    let output = Command::new("node")
        .arg(repo_root().join("tests/js/pages-screenshot.mjs"))
        .arg(&login)
        .arg(&out)
        .current_dir(repo_root())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no result:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(result["ok"], true, "{result}");
    let ja = &result["pages"]["ja"];
    assert_eq!(ja["heading"], "ログイン", "{result}");
    let families: Vec<&str> = ja["fonts"].as_array().unwrap().iter().filter_map(|f| f["family"].as_str()).collect();
    assert!(
        families.iter().any(|f| ["CJK", "JP", "Hiragino", "Gothic"].iter().any(|k| f.contains(k))),
        "the Japanese heading was drawn with {families:?}"
    );
    assert_eq!(result["pages"]["en"]["heading"], "Log in", "{result}");
    for name in ["login-en.png", "login-ja.png"] {
        assert!(std::fs::metadata(out.join(name)).unwrap().len() > 1000, "{name} was written");
    }
}
