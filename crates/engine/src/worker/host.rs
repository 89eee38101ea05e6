//! The host surface: the only native functions scripts can reach, and the per-run state behind them.
//!
//! [`HOST_FUNCTIONS`] is the whole surface. The JavaScript prelude (`prelude.js`) builds `api`, `console`,
//! `fetch` and friends over these functions and nothing else; the prelude receives them as an argument and never
//! exposes the object itself to actions.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use boa_engine::builtins::promise::ResolvingFunctions;
use boa_engine::object::builtins::{JsFunction, JsPromise};
use boa_engine::object::{IntegrityLevel, ObjectInitializer};
use boa_engine::property::PropertyDescriptor;
use boa_engine::{Context, JsError, JsNativeError, JsObject, JsResult, JsString, JsValue, NativeFunction, js_string};
use gatehouse_types::{Command, JsonMap, Trigger};

use crate::protocol::{CacheOp, CacheRecord, FetchRequest, FetchResponse, FromWorker};
use crate::worker::event::EventFields;
use crate::worker::{commands, json, node_crypto};

/// Where a worker's messages to the host go (stdout in a sandbox process, a channel in tests).
pub(crate) trait Outbox {
    /// Sends one message; a failure means the host is gone and the worker should stop.
    fn send(&self, message: &FromWorker);

    /// Says that action `index` of run `run_id` starts. A frame, unless the worker has a progress file
    /// ([`crate::protocol::Progress`]).
    fn started(&self, run_id: u64, index: usize) {
        self.send(&FromWorker::ActionStarted { run_id, index });
    }

    /// Says that run `run_id` is taken up, its first action `index` about to start, before any of its code runs.
    /// Written to the progress file only (no frame: the host knows the first action from its request), so that a
    /// host whose worker died can tell a run that never started from one that did.
    fn accepted(&self, _run_id: u64, _index: usize) {}
}

/// Console output per run is bounded so a logging loop cannot flood the host.
const MAX_LOG_LINES: u32 = 1_000;
const MAX_LOG_MESSAGE: usize = 8 * 1024;

/// State of the run in progress. Reset at the start of every run.
#[derive(Default)]
pub(crate) struct RunState {
    pub run_id: u64,
    pub index: usize,
    pub is_continue: bool,
    pub commands: Vec<Command>,
    pub event: EventFields,
    pub tx_metadata: JsonMap,
    pub tx_metadata_object: Option<JsObject>,
    /// `event.transaction.target_scopes` (credentials-exchange), changed by `api.transaction`.
    pub target_scopes: Vec<String>,
    pub target_scopes_object: Option<JsObject>,
    pub cache: BTreeMap<String, CacheRecord>,
    pub cache_ops: Vec<CacheOp>,
    pub cache_writes: u32,
    pub added_scopes: u32,
    pub primary_user_set: bool,
    pub next_fetch: u64,
    pub pending_fetches: HashMap<u64, ResolvingFunctions>,
    pub log_lines: u32,
}

/// Host state of one sandbox context, kept in the context's host-defined data.
pub(crate) struct HostState {
    pub run: RefCell<RunState>,
    pub outbox: Rc<dyn Outbox>,
    /// `JSON.stringify`, captured before lockdown: how script values become JSON.
    pub stringify: RefCell<Option<JsFunction>>,
}

impl HostState {
    pub(crate) fn new(outbox: Rc<dyn Outbox>) -> Self {
        HostState { run: RefCell::new(RunState::default()), outbox, stringify: RefCell::new(None) }
    }
}

/// The host state of `context`.
pub(crate) fn state(context: &Context) -> JsResult<Rc<HostState>> {
    context
        .get_data::<Rc<HostState>>()
        .cloned()
        .ok_or_else(|| JsNativeError::error().with_message("host state missing").into())
}

/// A native function of the host surface.
type HostFn = fn(&JsValue, &[JsValue], &mut Context) -> JsResult<JsValue>;

/// Every native function scripts can reach (through the prelude), with its arity.
pub(crate) const HOST_FUNCTIONS: &[(&str, HostFn, usize)] = &[
    ("command", host_command, 1),
    ("log", host_log, 2),
    ("fetch", host_fetch, 1),
    ("randomUUID", host_random_uuid, 0),
    ("randomBytes", host_random_bytes, 1),
    ("digestAlgorithm", node_crypto::host_digest_algorithm, 1),
    ("digest", node_crypto::host_digest, 2),
    ("hmac", node_crypto::host_hmac, 3),
    ("parseKey", node_crypto::host_parse_key, 2),
    ("keyJwk", node_crypto::host_key_jwk, 1),
    ("rsaSign", node_crypto::host_rsa_sign, 3),
    ("rsaVerify", node_crypto::host_rsa_verify, 4),
];

/// Builds the object handed to the prelude.
pub(crate) fn host_object(context: &mut Context) -> JsObject {
    let mut init = ObjectInitializer::new(context);
    for (name, function, arity) in HOST_FUNCTIONS {
        init.function(NativeFunction::from_fn_ptr(*function), JsString::from(*name), *arity);
    }
    init.build()
}

/// `host.command(name, ...args)`: validates an `api.*` call and records it (or answers it, for reads).
fn host_command(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let name = args.first().and_then(JsValue::as_string).map(|s| s.to_std_string_escaped()).unwrap_or_default();
    let host = state(context)?;
    commands::dispatch(&name, args.get(1..).unwrap_or_default(), &host, context)
}

/// `host.log(level, message)`.
fn host_log(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let host = state(context)?;
    let level = arg_string(args, 0, context)?;
    let mut message = arg_string(args, 1, context)?;
    let (run_id, index) = {
        let mut run = host.run.borrow_mut();
        run.log_lines += 1;
        if run.log_lines > MAX_LOG_LINES {
            return Ok(JsValue::undefined());
        }
        if run.log_lines == MAX_LOG_LINES {
            message = format!("(console output truncated after {MAX_LOG_LINES} lines)");
        }
        (run.run_id, run.index)
    };
    if message.len() > MAX_LOG_MESSAGE {
        let mut cut = MAX_LOG_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("... (truncated)");
    }
    host.outbox.send(&FromWorker::Log { run_id, index, level, message });
    Ok(JsValue::undefined())
}

/// `host.fetch({method, url, headers, body})`: asks the host to perform a request; returns a promise of
/// `{status, status_text, headers, body, url}`.
fn host_fetch(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let host = state(context)?;
    let request = args.first().cloned().unwrap_or_default();
    let json = to_json(&request, &host, context)?.unwrap_or_default();
    let request: FetchRequest = serde_json::from_value(json)
        .map_err(|e| JsNativeError::typ().with_message(format!("fetch: invalid request: {e}")))?;
    if url::Url::parse(&request.url).is_err() {
        return Err(JsNativeError::typ().with_message(format!("fetch: invalid URL '{}'", request.url)).into());
    }
    let (promise, resolvers) = JsPromise::new_pending(context);
    let (run_id, index, id) = {
        let mut run = host.run.borrow_mut();
        run.next_fetch += 1;
        let id = run.next_fetch;
        run.pending_fetches.insert(id, resolvers);
        (run.run_id, run.index, id)
    };
    host.outbox.send(&FromWorker::Fetch { run_id, index, id, request });
    Ok(promise.into())
}

/// Settles the promise of a `fetch` when the host's answer arrives.
pub(crate) fn settle_fetch(
    host: &HostState,
    id: u64,
    result: Result<FetchResponse, String>,
    context: &mut Context,
) -> JsResult<()> {
    let Some(resolvers) = host.run.borrow_mut().pending_fetches.remove(&id) else { return Ok(()) };
    match result {
        Ok(response) => {
            let json = serde_json::to_value(&response)
                .map_err(|e| JsNativeError::error().with_message(format!("fetch: {e}")))?;
            let value = JsValue::from_json(&json, context)?;
            resolvers.resolve.call(&JsValue::undefined(), &[value], context)?;
        }
        Err(reason) => {
            let error: JsValue =
                JsNativeError::typ().with_message(format!("fetch failed: {reason}")).into_opaque(context).into();
            resolvers.reject.call(&JsValue::undefined(), &[error], context)?;
        }
    }
    Ok(())
}

/// `host.randomUUID()`.
fn host_random_uuid(_this: &JsValue, _args: &[JsValue], _context: &mut Context) -> JsResult<JsValue> {
    Ok(JsString::from(uuid::Uuid::new_v4().to_string()).into())
}

/// `host.randomBytes(n)`: an array of `n` random bytes (at most 65536).
fn host_random_bytes(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let n = args.first().cloned().unwrap_or_default().to_length(context)?.min(65_536) as usize;
    let mut bytes = Vec::with_capacity(n);
    while bytes.len() < n {
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    bytes.truncate(n);
    JsValue::from_json(&serde_json::json!(bytes), context)
}

/// The string value of argument `i`, converted with `ToString` (missing arguments give an empty string).
pub(crate) fn arg_string(args: &[JsValue], i: usize, context: &mut Context) -> JsResult<String> {
    match args.get(i) {
        None => Ok(String::new()),
        Some(v) if v.is_undefined() => Ok(String::new()),
        Some(v) => Ok(v.to_string(context)?.to_std_string_escaped()),
    }
}

/// Converts a script value to JSON the way `JSON.stringify` does (`toJSON`, dates, dropped functions);
/// `None` for `undefined`. Plain data is read straight off its objects ([`json::plain`]); anything else goes
/// through the `JSON.stringify` captured before lockdown.
pub(crate) fn to_json(value: &JsValue, host: &HostState, context: &mut Context) -> JsResult<Option<serde_json::Value>> {
    if let Some(plain) = json::plain(value, context) {
        return Ok(plain);
    }
    let stringify = host.stringify.borrow().clone();
    let Some(stringify) = stringify else {
        return value.to_json(context);
    };
    let text = stringify.call(&JsValue::undefined(), std::slice::from_ref(value), context)?;
    let Some(text) = text.as_string() else { return Ok(None) };
    serde_json::from_str(&text.to_std_string_escaped())
        .map(Some)
        .map_err(|e| JsNativeError::typ().with_message(format!("value is not JSON: {e}")).into())
}

/// The live property of a trigger's `event.transaction`, if it has one: `metadata` (post-login) or `target_scopes`
/// (credentials-exchange), a getter that reads the running run's state (`RunState`), not the run it was made in.
/// Frozen, like the object that holds it: a context's builder makes it once, and every `transaction` it builds,
/// kept ones included (`worker/event.rs`), shares it.
pub(crate) fn transaction_getter(trigger: Trigger, context: &mut Context) -> JsResult<Option<(JsString, JsFunction)>> {
    let (name, getter) = match trigger {
        Trigger::PostLogin => (js_string!("metadata"), NativeFunction::from_fn_ptr(transaction_metadata_getter)),
        Trigger::CredentialsExchange => {
            (js_string!("target_scopes"), NativeFunction::from_fn_ptr(target_scopes_getter))
        }
        _ => return Ok(None),
    };
    let getter = getter.to_js_function(context.realm());
    getter.set_integrity_level(IntegrityLevel::Frozen, context)?;
    Ok(Some((name, getter)))
}

/// Makes `name` of `transaction` the live getter [`transaction_getter`] made, in place of its data property.
pub(crate) fn define_live(
    transaction: &JsObject,
    name: JsString,
    getter: JsFunction,
    context: &mut Context,
) -> JsResult<()> {
    transaction.delete_property_or_throw(name.clone(), context)?;
    transaction.define_property_or_throw(
        name,
        PropertyDescriptor::builder().get(getter).enumerable(true).configurable(false),
        context,
    )?;
    Ok(())
}

fn target_scopes_getter(_this: &JsValue, _args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let host = state(context)?;
    if let Some(object) = host.run.borrow().target_scopes_object.clone() {
        return Ok(object.into());
    }
    let json = serde_json::Value::from(host.run.borrow().target_scopes.clone());
    let value = JsValue::from_json(&json, context)?;
    if let Some(object) = value.as_object() {
        object.set_integrity_level(IntegrityLevel::Frozen, context)?;
        host.run.borrow_mut().target_scopes_object = Some(object.clone());
    }
    Ok(value)
}

fn transaction_metadata_getter(_this: &JsValue, _args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let host = state(context)?;
    if let Some(object) = host.run.borrow().tx_metadata_object.clone() {
        return Ok(object.into());
    }
    let json = serde_json::Value::Object(host.run.borrow().tx_metadata.clone());
    let value = JsValue::from_json(&json, context)?;
    if let Some(object) = value.as_object() {
        object.set_integrity_level(IntegrityLevel::Frozen, context)?;
        host.run.borrow_mut().tx_metadata_object = Some(object.clone());
    }
    Ok(value)
}

/// A plain `Error` with `message`.
pub(crate) fn error(message: impl Into<String>) -> JsError {
    JsNativeError::error().with_message(message.into()).into()
}

/// A `TypeError` with `message`.
pub(crate) fn type_error(message: impl Into<String>) -> JsError {
    JsNativeError::typ().with_message(message.into()).into()
}
