//! A run's `event`: the deep-frozen object actions see, built straight from the JSON text the host sent, and the
//! few fields commands read back from that text.
//!
//! The frame keeps the event as text ([`EventJson::Encoded`]); [`FrozenBuilder::event`] reads the top-level object
//! itself, takes each part it kept from an earlier run by comparing bytes, and walks the other parts with serde,
//! creating each JavaScript object, array and string as it goes, so no `serde_json::Value` is built (and dropped)
//! on every run. What the walk creates is what `JsValue::from_json` would create from the parsed value,
//! frozen: numbers that fit an `i32` are integers, the others doubles; keys keep the text's order (the host's maps
//! are order-preserving, so this is also what a parsed `Value` had).

use std::cell::OnceCell;
use std::fmt;

use boa_engine::builtins::object::OrdinaryObject;
use boa_engine::object::builtins::{JsArray, JsFunction};
use boa_engine::property::{PropertyDescriptor, PropertyDescriptorBuilder};
use boa_engine::{Context, JsObject, JsResult, JsString, JsValue, js_string};
use gatehouse_types::{JsonMap, Trigger};
use rustc_hash::FxHashMap;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::protocol::EventJson;
use crate::worker::host;

/// Strings kept by a [`FrozenBuilder`], at most; the cache starts again when it is full.
const MAX_CACHED_STRINGS: usize = 4096;

/// The longest string a [`FrozenBuilder`] keeps, in bytes.
const MAX_CACHED_LENGTH: usize = 64;

/// Texts kept per place in the event (`user`, `authentication/riskAssessment`...); the place's list starts again
/// when it is full, so parts that change on every login do not push out those that do not.
const MAX_TEXTS_PER_PLACE: usize = 8;

/// Places a [`FrozenBuilder`] keeps parts for, at most; the whole cache starts again past this.
const MAX_PLACES: usize = 64;

/// Bytes of JSON text behind the kept parts, at most; the whole cache starts again past this.
const MAX_PART_BYTES: usize = 256 * 1024;

/// The longest part kept, in bytes of JSON text (a larger one is built every time).
const MAX_PART_LENGTH: usize = 16 * 1024;

/// Builds deep-frozen JavaScript values from JSON: the objects and arrays `JsValue::from_json` builds, with every
/// object and array frozen.
///
/// One builder serves every run of a context. It keeps the short strings it has made, property names and values
/// (an event's names and most of its values repeat on every run of a flow, and a string is an immutable primitive,
/// so sharing one between runs shares no state: a script cannot tell two equal strings apart). An object whose
/// properties were all inserted frozen is frozen once it is non-extensible, so the per-property pass of
/// SetIntegrityLevel is skipped.
///
/// It also keeps the frozen objects and arrays it built for the event's parts ([`Parts`]): a part whose JSON text
/// is the same as one built before at the same place is that object again. Most of an event does not change between
/// the runs of one login (only `authentication.methods` grows at a resume), and the application's parts (`client`,
/// `connection`, `tenant`...) are the same for every user. Sharing a deep-frozen object between runs shares no state:
/// nothing can be added to it, changed, or attached (Boa refuses private fields on a non-extensible object), and
/// nothing of a run survives it to recognise the object later (`FlowContext::reset`, the reachability test).
#[derive(Default)]
pub(crate) struct FrozenBuilder {
    strings: FxHashMap<Box<str>, JsString>,
    parts: Parts,
    /// The `transaction` objects built last, by trigger and JSON text, with what the run state takes from each.
    transactions: Vec<KeptTransaction>,
    /// Each trigger's live `transaction` getter (`host::transaction_getter`), made once.
    getters: Vec<(Trigger, Option<(JsString, JsFunction)>)>,
}

/// A kept `transaction`. Its live getter reads the running run's state (`host::RunState`), not the run it was built
/// in, and is frozen like the rest of the object, so one login's runs can share it.
struct KeptTransaction {
    trigger: Trigger,
    text: Box<str>,
    value: JsValue,
    parts: EventParts,
}

/// The parts kept at one place, by their JSON text, and the bytes of those texts.
type Place = (FxHashMap<Box<str>, JsValue>, usize);

/// The event parts a [`FrozenBuilder`] built, by place and JSON text, within the bounds above.
#[derive(Default)]
struct Parts {
    places: FxHashMap<Box<str>, Place>,
    bytes: usize,
}

impl Parts {
    fn get(&self, place: &str, text: &str) -> Option<JsValue> {
        self.places.get(place)?.0.get(text).cloned()
    }

    /// The part kept at `place` whose text `rest` begins with, and that text's length. Only objects and arrays are
    /// kept, and each is one whole JSON value, so at most one of a place's texts can begin `rest`, and the value
    /// that begins `rest` is exactly it.
    fn prefix_of(&self, place: &str, rest: &str) -> Option<(JsValue, usize)> {
        let (texts, _) = self.places.get(place)?;
        texts.iter().find(|(text, _)| rest.as_bytes().starts_with(text.as_bytes())).map(|(t, v)| (v.clone(), t.len()))
    }

    fn insert(&mut self, place: &str, text: &str, value: &JsValue) {
        if text.len() > MAX_PART_LENGTH {
            return;
        }
        if self.bytes + text.len() > MAX_PART_BYTES
            || (self.places.len() >= MAX_PLACES && !self.places.contains_key(place))
        {
            self.places.clear();
            self.bytes = 0;
        }
        let (texts, bytes) = self.places.entry(place.into()).or_default();
        if texts.len() >= MAX_TEXTS_PER_PLACE {
            texts.clear();
            self.bytes -= *bytes;
            *bytes = 0;
        }
        texts.insert(text.into(), value.clone());
        *bytes += text.len();
        self.bytes += text.len();
    }
}

/// What the run state takes from the event besides the object itself: the values behind the live getters.
#[derive(Clone, Default)]
pub(crate) struct EventParts {
    /// `event.transaction.metadata` (an empty map unless it is an object).
    pub tx_metadata: JsonMap,
    /// The strings of `event.transaction.target_scopes`.
    pub target_scopes: Vec<String>,
}

impl EventParts {
    /// The parts of a parsed event.
    fn of(event: &Value) -> EventParts {
        EventParts {
            tx_metadata: event.pointer("/transaction/metadata").and_then(Value::as_object).cloned().unwrap_or_default(),
            target_scopes: event.pointer("/transaction/target_scopes").map(strings).unwrap_or_default(),
        }
    }
}

impl FrozenBuilder {
    /// The string `text`, from the cache when it is there. Values that change on every login (timestamps, ids)
    /// fill the cache over time; it is emptied when full rather than left to serve only what came first.
    fn string(&mut self, text: &str) -> JsString {
        if let Some(string) = self.strings.get(text) {
            return string.clone();
        }
        let string = JsString::from(text);
        if text.len() <= MAX_CACHED_LENGTH {
            if self.strings.len() >= MAX_CACHED_STRINGS {
                self.strings.clear();
            }
            self.strings.insert(text.into(), string.clone());
        }
        string
    }

    /// Adds the data property `key` as a frozen object has it: enumerable, read-only, non-configurable.
    pub(crate) fn insert(&mut self, object: &JsObject, key: JsString, value: JsValue) {
        object.insert_property(key, frozen(value));
    }

    /// Freezes `object`, all of whose own properties were added with [`FrozenBuilder::insert`] (or are accessors
    /// defined non-configurable, or an array's read-only `length`).
    ///
    /// This is `Object.preventExtensions` called from Rust (Boa has no other public way to the internal method):
    /// the same [[PreventExtensions]] without a JavaScript call's frame, about a tenth of its instructions.
    pub(crate) fn seal_inserted(&self, object: &JsObject, context: &mut Context) -> JsResult<()> {
        OrdinaryObject::prevent_extensions(&JsValue::undefined(), &[object.clone().into()], context)?;
        Ok(())
    }

    /// Builds a run's deep-frozen `event` for `trigger` from its JSON, which must be an object. On post-login,
    /// `event.transaction.metadata` is a getter over the run's live transaction metadata, and on
    /// credentials-exchange `event.transaction.target_scopes` one over the live target scopes, defined after the
    /// transaction's other properties. The values behind them come back as [`EventParts`].
    pub(crate) fn event(
        &mut self,
        json: &EventJson,
        trigger: Trigger,
        context: &mut Context,
    ) -> Result<(JsValue, EventParts), String> {
        let mut parts = EventParts::default();
        let built = match json {
            EventJson::Encoded(text) => self.event_text(text, trigger, &mut parts, context),
            EventJson::Parsed(value) => {
                let frozen = Frozen { builder: self, context, transaction: None, below: None };
                EventSeed { frozen, trigger, parts: &mut parts }.deserialize(value).map_err(|e| e.to_string())
            }
        };
        built.map(|event| (event, parts))
    }

    /// The event from its text, its top-level object read here rather than through serde: a top-level part whose
    /// text begins with a kept part's text *is* that part (a kept part is one whole JSON object or array, whose end
    /// its text fixes), so it is found by comparing bytes, where serde would scan the whole part to find its end
    /// before it could be looked up. A part that is not kept is scanned and built ([`FrozenBuilder::build_part`]);
    /// the `transaction` is kept by its own rule ([`FrozenBuilder::transaction`]). Text that is not one JSON object
    /// is an error, as serde's would be.
    fn event_text(
        &mut self,
        text: &str,
        trigger: Trigger,
        parts: &mut EventParts,
        context: &mut Context,
    ) -> Result<JsValue, String> {
        let object = plain_object(context);
        let mut top = TopLevel { text, at: 0 };
        top.expect(b'{')?;
        if !top.eat(b'}') {
            loop {
                let name = top.key()?;
                top.expect(b':')?;
                top.skip_whitespace();
                let value = if name == "transaction" {
                    self.transaction(&mut top, trigger, parts, context)?
                } else if let Some((value, length)) = self.parts.prefix_of(&name, top.rest()) {
                    top.at += length;
                    value
                } else {
                    let value_text = top.value()?;
                    self.build_part(&name, value_text, true, context).map_err(|e| e.to_string())?
                };
                let key = self.string(&name);
                self.insert(&object, key, value);
                if !top.eat(b',') {
                    top.expect(b'}')?;
                    break;
                }
            }
        }
        top.skip_whitespace();
        if top.at != text.len() {
            return Err(top.error("trailing characters"));
        }
        self.seal_inserted(&object, context).map_err(|e| e.to_string())?;
        Ok(object.into())
    }

    /// The live getter of `trigger`'s `transaction`, made on first use.
    fn transaction_getter(
        &mut self,
        trigger: Trigger,
        context: &mut Context,
    ) -> JsResult<Option<(JsString, JsFunction)>> {
        if let Some((_, getter)) = self.getters.iter().find(|(t, _)| *t == trigger) {
            return Ok(getter.clone());
        }
        let getter = host::transaction_getter(trigger, context)?;
        self.getters.push((trigger, getter.clone()));
        Ok(getter)
    }

    /// The event's `transaction`, at `top`: the one kept for the same text (a login's later runs), or built and kept
    /// (its arrays and objects through the kept parts).
    fn transaction(
        &mut self,
        top: &mut TopLevel<'_>,
        trigger: Trigger,
        parts: &mut EventParts,
        context: &mut Context,
    ) -> Result<JsValue, String> {
        let rest = top.rest();
        if let Some(kept) =
            self.transactions.iter().find(|t| t.trigger == trigger && rest.as_bytes().starts_with(t.text.as_bytes()))
        {
            top.at += kept.text.len();
            *parts = kept.parts.clone();
            return Ok(kept.value.clone());
        }
        let text = top.value()?;
        let mut json = serde_json::Deserializer::from_str(text);
        let frozen = Frozen {
            builder: &mut *self,
            context,
            transaction: Some((trigger, &mut *parts)),
            below: Some("transaction"),
        };
        let value = frozen.deserialize(&mut json).and_then(|v| json.end().map(|()| v)).map_err(|e| e.to_string())?;
        // Only an object is kept (its text then ends where it does); a login's runs share one, so a few suffice.
        if value.is_object() && text.starts_with('{') && text.len() <= MAX_PART_LENGTH {
            if self.transactions.len() >= MAX_TEXTS_PER_PLACE {
                self.transactions.clear();
            }
            let kept = KeptTransaction { trigger, text: text.into(), value: value.clone(), parts: parts.clone() };
            self.transactions.push(kept);
        }
        Ok(value)
    }

    /// One part of the event: `text` is its JSON, `place` where it sits (`user`, `authentication/methods`). An object
    /// or array is the one kept for the same text at the same place, or is built and kept. Below a top-level part
    /// (`top`), each property is looked up the same way, so a part that changed rebuilds only what changed in it
    /// (`authentication` at a resume: its `methods`, not its `riskAssessment`).
    fn part(&mut self, place: &str, text: &str, top: bool, context: &mut Context) -> serde_json::Result<JsValue> {
        if matches!(text.as_bytes().first(), Some(b'{' | b'['))
            && let Some(value) = self.parts.get(place, text)
        {
            return Ok(value);
        }
        self.build_part(place, text, top, context)
    }

    /// Builds a part that is not kept, and keeps it if it is an object or an array.
    fn build_part(&mut self, place: &str, text: &str, top: bool, context: &mut Context) -> serde_json::Result<JsValue> {
        let kept = matches!(text.as_bytes().first(), Some(b'{' | b'['));
        let mut json = serde_json::Deserializer::from_str(text);
        let below = top.then_some(place);
        let value = Frozen { builder: &mut *self, context, transaction: None, below }.deserialize(&mut json)?;
        json.end()?;
        if kept {
            self.parts.insert(place, text, &value);
        }
        Ok(value)
    }
}

/// The run's event JSON as the host sent it, for the commands that read a field of it (`api.redirect.*`,
/// `api.access.deny` on a refresh): parsed on the first such read, which most runs never make.
#[derive(Default)]
pub(crate) struct EventFields {
    json: Option<EventJson>,
    parsed: OnceCell<Value>,
}

impl EventFields {
    pub(crate) fn new(json: EventJson) -> Self {
        EventFields { json: Some(json), parsed: OnceCell::new() }
    }

    /// The value at JSON pointer `pointer` (RFC 6901), if the event has one.
    pub(crate) fn pointer(&self, pointer: &str) -> Option<&Value> {
        match self.json.as_ref()? {
            EventJson::Parsed(value) => value.pointer(pointer),
            EventJson::Encoded(text) => {
                self.parsed.get_or_init(|| serde_json::from_str(text).unwrap_or(Value::Null)).pointer(pointer)
            }
        }
    }

    /// The parts of an event whose object could not be built, read the slow way.
    pub(crate) fn parts(&self) -> EventParts {
        match self.json.as_ref() {
            Some(EventJson::Parsed(value)) => EventParts::of(value),
            Some(EventJson::Encoded(_)) => self.pointer("").map(EventParts::of).unwrap_or_default(),
            None => EventParts::default(),
        }
    }
}

/// Builds one deep-frozen value from the JSON it walks. `transaction` is set for the event's `transaction`, whose
/// object gets the live getters its trigger has; `below` is the place of a top-level part (or of the transaction)
/// whose properties are looked up among the kept parts ([`FrozenBuilder::part`]).
struct Frozen<'a> {
    builder: &'a mut FrozenBuilder,
    context: &'a mut Context,
    transaction: Option<(Trigger, &'a mut EventParts)>,
    below: Option<&'a str>,
}

impl Frozen<'_> {
    /// A builder for a value inside this one.
    fn inner(&mut self) -> Frozen<'_> {
        Frozen { builder: &mut *self.builder, context: &mut *self.context, transaction: None, below: None }
    }
}

fn js<E: de::Error>(result: JsResult<()>) -> Result<(), E> {
    result.map_err(E::custom)
}

fn js_value<T, E: de::Error>(result: JsResult<T>) -> Result<T, E> {
    result.map_err(E::custom)
}

impl<'de> DeserializeSeed<'de> for Frozen<'_> {
    type Value = JsValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsValue, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Frozen<'_> {
    type Value = JsValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsValue, E> {
        Ok(JsValue::null())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsValue, E> {
        Ok(JsValue::new(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsValue, E> {
        Ok(i32::try_from(v).map_or_else(|_| JsValue::new(v as f64), JsValue::new))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsValue, E> {
        Ok(i32::try_from(v).map_or_else(|_| JsValue::new(v as f64), JsValue::new))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsValue, E> {
        Ok(JsValue::new(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsValue, E> {
        Ok(self.builder.string(v).into())
    }

    /// An array frozen as it is built: its elements inserted read-only and non-configurable, then `length`, then
    /// no extensions. The state `Object.freeze` leaves, without freezing a writable array property by property
    /// (which moved every element from the dense storage to the sparse one, one `DefineOwnProperty` at a time).
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<JsValue, A::Error> {
        let array: JsObject = JsArray::new(self.context).map_err(de::Error::custom)?.into();
        let mut length = 0u32;
        while let Some(item) = seq.next_element_seed(self.inner())? {
            array.insert_property(length, frozen(item));
            length = length.checked_add(1).ok_or_else(|| de::Error::custom("array too long"))?;
        }
        let length = PropertyDescriptor::builder().value(length).writable(false).enumerable(false).configurable(false);
        array.insert_property(js_string!("length"), length);
        js(self.builder.seal_inserted(&array, self.context))?;
        Ok(array.into())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<JsValue, A::Error> {
        let object = plain_object(self.context);
        let mut transaction = self.transaction.take();
        let mut name = String::new();
        // `parent/`, then each property's name after it.
        let mut place = self.below.map(|parent| format!("{parent}/"));
        let base = place.as_ref().map_or(0, String::len);
        while let Some(key) = map.next_key_seed(Key { builder: &mut *self.builder, name: &mut name })? {
            let value = match transaction.as_mut() {
                // Read as JSON for the run state, and built too unless the trigger makes it a live getter.
                Some((trigger, parts)) if key == js_string!("metadata") => {
                    let json: Value = map.next_value()?;
                    parts.tx_metadata = json.as_object().cloned().unwrap_or_default();
                    if *trigger == Trigger::PostLogin {
                        continue;
                    }
                    self.inner().deserialize(&json).map_err(de::Error::custom)?
                }
                Some((trigger, parts)) if key == js_string!("target_scopes") => {
                    let json: Value = map.next_value()?;
                    parts.target_scopes = strings(&json);
                    if *trigger == Trigger::CredentialsExchange {
                        continue;
                    }
                    self.inner().deserialize(&json).map_err(de::Error::custom)?
                }
                _ => match place.as_mut() {
                    Some(place) => {
                        let text: &RawValue = map.next_value()?;
                        place.truncate(base);
                        place.push_str(&name);
                        self.builder.part(place, text.get(), false, self.context).map_err(de::Error::custom)?
                    }
                    None => map.next_value_seed(self.inner())?,
                },
            };
            self.builder.insert(&object, key, value);
        }
        if let Some((trigger, _)) = transaction
            && let Some((name, getter)) = js_value(self.builder.transaction_getter(trigger, self.context))?
        {
            js(host::define_live(&object, name, getter, self.context))?;
        }
        js(self.builder.seal_inserted(&object, self.context))?;
        Ok(object.into())
    }
}

/// A cursor over the event's top-level object ([`FrozenBuilder::event_text`]). The values are left to serde; the
/// names are read here, by JSON's rules (an escaped name goes through serde).
struct TopLevel<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> TopLevel<'t> {
    fn rest(&self) -> &'t str {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest().as_bytes();
        self.at += rest.iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')).count();
    }

    /// Skips whitespace, then `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let next = self.rest().as_bytes().first() == Some(&byte);
        if next {
            self.at += 1;
        }
        next
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.eat(byte) { Ok(()) } else { Err(self.error(&format!("expected `{}`", char::from(byte)))) }
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at byte {} of the event", self.at)
    }

    /// A property name.
    fn key(&mut self) -> Result<std::borrow::Cow<'t, str>, String> {
        self.skip_whitespace();
        let rest = self.rest();
        let bytes = rest.as_bytes();
        if bytes.first() != Some(&b'"') {
            return Err(self.error("expected a property name"));
        }
        let Some(end) = bytes[1..].iter().position(|b| matches!(b, b'"' | b'\\') || *b < 0x20).map(|i| i + 1) else {
            return Err(self.error("an unterminated property name"));
        };
        if bytes[end] == b'"' {
            self.at += end + 1;
            return Ok(std::borrow::Cow::Borrowed(&rest[1..end]));
        }
        // An escape (or a control character, which serde refuses): the name is serde's to read.
        let mut names = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        let name = names.next().ok_or_else(|| self.error("expected a property name"))?.map_err(|e| e.to_string())?;
        self.at += names.byte_offset();
        Ok(std::borrow::Cow::Owned(name))
    }

    /// The text of the value that begins here (whitespace skipped), checked by serde, stepped over.
    fn value(&mut self) -> Result<&'t str, String> {
        let rest = self.rest();
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
        let value = values.next().ok_or_else(|| self.error("expected a value"))?.map_err(|e| e.to_string())?.get();
        self.at += values.byte_offset();
        Ok(value)
    }
}

/// A data property as a frozen object has it: enumerable, read-only, non-configurable.
fn frozen(value: JsValue) -> PropertyDescriptorBuilder {
    PropertyDescriptor::builder().value(value).writable(false).enumerable(true).configurable(false)
}

/// A new object with `Object.prototype`, as `JsObject::with_object_proto` makes it but on Boa's shared shapes (hidden
/// classes): objects built with the same keys in the same order, run after run, follow the same chain of shapes,
/// where `with_object_proto` gives each object a property table (a hash map) of its own to fill key by key.
pub(crate) fn plain_object(context: &Context) -> JsObject {
    JsObject::new(context.root_shape(), context.intrinsics().constructors().object().prototype(), OrdinaryObject)
        .upcast()
}

/// The strings of a JSON array (none unless it is one).
fn strings(json: &Value) -> Vec<String> {
    json.as_array().map(|list| list.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// A property name, shared through the builder's cache; `name` receives it as Rust text.
struct Key<'a> {
    builder: &'a mut FrozenBuilder,
    name: &'a mut String,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = JsString;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsString, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = JsString;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a property name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsString, E> {
        self.name.clear();
        self.name.push_str(v);
        Ok(self.builder.string(v))
    }
}

/// The whole event from a parsed value (a worker receives text; tests build from values too): an object whose
/// `transaction` gets its trigger's live getters. The event's text goes through [`FrozenBuilder::event_text`].
struct EventSeed<'a> {
    frozen: Frozen<'a>,
    trigger: Trigger,
    parts: &'a mut EventParts,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = JsValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsValue, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = JsValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the event as an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsValue, A::Error> {
        let EventSeed { mut frozen, trigger, parts } = self;
        let object = plain_object(frozen.context);
        let mut name = String::new();
        while let Some(key) = map.next_key_seed(Key { builder: &mut *frozen.builder, name: &mut name })? {
            let value = if key == js_string!("transaction") {
                map.next_value_seed(Frozen {
                    builder: &mut *frozen.builder,
                    context: &mut *frozen.context,
                    transaction: Some((trigger, &mut *parts)),
                    below: None,
                })?
            } else {
                map.next_value_seed(frozen.inner())?
            };
            frozen.builder.insert(&object, key, value);
        }
        js(frozen.builder.seal_inserted(&object, frozen.context))?;
        Ok(object.into())
    }
}

#[cfg(test)]
mod tests {
    use boa_engine::object::IntegrityLevel;
    use boa_engine::{Context, JsValue, Source};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// Any JSON value, nested a few levels deep, with the numbers and names that have edge cases.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (i64::from(i32::MIN) - 2..=i64::from(i32::MAX) + 2).prop_map(Value::from),
            any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[\"\\\\\\u{0}-\\u{1f}\\u{7f}\\u{fffd}\\u{1F600}]{0,6}".prop_map(Value::from),
        ];
        let key = prop_oneof!["[a-z_]{1,8}", Just("__proto__".to_owned()), Just("metadata".to_owned()), "\\PC{0,6}"];
        leaf.prop_recursive(5, 64, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..8)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    /// The first difference between two JavaScript values (`Object.is` on primitives, own keys in order,
    /// prototypes), and whether every object of the first is frozen; empty when they are the same.
    const COMPARE: &str = r#"
        (function compare(a, b, path) {
          if (a === null || typeof a !== 'object') return Object.is(a, b) ? '' : path + ': ' + String(a) + ' vs ' + String(b);
          if (b === null || typeof b !== 'object') return path + ': object vs ' + String(b);
          if (!Object.isFrozen(a)) return path + ' is not frozen';
          if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return path + ': another prototype';
          const ka = Reflect.ownKeys(a), kb = Reflect.ownKeys(b);
          if (ka.join('\u0000') !== kb.join('\u0000')) return path + ': keys ' + ka + ' vs ' + kb;
          for (const k of ka) {
            const d = Object.getOwnPropertyDescriptor(a, k);
            if (!Array.isArray(a) && (d.writable || d.configurable || !d.enumerable)) return path + '.' + k + ' is not frozen';
            const found = compare(a[k], b[k], path + '.' + k);
            if (found) return found;
          }
          return '';
        })
    "#;

    fn text_of(json: &EventJson) -> &str {
        match json {
            EventJson::Encoded(text) => text,
            EventJson::Parsed(_) => unreachable!("encoded"),
        }
    }

    fn difference(built: &JsValue, expected: &JsValue, context: &mut Context) -> String {
        let compare = context.eval(Source::from_bytes(COMPARE)).expect("compare");
        let compare = compare.as_callable().expect("a function");
        let found = compare.call(
            &JsValue::undefined(),
            &[built.clone(), expected.clone(), js_string!("event").into()],
            context,
        );
        found.expect("compare runs").as_string().expect("a string").to_std_string_escaped()
    }

    proptest! {
        /// An event built from its text is what Boa's `JsValue::from_json` builds from the parsed value, frozen.
        #[test]
        fn an_event_built_from_text_is_what_from_json_builds(
            data in json_value(),
            user in json_value(),
            name in prop_oneof!["\\PC{0,6}", "[\"\\\\\\u{0}-\\u{1f}a-z]{0,6}"],
        ) {
            let mut event = json!({ "data": data, "user": user, "transaction": { "requested_scopes": ["openid"] } });
            event[&name] = json!(name.len());
            let mut context = Context::default();
            let mut builder = FrozenBuilder::default();
            let text = EventJson::encode(&event).expect("encodes");
            let (built, _) = builder.event(&text, Trigger::PasswordResetPostChallenge, &mut context).expect("builds");
            // What a worker built before: the frame's text parsed into a `Value`, then converted by Boa.
            let parsed: Value = serde_json::from_str(text_of(&text)).expect("parses");
            let expected = JsValue::from_json(&parsed, &mut context).expect("from_json");
            prop_assert_eq!(difference(&built, &expected, &mut context), "");
            // Built again, from the parts kept the first time: the same.
            let (again, _) = builder.event(&text, Trigger::PasswordResetPostChallenge, &mut context).expect("builds");
            prop_assert_eq!(difference(&again, &expected, &mut context), "");
            // Text with whitespace between its tokens (the host writes none) gives the same.
            let pretty = EventJson::Encoded(serde_json::to_string_pretty(&event).expect("encodes").into());
            for _ in 0..2 {
                let (spaced, _) = builder.event(&pretty, Trigger::PasswordResetPostChallenge, &mut context).expect("builds");
                prop_assert_eq!(difference(&spaced, &expected, &mut context), "");
            }
            // The parsed form gives the same.
            let (parsed, _) = builder.event(&EventJson::Parsed(parsed), Trigger::PasswordResetPostChallenge, &mut context)
                .expect("builds");
            prop_assert_eq!(difference(&parsed, &expected, &mut context), "");
        }

        /// Text that is not one JSON object (a frame's tail is whatever the host wrote) is an error, never a panic.
        #[test]
        fn text_that_is_not_an_event_is_an_error(text in prop_oneof![
            "\\PC{0,64}",
            "\\{\"a\":[0-9\\[\\]{}\",:]{0,16}",
            "[ \\n]?\\{[ \\t]?(\"[a-z\\\\\"\\u{1}]{0,3}\"[ ]?:[ ]?[0-9\\[\\]{}\",: ]{0,6}[ ]?,?){0,3}[ ]?\\}?[ ]?[,}]?",
        ]) {
            let mut context = Context::default();
            let built = FrozenBuilder::default().event(&EventJson::Encoded(text.clone().into()), Trigger::PostLogin, &mut context);
            let is_object = serde_json::from_str::<Value>(&text).is_ok_and(|v| v.is_object());
            prop_assert_eq!(built.is_ok(), is_object);
        }
    }

    #[test]
    fn the_transaction_gives_its_live_parts_to_the_run_state() {
        let event = json!({
            "transaction": {
                "metadata": { "a": 1 },
                "target_scopes": ["read", 7, "write"],
                "protocol": "oidc-basic-profile"
            }
        });
        let text = EventJson::encode(&event).expect("encodes");
        let mut changed = event.clone();
        changed["transaction"]["id"] = json!("another login");
        let changed = EventJson::encode(&changed).expect("encodes");
        for (trigger, keys) in [
            (Trigger::PostLogin, "target_scopes,protocol,metadata"),
            (Trigger::CredentialsExchange, "metadata,protocol,target_scopes"),
            (Trigger::PreUserRegistration, "metadata,target_scopes,protocol"),
        ] {
            let mut context = Context::default();
            let mut builder = FrozenBuilder::default();
            let mut seen: Vec<JsObject> = Vec::new();
            // Built, then kept for the same text (a login's next run), then rebuilt for another text: each time
            // with the parts the run state needs.
            for text in [&text, &text, &changed] {
                let (built, parts) = builder.event(text, trigger, &mut context).expect("builds");
                assert_eq!(Value::Object(parts.tx_metadata), json!({ "a": 1 }), "{trigger:?}");
                assert_eq!(parts.target_scopes, ["read", "write"], "{trigger:?}");
                let transaction = built.as_object().expect("object").get(js_string!("transaction"), &mut context);
                let transaction = transaction.expect("transaction").as_object().expect("object").clone();
                let keys_now = transaction.own_property_keys(&mut context).expect("keys");
                let mut keys_now: Vec<String> = keys_now.iter().map(ToString::to_string).collect();
                keys_now.retain(|k| k != "id");
                assert_eq!(keys_now.join(","), keys, "{trigger:?}");
                assert!(
                    transaction.test_integrity_level(IntegrityLevel::Frozen, &mut context).expect("frozen"),
                    "{trigger:?}"
                );
                seen.push(transaction);
            }
            assert!(JsObject::equals(&seen[0], &seen[1]), "{trigger:?}: kept for the same text");
            assert!(!JsObject::equals(&seen[1], &seen[2]), "{trigger:?}: rebuilt for another text");
        }
        let (_, parts) = FrozenBuilder::default()
            .event(
                &EventJson::encode(&json!({ "transaction": { "metadata": [1] } })).expect("encodes"),
                Trigger::PostLogin,
                &mut Context::default(),
            )
            .expect("builds");
        assert!(parts.tx_metadata.is_empty(), "metadata that is not an object reads as empty");
    }

    #[test]
    fn the_string_cache_stays_bounded_and_right_as_values_change() {
        let mut context = Context::default();
        let mut builder = FrozenBuilder::default();
        for login in 0..(MAX_CACHED_STRINGS + 10) {
            let event =
                json!({ "user": { "email": "jane@example.com", "last_login": format!("2026-12-02T00:00:{login}Z") } });
            let text = EventJson::encode(&event).expect("encodes");
            let (built, _) = builder.event(&text, Trigger::PostLogin, &mut context).expect("builds");
            assert!(builder.strings.len() <= MAX_CACHED_STRINGS);
            if login % 1000 == 0 || login > MAX_CACHED_STRINGS {
                let expected = JsValue::from_json(&event, &mut context).expect("from_json");
                assert_eq!(difference(&built, &expected, &mut context), "", "login {login}");
            }
        }
        let long = "x".repeat(MAX_CACHED_LENGTH + 1);
        let text = EventJson::encode(&json!({ "long": long })).expect("encodes");
        builder.event(&text, Trigger::PostLogin, &mut context).expect("builds");
        assert!(!builder.strings.contains_key(long.as_str()), "a long string is not kept");
    }

    /// `event[path[0]][path[1]]...` of a built event.
    fn at(event: &JsValue, path: &[&str], context: &mut Context) -> JsObject {
        let mut value = event.clone();
        for key in path {
            let object = value.as_object().expect("an object").clone();
            value = object.get(JsString::from(*key), context).expect("get");
        }
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn a_part_with_the_same_text_at_the_same_place_is_kept_and_a_changed_one_is_rebuilt() {
        let mut context = Context::default();
        let mut builder = FrozenBuilder::default();
        let event = |email: &str, methods: Value| {
            json!({
                "authentication": { "methods": methods, "riskAssessment": { "confidence": "high", "assessments": {} } },
                "client": { "client_id": "app", "metadata": {} },
                "connection": { "name": "db", "metadata": {} },
                "transaction": { "id": "tx", "requested_scopes": ["openid"], "metadata": {} },
                "user": { "email": email, "identities": [{ "provider": "auth0" }] }
            })
        };
        let pwd = json!([{ "name": "pwd" }]);
        let build = |builder: &mut FrozenBuilder, event: &Value, context: &mut Context| {
            let text = EventJson::encode(event).expect("encodes");
            // Not post-login: its transaction's live getter needs a worker's run state.
            let (built, _) = builder.event(&text, Trigger::PasswordResetPostChallenge, context).expect("builds");
            let expected = JsValue::from_json(event, context).expect("from_json");
            assert_eq!(difference(&built, &expected, context), "");
            built
        };
        let first = build(&mut builder, &event("jane@example.com", pwd.clone()), &mut context);
        // A resume: only the methods changed.
        let otp = json!([{ "name": "pwd" }, { "name": "mfa", "type": "otp" }]);
        let resumed = build(&mut builder, &event("jane@example.com", otp.clone()), &mut context);
        let same = |a: &JsValue, b: &JsValue, path: &[&str], context: &mut Context| {
            JsObject::equals(&at(a, path, context), &at(b, path, context))
        };
        for kept in [&["client"][..], &["connection"], &["user"], &["authentication", "riskAssessment"]] {
            assert!(same(&first, &resumed, kept, &mut context), "{kept:?} kept");
        }
        assert!(
            same(&first, &resumed, &["transaction"], &mut context),
            "the transaction is kept for a login's next run (its live getter reads the running run)"
        );
        for rebuilt in [&["authentication"][..], &["authentication", "methods"]] {
            assert!(!same(&first, &resumed, rebuilt, &mut context), "{rebuilt:?} rebuilt");
        }
        // Another user: the application's parts are kept, the user's is not.
        let other = build(&mut builder, &event("joe@example.com", pwd), &mut context);
        assert!(same(&first, &other, &["client"], &mut context));
        assert!(!same(&first, &other, &["user"], &mut context));
        assert!(same(&first, &other, &["authentication", "methods"], &mut context), "pwd only, as the first");
        // Another login's transaction is another object; its arrays with the same text are kept.
        let mut next = event("jane@example.com", json!([{ "name": "pwd" }]));
        next["transaction"]["id"] = json!("tx2");
        let next = build(&mut builder, &next, &mut context);
        assert!(!same(&first, &next, &["transaction"], &mut context));
        assert!(same(&first, &next, &["transaction", "requested_scopes"], &mut context));
        // Equal texts at two places are two objects, as two parsed objects are: below the top level and at it, the
        // second time as the first.
        assert!(!JsObject::equals(
            &at(&first, &["client", "metadata"], &mut context),
            &at(&first, &["connection", "metadata"], &mut context)
        ));
        let twins = json!({ "client": { "client_id": "app" }, "resource_server": { "client_id": "app" } });
        for _ in 0..2 {
            let built = build(&mut builder, &twins, &mut context);
            let (client, api) = (at(&built, &["client"], &mut context), at(&built, &["resource_server"], &mut context));
            assert!(!JsObject::equals(&client, &api));
        }
    }

    #[test]
    fn the_kept_parts_stay_bounded() {
        let mut context = Context::default();
        let mut builder = FrozenBuilder::default();
        for login in 0..200 {
            // A new user every login, and hostile numbers of places and sizes.
            let mut event =
                json!({ "user": { "user_id": format!("auth0|{login}") }, "client": { "client_id": "app" } });
            for place in 0..(login % 7) * 20 {
                event[format!("extra{login}_{place}")] = json!({ "n": place });
            }
            event["big"] = json!({ "blob": "x".repeat(if login % 2 == 0 { MAX_PART_LENGTH } else { 10 }) });
            let text = EventJson::encode(&event).expect("encodes");
            let (built, _) = builder.event(&text, Trigger::PostLogin, &mut context).expect("builds");
            let expected = JsValue::from_json(&event, &mut context).expect("from_json");
            assert_eq!(difference(&built, &expected, &mut context), "", "login {login}");
            let parts = &builder.parts;
            assert!(parts.places.len() <= MAX_PLACES, "login {login}: {} places", parts.places.len());
            assert!(parts.bytes <= MAX_PART_BYTES, "login {login}: {} bytes", parts.bytes);
            assert!(parts.places.values().all(|(texts, _)| texts.len() <= MAX_TEXTS_PER_PLACE));
            assert_eq!(
                parts.bytes,
                parts
                    .places
                    .values()
                    .map(|(texts, bytes)| {
                        assert_eq!(*bytes, texts.keys().map(|t| t.len()).sum::<usize>());
                        bytes
                    })
                    .sum::<usize>()
            );
            assert!(parts.places.get("big").is_none_or(|(texts, _)| texts.keys().all(|t| t.len() <= MAX_PART_LENGTH)));
        }
    }

    #[test]
    fn commands_read_fields_of_the_text_as_sent() {
        let fields = EventFields::new(
            EventJson::encode(&json!({ "request": { "query": { "prompt": "none" } } })).expect("encodes"),
        );
        assert_eq!(fields.pointer("/request/query/prompt"), Some(&json!("none")));
        assert_eq!(fields.pointer("/request/hostname"), None);
        assert_eq!(EventFields::default().pointer("/request"), None);
    }
}
