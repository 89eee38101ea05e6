//! One sandbox context per flow version, reused across runs and reset after each.
//!
//! Creating a Boa context and compiling actions costs milliseconds; running a login costs a fraction of one. So a
//! worker keeps a context per flow, with the prelude evaluated, every action compiled into a CommonJS wrapper
//! function, and everything reachable from the global object frozen (`lockdown.js`). Each run calls the wrappers
//! again (fresh `module`, fresh module scope, fresh handlers) with the run's frozen `event` (its unchanged parts kept
//! from earlier runs: `worker/event.rs`); afterwards the host
//! deletes whatever the run added to the global object and drops queued jobs. A context whose reset cannot be
//! proven (a non-deletable global, a non-extensible global object), or would cost more than the run (more added
//! globals than [`MAX_DELETED_GLOBALS`]), is marked tainted and replaced.

use std::collections::HashSet;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use boa_engine::builtins::promise::PromiseState;
use boa_engine::context::{ContextBuilder, HostHooks};
use boa_engine::job::JobExecutor;
use boa_engine::module::IdleModuleLoader;
use boa_engine::object::ObjectInitializer;
use boa_engine::object::builtins::{JsArray, JsFunction, JsMap, JsPromise};
use boa_engine::property::{Attribute, PropertyDescriptor, PropertyKey};
use boa_engine::realm::Realm;
use boa_engine::{Context, JsError, JsNativeError, JsObject, JsResult, JsString, JsValue, Source, js_string};
use boa_runtime::extensions::{
    Base64Extension, EncodingExtension, MicrotaskExtension, RuntimeExtension, StructuredCloneExtension,
    TimeoutExtension, UrlExtension,
};
use gatehouse_types::Trigger;

use crate::actions::{MAX_NESTING, WRAPPER_HEAD, prove_wrapper, wrap};
use crate::nesting::nesting_over;
use crate::protocol::{ActionError, ActionReport, Entry, FlowSpec, ModuleKind, RunReport, RunRequest, ToWorker};
use crate::worker::Inbox;
use crate::worker::event::{EventFields, FrozenBuilder, plain_object};
use crate::worker::executor::Executor;
use crate::worker::host::{self, HostState, Outbox, RunState};

const PRELUDE: &str = include_str!("prelude.js");
const NODE: &str = include_str!("node.js");
const LOCKDOWN: &str = include_str!("lockdown.js");

/// Deepest JavaScript call nesting before an action fails with a stack overflow.
const RECURSION_LIMIT: usize = 400;

/// Globals a reset deletes; a run that added more taints its context, which is replaced. Each deletion shifts the
/// global object's properties stored after the deleted one, so deleting is quadratic in the keys a run added (when
/// its string and symbol keys alternate, listing them last first does not help): 10,000 such globals, added in about
/// 20 ms, took 0.6 s to delete in a debug build, and the reset runs after the report, on the CPU the host thread
/// shares with the worker when the run was short. Replacing the context costs the same whatever the run added.
pub(crate) const MAX_DELETED_GLOBALS: usize = 256;

/// Refuses code generation from strings outside direct `eval`: an indirect `eval` could declare global lexical
/// bindings, which no reset can remove.
struct Hooks;

impl HostHooks for Hooks {
    fn ensure_can_compile_strings(
        &self,
        _realm: Realm,
        _parameters: &[JsString],
        _body: &JsString,
        direct: bool,
        _context: &mut Context,
    ) -> JsResult<()> {
        if direct {
            Ok(())
        } else {
            Err(JsNativeError::eval()
                .with_message(
                    "Code generation from strings (indirect eval, new Function) is disabled in Gatehouse actions",
                )
                .into())
        }
    }
}

struct CompiledAction {
    path: String,
    wrapper: Result<JsFunction, ActionError>,
    /// The path and its folder, the wrapper's `__filename` and `__dirname` (and `module.id`), made once: strings are
    /// immutable primitives, so sharing them between runs shares nothing.
    filename: JsString,
    dirname: JsString,
}

/// A reusable sandbox context for one flow version.
pub(crate) struct FlowContext {
    context: Context,
    executor: Rc<Executor>,
    host: Rc<HostState>,
    trigger: Trigger,
    hash: String,
    actions: Vec<CompiledAction>,
    api: JsObject,
    /// Each action's `require` (`node.js`'s `link`), by action index.
    requires: Vec<JsFunction>,
    global_keys: HashSet<PropertyKey>,
    /// A login's own JavaScript state, emptied after every run: the prelude's console counters and timer ids,
    /// `node.js`'s module cache. Maps the scripts keep in closures, cleared here natively (no script call).
    per_run: Vec<JsMap>,
    /// The global object's prototype after lockdown: a run that replaced it (`Object.setPrototypeOf(globalThis,
    /// ...)` puts new names in scope for every later login) taints the context.
    global_prototype: Option<JsObject>,
    /// Every key of `global_keys` is non-configurable (lockdown made it so), so none can be deleted by a run.
    globals_fixed: bool,
    /// Builds each run's frozen `event`.
    frozen: FrozenBuilder,
    /// Set when a run left state the reset cannot remove: the context must not serve another run.
    pub(crate) tainted: bool,
    /// Set by a run, cleared by [`FlowContext::reset`].
    needs_reset: bool,
    /// Runs served so far.
    pub(crate) runs: u64,
}

fn internal(e: impl std::fmt::Display) -> String {
    format!("sandbox setup failed: {e}")
}

impl FlowContext {
    /// Builds the context for `flow`: prelude, compiled actions, lockdown.
    pub(crate) fn new(flow: &FlowSpec, outbox: Rc<dyn Outbox>) -> Result<FlowContext, String> {
        let executor = Rc::new(Executor::default());
        let mut context = ContextBuilder::new()
            .job_executor(executor.clone())
            .host_hooks(Rc::new(Hooks))
            .module_loader(Rc::new(IdleModuleLoader))
            .build()
            .map_err(internal)?;
        context.runtime_limits_mut().set_recursion_limit(RECURSION_LIMIT);
        (
            Base64Extension,
            TimeoutExtension,
            EncodingExtension,
            MicrotaskExtension,
            StructuredCloneExtension,
            UrlExtension,
        )
            .register(None, &mut context)
            .map_err(internal)?;

        let host = Rc::new(HostState::new(outbox));
        context.insert_data(host.clone());

        let global = context.global_object();
        let json = global.get(js_string!("JSON"), &mut context).map_err(internal)?;
        let stringify = json
            .as_object()
            .map(|o| o.get(js_string!("stringify"), &mut context))
            .transpose()
            .map_err(internal)?
            .and_then(|f| f.as_object().and_then(JsFunction::from_object));
        *host.stringify.borrow_mut() = stringify;

        let prelude =
            context.eval(Source::from_bytes(PRELUDE).with_path(Path::new("gatehouse:prelude"))).map_err(internal)?;
        let prelude = prelude.as_object().and_then(JsFunction::from_object).ok_or_else(|| internal("prelude"))?;
        let native_url = global.get(js_string!("URL"), &mut context).map_err(internal)?;
        let host_object = host::host_object(&mut context);
        let exported = prelude
            .call(&JsValue::undefined(), &[host_object.clone().into(), native_url], &mut context)
            .map_err(internal)?;
        let exported = exported.as_object().ok_or_else(|| internal("prelude result"))?;
        let internals = exported.get(js_string!("internals"), &mut context).map_err(internal)?;
        let node = context.eval(Source::from_bytes(NODE).with_path(Path::new("gatehouse:node"))).map_err(internal)?;
        let node = node.as_object().and_then(JsFunction::from_object).ok_or_else(|| internal("node.js"))?;
        let node =
            node.call(&JsValue::undefined(), &[host_object.into(), internals], &mut context).map_err(internal)?;
        let node = node.as_object().ok_or_else(|| internal("node.js result"))?;

        for source in [&exported, &node] {
            let globals = source.get(js_string!("globals"), &mut context).map_err(internal)?;
            let globals = globals.as_object().ok_or_else(|| internal("prelude globals"))?;
            for key in globals.own_property_keys(&mut context).map_err(internal)? {
                let value = globals.get(key.clone(), &mut context).map_err(internal)?;
                let value = if value.is_undefined() { global.clone().into() } else { value };
                global.set(key, value, true, &mut context).map_err(internal)?;
            }
        }
        let mut per_run = Vec::new();
        for source in [&exported, &node] {
            let maps = source.get(js_string!("perRun"), &mut context).map_err(internal)?;
            let maps = maps
                .as_object()
                .and_then(|a| JsArray::from_object(a.clone()).ok())
                .ok_or_else(|| internal("perRun"))?;
            for i in 0..maps.length(&mut context).map_err(internal)? {
                let map = maps.get(i, &mut context).map_err(internal)?;
                let map = map.as_object().and_then(|m| JsMap::from_object(m.clone()).ok());
                per_run.push(map.ok_or_else(|| internal("perRun holds a Map"))?);
            }
        }
        let apis = exported.get(js_string!("apis"), &mut context).map_err(internal)?;
        let make_api = apis
            .as_object()
            .map(|a| a.get(JsString::from(flow.trigger.id()), &mut context))
            .transpose()
            .map_err(internal)?
            .and_then(|f| f.as_object().and_then(JsFunction::from_object))
            .ok_or_else(|| internal(format!("no api for trigger {}", flow.trigger)))?;
        let api = make_api.call(&JsValue::undefined(), &[], &mut context).map_err(internal)?;
        let api = api.as_object().ok_or_else(|| internal("api"))?;

        let actions: Vec<CompiledAction> = flow
            .actions
            .iter()
            .map(|action| CompiledAction {
                path: action.path.clone(),
                wrapper: compile(&action.code, &action.path, &mut context),
                filename: JsString::from(action.path.as_str()),
                dirname: JsString::from(dirname(&action.path)),
            })
            .collect();
        let (linked, defs) = link_modules(flow, &node, &mut context)?;
        let requires = (0..flow.actions.len())
            .map(|i| {
                linked
                    .get(js_string!("actions"), &mut context)
                    .and_then(|list| list.as_object().map(|l| l.get(i, &mut context)).transpose())
                    .map_err(internal)?
                    .and_then(|f| f.as_object().and_then(JsFunction::from_object))
                    .ok_or_else(|| internal("an action's require"))
            })
            .collect::<Result<Vec<_>, String>>()?;

        let lockdown =
            context.eval(Source::from_bytes(LOCKDOWN).with_path(Path::new("gatehouse:lockdown"))).map_err(internal)?;
        let lockdown = lockdown.as_object().and_then(JsFunction::from_object).ok_or_else(|| internal("lockdown"))?;
        let mut roots: Vec<JsValue> =
            vec![api.clone().into(), exported.clone().into(), node.into(), linked.into(), defs.into()];
        roots.extend(actions.iter().filter_map(|a| a.wrapper.as_ref().ok()).map(|f| JsValue::from(f.clone())));
        let roots = JsArray::from_iter(roots, &mut context);
        lockdown.call(&JsValue::undefined(), &[roots.into()], &mut context).map_err(internal)?;
        executor.clone().run_jobs(&mut context).map_err(internal)?;
        executor.clear();

        let globals_fixed = context
            .eval(Source::from_bytes(
                "Reflect.ownKeys(globalThis).every((k) => !Reflect.getOwnPropertyDescriptor(globalThis, k).configurable)",
            ))
            .map_err(internal)?
            .as_boolean()
            == Some(true);
        let global_keys = global.own_property_keys(&mut context).map_err(internal)?.into_iter().collect();
        let global_prototype = global.prototype();
        Ok(FlowContext {
            per_run,
            global_prototype,
            context,
            executor,
            host,
            trigger: flow.trigger,
            hash: flow.hash.clone(),
            actions,
            api,
            requires,
            global_keys,
            globals_fixed,
            frozen: FrozenBuilder::default(),
            tainted: false,
            needs_reset: false,
            runs: 0,
        })
    }

    /// Whether lockdown left every global non-configurable (what lets `reset` skip its lookups).
    #[cfg(test)]
    pub(crate) fn globals_fixed(&self) -> bool {
        self.globals_fixed
    }

    /// Evaluates a script in this context (tests: the reachability walk), returning its value.
    #[cfg(test)]
    pub(crate) fn eval_for_test(&mut self, code: &str) -> JsValue {
        #[allow(clippy::expect_used)]
        self.context.eval(Source::from_bytes(code)).expect("test script")
    }

    /// Calls a function made by [`FlowContext::eval_for_test`] and returns its string result.
    #[cfg(test)]
    pub(crate) fn call_for_test(&mut self, function: &JsValue) -> String {
        #[allow(clippy::expect_used)]
        let function = function.as_object().and_then(JsFunction::from_object).expect("a function");
        #[allow(clippy::expect_used)]
        let value = function.call(&JsValue::undefined(), &[], &mut self.context).expect("test call");
        value.as_string().map(|s| s.to_std_string_escaped()).unwrap_or_default()
    }

    /// The flow version this context serves.
    pub(crate) fn hash(&self) -> &str {
        &self.hash
    }

    /// Runs actions from `request.start` until one stops the flow (past a challenge `request.run_on` lets through),
    /// fails, or all have run. The request is taken by
    /// value so its event JSON moves into the run state rather than being copied on every run.
    pub(crate) fn run(&mut self, request: RunRequest, inbox: &mut dyn Inbox) -> RunReport {
        // The worker resets a context once its report is sent; a run never starts on one that was not.
        if self.needs_reset {
            self.reset();
        }
        if self.tainted {
            let message = "the sandbox context could not be reset; the run was refused".to_owned();
            return RunReport::failed_before(request.start, message);
        }
        self.runs += 1;
        let RunRequest { run_id, start, entry: first_entry, event: event_json, cache, mut run_on, .. } = request;
        let built = self.frozen.event(&event_json, self.trigger, &mut self.context);
        let event_fields = EventFields::new(event_json);
        let (built, parts) = match built {
            Ok((event, parts)) => (Ok(event), parts),
            Err(e) => (Err(e), event_fields.parts()),
        };
        *self.host.run.borrow_mut() = RunState {
            run_id,
            is_continue: first_entry == Entry::Continue,
            event: event_fields,
            tx_metadata: parts.tx_metadata,
            target_scopes: parts.target_scopes,
            cache,
            ..RunState::default()
        };

        let mut reports = Vec::new();
        match built {
            Err(e) => reports.push(ActionReport::failed_before(start, format!("invalid event: {e}"))),
            Ok(event) => {
                for index in start..self.actions.len() {
                    self.host.run.borrow_mut().index = index;
                    // The host takes the first action as started with the run.
                    if index != start {
                        self.host.outbox.started(run_id, index);
                    }
                    let entry = if index == start { first_entry } else { Entry::Execute };
                    let started_at_ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    let clock = Instant::now();
                    let error = self.run_action(index, entry, &event, inbox).err();
                    let duration_ms = clock.elapsed().as_secs_f64() * 1000.0;
                    if entry == Entry::Continue {
                        self.host.run.borrow_mut().is_continue = false;
                    }
                    let commands = std::mem::take(&mut self.host.run.borrow_mut().commands);
                    let stops = error.is_some()
                        || (commands.iter().any(|c| c.stops_after_action()) && !run_on.passes(&commands));
                    reports.push(ActionReport { index, commands, error, started_at_ms, duration_ms });
                    if stops {
                        break;
                    }
                }
            }
        }

        // The rest of the run's state goes with the reset, after the report is on its way.
        let (transaction_metadata, cache_ops) = {
            let mut run = self.host.run.borrow_mut();
            (std::mem::take(&mut run.tx_metadata), std::mem::take(&mut run.cache_ops))
        };
        self.needs_reset = true;
        RunReport { actions: reports, transaction_metadata, cache_ops }
    }

    fn run_action(
        &mut self,
        index: usize,
        entry: Entry,
        event: &JsValue,
        inbox: &mut dyn Inbox,
    ) -> Result<(), ActionError> {
        let (path, handler_name) = {
            let action = &self.actions[index];
            let handler = match entry {
                Entry::Execute => self.trigger.handler(),
                Entry::Continue => self.trigger.continue_handler().unwrap_or(self.trigger.handler()),
            };
            (action.path.clone(), handler)
        };
        let action = &self.actions[index];
        let wrapper = action.wrapper.clone()?;
        let (filename, dirname) = (action.filename.clone(), action.dirname.clone());
        let context = &mut self.context;
        let fail = |e: JsError, context: &mut Context| describe_error(&e, &path, context);

        // Plain objects on the shared shapes (as `{}` in a script makes them), each run's own.
        let exports = plain_object(context);
        let module = plain_object(context);
        module.insert_property(js_string!("exports"), data_property(exports.clone().into()));
        module.insert_property(js_string!("id"), data_property(filename.clone().into()));
        let args = [
            exports.clone().into(),
            self.requires[index].clone().into(),
            module.clone().into(),
            filename.into(),
            dirname.into(),
        ];
        wrapper.call(&exports.into(), &args, context).map_err(|e| fail(e, context))?;
        self.executor.clone().run_jobs(context).map_err(|e| fail(e, context))?;

        let exported = module.get(js_string!("exports"), context).map_err(|e| fail(e, context))?;
        let Some(exported) = exported.as_object() else {
            return Err(ActionError {
                message: "The Action must export an object.".to_owned(),
                line: None,
                column: None,
            });
        };
        let handler = exported.get(JsString::from(handler_name), context).map_err(|e| fail(e, context))?;
        let Some(handler) = handler.as_object().and_then(JsFunction::from_object) else {
            return Err(ActionError {
                message: format!(
                    "The action does not export {handler_name} (exports.{handler_name} = async (event, api) => {{}})"
                ),
                line: None,
                column: None,
            });
        };
        let result = handler
            .call(&JsValue::undefined(), &[event.clone(), self.api.clone().into()], context)
            .map_err(|e| fail(e, context))?;
        let promise = result.as_object().and_then(|o| JsPromise::from_object(o).ok());
        self.drive(promise, inbox).map_err(|e| fail(e, &mut self.context))
    }

    /// Runs jobs, timers and host answers until the handler's promise settles, then until requests the action
    /// started have been answered (a fire-and-forget `fetch` still goes out, as seed 002's provider relies on).
    fn drive(&mut self, promise: Option<JsPromise>, inbox: &mut dyn Inbox) -> JsResult<()> {
        let mut settled = promise.is_none();
        loop {
            self.executor.clone().run_jobs(&mut self.context)?;
            if let Some(promise) = &promise {
                match promise.state() {
                    PromiseState::Pending => {}
                    PromiseState::Fulfilled(_) => settled = true,
                    PromiseState::Rejected(reason) => return Err(JsError::from_opaque(reason)),
                }
            }
            let waiting_fetches = !self.host.run.borrow().pending_fetches.is_empty();
            if settled && !waiting_fetches {
                return Ok(());
            }
            let next_timer = if settled { None } else { self.executor.next_timer() };
            if !waiting_fetches && next_timer.is_none() {
                return Err(JsNativeError::error()
                    .with_message(
                        "The action's promise never settled: it awaits something that has no pending timer or request",
                    )
                    .into());
            }
            let message = match next_timer {
                Some(due) => match inbox.recv_timeout(due.saturating_duration_since(Instant::now())) {
                    Ok(message) => message,
                    Err(_) => std::process::exit(0),
                },
                None => match inbox.recv() {
                    Ok(message) => Some(message),
                    Err(_) => std::process::exit(0),
                },
            };
            let timed_out = message.is_none();
            if let Some(ToWorker::FetchResult { run_id, id, result }) = message
                && run_id == self.host.run.borrow().run_id
            {
                host::settle_fetch(&self.host, id, result, &mut self.context)?;
            }
            self.executor.run_due_timers(&mut self.context)?;
            // Leave the OS a moment between timer bursts of a tight setInterval.
            if next_timer.is_some() && timed_out {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// Brings the context back to the state it started in after a run: the run's host state, pending jobs and
    /// timers, globals the run added, the `per_run` Maps (console counters, timer ids...). The worker calls it
    /// after sending the run's report, so it is off the login's path; [`FlowContext::run`] calls it itself if it was
    /// not. A reset that cannot prove the context clean marks it tainted.
    pub(crate) fn reset(&mut self) {
        self.needs_reset = false;
        *self.host.run.borrow_mut() = RunState::default();
        self.executor.clear();
        let global = self.context.global_object();
        let ok = (|| -> JsResult<bool> {
            let keys = global.own_property_keys(&mut self.context)?;
            // Lockdown made every global the context started with non-configurable (checked in `new`), so none can be
            // gone: as many keys as then means no key was added, and the lookups can be skipped.
            if !self.globals_fixed || keys.len() != self.global_keys.len() {
                let added: Vec<PropertyKey> = keys.into_iter().filter(|key| !self.global_keys.contains(key)).collect();
                if added.len() > MAX_DELETED_GLOBALS {
                    return Ok(false);
                }
                // The last added first: Boa's property storage shifts what follows a deleted key.
                for key in added.into_iter().rev() {
                    if !global.delete_property_or_throw(key, &mut self.context)? {
                        return Ok(false);
                    }
                }
            }
            let same_prototype = match (global.prototype(), &self.global_prototype) {
                (Some(now), Some(then)) => JsObject::equals(&now, then),
                (None, None) => true,
                _ => false,
            };
            for map in &self.per_run {
                if map.get_size(&mut self.context)?.as_number() != Some(0.0) {
                    map.clear(&mut self.context)?;
                }
            }
            Ok(same_prototype && global.is_extensible(&mut self.context)?)
        })();
        if !matches!(ok, Ok(true)) {
            self.tainted = true;
        }
    }
}

/// The folder of an action's or a module's path: its `__dirname`.
fn dirname(path: &str) -> String {
    Path::new(path).parent().map(|p| p.display().to_string()).unwrap_or_default()
}

/// A property as an assignment creates it: writable, enumerable, configurable.
fn data_property(value: JsValue) -> PropertyDescriptor {
    PropertyDescriptor::builder().value(value).writable(true).enumerable(true).configurable(true).build()
}

/// Compiles an action's or a module's code as the body of its CommonJS wrapper function. The host checked every
/// file at load; the worker proves it again before compiling, so a flow that reached it another way still cannot
/// close the wrapper or nest past what the stacks hold.
fn compile(code: &str, path: &str, context: &mut Context) -> Result<JsFunction, ActionError> {
    let text = wrap(code);
    match nesting_over(code, MAX_NESTING) {
        Some((line, column)) => Err(ActionError {
            message: format!("SyntaxError: the code is nested more than {MAX_NESTING} levels deep"),
            line: Some(line),
            column: Some(column),
        }),
        None => prove_wrapper(&text, path).map(|_| ()).map_err(|(line, column, message)| ActionError {
            message,
            line,
            column,
        }),
    }?;
    let value = context
        .eval(Source::from_bytes(&text).with_path(Path::new(path)))
        .map_err(|e| describe_error(&e, path, context))?;
    value.as_object().and_then(JsFunction::from_object).ok_or_else(|| ActionError {
        message: "The action did not compile to a module".to_owned(),
        line: None,
        column: None,
    })
}

/// Compiles the flow's modules and links them (`node.js`'s `link`): answers the link result (each action's and
/// module's `require`) and the module definitions, both lockdown roots.
fn link_modules(flow: &FlowSpec, node: &JsObject, context: &mut Context) -> Result<(JsObject, JsObject), String> {
    let mut defs = Vec::with_capacity(flow.modules.modules.len());
    for module in &flow.modules.modules {
        let dirname = dirname(&module.path);
        let links = serde_json::to_value(&module.links).map_err(internal)?;
        let links = JsValue::from_json(&links, context).map_err(internal)?;
        let mut def = ObjectInitializer::new(context);
        def.property(js_string!("filename"), JsString::from(module.path.as_str()), Attribute::all())
            .property(js_string!("dirname"), JsString::from(dirname), Attribute::all())
            .property(js_string!("links"), links, Attribute::all());
        let def = def.build();
        match module.kind {
            ModuleKind::Json => {
                let value = serde_json::from_str::<serde_json::Value>(&module.code)
                    .map_err(|e| e.to_string())
                    .and_then(|v| JsValue::from_json(&v, context).map_err(|e| e.to_string()));
                def.set(js_string!("kind"), js_string!("json"), false, context).map_err(internal)?;
                match value {
                    Ok(value) => def.set(js_string!("value"), value, false, context),
                    Err(e) => def.set(js_string!("error"), JsString::from(e), false, context),
                }
                .map_err(internal)?;
            }
            ModuleKind::Js => {
                def.set(js_string!("kind"), js_string!("js"), false, context).map_err(internal)?;
                match compile(&module.code, &module.path, context) {
                    Ok(function) => def.set(js_string!("fn"), function, false, context),
                    Err(e) => {
                        let at = e.line.map(|l| format!(" ({}:{l})", module.path)).unwrap_or_default();
                        def.set(js_string!("error"), JsString::from(format!("{}{at}", e.message)), false, context)
                    }
                }
                .map_err(internal)?;
            }
        }
        defs.push(JsValue::from(def));
    }
    let defs = JsArray::from_iter(defs, context);
    let mut action_links = Vec::with_capacity(flow.actions.len());
    for i in 0..flow.actions.len() {
        let links = flow.modules.actions.get(i).cloned().unwrap_or_default();
        let links = serde_json::to_value(&links).map_err(internal)?;
        action_links.push(JsValue::from_json(&links, context).map_err(internal)?);
    }
    let action_links = JsArray::from_iter(action_links, context);
    let link = node.get(js_string!("link"), context).map_err(internal)?;
    let link = link.as_object().and_then(JsFunction::from_object).ok_or_else(|| internal("link"))?;
    let linked =
        link.call(&JsValue::undefined(), &[defs.clone().into(), action_links.into()], context).map_err(internal)?;
    let linked = linked.as_object().ok_or_else(|| internal("link result"))?;
    Ok((linked, defs.into()))
}

/// Turns a script error into a message and a position in the action file.
pub(crate) fn describe_error(error: &JsError, path: &str, context: &mut Context) -> ActionError {
    let rendered = error.to_string();
    let message = match error.try_native(context) {
        Ok(native) => {
            let kind = native.kind().to_string();
            let text = native.message().trim().to_owned();
            if kind.starts_with("RuntimeLimit") {
                if text.contains("recursive") {
                    "RangeError: Maximum call stack size exceeded".to_owned()
                } else {
                    format!("RangeError: {text}")
                }
            } else if text.is_empty() {
                kind
            } else {
                format!("{kind}: {text}")
            }
        }
        Err(_) => match error.as_opaque() {
            Some(value) => opaque_message(value, context),
            // Boa reports its runtime limits as engine errors that scripts cannot catch.
            None if rendered.contains("recursive calls") => "RangeError: Maximum call stack size exceeded".to_owned(),
            None => rendered.lines().next().unwrap_or_default().replacen("RuntimeLimitError", "RangeError", 1),
        },
    };
    let mut haystack = rendered;
    if let Some(value) = error.as_opaque()
        && let Some(object) = value.as_object()
        && let Ok(stack) = object.get(js_string!("stack"), context)
        && let Some(stack) = stack.as_string()
    {
        haystack.push('\n');
        haystack.push_str(&stack.to_std_string_escaped());
    }
    let (line, column) = locate(&haystack, path).unzip();
    let column = match (line, column) {
        (Some(1), Some(c)) => Some(c.saturating_sub(WRAPPER_HEAD.len() as u32).max(1)),
        (_, c) => c,
    };
    ActionError { message: strip_location(&message), line, column }
}

fn opaque_message(value: &JsValue, context: &mut Context) -> String {
    if let Some(object) = value.as_object() {
        let name =
            object.get(js_string!("name"), context).ok().and_then(|v| v.as_string()).map(|s| s.to_std_string_escaped());
        let message = object
            .get(js_string!("message"), context)
            .ok()
            .and_then(|v| v.as_string())
            .map(|s| s.to_std_string_escaped());
        if let Some(message) = message {
            return match name {
                Some(name) if !name.is_empty() => format!("{name}: {message}"),
                _ => message,
            };
        }
    }
    value.to_string(context).map(|s| s.to_std_string_escaped()).unwrap_or_else(|_| "uncaught exception".to_owned())
}

/// Removes the ` at line N, col M (native)` suffix Boa puts on syntax error messages.
fn strip_location(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    match first.find(" at line ") {
        Some(i) => first[..i].trim_end().to_owned(),
        None => first.to_owned(),
    }
}

/// Finds the first `path:line:col` (stack frames) or `line N, col M` (syntax errors) in `text`.
fn locate(text: &str, path: &str) -> Option<(u32, u32)> {
    let needle = format!("{path}:");
    let mut rest = text;
    while let Some(i) = rest.find(&needle) {
        let after = &rest[i + needle.len()..];
        let mut parts = after.splitn(3, |c: char| !c.is_ascii_digit());
        if let (Some(line), Some(column)) = (parts.next(), parts.next())
            && let (Ok(line), Ok(column)) = (line.parse(), column.parse())
        {
            return Some((line, column));
        }
        rest = after;
    }
    crate::actions::syntax_position(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_stack_frames_and_syntax_positions() {
        assert_eq!(locate("TypeError: x\n    at f (a/10-x.js:4:8)", "a/10-x.js"), Some((4, 8)));
        assert_eq!(locate("SyntaxError: unexpected token at line 3, col 7 (native)", "a.js"), Some((3, 7)));
        assert_eq!(locate("nothing here", "a.js"), None);
    }

    #[test]
    fn strips_boa_position_suffixes() {
        assert_eq!(
            strip_location("SyntaxError: unexpected token ';', primary expression at line 1, col 26 (native)"),
            "SyntaxError: unexpected token ';', primary expression"
        );
        assert_eq!(strip_location("Error: plain"), "Error: plain");
    }
}
