//! The messages between the host process and a sandbox worker, and their framing.
//!
//! A worker reads frames on stdin and writes frames on stdout: a 4-byte big-endian length, then that many bytes
//! of JSON. A run request's frame is the one exception: its event's JSON text follows the request's JSON inside the
//! same frame ([`encode_to_worker`], [`read_to_worker`]), so the worker never scans the event just to find where it
//! ends. Nothing else is ever written to stdout by a worker; its stderr carries panics and allocation failures,
//! which the host reads to explain a worker's death.
//!
//! A message is `{"type": "run", "data": {...}}`: the tag comes first, so the body is parsed in place. (With the tag
//! inside the body, serde buffers the whole frame before it knows the variant, then parses the buffer again.)

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

use gatehouse_types::{Command, FactorType, JsonMap, Trigger};
use serde::{Deserialize, Serialize};

/// Largest frame either side accepts; a bigger length prefix means a corrupted stream.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// One action's code as the worker compiles it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionSource {
    /// File name, e.g. `10-step-up.js`: the name logs and outcomes use.
    pub name: String,
    /// Path shown in stack traces.
    pub path: String,
    /// JavaScript source (a CommonJS module).
    pub code: String,
}

/// The actions of one trigger, in execution order, with a content hash that names this version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowSpec {
    /// SHA-256 over the trigger, names and code: equal hashes mean equal flows.
    pub hash: String,
    /// The trigger the actions are written for.
    pub trigger: Trigger,
    /// The actions. Shared, as `modules` is: a run's request holds the flow without copying its code.
    pub actions: Arc<[ActionSource]>,
    /// The npm dependencies and relative files the actions `require`, resolved by the host when the flow loads
    /// (`crate::modules`). Shared, so the per-run copy of a flow does not copy their sources.
    #[serde(default)]
    pub modules: Arc<ModuleGraph>,
}

/// What one `require(specifier)` call with a literal name resolves to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "to", rename_all = "snake_case")]
pub enum Link {
    /// A module of [`ModuleGraph::modules`], by index.
    Module(usize),
    /// A Node built-in the sandbox provides (`crypto`, `util`, ...).
    Builtin(String),
    /// A Node built-in the sandbox does not provide (`fs`, `http`, ...): a stub whose every call throws.
    Unavailable(String),
    /// Could not be resolved: `require` throws `MODULE_NOT_FOUND` with this reason, as Node would when the call
    /// runs (only ever inside a dependency; an action's own unresolved `require` fails the flow's load).
    Missing(String),
}

/// How a module's source is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    /// A CommonJS module.
    Js,
    /// A `.json` file: `require` returns its parsed value.
    Json,
}

/// One file a flow's actions load through `require`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModuleSource {
    /// Its path (`__filename`, and what stack traces show).
    pub path: String,
    /// JavaScript or JSON.
    pub kind: ModuleKind,
    /// The source.
    pub code: String,
    /// Its own `require` calls with a literal name.
    pub links: BTreeMap<String, Link>,
}

/// The modules of a flow and how each action's `require` calls resolve.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModuleGraph {
    /// Every module reachable from the actions, each once.
    pub modules: Vec<ModuleSource>,
    /// Per action (by index), its `require` calls with a literal name.
    pub actions: Vec<BTreeMap<String, Link>>,
}

impl ModuleGraph {
    /// Whether no action requires anything.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty() && self.actions.iter().all(BTreeMap::is_empty)
    }
}

/// Which handler starts the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// `onExecute*` of the first action.
    Execute,
    /// `onContinuePostLogin` of the first action (after a redirect), then `onExecute*` of the rest.
    Continue,
}

/// One stored `api.cache` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The value.
    pub value: String,
    /// Expiry, epoch milliseconds.
    pub expires_at: i64,
}

/// A change to the trigger's cache made during a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CacheOp {
    /// `api.cache.set`.
    Set {
        /// Key.
        key: String,
        /// Record.
        record: CacheRecord,
    },
    /// `api.cache.delete`.
    Delete {
        /// Key.
        key: String,
    },
}

/// A run's event as JSON. The host encodes its typed event once, straight to text ([`EventJson::Encoded`]), which
/// crosses the pipe after the request's JSON and comes out as text again: the worker builds its JavaScript objects
/// from the text, with no `serde_json::Value` in between.
#[derive(Clone, Debug)]
pub enum EventJson {
    /// JSON text. The host's is made by serde_json; a worker's came from a frame, and is checked as it is built
    /// (text that is not one JSON object fails the run with "invalid event").
    Encoded(Box<str>),
    /// A parsed value.
    Parsed(serde_json::Value),
}

/// Bytes reserved for an event's JSON text before encoding it (the bench's event is about 2.3 KB).
const EVENT_CAPACITY: usize = 4 * 1024;

impl EventJson {
    /// Encodes `event` as JSON text, into a buffer sized for a typical event (growing it from empty was an eighth of
    /// the encoding's instructions).
    pub fn encode<T: Serialize + ?Sized>(event: &T) -> serde_json::Result<Self> {
        let mut text = Vec::with_capacity(EVENT_CAPACITY);
        serde_json::to_writer(&mut text, event)?;
        // serde_json writes UTF-8 only: the lossy branch never runs.
        let text = String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Ok(EventJson::Encoded(text.into_boxed_str()))
    }

    /// Writes the event's JSON text.
    fn write_to(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match self {
            EventJson::Encoded(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(())
            }
            EventJson::Parsed(value) => serde_json::to_writer(out, value),
        }
    }
}

impl Default for EventJson {
    /// No event: what a run request read without one holds, which fails the run as an invalid event.
    fn default() -> Self {
        EventJson::Parsed(serde_json::Value::Null)
    }
}

impl From<serde_json::Value> for EventJson {
    fn from(value: serde_json::Value) -> Self {
        EventJson::Parsed(value)
    }
}

/// A request to run actions of a flow, starting at `start`, until one stops the flow or all ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRequest {
    /// Matches the messages of this run.
    pub run_id: u64,
    /// The flow.
    pub flow: FlowSpec,
    /// Index of the first action to run.
    pub start: usize,
    /// Handler of the first action.
    pub entry: Entry,
    /// The event, as JSON (the trigger's shape). Not part of the request's JSON: its text follows it in the frame.
    #[serde(skip)]
    pub event: EventJson,
    /// The trigger's cache as the run starts.
    pub cache: BTreeMap<String, CacheRecord>,
    /// MFA commands the worker may run past instead of ending the run (none unless the host says so).
    #[serde(default, skip_serializing_if = "RunOn::is_never")]
    pub run_on: RunOn,
}

/// Challenges a post-login run goes on past: the host would skip them anyway, because one of their factors was
/// already completed in this transaction (reference 4.3: "Factor already successfully challenged in the current
/// transaction: ignored"). Running on saves the run the host would otherwise start for the next action. The host
/// fills this only where its own planning would skip the command without a trace: "Customize MFA Factors using
/// Actions" is on, and the flow's MFA command cap has room for every command the run goes past.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOn {
    /// Factors completed in this transaction.
    pub completed: Vec<FactorType>,
    /// MFA commands the run may still issue before the host's cap would fail the flow.
    pub mfa_budget: u32,
}

impl RunOn {
    /// The default: every MFA command ends the run.
    pub fn is_never(&self) -> bool {
        self.completed.is_empty()
    }

    /// Whether the run goes on after an action that issued `commands`, spending the budget when it does. It does
    /// only when every command that would end the run is a challenge one of whose factors is completed.
    pub fn passes(&mut self, commands: &[Command]) -> bool {
        let steps = commands.iter().filter(|c| c.is_mfa_step()).count().try_into().unwrap_or(u32::MAX);
        let satisfied = |command: &Command| {
            crate::flow::challenge_already_satisfied(command, |kind| self.completed.contains(&kind))
        };
        if steps > self.mfa_budget || !commands.iter().filter(|c| c.stops_after_action()).all(satisfied) {
            return false;
        }
        self.mfa_budget -= steps;
        true
    }
}

/// An HTTP request made by `fetch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// Method, upper-case.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers, in the order given.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: Option<String>,
}

/// The answer to a `fetch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub status_text: String,
    /// Headers (names lower-case).
    pub headers: Vec<(String, String)>,
    /// Body as text (invalid UTF-8 replaced).
    pub body: String,
    /// Final URL.
    pub url: String,
}

/// Host to worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ToWorker {
    /// Run actions.
    Run(Box<RunRequest>),
    /// Run actions of a flow this worker was sent before: `flow.actions` is left empty (the code of every action
    /// need not cross the pipe and be parsed again on every run). A worker that no longer holds the flow answers
    /// [`FromWorker::NeedFlow`], and the host sends the request again as [`ToWorker::Run`].
    RunKnownFlow(Box<RunRequest>),
    /// The result of a `fetch` the worker asked for.
    FetchResult {
        /// The run.
        run_id: u64,
        /// The worker's request id.
        id: u64,
        /// The response, or why there is none.
        result: Result<FetchResponse, String>,
    },
}

/// Where in an action an error happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionError {
    /// The message, `TypeError: ...`.
    pub message: String,
    /// 1-based line in the action file, when known.
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub column: Option<u32>,
}

/// What one action did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionReport {
    /// Index in the flow.
    pub index: usize,
    /// Commands it recorded, in call order.
    pub commands: Vec<Command>,
    /// Set when it threw (or a limit stopped it).
    pub error: Option<ActionError>,
    /// When it started, epoch milliseconds (the worker's clock).
    #[serde(default)]
    pub started_at_ms: i64,
    /// How long it ran, milliseconds: its module code, its handler and what it awaited.
    #[serde(default)]
    pub duration_ms: f64,
}

/// The result of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The actions that ran, in order.
    pub actions: Vec<ActionReport>,
    /// `event.transaction.metadata` at the end of the run.
    pub transaction_metadata: JsonMap,
    /// Cache changes, in order.
    pub cache_ops: Vec<CacheOp>,
}

impl RunReport {
    /// A run that failed before its first action (`start`) ran any code: that action's error is `message`.
    pub fn failed_before(start: usize, message: String) -> RunReport {
        RunReport {
            actions: vec![ActionReport::failed_before(start, message)],
            transaction_metadata: Default::default(),
            cache_ops: Vec::new(),
        }
    }
}

impl ActionReport {
    /// Action `index`, failed with `message` before any of its code ran.
    pub fn failed_before(index: usize, message: String) -> ActionReport {
        ActionReport {
            index,
            commands: Vec::new(),
            error: Some(ActionError { message, line: None, column: None }),
            started_at_ms: 0,
            duration_ms: 0.0,
        }
    }
}

/// Worker to host.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum FromWorker {
    /// The worker started and is ready for requests.
    Ready {
        /// Its process id.
        pid: u32,
    },
    /// An action is about to run (so a timeout can name it). Not sent for the run's first action: the host knows
    /// it from the request. A worker with a progress file ([`Progress`]) writes that instead.
    ActionStarted {
        /// The run.
        run_id: u64,
        /// Index of the action.
        index: usize,
    },
    /// A `console.*` call.
    Log {
        /// The run.
        run_id: u64,
        /// Index of the action.
        index: usize,
        /// Level.
        level: String,
        /// Formatted message.
        message: String,
    },
    /// A `fetch` to perform.
    Fetch {
        /// The run.
        run_id: u64,
        /// Index of the action.
        index: usize,
        /// Request id, echoed in the answer.
        id: u64,
        /// The request.
        request: FetchRequest,
    },
    /// The worker does not hold the flow of a [`ToWorker::RunKnownFlow`]; nothing ran.
    NeedFlow {
        /// The run.
        run_id: u64,
    },
    /// The run finished.
    Done {
        /// The run.
        run_id: u64,
        /// What happened.
        report: RunReport,
        /// The worker gave itself every CPU since its last report (to build a context outside any run) and still
        /// has every CPU: the host forgets the CPU it pinned it to ([`crate::placement::widen`]).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        on_every_cpu: bool,
    },
}

/// Which action of which run a worker is in, written by the worker over the first bytes of a file the host created
/// (`sandbox-worker --progress-file`) and read by the host only when a run fails (a deadline, a crash), to name the
/// action. Writing it costs the worker one `pwrite` and the host nothing, where a frame per action woke the host's
/// reader, then the run's task, for an answer needed only on failure.
///
/// 24 bytes: run id, action index, and a check of both, so a read that raced a write is discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The run.
    pub run_id: u64,
    /// The action that started last.
    pub index: usize,
}

impl Progress {
    /// Bytes of a record.
    pub const LEN: usize = 24;
    const CHECK: u64 = 0x9e37_79b9_7f4a_7c15;

    /// The record's bytes.
    pub fn encode(self) -> [u8; Self::LEN] {
        let index = self.index as u64;
        let mut bytes = [0u8; Self::LEN];
        bytes[..8].copy_from_slice(&self.run_id.to_le_bytes());
        bytes[8..16].copy_from_slice(&index.to_le_bytes());
        bytes[16..].copy_from_slice(&(self.run_id ^ index.rotate_left(32) ^ Self::CHECK).to_le_bytes());
        bytes
    }

    /// The record in `bytes`, if whole and consistent.
    pub fn decode(bytes: &[u8]) -> Option<Progress> {
        let word = |i: usize| bytes.get(i * 8..i * 8 + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
        let (run_id, index, check) = (word(0)?, word(1)?, word(2)?);
        (check == run_id ^ index.rotate_left(32) ^ Self::CHECK)
            .then(|| Some(Progress { run_id, index: usize::try_from(index).ok()? }))
            .flatten()
    }
}

/// Encodes one frame (length prefix and JSON) into one buffer, so it goes out in one write.
pub fn encode_frame<T: Serialize>(message: &T) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut bytes, message).map_err(io::Error::other)?;
    let len = u32::try_from(bytes.len() - 4).map_err(|_| io::Error::other("frame too large"))?;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    Ok(bytes)
}

/// Encodes a message to a worker as one frame: a run request's JSON is followed by its event's JSON text.
pub fn encode_to_worker(message: &ToWorker) -> io::Result<Vec<u8>> {
    let mut bytes = encode_frame(message)?;
    if let ToWorker::Run(request) | ToWorker::RunKnownFlow(request) = message {
        request.event.write_to(&mut bytes).map_err(io::Error::other)?;
        let len = u32::try_from(bytes.len() - 4).map_err(|_| io::Error::other("frame too large"))?;
        bytes[..4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(bytes)
}

/// Reads one message from the host; `Ok(None)` at a clean end of stream. A run request's event is the text that
/// follows its JSON in the frame, taken as it is: building the event checks it.
pub fn read_to_worker<R: Read>(input: &mut R) -> io::Result<Option<ToWorker>> {
    let Some(body) = read_body(input)? else { return Ok(None) };
    let invalid = |e: serde_json::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    // A stream, for the offset where the message's JSON ends (a message is an object, so it needs no separator).
    let mut json = serde_json::Deserializer::from_slice(&body).into_iter::<ToWorker>();
    let mut message = match json.next() {
        Some(message) => message.map_err(invalid)?,
        None => return Err(io::Error::new(io::ErrorKind::InvalidData, "an empty frame")),
    };
    let rest = &body[json.byte_offset()..];
    match &mut message {
        ToWorker::Run(request) | ToWorker::RunKnownFlow(request) => {
            let text = std::str::from_utf8(rest).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            request.event = EventJson::Encoded(text.into());
        }
        ToWorker::FetchResult { .. } => {
            if rest.iter().any(|b| !b.is_ascii_whitespace()) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "trailing bytes after a message"));
            }
        }
    }
    Ok(Some(message))
}

/// Writes one frame.
pub fn write_frame<W: Write, T: Serialize>(out: &mut W, message: &T) -> io::Result<()> {
    out.write_all(&encode_frame(message)?)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub fn read_frame<R: Read, T: for<'de> Deserialize<'de>>(input: &mut R) -> io::Result<Option<T>> {
    let Some(body) = read_body(input)? else { return Ok(None) };
    serde_json::from_slice(&body).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads one frame's bytes; `Ok(None)` at a clean end of stream.
fn read_body<R: Read>(input: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame length over limit"));
    }
    // The buffer grows with the bytes that arrive, not with the length a (hostile) peer claims.
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    input.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() != len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "frame shorter than its length"));
    }
    Ok(Some(buf))
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A progress record reads back as written; one with any byte changed (a read that raced a write, or
        /// garbage) or cut short reads as nothing.
        #[test]
        fn progress_records_round_trip_and_torn_ones_are_refused(
            run_id in any::<u64>(), index in 0usize..64, byte in 0usize..Progress::LEN, flip in 1u8..=255, cut in 0usize..Progress::LEN,
        ) {
            let bytes = Progress { run_id, index }.encode();
            prop_assert_eq!(Progress::decode(&bytes), Some(Progress { run_id, index }));
            let mut torn = bytes;
            torn[byte] ^= flip;
            prop_assert_eq!(Progress::decode(&torn), None);
            prop_assert_eq!(Progress::decode(&bytes[..cut]), None);
        }

        /// Arbitrary bytes from a worker (or a host) never panic the frame reader: a frame, an error or the end.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut input = bytes.as_slice();
            for _ in 0..4 {
                match read_frame::<_, FromWorker>(&mut input) {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            let mut input = bytes.as_slice();
            let _ = read_to_worker(&mut input);
        }

        /// A run request's event crosses after the request's JSON and comes back as the same text, whichever form
        /// the host held it in; the request's other fields come back too.
        #[test]
        fn run_requests_carry_their_event_after_their_json(
            run_id in any::<u64>(), text in ".{0,100}", number in any::<i64>(), parsed in any::<bool>(), known in any::<bool>(),
        ) {
            let event = serde_json::json!({ "user": { "email": text, "n": number }, "list": [1, "}", { "a": null }] });
            let request = RunRequest {
                run_id,
                flow: FlowSpec { hash: "h".into(), trigger: Trigger::PostLogin, actions: Default::default(), modules: Default::default() },
                start: 3,
                entry: Entry::Execute,
                event: if parsed { EventJson::Parsed(event.clone()) } else { EventJson::encode(&event).unwrap() },
                cache: Default::default(),
                run_on: Default::default(),
            };
            let message = if known { ToWorker::RunKnownFlow(Box::new(request)) } else { ToWorker::Run(Box::new(request)) };
            let bytes = encode_to_worker(&message).unwrap();
            let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            prop_assert_eq!(len, bytes.len() - 4);
            let back = read_to_worker(&mut bytes.as_slice()).unwrap().unwrap();
            let (ToWorker::Run(back) | ToWorker::RunKnownFlow(back)) = back else { panic!("a run request") };
            prop_assert_eq!(back.run_id, run_id);
            prop_assert_eq!(back.start, 3);
            let EventJson::Encoded(back_text) = &back.event else { panic!("text") };
            prop_assert_eq!(back_text.as_ref(), serde_json::to_string(&event).unwrap());
        }

        /// A length prefix claiming up to the limit, followed by little data, is refused without allocating
        /// what it claims.
        #[test]
        fn a_claimed_length_is_not_trusted(claimed in 0u32..=(MAX_FRAME as u32), body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut bytes = claimed.to_be_bytes().to_vec();
            bytes.extend_from_slice(&body);
            let answer = read_frame::<_, FromWorker>(&mut bytes.as_slice());
            if (claimed as usize) > body.len() {
                prop_assert!(answer.is_err());
            }
        }

        /// Every frame the encoder writes is read back as it was.
        #[test]
        fn frames_round_trip(text in ".{0,200}") {
            let message = serde_json::json!({ "text": text });
            let bytes = encode_frame(&message).unwrap();
            let back: Option<serde_json::Value> = read_frame(&mut bytes.as_slice()).unwrap();
            prop_assert_eq!(back, Some(message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut bytes = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        bytes.extend_from_slice(body);
        bytes
    }

    /// Only a run request carries text after its JSON: anything after another message is refused, and a run
    /// request's event must be UTF-8 (whether it is JSON is for the event builder to say, as "invalid event").
    #[test]
    fn only_run_requests_carry_a_tail() {
        let fetch = br#"{"type":"fetch_result","data":{"run_id":1,"id":2,"result":{"Err":"refused"}}}"#;
        assert!(matches!(read_to_worker(&mut frame(fetch).as_slice()), Ok(Some(ToWorker::FetchResult { .. }))));
        let mut trailing = fetch.to_vec();
        trailing.extend_from_slice(b"{}");
        assert!(read_to_worker(&mut frame(&trailing).as_slice()).is_err());

        let run = EventJson::encode(&serde_json::json!({})).unwrap();
        let request = RunRequest {
            run_id: 1,
            flow: FlowSpec {
                hash: "h".into(),
                trigger: Trigger::PostLogin,
                actions: Default::default(),
                modules: Default::default(),
            },
            start: 0,
            entry: Entry::Execute,
            event: run,
            cache: Default::default(),
            run_on: Default::default(),
        };
        let mut bytes = encode_to_worker(&ToWorker::Run(Box::new(request))).unwrap();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        let len = u32::try_from(bytes.len() - 4).unwrap();
        bytes[..4].copy_from_slice(&len.to_be_bytes());
        assert!(read_to_worker(&mut bytes.as_slice()).is_err());
        assert!(read_to_worker(&mut frame(b"").as_slice()).is_err());
    }
}
