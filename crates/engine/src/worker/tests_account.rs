//! In-process tests of the account triggers' `api` objects: what each records, what stops a run, and that
//! post-login's `api.validation.error` still only records and denies.

use gatehouse_types::command::MetadataTarget;
use gatehouse_types::{Command, FactorSelector, FactorType, Trigger};
use serde_json::json;

use super::tests::Harness;
use crate::account::default_event;
use crate::protocol::Entry;

fn event(trigger: Trigger) -> serde_json::Value {
    default_event(trigger, &Default::default())
}

#[test]
fn pre_user_registration_denies_with_a_user_message_and_stops() {
    let mut h = Harness::for_trigger(
        Trigger::PreUserRegistration,
        &[
            r#"exports.onExecutePreUserRegistration = async (event, api) => {
                 api.user.setUserMetadata('plan', 'free').user.setAppMetadata('source', 'web');
                 if (event.user.email.endsWith('@example.com')) {
                   api.access.deny('domain_not_allowed', 'Sign-ups from this domain are closed');
                 }
               };"#,
            "exports.onExecutePreUserRegistration = async (event, api) => { api.user.setUserMetadata('late', 1); };",
        ],
    );
    let report = h.run(event(Trigger::PreUserRegistration));
    assert_eq!(report.actions.len(), 1, "a deny ends the run after its action: {report:?}");
    assert_eq!(report.actions[0].error, None);
    assert_eq!(
        report.actions[0].commands,
        vec![
            Command::SetMetadata { target: MetadataTarget::User, key: "plan".into(), value: json!("free") },
            Command::SetMetadata { target: MetadataTarget::App, key: "source".into(), value: json!("web") },
            Command::DenyRegistration {
                reason: "domain_not_allowed".into(),
                user_message: Some("Sign-ups from this domain are closed".into()),
            },
        ]
    );

    // The user message is optional.
    let mut h = Harness::for_trigger(
        Trigger::PreUserRegistration,
        &["exports.onExecutePreUserRegistration = async (event, api) => { api.access.deny('closed'); };"],
    );
    let commands = h.run(event(Trigger::PreUserRegistration)).actions[0].commands.clone();
    assert_eq!(commands, vec![Command::DenyRegistration { reason: "closed".into(), user_message: None }]);
}

#[test]
fn pre_user_registration_validation_error_is_a_command_with_auth0s_checks() {
    let mut h = Harness::for_trigger(
        Trigger::PreUserRegistration,
        &[
            "exports.onExecutePreUserRegistration = async (event, api) => { api.validation.error('bad_name', 'Pick another name'); };",
            "exports.onExecutePreUserRegistration = async (event, api) => { console.log('not reached'); };",
        ],
    );
    let report = h.run(event(Trigger::PreUserRegistration));
    assert_eq!(report.actions.len(), 1, "{report:?}");
    assert_eq!(
        report.actions[0].commands,
        vec![Command::ValidationError { code: "bad_name".into(), message: "Pick another name".into() }]
    );

    let mut h = Harness::for_trigger(
        Trigger::PreUserRegistration,
        &[
            "exports.onExecutePreUserRegistration = async (event, api) => { api.validation.error('x', 'y'.repeat(101)); };",
        ],
    );
    let error = h.run(event(Trigger::PreUserRegistration)).actions[0].error.clone().expect("error");
    assert_eq!(error.message, "TypeError: The error code and message are at most 100 characters each.");

    let mut h = Harness::for_trigger(
        Trigger::PreUserRegistration,
        &["exports.onExecutePreUserRegistration = async (event, api) => { api.validation.error(42, 'y'); };"],
    );
    let error = h.run(event(Trigger::PreUserRegistration)).actions[0].error.clone().expect("error");
    assert_eq!(error.message, "TypeError: The error code must be a string.");
}

#[test]
fn post_login_validation_error_still_records_and_denies() {
    let mut h = Harness::for_trigger(
        Trigger::PostLogin,
        &["exports.onExecutePostLogin = async (event, api) => { api.validation.error('code', 'message'); };"],
    );
    let commands = h.run(super::tests::event()).actions[0].commands.clone();
    assert_eq!(
        commands,
        vec![
            Command::Deny { reason: "message".into() },
            Command::Record { api: "validation.error".into(), args: vec![json!("code"), json!("message")] },
        ]
    );
}

#[test]
fn each_trigger_gets_only_its_own_api() {
    let shape = |trigger: Trigger| {
        let code = format!(
            "exports.{} = async (event, api) => {{ \
               const keys = (o) => Object.keys(o).sort().join(','); \
               console.log(Object.keys(api).sort().map((k) => k + '(' + keys(api[k]) + ')').join(' ')); \
             }};",
            trigger.handler()
        );
        let mut h = Harness::for_trigger(trigger, &[&code]);
        let report = h.run(event(trigger));
        assert_eq!(report.actions[0].error, None, "{trigger}");
        h.logs().join("\n")
    };
    assert_eq!(
        shape(Trigger::PreUserRegistration),
        "access(deny) cache(delete,get,set) user(setAppMetadata,setUserMetadata) validation(error)"
    );
    assert_eq!(shape(Trigger::PostUserRegistration), "cache(delete,get,set)");
    assert_eq!(shape(Trigger::PostChangePassword), "cache(delete,get,set)");
    assert_eq!(
        shape(Trigger::PasswordResetPostChallenge),
        "access(deny) authentication(challengeWith,challengeWithAny) cache(delete,get,set) \
         redirect(encodeToken,sendUserTo,validateToken)"
    );
}

#[test]
fn the_event_is_read_only() {
    let mut h = Harness::for_trigger(
        Trigger::PreUserRegistration,
        &[r#"exports.onExecutePreUserRegistration = async (event, api) => {
               'use strict';
               event.user.email = 'someone@else.example';
             };"#],
    );
    let error = h.run(event(Trigger::PreUserRegistration)).actions[0].error.clone().expect("error");
    assert!(error.message.starts_with("TypeError"), "{}", error.message);
}

#[test]
fn post_challenge_challenges_denies_and_redirects_like_post_login() {
    let mut h = Harness::for_trigger(
        Trigger::PasswordResetPostChallenge,
        &[
            "exports.onExecutePostChallenge = async (event, api) => { api.authentication.challengeWith({ type: 'otp' }); };",
            "exports.onExecutePostChallenge = async (event, api) => { api.access.deny('Resets are closed'); };",
        ],
    );
    let report = h.run(event(Trigger::PasswordResetPostChallenge));
    assert_eq!(report.actions.len(), 1, "a challenge ends the run: {report:?}");
    assert_eq!(
        report.actions[0].commands,
        vec![Command::ChallengeWith { factor: FactorSelector::of(FactorType::Otp), additional_factors: Vec::new() }]
    );
    // Resumed at the next action.
    let report = h.run_from(event(Trigger::PasswordResetPostChallenge), 1, Entry::Execute);
    assert_eq!(report.actions.len(), 1);
    assert_eq!(report.actions[0].index, 1);
    assert_eq!(report.actions[0].commands, vec![Command::Deny { reason: "Resets are closed".into() }]);

    let mut h = Harness::for_trigger(
        Trigger::PasswordResetPostChallenge,
        &[r#"exports.onExecutePostChallenge = async (event, api) => {
               api.redirect.sendUserTo('https://verify.example.com/start', { query: { user: event.user.user_id } });
             };
             exports.onContinuePostChallenge = async (event, api) => {
               console.log('back with ' + event.request.query.answer);
             };"#],
    );
    let report = h.run(event(Trigger::PasswordResetPostChallenge));
    assert_eq!(
        report.actions[0].commands,
        vec![Command::Redirect { url: "https://verify.example.com/start?user=auth0%7Cfixture-user".into() }]
    );
    let mut back = event(Trigger::PasswordResetPostChallenge);
    back["request"]["query"] = json!({ "answer": "yes" });
    let report = h.run_from(back, 0, Entry::Continue);
    assert_eq!(report.actions[0].error, None, "{report:?}");
    assert_eq!(h.logs().last().map(String::as_str), Some("back with yes"));
}
