//! What every request goes through before its handler: repeated parameters are refused, in the query string, a
//! form body and a JSON body alike (`grant_type=password&grant_type=client_credentials` is `invalid_request`, not
//! "the last one wins"), as node-oidc-provider's `reject_dupes` does; and a request from this server's own actions
//! (its `Via` pseudonym) is refused. One place, so no endpoint can forget it.

use std::collections::HashSet;
use std::fmt;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::AppState;
use crate::error::ApiError;
use gatehouse_auth::error::OAuthError;

/// The largest body read here (axum's own default limit for its extractors).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Refuses, with `508 Loop Detected`, a request that carries this server's `Via` pseudonym: it comes from one of
/// its own actions (`auth::fetch` adds the pseudonym to every action request), whatever name, address, port or
/// proxy brought it here. A login inside a login could otherwise exhaust the workers or replay the user's state.
pub async fn refuse_own_actions(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let own = state.tenant.via_pseudonym.as_str();
    let looped = request
        .headers()
        .get_all(axum::http::header::VIA)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|hop| hop.split_whitespace().nth(1) == Some(own))));
    if looped {
        // The Management API runs no action, and the token endpoint takes only client_credentials from an action
        // (oidc/token.rs): Auth0's ManagementClient in an action.
        if !gatehouse_auth::fetch::is_own_route(request.uri().path()) {
            return own_action_refused();
        }
        request.extensions_mut().insert(FromOwnAction);
    }
    next.run(request).await
}

/// Marks a request one of this server's own actions made (it carries the server's `Via` pseudonym).
#[derive(Clone, Copy, Debug)]
pub struct FromOwnAction;

/// The answer to a request from an action to a route of its own server it may not use.
pub fn own_action_refused() -> Response {
    ApiError(
        OAuthError::invalid_request(
            "Requests from this server's own actions are refused, except to the Management API and client_credentials",
        )
        .with_status(508),
    )
    .into_response()
}

/// The middleware.
pub async fn reject_repeated_parameters(request: Request, next: Next) -> Response {
    if let Some(query) = request.uri().query()
        && let Some(name) = first_repeated_form_key(query.as_bytes())
    {
        return refuse(request.uri().path(), &name);
    }
    let content_type =
        request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    let is_json = content_type.starts_with("application/json");
    if !is_form && !is_json {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return ApiError(OAuthError::invalid_request("The request body is too large").with_status(413)).into_response();
    };
    let repeated = if is_form { first_repeated_form_key(&bytes) } else { first_repeated_json_key(&bytes) };
    if let Some(name) = repeated {
        return refuse(parts.uri.path(), &name);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn refuse(path: &str, name: &str) -> Response {
    let description = format!("Parameter '{name}' must not be repeated");
    if path.starts_with("/api/v2/") {
        return crate::mgmt::MgmtError::bad_query(description).into_response();
    }
    ApiError(OAuthError::invalid_request(description)).into_response()
}

/// The first name that appears twice in a form-encoded string.
pub fn first_repeated_form_key(form: &[u8]) -> Option<String> {
    let mut seen = HashSet::new();
    url::form_urlencoded::parse(form).map(|(name, _)| name.into_owned()).find(|name| !seen.insert(name.clone()))
}

/// The first key that appears twice in one object anywhere in a JSON document (`None` as well for invalid JSON,
/// which the handler refuses with its own message).
pub fn first_repeated_json_key(json: &[u8]) -> Option<String> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    match deserializer.deserialize_any(DuplicateFinder) {
        Err(e) => {
            e.to_string().strip_prefix(DUPLICATE).and_then(|rest| rest.split(" at line").next()).map(str::to_owned)
        }
        Ok(()) => None,
    }
}

const DUPLICATE: &str = "repeated key: ";

/// Walks a JSON value, failing at the first key repeated within an object. Nesting is bounded by serde_json's own
/// recursion limit (128), so hostile input cannot exhaust the stack.
struct DuplicateFinder;

impl<'de> Visitor<'de> for DuplicateFinder {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Seed)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("{DUPLICATE}{key}")));
            }
            map.next_value_seed(Seed)?;
        }
        Ok(())
    }
}

struct Seed;

impl<'de> de::DeserializeSeed<'de> for Seed {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(DuplicateFinder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_form_and_query_names_are_found() {
        assert_eq!(
            first_repeated_form_key(b"grant_type=password&grant_type=client_credentials").as_deref(),
            Some("grant_type")
        );
        assert_eq!(first_repeated_form_key(b"a=1&b=2&a%3D=3").as_deref(), None);
        assert_eq!(first_repeated_form_key(b"a=1&%61=2").as_deref(), Some("a"));
        assert_eq!(first_repeated_form_key(b"").as_deref(), None);
    }

    #[test]
    fn repeated_json_keys_are_found_at_any_depth() {
        assert_eq!(first_repeated_json_key(br#"{"a":1,"a":2}"#).as_deref(), Some("a"));
        assert_eq!(first_repeated_json_key(br#"{"a":{"b":[{"c":1,"c":2}]}}"#).as_deref(), Some("c"));
        assert_eq!(first_repeated_json_key(br#"{"a":1,"b":{"a":2}}"#).as_deref(), None);
        assert_eq!(first_repeated_json_key(b"not json").as_deref(), None);
        // Deep nesting hits serde_json's recursion limit, not the stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(first_repeated_json_key(deep.as_bytes()), None);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Arbitrary bytes as a query, a form or a JSON body never panic the duplicate check, and a form built
        /// with a repeated name is always caught.
        #[test]
        fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = first_repeated_form_key(&bytes);
            let _ = first_repeated_json_key(&bytes);
        }

        #[test]
        fn a_repeated_name_is_always_found(names in proptest::collection::vec("[a-z_]{1,8}", 1..8), pick in any::<proptest::sample::Index>()) {
            let repeated = pick.get(&names).clone();
            let mut form: Vec<String> = names.iter().map(|n| format!("{n}=1")).collect();
            form.push(format!("{repeated}=2"));
            prop_assert!(first_repeated_form_key(form.join("&").as_bytes()).is_some());
        }
    }
}
