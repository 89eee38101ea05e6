//! The account triggers through the API the sign-up and password reset flows call (`auth::actions::Actions`), with
//! the real sandbox workers: folders loaded and hot-reloaded like the others, a missing folder meaning no actions,
//! deny and validation errors, metadata, a thrown error with its secret redacted, the time limit, and a reset that
//! pauses on a challenge and a redirect and resumes where it stopped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_auth::actions::{Actions, Reload};
use gatehouse_engine::account::{complete_challenge, continue_after_redirect, default_event};
use gatehouse_engine::fixture::StubIo;
use gatehouse_engine::flow::FlowSettings;
use gatehouse_engine::sandbox::{Limits, Sandbox};
use gatehouse_tests::sandbox_config;
use gatehouse_types::account::AccountResult;
use gatehouse_types::{FactorType, PromptCommand, Trigger};
use serde_json::{Value, json};

/// An actions folder with `files` (`(trigger folder, file name, code)`), loaded with a 2-second deadline.
fn actions(dir: &Path, files: &[(&str, &str, &str)]) -> Actions {
    write(dir, files);
    let sandbox = Sandbox::new(sandbox_config(2));
    let settings =
        FlowSettings { limits: Limits { timeout: Duration::from_secs(2), memory_mb: 128 }, ..FlowSettings::default() };
    Actions::load(dir, settings, sandbox, Arc::new(StubIo::new(Vec::new())), Arc::new(StubIo::new(Vec::new()))).unwrap()
}

fn write(dir: &Path, files: &[(&str, &str, &str)]) {
    for (folder, name, code) in files {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        std::fs::write(dir.join(folder).join(name), code).unwrap();
    }
}

fn event(trigger: Trigger, secrets: &[(&str, &str)]) -> Value {
    let secrets = secrets.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    default_event(trigger, &secrets)
}

const SIGNUP: &str = r#"
exports.onExecutePreUserRegistration = async (event, api) => {
  if (event.user.email.endsWith('@blocked.example')) {
    return api.access.deny('blocked_domain', 'Sign-ups from this domain are closed');
  }
  if (event.user.email.startsWith('admin@')) {
    return api.validation.error('reserved_name', 'This address is reserved');
  }
  if (event.user.email.startsWith('crash@')) {
    throw new Error('CRM key ' + event.secrets.CRM_KEY + ' was refused');
  }
  if (event.user.email.startsWith('spin@')) {
    while (true) {}
  }
  api.user.setUserMetadata('language', event.transaction.locale).user.setAppMetadata('plan', 'trial');
};
"#;

#[tokio::test]
async fn pre_user_registration_decides_what_the_sign_up_flow_applies() {
    let dir = tempfile::tempdir().unwrap();
    let actions = actions(dir.path(), &[("pre-user-registration", "10-signup.js", SIGNUP)]);
    let secrets = [("CRM_KEY", "crm_live_0a1b2c3d")];
    let signup = |email: &str| {
        let mut event = event(Trigger::PreUserRegistration, &secrets);
        event["user"]["email"] = json!(email);
        event
    };

    let outcome = actions.run_account_trigger(Trigger::PreUserRegistration, signup("new@example.com")).await;
    assert_eq!(outcome.result, AccountResult::Allow, "{outcome:?}");
    assert_eq!(Value::Object(outcome.user_metadata.clone()), json!({ "language": "en" }));
    assert_eq!(Value::Object(outcome.app_metadata.clone()), json!({ "plan": "trial" }));
    assert_eq!(outcome.executions.len(), 1);
    assert_eq!(outcome.executions[0].commands, ["user.setUserMetadata(language)", "user.setAppMetadata(plan)"]);

    let outcome = actions.run_account_trigger(Trigger::PreUserRegistration, signup("x@blocked.example")).await;
    assert_eq!(outcome.result, AccountResult::Deny);
    assert_eq!(outcome.reason.as_deref(), Some("blocked_domain"));
    assert_eq!(outcome.user_message.as_deref(), Some("Sign-ups from this domain are closed"));
    assert_eq!(outcome.code, None);

    let outcome = actions.run_account_trigger(Trigger::PreUserRegistration, signup("admin@example.com")).await;
    assert_eq!(outcome.result, AccountResult::Deny);
    assert_eq!(outcome.code.as_deref(), Some("reserved_name"));
    assert_eq!(outcome.user_message.as_deref(), Some("This address is reserved"));
    assert!(outcome.user_metadata.is_empty());

    let outcome = actions.run_account_trigger(Trigger::PreUserRegistration, signup("crash@example.com")).await;
    assert_eq!(outcome.result, AccountResult::Failed);
    let reason = outcome.reason.unwrap();
    assert!(reason.starts_with("Error: CRM key [REDACTED] was refused"), "{reason}");
    assert!(!format!("{:?}", outcome.executions).contains("crm_live"), "{:?}", outcome.executions);
    assert_eq!(outcome.failed_action.as_deref(), Some("10-signup.js"));

    let outcome = actions.run_account_trigger(Trigger::PreUserRegistration, signup("spin@example.com")).await;
    assert_eq!(outcome.result, AccountResult::Failed);
    assert_eq!(outcome.reason.as_deref(), Some("Action execution exceeded the 2000 ms time limit"));

    // The worker killed at the deadline is replaced: the next sign-up runs.
    let outcome = actions.run_account_trigger(Trigger::PreUserRegistration, signup("again@example.com")).await;
    assert_eq!(outcome.result, AccountResult::Allow, "{outcome:?}");
}

#[tokio::test]
async fn missing_folders_mean_no_actions_and_new_ones_are_hot_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let actions = actions(dir.path(), &[]);
    for trigger in [
        Trigger::PreUserRegistration,
        Trigger::PostUserRegistration,
        Trigger::PostChangePassword,
        Trigger::PasswordResetPostChallenge,
    ] {
        let outcome = actions.run_account_trigger(trigger, event(trigger, &[])).await;
        assert_eq!(outcome.result, AccountResult::Allow, "{trigger}");
        assert!(outcome.executed.is_empty());
    }
    write(
        dir.path(),
        &[(
            "post-change-password",
            "10-log.js",
            "exports.onExecutePostChangePassword = async (event) => { console.log('changed ' + event.user.user_id); };",
        )],
    );
    let reloads = actions.reload_changed();
    assert!(
        reloads.iter().any(|r| matches!(r, Reload::Replaced { trigger: Trigger::PostChangePassword, actions } if actions == &["10-log.js"])),
        "{reloads:?}"
    );
    let outcome =
        actions.run_account_trigger(Trigger::PostChangePassword, event(Trigger::PostChangePassword, &[])).await;
    assert_eq!(outcome.result, AccountResult::Allow);
    assert_eq!(outcome.logs[0].message, "changed auth0|fixture-user");

    // A broken file is refused; the last good version keeps running.
    write(
        dir.path(),
        &[("post-change-password", "10-log.js", "exports.onExecutePostChangePassword = async (event) => {")],
    );
    let reloads = actions.reload_changed();
    assert!(
        reloads.iter().any(|r| matches!(r, Reload::Refused { trigger: Trigger::PostChangePassword, .. })),
        "{reloads:?}"
    );
    let outcome =
        actions.run_account_trigger(Trigger::PostChangePassword, event(Trigger::PostChangePassword, &[])).await;
    assert_eq!(outcome.logs[0].message, "changed auth0|fixture-user");
}

const CHALLENGE: &str = r#"
exports.onExecutePostChallenge = async (event, api) => {
  api.authentication.challengeWithAny([{ type: 'otp' }, { type: 'email' }]);
};
"#;

const CHECK: &str = r#"
exports.onExecutePostChallenge = async (event, api) => {
  const mfa = event.authentication.methods.filter((m) => m.name === 'mfa').map((m) => m.type);
  console.log('completed: ' + mfa.join(','));
  api.redirect.sendUserTo('https://check.example.com/', { query: { user: event.user.user_id } });
};
exports.onContinuePostChallenge = async (event, api) => {
  if (event.request.query.verdict !== 'ok') {
    api.access.deny('The check did not pass.');
  }
};
"#;

#[tokio::test]
async fn a_reset_pauses_on_a_challenge_and_a_redirect_and_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let actions = actions(
        dir.path(),
        &[
            ("password-reset-post-challenge", "10-challenge.js", CHALLENGE),
            ("password-reset-post-challenge", "20-check.js", CHECK),
        ],
    );
    let trigger = Trigger::PasswordResetPostChallenge;
    let mut event = event(trigger, &[]);

    let first = actions.run_account_trigger(trigger, event.clone()).await;
    assert_eq!(first.result, AccountResult::Challenge, "{first:?}");
    let challenge = first.challenge.clone().unwrap();
    assert_eq!(challenge.command, PromptCommand::ChallengeWithAny);
    assert_eq!(challenge.offered().collect::<Vec<_>>(), [FactorType::Otp, FactorType::Email]);
    let resume = first.resume.clone().unwrap();
    assert_eq!((resume.next_action, resume.is_continue), (1, false));
    assert_eq!(first.executed, ["10-challenge.js"]);

    // The user completes OTP: the run goes on with the next action, which redirects.
    complete_challenge(&mut event, FactorType::Otp);
    let second = actions.resume_account_trigger(trigger, event.clone(), &resume).await;
    assert_eq!(second.result, AccountResult::Redirect, "{second:?}");
    assert_eq!(second.redirect.as_deref(), Some("https://check.example.com/?user=auth0%7Cfixture-user"));
    assert_eq!(second.executed, ["20-check.js"]);
    assert_eq!(second.logs[0].message, "completed: otp");
    let resume = second.resume.clone().unwrap();
    assert_eq!((resume.next_action, resume.is_continue), (1, true));

    // Back from the redirect: onContinuePostChallenge decides.
    let mut failed_check = event.clone();
    continue_after_redirect(
        &mut failed_check,
        [("verdict".to_owned(), json!("no"))].into_iter().collect(),
        Default::default(),
    );
    let denied = actions.resume_account_trigger(trigger, failed_check, &resume).await;
    assert_eq!(denied.result, AccountResult::Deny);
    assert_eq!(denied.user_message.as_deref(), Some("The check did not pass."));

    continue_after_redirect(
        &mut event,
        [("verdict".to_owned(), json!("ok"))].into_iter().collect(),
        Default::default(),
    );
    let done = actions.resume_account_trigger(trigger, event.clone(), &resume).await;
    assert_eq!(done.result, AccountResult::Allow, "{done:?}");
    assert!(done.resume.is_none());

    // A flow edited while the reset was paused fails closed rather than skipping or repeating actions.
    write(
        dir.path(),
        &[("password-reset-post-challenge", "15-new.js", "exports.onExecutePostChallenge = async () => {};")],
    );
    actions.reload_changed();
    let stale = actions.resume_account_trigger(trigger, event, &resume).await;
    assert_eq!(stale.result, AccountResult::Failed);
    assert!(stale.reason.unwrap().contains("changed while this request was paused"));
}
