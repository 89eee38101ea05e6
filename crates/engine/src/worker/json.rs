//! Script values to JSON without a JavaScript call, for the plain data commands almost always receive.
//!
//! Commands take their arguments as JSON the way `JSON.stringify` makes it (`toJSON`, dates, dropped functions),
//! then parsed. `JSON.stringify` through Boa costs about 14,000 instructions for a small object, a tenth of a run;
//! most arguments are strings, numbers and object literals, for which the answer can be read straight off the
//! objects. [`plain`] does that for plain data and declines (`None`) everything else, which then goes through
//! `JSON.stringify` as before, so the result is the same either way:
//! - primitives: `undefined` and symbols are left out of objects, `null` in arrays, and nothing at the top;
//!   numbers are what `JSON.parse` makes of `Number::toString` (non-finite ones `null`); a string with a lone
//!   surrogate is declined;
//! - objects: only ordinary objects whose prototype is `Object.prototype` and arrays whose prototype is
//!   `Array.prototype`, neither with a `toJSON` of its own or on that prototype, whose own enumerable string-keyed
//!   properties are all data properties (a getter could do anything, so it is declined and runs in
//!   `JSON.stringify`); keys in `[[OwnPropertyKeys]]` order, as `JSON.stringify` takes them;
//! - functions, arrays with holes (both read through prototypes), BigInts (a `TypeError` in `JSON.stringify`),
//!   dates, boxed primitives, class instances, proxies, nesting past
//!   [`MAX_DEPTH`] (which covers cycles) and arrays longer than [`MAX_ARRAY`] are declined.

use boa_engine::builtins::object::OrdinaryObject;
use boa_engine::property::PropertyKey;
use boa_engine::value::JsVariant;
use boa_engine::{Context, JsObject, JsValue, js_string};
use serde_json::{Map, Number, Value};

/// Nesting the fast path follows; deeper values (and cycles) go through `JSON.stringify`.
const MAX_DEPTH: usize = 32;

/// Longest array the fast path reads; longer ones go through `JSON.stringify`.
const MAX_ARRAY: u32 = 10_000;

/// The JSON `JSON.stringify(value)` would give, parsed: `Some(None)` where it gives `undefined`, `None` where the
/// value is not plain data and must go through `JSON.stringify`.
pub(crate) fn plain(value: &JsValue, context: &mut Context) -> Option<Option<Value>> {
    let prototypes = Prototypes::of(context)?;
    property(value, &prototypes, 0, context)
}

/// `Object.prototype` and `Array.prototype` of the context, when neither has a `toJSON`.
struct Prototypes {
    object: JsObject,
    array: JsObject,
}

impl Prototypes {
    fn of(context: &Context) -> Option<Prototypes> {
        let constructors = context.intrinsics().constructors();
        let prototypes =
            Prototypes { object: constructors.object().prototype(), array: constructors.array().prototype() };
        let to_json = PropertyKey::from(js_string!("toJSON"));
        let has_to_json = |o: &JsObject| o.borrow().properties().get(&to_json).is_some();
        (!has_to_json(&prototypes.object) && !has_to_json(&prototypes.array)).then_some(prototypes)
    }
}

/// SerializeJSONProperty for a plain value: `Some(None)` for what `JSON.stringify` leaves out.
fn property(value: &JsValue, prototypes: &Prototypes, depth: usize, context: &mut Context) -> Option<Option<Value>> {
    Some(Some(match value.variant() {
        JsVariant::Undefined | JsVariant::Symbol(_) => return Some(None),
        JsVariant::Null => Value::Null,
        JsVariant::Boolean(b) => Value::Bool(b),
        JsVariant::String(s) => Value::String(s.to_std_string().ok()?),
        JsVariant::Integer32(i) => Value::from(i64::from(i)),
        JsVariant::Float64(x) => number(x, context)?,
        JsVariant::BigInt(_) => return None,
        // A function is left out unless a `toJSON` on it or on its prototypes says otherwise; that chain is not
        // checked here, so functions go through `JSON.stringify` (they are rare in arguments).
        JsVariant::Object(object) if object.is_callable() => return None,
        JsVariant::Object(object) => {
            if depth >= MAX_DEPTH {
                return None;
            }
            if object.is_array() {
                array(&object, prototypes, depth, context)?
            } else {
                ordinary(&object, prototypes, depth, context)?
            }
        }
    }))
}

/// What `JSON.parse(Number::toString(x))` gives.
fn number(x: f64, context: &mut Context) -> Option<Value> {
    const SAFE: f64 = 9_007_199_254_740_992.0; // 2^53
    if !x.is_finite() {
        return Some(Value::Null);
    }
    if x.fract() == 0.0 && x.abs() < SAFE {
        // -0 prints as "0".
        #[allow(clippy::cast_possible_truncation)]
        return Some(Value::from(x as i64));
    }
    let text = JsValue::from(x).to_string(context).ok()?.to_std_string().ok()?;
    serde_json::from_str::<Number>(&text).ok().map(Value::Number)
}

/// An own property of `object`, as its property map holds it.
fn own(object: &JsObject, key: &PropertyKey) -> Option<boa_engine::property::PropertyDescriptor> {
    object.borrow().properties().get(key)
}

fn ordinary(object: &JsObject, prototypes: &Prototypes, depth: usize, context: &mut Context) -> Option<Value> {
    if !object.is::<OrdinaryObject>() || !is_prototype(object, &prototypes.object) {
        return None;
    }
    let keys = object.own_property_keys(context).ok()?;
    let mut map = Map::new();
    for key in keys {
        let name = match &key {
            PropertyKey::Symbol(_) => continue,
            PropertyKey::String(s) => s.to_std_string().ok()?,
            PropertyKey::Index(i) => i.get().to_string(),
        };
        if name == "toJSON" {
            return None;
        }
        let descriptor = own(object, &key)?;
        if descriptor.is_accessor_descriptor() {
            return None;
        }
        if !descriptor.expect_enumerable() {
            continue;
        }
        let value = descriptor.value().cloned().unwrap_or_default();
        if let Some(json) = property(&value, prototypes, depth + 1, context)? {
            map.insert(name, json);
        }
    }
    Some(Value::Object(map))
}

fn array(object: &JsObject, prototypes: &Prototypes, depth: usize, context: &mut Context) -> Option<Value> {
    if !is_prototype(object, &prototypes.array) || own(object, &PropertyKey::from(js_string!("toJSON"))).is_some() {
        return None;
    }
    let length = own(object, &PropertyKey::from(js_string!("length")))?.value()?.as_number()?;
    if !(0.0..=f64::from(MAX_ARRAY)).contains(&length) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let length = length as u32;
    let mut list = Vec::with_capacity(length as usize);
    for index in 0..length {
        // A hole reads through the prototypes, which could hold the index: `JSON.stringify` answers it.
        let value = match own(object, &PropertyKey::from(index)) {
            None => return None,
            Some(descriptor) if descriptor.is_accessor_descriptor() => return None,
            Some(descriptor) => descriptor.value().cloned().unwrap_or_default(),
        };
        list.push(property(&value, prototypes, depth + 1, context)?.unwrap_or(Value::Null));
    }
    Some(Value::Array(list))
}

fn is_prototype(object: &JsObject, prototype: &JsObject) -> bool {
    object.prototype().is_some_and(|p| JsObject::equals(&p, prototype))
}

#[cfg(test)]
mod tests {
    use boa_engine::{Context, JsValue, Source};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use serde_json::{Value, json};

    use super::plain;

    /// What `JSON.stringify` then `serde_json` make of the value: `Err` where either refuses it.
    fn stringified(value: &JsValue, context: &mut Context) -> Result<Option<Value>, String> {
        let stringify = context.eval(Source::from_bytes("JSON.stringify")).expect("JSON.stringify");
        let text = stringify
            .as_callable()
            .expect("a function")
            .call(&JsValue::undefined(), std::slice::from_ref(value), context)
            .map_err(|e| e.to_string())?;
        match text.as_string() {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text.to_std_string_escaped()).map(Some).map_err(|e| e.to_string()),
        }
    }

    fn eval(source: &str, context: &mut Context) -> JsValue {
        context.eval(Source::from_bytes(&format!("({source})"))).unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    /// Values the fast path must answer.
    fn plain_leaf() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "null",
            "true",
            "false",
            "0",
            "-0",
            "1",
            "-1",
            "2147483647",
            "2147483648",
            "-2147483649",
            "1.5",
            "-0.1",
            "1e21",
            "1e-7",
            "2**53",
            "-(2**53)",
            "2**53 + 2",
            "2**60",
            "-(2**60) - 512",
            "2**64",
            "123456789.123",
            "0.1 + 0.2",
            "NaN",
            "Infinity",
            "-Infinity",
            "5e-324",
            "1.7976931348623157e308",
            "'x'",
            "''",
            "'é'",
            "'\\u{1F600}'",
            "'\\n\"\\\\\\u0001'",
            "undefined",
            "Symbol('s')",
            "Object.defineProperty({}, 'hidden', { value: 1, enumerable: false })",
            "{ [Symbol('k')]: 1 }",
        ])
        .prop_map(str::to_owned)
    }

    /// Values it must decline (or answer the same as `JSON.stringify`).
    fn other_leaf() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "10n",
            "(() => 1)",
            "[, 1]",
            "[1, () => 1]",
            "new Date(0)",
            "new String('s')",
            "new Number(1)",
            "Object.create(null)",
            "new Map([[1, 2]])",
            "{ toJSON() { return 'j'; } }",
            "{ get g() { return 1; } }",
            "'\\ud800'",
            "new Proxy({ a: 1 }, {})",
            "new Proxy([1], {})",
            "Object.assign(() => 1, { toJSON: () => 5 })",
            "new (class { constructor() { this.a = 1; } })()",
            "{ __proto__: null, a: 1 }",
            "{ __proto__: { b: 2 }, a: 1 }",
            "Object.assign([1], { toJSON: () => 3 })",
            "(() => { const a = []; a.length = 20000; return a; })()",
            "{ ['\\udc00']: 1 }",
        ])
        .prop_map(str::to_owned)
    }

    fn tree(leaf: BoxedStrategy<String>) -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec!["a", "b", "2", "10", "01", "toString", "-1", "x y"]);
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(|items| format!("[{}]", items.join(", "))),
                prop::collection::vec((key.clone(), inner), 0..6).prop_map(|fields| {
                    let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
                    format!("{{ {} }}", fields.join(", "))
                }),
            ]
        })
    }

    fn check(strategy: impl Strategy<Value = String>, must_answer: bool) {
        // One context for every case (a context takes a while to build in a debug build); no case changes it.
        let context = std::cell::RefCell::new(Context::default());
        let mut runner = TestRunner::new(Config { cases: 512, ..Config::default() });
        runner
            .run(&strategy, |source| {
                let context = &mut *context.borrow_mut();
                let value = eval(&source, context);
                let fast = plain(&value, context);
                let slow = stringified(&value, context);
                match (&fast, &slow) {
                    (Some(fast), Ok(slow)) => prop_assert_eq!(fast, slow, "{}", source),
                    (Some(fast), Err(e)) => prop_assert!(false, "{source}: answered {fast:?}, JSON.stringify: {e}"),
                    (None, _) => prop_assert!(!must_answer, "{source}: declined plain data"),
                }
                Ok(())
            })
            .unwrap();
    }

    /// Plain data is answered, and answered as `JSON.stringify` answers it.
    #[test]
    fn plain_data_is_what_json_stringify_makes_of_it() {
        check(tree(plain_leaf().boxed()), true);
    }

    /// Anything else is declined or answered the same, never answered differently.
    #[test]
    fn other_values_are_declined_or_the_same() {
        check(tree(prop_oneof![plain_leaf(), other_leaf()].boxed()), false);
    }

    #[test]
    fn numbers_and_keys_as_json_stringify_writes_them() {
        let mut context = Context::default();
        let value = eval(
            "{ b: 1, 10: 'ten', a: -0, 2: [1.5, 2**64, NaN, undefined, Symbol('t')], s: Symbol('s'), u: undefined }",
            &mut context,
        );
        let expected = json!({ "2": [1.5, 18446744073709552000.0, null, null, null], "10": "ten", "b": 1, "a": 0 });
        let fast = plain(&value, &mut context).expect("plain").expect("defined");
        assert_eq!(fast, expected);
        assert_eq!(fast.to_string(), r#"{"2":[1.5,1.8446744073709552e+19,null,null,null],"10":"ten","b":1,"a":0}"#);
        assert_eq!(plain(&JsValue::undefined(), &mut context), Some(None));
    }

    /// A `toJSON` on a prototype (scripts cannot add one once the intrinsics are frozen, but the fast path does
    /// not rely on that) sends every object through `JSON.stringify`.
    #[test]
    fn a_prototype_to_json_is_honoured() {
        let mut context = Context::default();
        let value = eval("{ a: 1 }", &mut context);
        assert!(plain(&value, &mut context).is_some());
        eval("Object.prototype.toJSON = function () { return 'mine'; }", &mut context);
        assert_eq!(plain(&value, &mut context), None);
        assert_eq!(stringified(&value, &mut context), Ok(Some(json!("mine"))));
        eval("Array.prototype.toJSON = () => 'list'", &mut context);
        assert_eq!(plain(&eval("[1]", &mut context), &mut context), None);
    }

    /// Cycles and deep nesting are left to `JSON.stringify` (a `TypeError` for a cycle).
    #[test]
    fn cycles_and_depth_are_declined() {
        let mut context = Context::default();
        let cycle = eval("(() => { const o = { a: 1 }; o.self = o; return o; })()", &mut context);
        assert_eq!(plain(&cycle, &mut context), None);
        assert!(stringified(&cycle, &mut context).is_err());
        let deep = eval("(() => { let o = 1; for (let i = 0; i < 100; i++) o = [o]; return o; })()", &mut context);
        assert_eq!(plain(&deep, &mut context), None);
        let shallow = eval("(() => { let o = 1; for (let i = 0; i < 20; i++) o = { o }; return o; })()", &mut context);
        assert!(plain(&shallow, &mut context).is_some());
    }
}
