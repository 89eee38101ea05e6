//! In-process tests of the sandbox context: the same code a worker process runs, driven directly.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc;

use gatehouse_types::command::{MetadataTarget, TokenKind};
use gatehouse_types::{Command, FactorSelector, FactorType, Trigger};
use serde_json::json;

use super::host::Outbox;
use super::realm::{FlowContext, MAX_DELETED_GLOBALS};
use crate::actions::flow_spec;
use crate::protocol::{ActionSource, Entry, EventJson, FromWorker, RunOn, RunReport, RunRequest, ToWorker};

#[derive(Default)]
struct Collect(RefCell<Vec<FromWorker>>);

impl Outbox for Collect {
    fn send(&self, message: &FromWorker) {
        self.0.borrow_mut().push(message.clone());
    }
}

pub(super) struct Harness {
    context: FlowContext,
    outbox: Rc<Collect>,
    inbox: mpsc::Receiver<ToWorker>,
    _sender: mpsc::Sender<ToWorker>,
    flow: crate::protocol::FlowSpec,
}

impl Harness {
    /// A harness over a flow loaded from disk the way the host loads it (modules resolved and read).
    pub(super) fn load(dir: &std::path::Path) -> Harness {
        let flow = crate::actions::load_folder(dir, Trigger::PostLogin).expect("the flow loads");
        let outbox = Rc::new(Collect::default());
        let context = FlowContext::new(&flow, outbox.clone()).expect("context");
        let (sender, inbox) = mpsc::channel();
        Harness { context, outbox, inbox, _sender: sender, flow }
    }

    fn new(actions: &[&str]) -> Harness {
        Harness::for_trigger(Trigger::PostLogin, actions)
    }

    /// A harness over `actions` written for `trigger`.
    pub(super) fn for_trigger(trigger: Trigger, actions: &[&str]) -> Harness {
        let sources = actions
            .iter()
            .enumerate()
            .map(|(i, code)| ActionSource {
                name: format!("{i}.js"),
                path: format!("actions/{i}.js"),
                code: (*code).to_owned(),
            })
            .collect();
        let flow = flow_spec(trigger, sources);
        let outbox = Rc::new(Collect::default());
        let context = FlowContext::new(&flow, outbox.clone()).expect("context");
        let (sender, inbox) = mpsc::channel();
        Harness { context, outbox, inbox, _sender: sender, flow }
    }

    pub(super) fn run(&mut self, event: serde_json::Value) -> RunReport {
        self.run_from(event, 0, Entry::Execute)
    }

    /// Runs from action `start`, its handler chosen by `entry`.
    pub(super) fn run_from(&mut self, event: serde_json::Value, start: usize, entry: Entry) -> RunReport {
        self.run_with(event, start, entry, RunOn::default())
    }

    /// Runs from action `start`, going on past the challenges `run_on` lets through.
    fn run_with(&mut self, event: serde_json::Value, start: usize, entry: Entry, run_on: RunOn) -> RunReport {
        // As the worker does: the report first, then the reset.
        let report = self.run_unreset(event, start, entry, run_on);
        self.context.reset();
        report
    }

    /// Runs without the reset the worker does after each report.
    fn run_unreset(&mut self, event: serde_json::Value, start: usize, entry: Entry, run_on: RunOn) -> RunReport {
        let request = RunRequest {
            run_id: 1,
            flow: self.flow.clone(),
            start,
            entry,
            // As a worker receives it: the text of the frame.
            event: EventJson::encode(&event).expect("the event encodes"),
            cache: Default::default(),
            run_on,
        };
        self.context.run(request, &mut self.inbox)
    }

    pub(super) fn logs(&self) -> Vec<String> {
        self.outbox
            .0
            .borrow()
            .iter()
            .filter_map(|m| match m {
                FromWorker::Log { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }
}

pub(super) fn event() -> serde_json::Value {
    json!({
        "user": { "user_id": "auth0|1", "app_metadata": {}, "user_metadata": {}, "enrolledFactors": [{"type": "otp"}] },
        "transaction": { "requested_scopes": ["openid"], "acr_values": [], "prompt": [], "metadata": {} },
        "authorization": { "roles": ["admin"] },
        "request": { "ip": "127.0.0.1", "query": { "scope": "openid write:data" }, "hostname": "login.example.com" },
        "secrets": {}
    })
}

#[test]
fn records_commands_in_call_order() {
    let mut h = Harness::new(&[r#"
        exports.onExecutePostLogin = async (event, api) => {
          api.idToken.setCustomClaim('https://example.com/roles', event.authorization.roles);
          api.accessToken.addScope('read:data');
          api.user.setAppMetadata('plan', 'gold');
          api.authentication.challengeWith({ type: 'otp' }, { additionalFactors: [{ type: 'email' }] });
        };
    "#]);
    let report = h.run(event());
    assert_eq!(report.actions.len(), 1);
    assert_eq!(report.actions[0].error, None);
    assert_eq!(
        report.actions[0].commands,
        vec![
            Command::SetCustomClaim {
                token: TokenKind::Id,
                name: "https://example.com/roles".into(),
                value: json!(["admin"])
            },
            Command::ModifyScope { change: gatehouse_types::ScopeChange::Add, scope: "read:data".into() },
            Command::SetMetadata { target: MetadataTarget::App, key: "plan".into(), value: json!("gold") },
            Command::ChallengeWith {
                factor: FactorSelector::of(FactorType::Otp),
                additional_factors: vec![FactorSelector::of(FactorType::Email)],
            },
        ]
    );
}

#[test]
fn stops_after_the_action_that_pauses() {
    let mut h = Harness::new(&[
        "exports.onExecutePostLogin = (event, api) => { api.authentication.challengeWith({ type: 'otp' }); };",
        "exports.onExecutePostLogin = (event, api) => { api.access.deny('should not run yet'); };",
    ]);
    let report = h.run(event());
    assert_eq!(report.actions.len(), 1, "{report:?}");
}

#[test]
fn runs_on_only_past_a_challenge_whose_factor_is_completed_within_the_cap() {
    let mut h = Harness::new(&[
        "exports.onExecutePostLogin = (event, api) => { api.authentication.challengeWith({ type: 'otp' }); };",
        "exports.onExecutePostLogin = (event, api) => { \
           api.authentication.challengeWithAny([{ type: 'email' }, { type: 'phone' }]); };",
        "exports.onExecutePostLogin = (event, api) => { api.idToken.setCustomClaim('n', 3); };",
    ]);
    let ran = |h: &mut Harness, completed: &[FactorType], mfa_budget| {
        let run_on = RunOn { completed: completed.to_vec(), mfa_budget };
        h.run_with(event(), 0, Entry::Execute, run_on).actions.iter().map(|a| a.index).collect::<Vec<_>>()
    };
    // Nothing completed: the first challenge ends the run, as always.
    assert_eq!(ran(&mut h, &[], 4), [0]);
    // Another factor completed: otp still has to be asked.
    assert_eq!(ran(&mut h, &[FactorType::Email], 4), [0]);
    // otp completed: past action 0; action 1 asks for email or phone, neither completed.
    assert_eq!(ran(&mut h, &[FactorType::Otp], 4), [0, 1]);
    // Any one factor of a challengeWithAny is enough.
    assert_eq!(ran(&mut h, &[FactorType::Otp, FactorType::Phone], 4), [0, 1, 2]);
    // The host's cap would fail the flow at the second command: the run stops where the host must decide.
    assert_eq!(ran(&mut h, &[FactorType::Otp, FactorType::Phone], 1), [0, 1]);
    assert_eq!(ran(&mut h, &[FactorType::Otp, FactorType::Phone], 0), [0]);

    // Enrollment, a redirect and a denial are never run past, whatever is completed.
    let mut h = Harness::new(&[
        "exports.onExecutePostLogin = (event, api) => { api.authentication.challengeWith({ type: 'otp' }); \
           api.authentication.enrollWith({ type: 'phone' }); };",
        "exports.onExecutePostLogin = (event, api) => { api.idToken.setCustomClaim('n', 3); };",
    ]);
    assert_eq!(ran(&mut h, &[FactorType::Otp, FactorType::Phone], 4), [0]);
    for stop in ["api.redirect.sendUserTo('https://example.com/x')", "api.access.deny('no')"] {
        let mut h = Harness::new(&[
            &format!(
                "exports.onExecutePostLogin = (event, api) => {{ api.authentication.challengeWith({{ type: 'otp' }}); {stop}; }};"
            ),
            "exports.onExecutePostLogin = (event, api) => { api.idToken.setCustomClaim('n', 3); };",
        ]);
        assert_eq!(ran(&mut h, &[FactorType::Otp], 4), [0], "{stop}");
    }
}

#[test]
fn reports_errors_with_the_line_in_the_action_file() {
    let mut h = Harness::new(&[
        "exports.onExecutePostLogin = async (event, api) => {\n  const x = 1;\n  event.nope.deeper;\n};",
    ]);
    let report = h.run(event());
    let error = report.actions[0].error.clone().expect("error");
    assert!(error.message.starts_with("TypeError"), "{}", error.message);
    assert_eq!(error.line, Some(3), "{error:?}");
}

#[test]
fn validates_arguments_like_auth0() {
    let mut h = Harness::new(&[
        "exports.onExecutePostLogin = (event, api) => { api.accessToken.setCustomClaim('scope', 'x'); };",
    ]);
    let error = h.run(event()).actions[0].error.clone().expect("error");
    assert_eq!(error.message, "Error: The \"scope\" claim cannot be set.");

    let mut h = Harness::new(&["exports.onExecutePostLogin = (event, api) => { api.accessToken.addScope('a b'); };"]);
    let error = h.run(event()).actions[0].error.clone().expect("error");
    assert_eq!(error.message, "Error: The value for the scope must not have whitespace.");

    let mut h = Harness::new(&[
        "exports.onExecutePostLogin = (event, api) => { api.authentication.challengeWith({ type: 'sms' }); };",
    ]);
    let error = h.run(event()).actions[0].error.clone().expect("error");
    assert!(error.message.starts_with("TypeError: Invalid factor type 'sms'"), "{}", error.message);
}

#[test]
fn event_is_frozen_and_always_has_arrays() {
    let mut h = Harness::new(&[r#"
        exports.onExecutePostLogin = (event, api) => {
          'use strict';
          console.log(Object.isFrozen(event), Object.isFrozen(event.user.app_metadata), Array.isArray(event.transaction.prompt));
          try { event.user.name = 'x'; } catch (e) { console.log(e.name); }
        };
    "#]);
    let report = h.run(event());
    assert_eq!(report.actions[0].error, None);
    assert_eq!(h.logs(), vec!["true true true", "TypeError"]);
}

#[test]
fn event_is_deep_frozen_plain_data_in_json_order() {
    let mut h = Harness::new(&[r#"
        exports.onExecutePostLogin = (event, api) => {
          const problems = [];
          const walk = (value, path) => {
            if (value === null || typeof value !== 'object') return;
            if (!Object.isFrozen(value)) problems.push(path + ' is not frozen');
            const proto = Array.isArray(value) ? Array.prototype : Object.prototype;
            if (Object.getPrototypeOf(value) !== proto) problems.push(path + ' has another prototype');
            for (const key of Reflect.ownKeys(value)) {
              const d = Object.getOwnPropertyDescriptor(value, key);
              const where = path + '.' + String(key);
              if (where === 'event.transaction.metadata') {
                if (!d.get || d.set || d.configurable || !d.enumerable) problems.push(where + ' is not a frozen getter');
              } else if (Array.isArray(value) && key === 'length') {
                if (d.writable || d.configurable) problems.push(where + ' is writable');
              } else if (!('value' in d) || d.writable || d.configurable || !d.enumerable) {
                problems.push(where + ' is not a read-only enumerable data property');
              }
              walk(d.value, where);
            }
          };
          walk(event, 'event');
          console.log(problems.join('; ') || 'ok');
          console.log(Object.keys(event).join(','), Object.keys(event.transaction).join(','));
          console.log(JSON.stringify(event.user), JSON.stringify(event.request.query));
        };
    "#]);
    let report = h.run(event());
    assert_eq!(report.actions[0].error, None);
    assert_eq!(
        h.logs(),
        vec![
            "ok",
            "user,transaction,authorization,request,secrets requested_scopes,acr_values,prompt,metadata",
            r#"{"user_id":"auth0|1","app_metadata":{},"user_metadata":{},"enrolledFactors":[{"type":"otp"}]} {"scope":"openid write:data"}"#,
        ]
    );
}

#[test]
fn nothing_stored_in_globals_or_prototypes_reaches_the_next_login() {
    let mut h = Harness::new(&[r#"
        let counter = 0;
        exports.onExecutePostLogin = (event, api) => {
          counter += 1;
          console.log(String(counter), String(globalThis.leaked), String(typeof implicitGlobal), String([].polluted), String(JSON.parse.tag));
          globalThis.leaked = 'yes';
          implicitGlobal = 1;
          try { Array.prototype.polluted = 'yes'; } catch (e) {}
          try { JSON.parse.tag = 'yes'; } catch (e) {}
          try { Object.defineProperty(Object.prototype, 'evil', { value: 1 }); } catch (e) { console.log('defineProperty refused'); }
        };
    "#]);
    assert!(h.context.globals_fixed(), "lockdown left a configurable global");
    h.run(event());
    h.run(event());
    let logs = h.logs();
    assert_eq!(logs[0], "1 undefined undefined undefined undefined");
    assert_eq!(logs[1], "defineProperty refused");
    assert_eq!(logs[2], "1 undefined undefined undefined undefined", "{logs:?}");
}

#[test]
fn nothing_attached_to_a_kept_event_part_reaches_the_next_login() {
    // The worker keeps the frozen parts of earlier events and gives them to later runs whose text is the same
    // (`worker/event.rs`): here `client`, `request` and `authentication.riskAssessment` are the same objects in both
    // logins. Everything a script could hang on one of them is refused.
    let mut h = Harness::new(&[r#"
        'use strict';
        exports.onExecutePostLogin = (event, api) => {
          const parts = [event.client, event.request, event.request.query, event.authentication.riskAssessment,
            event.authentication.riskAssessment.assessments, event.user.enrolledFactors, event.transaction.requested_scopes];
          const accepted = [];
          parts.forEach((part, i) => {
            const tries = {
              set: () => { part.stash = event.user.user_id; },
              define: () => Object.defineProperty(part, 'stash', { value: event.user.user_id }),
              proto: () => Object.setPrototypeOf(part, { stash: event.user.user_id }),
              change: () => { part[Object.keys(part)[0]] = event.user.user_id; },
              remove: () => { delete part[Object.keys(part)[0]]; },
              private: () => {
                class Base { constructor(o) { return o; } }
                class Stamp extends Base { #stash = event.user.user_id; }
                new Stamp(part);
              },
            };
            for (const [name, attempt] of Object.entries(tries)) {
              try { attempt(); accepted.push(i + ':' + name); } catch (e) {}
            }
          });
          const clean = parts.every((part) => part.stash === undefined &&
            Object.getPrototypeOf(part) === (Array.isArray(part) ? Array.prototype : Object.prototype));
          console.log(event.user.user_id, accepted.join(','), String(clean), JSON.stringify(event.client));
        };
    "#]);
    let login = |user: &str| {
        let mut event = event();
        event["user"]["user_id"] = json!(user);
        event["client"] = json!({ "client_id": "app", "name": "App", "metadata": { "tier": "gold" } });
        event["authentication"] = json!({
            "methods": [{ "name": "pwd", "timestamp": "2026-12-03T00:00:00.000Z" }],
            "riskAssessment": { "confidence": "high", "assessments": { "NewDevice": { "confidence": "high" } } }
        });
        event
    };
    h.run(login("auth0|first"));
    h.run(login("auth0|second"));
    let client = r#"{"client_id":"app","name":"App","metadata":{"tier":"gold"}}"#;
    assert_eq!(h.logs(), [format!("auth0|first  true {client}"), format!("auth0|second  true {client}")]);
}

#[test]
fn a_kept_transaction_and_its_live_getter_carry_nothing_between_runs() {
    // A login's runs send the same `transaction` text, so its later runs get the object built for the first
    // (`worker/event.rs`), with the one frozen `metadata` getter the context made. The getter reads the running run's
    // metadata, and nothing a run hangs on the object or the getter is there in the next run.
    let mut h = Harness::new(&[r#"
        'use strict';
        exports.onExecutePostLogin = (event, api) => {
          const getter = Object.getOwnPropertyDescriptor(event.transaction, 'metadata').get;
          const before = [event.transaction.stash, getter.stash, event.transaction.metadata.step].map(String).join(' ');
          const accepted = [];
          [event.transaction, getter].forEach((part, i) => {
            const tries = {
              set: () => { part.stash = event.user.user_id; },
              define: () => Object.defineProperty(part, 'stash', { value: 1 }),
              proto: () => Object.setPrototypeOf(part, { stash: 1 }),
              remove: () => { delete part[Object.getOwnPropertyNames(part)[0]]; },
              private: () => {
                class Base { constructor(o) { return o; } }
                class Stamp extends Base { #stash = 1; }
                new Stamp(part);
              },
            };
            for (const [name, attempt] of Object.entries(tries)) {
              try { attempt(); accepted.push(i + ':' + name); } catch (e) {}
            }
          });
          api.transaction.setMetadata('step', event.user.user_id);
          console.log(before, accepted.join(','), String(event.transaction.metadata.step));
        };
    "#]);
    let mut event = event();
    event["transaction"]["metadata"] = json!({ "step": "sent" });
    h.run(event.clone());
    event["user"]["user_id"] = json!("auth0|2");
    h.run(event);
    assert_eq!(
        h.logs(),
        ["undefined undefined sent  auth0|1".to_owned(), "undefined undefined sent  auth0|2".to_owned(),]
    );
}

#[test]
fn a_non_deletable_global_taints_the_context() {
    let mut h = Harness::new(&[
        "exports.onExecutePostLogin = () => { Object.defineProperty(globalThis, 'stuck', { value: 1, configurable: false }); };",
    ]);
    h.run(event());
    assert!(h.context.tainted);
}

/// Deleting what a run added to the global object is quadratic in Boa when string and symbol keys alternate, and
/// the reset runs after the report: past [`MAX_DELETED_GLOBALS`] the context is replaced instead, and up to it the
/// globals are deleted and the context kept.
#[test]
fn a_run_that_adds_more_globals_than_a_reset_deletes_retires_its_context() {
    let adds = |count: usize| {
        format!(
            "exports.onExecutePostLogin = () => {{
               console.log(String(typeof globalThis.g0) + ' ' + Object.getOwnPropertySymbols(globalThis).length);
               for (let i = 0; i < {count}; i++) globalThis[i % 2 ? Symbol() : 'g' + i] = i;
             }};"
        )
    };
    let mut kept = Harness::new(&[&adds(MAX_DELETED_GLOBALS)]);
    kept.run(event());
    assert!(!kept.context.tainted, "{MAX_DELETED_GLOBALS} added globals are deleted");
    kept.run(event());
    let logs = kept.logs();
    assert_eq!(logs[0], logs[1], "the second run finds none of the first run's globals: {logs:?}");
    assert!(logs[0].starts_with("undefined "), "{logs:?}");

    let mut retired = Harness::new(&[&adds(MAX_DELETED_GLOBALS + 1)]);
    retired.run(event());
    assert!(retired.context.tainted, "a run that added more globals than a reset deletes retires its context");
}

#[test]
fn indirect_eval_is_refused_but_direct_eval_works() {
    let mut h = Harness::new(&[r#"
        exports.onExecutePostLogin = () => {
          console.log(String(eval('1 + 1')));
          try { (0, eval)('let leaked = 1'); } catch (e) { console.log(e.name); }
        };
    "#]);
    h.run(event());
    assert_eq!(h.logs(), vec!["2", "EvalError"]);
}

#[test]
fn subclassing_errors_still_works_after_lockdown() {
    let mut h = Harness::new(&[r#"
        class MyError extends Error { constructor(m) { super(m); this.name = 'MyError'; } }
        function Legacy() {}
        Legacy.prototype = Object.create(Object.prototype);
        Legacy.prototype.constructor = Legacy;
        Legacy.prototype.toString = function () { return 'legacy'; };
        exports.onExecutePostLogin = () => {
          const e = new MyError('boom');
          console.log(e.name, e.message, String(new Legacy()), String(e instanceof Error));
        };
    "#]);
    let report = h.run(event());
    assert_eq!(report.actions[0].error, None, "{report:?}");
    assert_eq!(h.logs(), vec!["MyError boom legacy true"]);
}

#[test]
fn transaction_metadata_is_visible_immediately_and_to_later_actions() {
    let mut h = Harness::new(&[
        "exports.onExecutePostLogin = (event, api) => { api.transaction.setMetadata('step', 1); console.log(String(event.transaction.metadata.step)); };",
        "exports.onExecutePostLogin = (event, api) => { console.log(String(event.transaction.metadata.step)); };",
    ]);
    let report = h.run(event());
    assert_eq!(h.logs(), vec!["1", "1"]);
    assert_eq!(report.transaction_metadata.get("step"), Some(&json!(1)));
}

#[test]
fn cache_enforces_its_limits() {
    let mut h = Harness::new(&[r#"
        exports.onExecutePostLogin = (event, api) => {
          console.log(api.cache.set('k', 'v').type, api.cache.get('k').value);
          console.log(api.cache.set('x'.repeat(65), 'v').code);
          console.log(api.cache.set('big', 'v'.repeat(4097)).code);
          console.log(api.cache.set('t', 'v', { ttl: -1 }).code);
          console.log(api.cache.delete('missing').code, api.cache.delete('k').type, String(api.cache.get('k')));
        };
    "#]);
    let report = h.run(event());
    assert_eq!(report.actions[0].error, None, "{report:?}");
    assert_eq!(
        h.logs(),
        vec![
            "success v",
            "CacheKeySizeExceeded",
            "CacheValueSizeExceeded",
            "ItemAlreadyExpired",
            "CacheKeyDoesNotExist success undefined"
        ]
    );
}

#[test]
fn timers_and_promises_are_driven_to_completion() {
    let mut h = Harness::new(&[r#"
        exports.onExecutePostLogin = async (event, api) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          api.access.deny('after timer');
        };
    "#]);
    let report = h.run(event());
    assert_eq!(report.actions[0].commands, vec![Command::Deny { reason: "after timer".into() }]);
}

#[test]
fn a_promise_that_can_never_settle_is_an_error() {
    let mut h = Harness::new(&["exports.onExecutePostLogin = () => new Promise(() => {});"]);
    let error = h.run(event()).actions[0].error.clone().expect("error");
    assert!(error.message.contains("never settled"), "{}", error.message);
}

#[test]
fn web_globals_are_available() {
    let mut h = Harness::new(&[r#"
        exports.onExecutePostLogin = () => {
          const u = new URL('https://example.com/cb?x=1');
          u.searchParams.set('state', 'a b');
          console.log(u.href);
          console.log(Buffer.from('user:pass').toString('base64'), atob(btoa('hi')));
          console.log(new URLSearchParams({ a: '1', b: 'x y' }).toString());
          console.log(String(crypto.randomUUID().length), new TextEncoder().encode('é').length);
          console.log({ a: 1, b: 'two', c: [1, 2] });
        };
    "#]);
    let report = h.run(event());
    assert_eq!(report.actions[0].error, None, "{report:?}");
    assert_eq!(
        h.logs(),
        vec![
            "https://example.com/cb?x=1&state=a+b",
            "dXNlcjpwYXNz hi",
            "a=1&b=x+y",
            "36 2",
            "{ a: 1, b: 'two', c: [ 1, 2 ] }",
        ]
    );
}

#[test]
fn session_tokens_round_trip() {
    let mut h = Harness::new(&[r#"
        exports.onExecutePostLogin = (event, api) => {
          const token = api.redirect.encodeToken({ secret: 'shh-secret', payload: { state: 'abc', color: 'blue' } });
          console.log(String(token.split('.').length));
        };
    "#]);
    h.run(event());
    assert_eq!(h.logs(), vec!["3"]);
}

#[test]
fn a_known_flow_runs_without_its_code_and_an_unknown_one_is_asked_for() {
    let sources = vec![ActionSource {
        name: "0.js".to_owned(),
        path: "actions/0.js".to_owned(),
        code: "exports.onExecutePostLogin = (event, api) => { api.idToken.setCustomClaim('x', event.user.user_id); };"
            .to_owned(),
    }];
    let flow = flow_spec(Trigger::PostLogin, sources);
    let mut without_code = flow.clone();
    without_code.actions = Default::default();
    let request = |run_id, flow: &crate::protocol::FlowSpec| {
        Box::new(RunRequest {
            run_id,
            flow: flow.clone(),
            start: 0,
            entry: Entry::Execute,
            event: event().into(),
            cache: Default::default(),
            run_on: Default::default(),
        })
    };
    let outbox = Rc::new(Collect::default());
    let (sender, inbox) = mpsc::channel();
    sender.send(ToWorker::RunKnownFlow(request(1, &without_code))).expect("send");
    sender.send(ToWorker::Run(request(2, &flow))).expect("send");
    sender.send(ToWorker::RunKnownFlow(request(3, &without_code))).expect("send");
    drop(sender);
    super::Worker::new(outbox.clone(), Box::new(inbox)).serve();
    let answers: Vec<(u64, bool)> = outbox
        .0
        .borrow()
        .iter()
        .filter_map(|m| match m {
            FromWorker::NeedFlow { run_id } => Some((*run_id, false)),
            FromWorker::Done { run_id, report, .. } => {
                assert_eq!(report.actions.len(), 1, "{report:?}");
                assert_eq!(report.actions[0].error, None, "{report:?}");
                assert_eq!(report.actions[0].commands.len(), 1, "{report:?}");
                Some((*run_id, true))
            }
            _ => None,
        })
        .collect();
    assert_eq!(answers, vec![(1, false), (2, true), (3, true)]);
}

#[test]
/// A context past its run count, or tainted, is replaced right after the report of the run that retired it (the
/// worker widens its CPUs first: `tests/tests/placement.rs`), not by the next run of its flow.
fn a_context_past_its_run_count_or_tainted_is_replaced_before_the_next_request() {
    // The action taints its context (a replaced global prototype) on the run whose user is "taint".
    let sources = vec![ActionSource {
        name: "0.js".to_owned(),
        path: "actions/0.js".to_owned(),
        code: r#"exports.onExecutePostLogin = (event, api) => {
            if (event.user.user_id === 'taint') Object.setPrototypeOf(globalThis, Object.create(null));
            api.idToken.setCustomClaim('x', 1);
        };"#
        .to_owned(),
    }];
    let flow = flow_spec(Trigger::PostLogin, sources);
    let mut taint = event();
    taint["user"]["user_id"] = json!("taint");
    let outbox = Rc::new(Collect::default());
    let (sender, inbox) = mpsc::channel();
    for (run_id, event) in [(1, event()), (2, event()), (3, taint)] {
        let request = RunRequest {
            run_id,
            flow: flow.clone(),
            start: 0,
            entry: Entry::Execute,
            event: event.into(),
            cache: Default::default(),
            run_on: Default::default(),
        };
        sender.send(ToWorker::Run(Box::new(request))).expect("send");
    }
    drop(sender);
    let mut worker = super::Worker::new(outbox.clone(), Box::new(inbox));
    worker.max_runs = 2;
    worker.serve();
    let done = outbox.0.borrow().iter().filter(|m| matches!(m, FromWorker::Done { .. })).count();
    assert_eq!(done, 3);
    // Run 2 used up the first context, run 3 tainted the second: after each, a fresh one was built.
    assert_eq!(worker.contexts.len(), 1);
    let kept = &worker.contexts[0];
    assert_eq!((kept.hash(), kept.runs, kept.tainted), (flow.hash.as_str(), 0, false));
}

// ---- Fresh state per login: every route the sandbox review found, then a walk of everything reachable --------

#[test]
fn a_replaced_global_prototype_taints_the_context() {
    let mut h = Harness::new(&[r#"
        exports.onExecutePostLogin = (event) => {
          if (typeof __stash === 'undefined') {
            Object.setPrototypeOf(globalThis, Object.create(Object.getPrototypeOf(globalThis), {
              __stash: { value: [], enumerable: true },
            }));
          }
          __stash.push(event.user.user_id);
        };
    "#]);
    h.run(event());
    assert!(h.context.tainted, "a run that replaced the global object's prototype must retire the context");
}

#[test]
fn an_action_cannot_close_its_wrapper() {
    let break_out = "exports.onExecutePostLogin = async () => {};\n});\nlet __seen = [];\n(function (exports, require, module, __filename, __dirname) {\nexports.onExecutePostLogin = async (event, api) => { __seen.push(event.user.email); };";
    let shadow = "});\nvar Object = { freeze() {}, defineProperty() {} };\n(function () {";
    for code in [break_out, shadow, "}).call(this); (function () {", "}) || (function () {", "})(); //"] {
        let source = ActionSource { name: "x.js".into(), path: "actions/x.js".into(), code: code.into() };
        let refused = crate::actions::check_syntax(&source).expect_err(code);
        assert!(refused.message.starts_with("SyntaxError"), "{code}: {}", refused.message);
        // The worker proves it again: the action fails, nothing outside the wrapper runs.
        let mut h = Harness::new(&[code]);
        let report = h.run(event());
        let error = report.actions[0].error.as_ref().expect("the action fails");
        assert!(error.message.starts_with("SyntaxError"), "{code}: {}", error.message);
    }
    // Ordinary files, including a top-level return and a trailing line comment, still load.
    for code in [
        "if (true) return;\nexports.x = 1;",
        "exports.onExecutePostLogin = () => {};\n// end",
        "/* } */ exports.a = '})';",
    ] {
        let source = ActionSource { name: "x.js".into(), path: "actions/x.js".into(), code: code.into() };
        assert!(crate::actions::check_syntax(&source).is_ok(), "{code}");
    }
}

#[test]
fn hidden_intrinsics_console_counters_and_timer_ids_start_fresh() {
    let mut h = Harness::new(&[r#"
        exports.onExecutePostLogin = async () => {
          const wrap = Object.getPrototypeOf(Iterator.from({ next() { return { done: true }; } }));
          console.log('wrap:' + String(wrap.planted));
          try { wrap.planted = 'yes'; } catch (e) {}
          console.count();
          console.count('x'.repeat(4));
          console.log('timer:' + setTimeout(() => {}, 1) + ',' + setInterval(() => {}, 1000));
          clearInterval(2);
          await new Promise((resolve) => setTimeout(resolve, 2));
        };
    "#]);
    h.run(event());
    h.run(event());
    let logs = h.logs();
    assert_eq!(
        logs,
        [
            "wrap:undefined",
            "default: 1",
            "xxxx: 1",
            "timer:1,2",
            "wrap:undefined",
            "default: 1",
            "xxxx: 1",
            "timer:1,2"
        ],
        "{logs:?}"
    );
    assert!(!h.context.tainted);
}

/// Describes everything reachable from the global object and the hidden intrinsics: every object by the path it is
/// first reached at, its prototype, extensibility, and every own property (strings and symbols) with its
/// attributes and value. Compiled before any run, so what it uses cannot be changed by one.
const SNAPSHOT: &str = r#"(function () {
  const { getOwnPropertyDescriptor, getPrototypeOf, isExtensible } = Object;
  const ownKeys = Reflect.ownKeys;
  const g = globalThis;
  const hidden = [
    ['%GeneratorFunction.prototype%', getPrototypeOf(function* () {})],
    ['%AsyncFunction.prototype%', getPrototypeOf(async function () {})],
    ['%AsyncGeneratorFunction.prototype%', getPrototypeOf(async function* () {})],
    ['%ArrayIteratorPrototype%', getPrototypeOf([][Symbol.iterator]())],
    ['%MapIteratorPrototype%', getPrototypeOf(new Map()[Symbol.iterator]())],
    ['%SetIteratorPrototype%', getPrototypeOf(new Set()[Symbol.iterator]())],
    ['%StringIteratorPrototype%', getPrototypeOf(''[Symbol.iterator]())],
    ['%RegExpStringIteratorPrototype%', getPrototypeOf(/a/[Symbol.matchAll]('a'))],
    ['%TypedArray%', getPrototypeOf(Int8Array)],
    ['%IteratorHelperPrototype%', getPrototypeOf([].values().map((x) => x))],
    ['%WrapForValidIteratorPrototype%', getPrototypeOf(Iterator.from({ next() { return { done: true }; } }))],
    ['%ThrowTypeError%', getOwnPropertyDescriptor(Function.prototype, 'caller').get],
  ];
  const describe = (value, names, queue, path) => {
    if (value === null) return 'null';
    const type = typeof value;
    if (type === 'object' || type === 'function') {
      if (!names.has(value)) {
        names.set(value, path);
        queue.push(value);
      }
      return '@' + names.get(value);
    }
    if (type === 'symbol') return 'symbol:' + String(value.description);
    return type + ':' + String(value);
  };
  return function snapshot() {
    const names = new Map();
    const queue = [];
    const lines = [];
    describe(g, names, queue, 'globalThis');
    for (const [name, value] of hidden) describe(value, names, queue, name);
    for (let i = 0; i < queue.length; i += 1) {
      const object = queue[i];
      const path = names.get(object);
      lines.push(path + ' proto=' + describe(getPrototypeOf(object), names, queue, path + '.[[Prototype]]') +
        ' extensible=' + isExtensible(object));
      const keys = ownKeys(object).map((k) => [typeof k === 'symbol' ? '[' + String(k.description) + ']' : k, k]);
      keys.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      for (const [label, key] of keys) {
        const d = getOwnPropertyDescriptor(object, key);
        const flags = (d.writable ? 'w' : '-') + (d.enumerable ? 'e' : '-') + (d.configurable ? 'c' : '-');
        const value = 'value' in d
          ? describe(d.value, names, queue, path + '.' + label)
          : 'get ' + describe(d.get, names, queue, path + '.' + label + '<get>') +
            ' set ' + describe(d.set, names, queue, path + '.' + label + '<set>');
        lines.push('  ' + label + ' ' + flags + ' ' + value);
      }
    }
    return lines.join('\n');
  };
})()"#;

/// An action that tries to change every object it can reach, every way JavaScript allows, and records a secret
/// wherever a write sticks.
const HOSTILE: &str = r#"
exports.onExecutePostLogin = (event) => {
  const secret = event.secrets.API_KEY || 'secret';
  const seen = new Set();
  const stack = [globalThis,
    Object.getPrototypeOf(function* () {}), Object.getPrototypeOf(async function () {}),
    Object.getPrototypeOf(async function* () {}), Object.getPrototypeOf([][Symbol.iterator]()),
    Object.getPrototypeOf(new Map()[Symbol.iterator]()), Object.getPrototypeOf(''[Symbol.iterator]()),
    Object.getPrototypeOf(/a/[Symbol.matchAll]('a')), Object.getPrototypeOf(Int8Array),
    Object.getPrototypeOf([].values().map((x) => x)),
    Object.getPrototypeOf(Iterator.from({ next() { return { done: true }; } }))];
  const tries = [];
  while (stack.length) {
    const o = stack.pop();
    if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
    seen.add(o);
    tries.push(o);
    try { stack.push(Object.getPrototypeOf(o)); } catch (e) {}
    for (const k of Reflect.ownKeys(o)) {
      let d;
      try { d = Object.getOwnPropertyDescriptor(o, k); } catch (e) { continue; }
      if (!d) continue;
      if ('value' in d) stack.push(d.value); else { stack.push(d.get); stack.push(d.set); }
    }
  }
  for (const o of tries) {
    try { o.__planted = secret; } catch (e) {}
    try { Object.defineProperty(o, '__defined', { value: secret, configurable: true }); } catch (e) {}
    try { o[Symbol.for('planted')] = secret; } catch (e) {}
    if (o !== globalThis) {
      try { Object.setPrototypeOf(o, null); } catch (e) {}
      try { Object.preventExtensions(o); } catch (e) {}
    }
    for (const k of Reflect.ownKeys(o)) {
      if (o === globalThis && k === 'globalThis') continue;
      try { o[k] = secret; } catch (e) {}
      try { delete o[k]; } catch (e) {}
    }
  }
  try { leakedImplicit = secret; } catch (e) {}
};
"#;

#[test]
fn after_a_hostile_run_everything_reachable_equals_a_clean_context() {
    let mut clean = Harness::new(&[HOSTILE]);
    let clean_snapshot = clean.context.eval_for_test(SNAPSHOT);
    let mut hostile = Harness::new(&[HOSTILE]);
    let snapshot = hostile.context.eval_for_test(SNAPSHOT);
    let before = hostile.context.call_for_test(&clean_snapshot);
    let report = hostile.run(json!({
        "user": { "user_id": "auth0|1", "app_metadata": {}, "user_metadata": {} },
        "transaction": { "requested_scopes": [], "metadata": {} },
        "secrets": { "API_KEY": "s3cr3t" }
    }));
    assert!(report.actions[0].error.is_none(), "{:?}", report.actions[0].error);
    assert!(!hostile.context.tainted, "the hostile run left nothing the reset cannot remove");
    let after = hostile.context.call_for_test(&snapshot);
    let reference = clean.context.call_for_test(&clean_snapshot);
    assert_eq!(before, reference, "two clean contexts describe alike");
    let objects = after.lines().filter(|l| !l.starts_with("  ")).count();
    assert!(objects > 300, "the walk reached {objects} objects");
    if after != reference {
        let differences: Vec<String> = after
            .lines()
            .zip(reference.lines())
            .filter(|(a, b)| a != b)
            .take(10)
            .map(|(a, b)| format!("after: {a}\nclean: {b}"))
            .collect();
        panic!("the hostile run changed what the next login sees:\n{}", differences.join("\n"));
    }
    assert!(!after.contains("s3cr3t"));
}

/// The worker resets a context after it sends the run's report. A run on a context nobody reset resets it first,
/// and when that reset finds the context tainted, the run is refused rather than run on it.
#[test]
fn a_run_on_a_context_left_unreset_resets_it_first_or_refuses_a_tainted_one() {
    let mut h = Harness::new(&["exports.onExecutePostLogin = (event, api) => {
  globalThis.leak = (globalThis.leak || 0) + 1;
  api.idToken.setCustomClaim('seen', globalThis.leak);
};"]);
    for _ in 0..2 {
        let report = h.run_unreset(event(), 0, Entry::Execute, RunOn::default());
        assert_eq!(report.actions[0].error, None);
        assert!(
            matches!(&report.actions[0].commands[..], [Command::SetCustomClaim { value, .. }] if *value == json!(1)),
            "{:?}",
            report.actions[0].commands
        );
    }

    let mut h = Harness::new(&[
        "exports.onExecutePostLogin = () => { Object.defineProperty(globalThis, 'stuck', { value: 1, configurable: false }); };",
    ]);
    let first = h.run_unreset(event(), 0, Entry::Execute, RunOn::default());
    assert_eq!(first.actions[0].error, None);
    let second = h.run_unreset(event(), 0, Entry::Execute, RunOn::default());
    let error = second.actions[0].error.as_ref().expect("the run is refused");
    assert!(error.message.contains("could not be reset"), "{}", error.message);
    assert!(h.context.tainted);
}
