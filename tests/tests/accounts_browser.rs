//! Sign-up, email verification and password reset in a real browser (issue 16): Debian's Chromium through
//! playwright-core, in English and Japanese, screenshots left in `target/screenshots/` to look at. The password
//! reset asks for an email code first (a password-reset-post-challenge action). The password
//! rules are ticked by the page's script as the user types, which only runs if the page's CSP allows its hash.
//! Fails, never skips, without its tools.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use gatehouse_tests::{MFA_DEFAULT, Server, config, repo_root};
use serde_json::{Value, json};

#[test]
fn sign_up_verify_and_reset_in_chromium() {
    let install = "install the end-to-end dependencies with `scripts/e2e-deps.sh` (`.ci/run` runs it)";
    assert!(std::path::Path::new("/usr/bin/chromium").exists(), "Chromium is missing: {install}");
    // A reset needs an email code first: the post-challenge action's challenge, on the login's MFA pages.
    let challenge = "exports.onExecutePostChallenge = async (event, api) => {\n  api.authentication.challengeWith({ type: 'email' });\n};\n";
    let server = Server::start_with_triggers(
        &config(MFA_DEFAULT, "[connection]\npassword_policy = \"good\"\n"),
        &[("password-reset-post-challenge", "10-email-code.js", challenge)],
    );
    let out = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(server.outbox()).unwrap();
    let output = Command::new("node")
        .arg(repo_root().join("tests/js/accounts-browser.mjs"))
        .arg(&server.issuer)
        .arg(server.outbox())
        .arg(&out)
        .current_dir(repo_root())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no result:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(result["ok"], true, "{result}");
    for (lang, signup, verified, challenge, reset, changed) in [
        (
            "en",
            "Create your account",
            "Your email address is verified",
            "Verify your identity",
            "Choose a new password",
            "Your password was changed",
        ),
        (
            "ja",
            "アカウントを作成",
            "メールアドレスを確認しました",
            "本人確認",
            "新しいパスワードを設定",
            "パスワードを変更しました",
        ),
    ] {
        let run = &result[lang];
        assert_eq!(run["signup_heading"], signup, "{run}");
        // "good": at least 8 characters and three of four classes, which "abc" misses; the strong password meets
        // every rule.
        let weak: Vec<bool> = serde_json::from_value(run["weak"].clone()).unwrap();
        assert!(weak.len() >= 2 && !weak[0] && !weak[1], "{run}");
        let strong: Vec<bool> = serde_json::from_value(run["strong"].clone()).unwrap();
        assert!(strong.len() >= 2 && strong.iter().all(|t| *t), "{run}");
        assert_eq!(run["callback_has_code"], true, "{run}");
        assert_eq!(run["verified_heading"], verified, "{run}");
        assert_eq!(run["challenge_heading"], challenge, "{run}");
        assert_eq!(run["reset_heading"], reset, "{run}");
        let ticked: Vec<bool> = serde_json::from_value(run["reset_ticked"].clone()).unwrap();
        assert!(ticked.len() >= 2 && ticked.iter().all(|t| *t), "{run}");
        assert_eq!(run["changed_heading"], changed, "{run}");
        assert_eq!(run["csp_violations"], json!([]), "{run}");
    }
    for name in ["signup-en.png", "signup-ja.png", "reset-challenge-ja.png", "reset-ja.png", "verified-ja.png"] {
        assert!(std::fs::metadata(out.join(name)).unwrap().len() > 1000, "{name} was written");
    }
}
