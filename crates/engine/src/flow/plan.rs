//! Planning a prompt when its turn comes: which requested factors are usable, with Auth0's `w` and `mfar`
//! messages.

use std::collections::BTreeSet;

use gatehouse_types::{Command, FactorSelector, FactorType, PostLoginEvent, Prompt, PromptCommand, TenantLog};

use super::*;

pub(super) enum Planned {
    Prompt(Prompt, Vec<TenantLog>),
    Skip(Vec<TenantLog>),
    Fail(String, Vec<TenantLog>),
}

pub(super) const CHALLENGE_MFAR: &str = "An MFA challenge is used in a PostLogin action but the requested factors are not properly \
     set up. To perform MFA, enable the requested factors and ensure the user is enrolled with them.";
pub(super) const ENROLL_MFAR: &str = "An MFA enrollment is used in a PostLogin action but the requested factors are not properly \
     set up. To perform MFA, enable the requested factors and ensure the user is not already enrolled with them.";
pub(super) const ENROLL_NEEDS_CHALLENGE: &str = "An MFA enrollment was requested but the user is already enrolled in MFA. \
     Challenge with at least one existing factor before enrolling a new one.";

fn challenge_warning(factor: FactorType) -> TenantLog {
    TenantLog::new(
        "w",
        format!(
            "An MFA challenge is used in a PostLogin action, but the requested factor {factor} is not properly set up. \
             Enable the requested factor and ensure the user is enrolled with it."
        ),
    )
}

fn enroll_warning(factor: FactorType) -> TenantLog {
    TenantLog::new(
        "w",
        format!(
            "An MFA enrollment is used in a PostLogin action, but the requested factor {factor} is not properly set up. \
             Enable the requested factor and ensure the user is not already enrolled with it."
        ),
    )
}

/// Reference 4.3: a challenge one of whose factors was already completed in this transaction is ignored. The host's
/// planning (below) and the worker's running on past such a challenge ([`crate::protocol::RunOn`]) both decide with
/// this, so the two cannot drift apart.
pub(crate) fn challenge_already_satisfied(command: &Command, completed: impl Fn(FactorType) -> bool) -> bool {
    match command {
        Command::ChallengeWith { factor, additional_factors } => {
            std::iter::once(factor).chain(additional_factors).any(|f| completed(f.kind))
        }
        Command::ChallengeWithAny { factors } => factors.iter().any(|f| completed(f.kind)),
        _ => false,
    }
}

/// Decides what one MFA command asks of the user, given what is enabled, enrolled and already done.
pub(super) fn plan_prompt(
    command: &Command,
    event: &PostLoginEvent,
    acc: &Accumulated,
    enabled: &BTreeSet<FactorType>,
) -> Planned {
    let (kind, requested): (PromptCommand, Vec<FactorSelector>) = match command {
        Command::ChallengeWith { factor, additional_factors } => {
            (PromptCommand::ChallengeWith, std::iter::once(factor.clone()).chain(additional_factors.clone()).collect())
        }
        Command::ChallengeWithAny { factors } => (PromptCommand::ChallengeWithAny, factors.clone()),
        Command::EnrollWith { factor, additional_factors } => {
            (PromptCommand::EnrollWith, std::iter::once(factor.clone()).chain(additional_factors.clone()).collect())
        }
        Command::EnrollWithAny { factors } => (PromptCommand::EnrollWithAny, factors.clone()),
        _ => return Planned::Skip(Vec::new()),
    };
    let mut usable: Vec<FactorSelector> = Vec::new();
    let mut warnings = Vec::new();
    if kind.is_enrollment() {
        let has_enrollments = !event.user.enrolled_factors.is_empty();
        let only_email = event.user.enrolled_factors.iter().all(|f| f.kind == FactorType::Email);
        if has_enrollments && !only_email && acc.completed.is_empty() {
            return Planned::Fail(ENROLL_NEEDS_CHALLENGE.to_owned(), Vec::new());
        }
        let mut already = 0;
        for factor in requested.iter() {
            let enrolled = event.is_enrolled(factor.kind) || acc.enrolled.contains(&factor.kind);
            if !enabled.contains(&factor.kind) || factor.kind == FactorType::Email {
                warnings.push(enroll_warning(factor.kind));
            } else if enrolled {
                already += 1;
                warnings.push(enroll_warning(factor.kind));
            } else if !usable.iter().any(|u| u.kind == factor.kind) {
                usable.push(factor.clone());
            }
        }
        if usable.is_empty() {
            return if already > 0 && already == requested.len() {
                Planned::Skip(warnings)
            } else {
                Planned::Fail(ENROLL_MFAR.to_owned(), warnings)
            };
        }
    } else {
        if challenge_already_satisfied(command, |kind| acc.completed.contains(&kind)) {
            return Planned::Skip(Vec::new());
        }
        for factor in requested.iter() {
            if !enabled.contains(&factor.kind) || !event.is_enrolled(factor.kind) {
                warnings.push(challenge_warning(factor.kind));
            } else if !usable.iter().any(|u| u.kind == factor.kind) {
                usable.push(factor.clone());
            }
        }
        if usable.is_empty() {
            return Planned::Fail(CHALLENGE_MFAR.to_owned(), warnings);
        }
    }
    let (factors, additional_factors) = match kind {
        PromptCommand::ChallengeWith | PromptCommand::EnrollWith => {
            let mut rest = usable;
            let first = rest.remove(0);
            (vec![first], rest)
        }
        _ => (usable, Vec::new()),
    };
    Planned::Prompt(
        Prompt { action: String::new(), command: kind, factors, additional_factors, url: None, completed_with: None },
        warnings,
    )
}
