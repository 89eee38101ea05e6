//! Finding 1: parallel password guessing must not get past the lockout.

use gatehouse_tests::{Browser, MFA_DEFAULT, Server, config, join_all};

use crate::common::{PASSWORD, password_grant, web_authorize_url};

/// 40 wrong password grants at once: the count is reserved before each check, so exactly ten passwords are
/// checked (nine answered `invalid_grant`, the tenth reaching the limit answers the block) and the other 30 are
/// refused unchecked; then the right password is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_password_guesses_lock_the_account() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let guesses = (0..40).map(|i| {
        let server = &server;
        async move { password_grant(server, "jane@example.com", &format!("wrong-{i}"), "openid").await }
    });
    let answers = join_all(guesses).await;
    let wrong = answers.iter().filter(|(s, b)| *s == 403 && b["error"] == "invalid_grant").count();
    let blocked = answers.iter().filter(|(s, b)| *s == 429 && b["error"] == "too_many_attempts").count();
    assert_eq!((wrong, blocked), (9, 31), "{answers:?}");
    let (status, body) = password_grant(&server, "jane@example.com", PASSWORD, "openid").await;
    assert_eq!((status, body["error"].as_str()), (429, Some("too_many_attempts")), "{body}");
}

/// Ten wrong guesses at once leave the count at ten: the eleventh attempt is refused, right password or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_parallel_guesses_count_ten() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let guesses = (0..10).map(|i| {
        let server = &server;
        async move { password_grant(server, "jane@example.com", &format!("wrong-{i}"), "openid").await }
    });
    let answers = join_all(guesses).await;
    let counted = answers.iter().filter(|(s, _)| *s == 403 || *s == 429).count();
    assert_eq!(counted, 10, "{answers:?}");
    let (status, _) = password_grant(&server, "jane@example.com", PASSWORD, "openid").await;
    assert_eq!(status, 429, "the eleventh attempt, with the right password, is refused");
}

/// 30 wrong posts of the hosted login form at once: nine say "wrong password", the rest "blocked", and the right
/// password is then refused on the form too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_login_form_guesses_lock_the_account() {
    let server = Server::start(&config(MFA_DEFAULT, ""), &[]);
    let browser = Browser::new(&server);
    let page = browser.follow(browser.get(&web_authorize_url(&server, "openid", "")).await).await;
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    let guesses = (0..30).map(|i| {
        let (browser, page) = (&browser, &page);
        async move {
            let password = format!("wrong-{i}");
            browser.submit(page, "/u/login", &[("email", "jane@example.com"), ("password", &password)]).await
        }
    });
    let pages = join_all(guesses).await;
    let wrong = pages.iter().filter(|p| p.body.contains("Wrong email or password")).count();
    let blocked = pages.iter().filter(|p| p.body.contains("has been blocked")).count();
    assert_eq!((wrong, blocked), (9, 21));
    let page = browser.submit(&page, "/u/login", &[("email", "jane@example.com"), ("password", PASSWORD)]).await;
    assert!(page.body.contains("has been blocked"), "the right password after the block: {}", page.body);
}
