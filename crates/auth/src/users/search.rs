//! `GET /api/v2/users`: paging, sorting, and the Lucene-style `q` Auth0's user search accepts.

use gatehouse_types::records::User;
use serde_json::Value;

use crate::tenant::Tenant;

use super::*;

/// The fields a query term without a field name searches.
const DEFAULT_SEARCH_FIELDS: [&str; 7] =
    ["user_id", "email", "name", "nickname", "given_name", "family_name", "phone_number"];

/// How `GET /api/v2/users` selects, orders and pages users.
#[derive(Clone, Debug, Default)]
pub struct UserSearch {
    /// A query in the subset of Auth0's user search syntax that [`UserQuery`] understands.
    pub q: Option<String>,
    /// Only the user with this email (case-insensitive).
    pub email: Option<String>,
    /// Only users of this connection.
    pub connection: Option<String>,
    /// `field:1` (ascending) or `field:-1` (descending).
    pub sort: Option<String>,
    /// Zero-based page.
    pub page: usize,
    /// Page size (1 to 100).
    pub per_page: usize,
}

/// One page of users.
#[derive(Clone, Debug)]
pub struct UserPage {
    /// The users of the page.
    pub users: Vec<User>,
    /// Index of the first one among all matches.
    pub start: usize,
    /// The page size asked for.
    pub limit: usize,
    /// How many users match in all.
    pub total: usize,
}

/// Users matching `search`, one page of them.
pub async fn search_users(tenant: &Tenant, search: &UserSearch) -> UserResult<UserPage> {
    if search.per_page == 0 || search.per_page > 100 {
        return Err(UserError::BadRequest("per_page must be between 1 and 100".into()));
    }
    let query = UserQuery::parse(search.q.as_deref().unwrap_or_default())?;
    let sort = search.sort.as_deref().map(parse_sort).transpose()?;
    let email = search.email.as_deref().map(|e| e.trim().to_lowercase());
    let mut matching: Vec<(User, Value)> = Vec::new();
    for user in tenant.store.list_users().await? {
        if email.as_ref().is_some_and(|e| *e != user.email)
            || search.connection.as_ref().is_some_and(|c| *c != user.connection)
        {
            continue;
        }
        let view = user_view(&user);
        if query.matches(&view) {
            matching.push((user, view));
        }
    }
    if let Some((field, ascending)) = sort {
        matching.sort_by(|(_, a), (_, b)| {
            let order = compare_values(first_value(a, &field).as_deref(), first_value(b, &field).as_deref());
            if ascending { order } else { order.reverse() }
        });
    }
    let total = matching.len();
    let start = search.page.saturating_mul(search.per_page);
    let users = matching.into_iter().skip(start).take(search.per_page).map(|(user, _)| user).collect();
    Ok(UserPage { users, start, limit: search.per_page, total })
}

/// Every user with this email (case-insensitive): Gatehouse has one connection, so at most one.
pub async fn find_users_by_email(tenant: &Tenant, email: &str) -> UserResult<Vec<User>> {
    Ok(tenant.store.find_user_by_email(&email.trim().to_lowercase()).await?.into_iter().collect())
}

fn parse_sort(sort: &str) -> UserResult<(String, bool)> {
    match sort.rsplit_once(':') {
        Some((field, "1")) if !field.is_empty() => Ok((field.to_owned(), true)),
        Some((field, "-1")) if !field.is_empty() => Ok((field.to_owned(), false)),
        _ => Err(UserError::BadRequest(format!("sort must be <field>:1 or <field>:-1, not {sort}"))),
    }
}

/// A user search query: the part of Auth0's Lucene-based user search syntax Gatehouse understands.
///
/// Terms are `field:value`, `field:"quoted value"`, `field:prefix*` (`*` and `?` wildcards), `field:[low TO high]`
/// (inclusive, `*` for open; `{low TO high}` exclusive), `_exists_:field` or `field:*`, and bare words (searched in
/// user_id, email, name, nickname, given and family name and phone number). Fields are the user's properties,
/// dotted into objects and arrays (`app_metadata.plan`, `identities.connection`). Terms are joined by `AND`
/// (also implied by a space) and `OR`, which binds weaker; `NOT` or a leading `-` negates a term. Matching ignores
/// case. Parentheses are not supported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserQuery {
    /// Alternatives (`OR`), each a conjunction (`AND`) of terms.
    alternatives: Vec<Vec<Term>>,
}

#[derive(Clone, Debug, PartialEq)]
struct Term {
    negate: bool,
    field: Option<String>,
    pattern: Pattern,
}

#[derive(Clone, Debug, PartialEq)]
enum Pattern {
    Exists,
    Text { text: String, quoted: bool },
    Range { low: Option<String>, high: Option<String>, inclusive: bool },
}

enum Token {
    And,
    Or,
    Not,
    Term(Term),
}

impl UserQuery {
    /// Parses `q`; an empty query matches every user.
    pub fn parse(q: &str) -> UserResult<UserQuery> {
        let bad = |why: &str| UserError::BadRequest(format!("Invalid query: {why}"));
        let tokens = tokenize(q).map_err(|why| bad(&why))?;
        let mut alternatives: Vec<Vec<Term>> = vec![Vec::new()];
        let mut negate_next = false;
        let mut after_operator = true;
        for token in tokens {
            match token {
                Token::Or | Token::And if after_operator => return Err(bad("AND/OR needs a term on each side")),
                Token::Or => {
                    alternatives.push(Vec::new());
                    after_operator = true;
                }
                Token::And => after_operator = true,
                Token::Not => {
                    negate_next = !negate_next;
                    after_operator = true;
                }
                Token::Term(mut term) => {
                    term.negate ^= negate_next;
                    negate_next = false;
                    after_operator = false;
                    if let Some(current) = alternatives.last_mut() {
                        current.push(term);
                    }
                }
            }
        }
        if after_operator && (alternatives.len() > 1 || negate_next) {
            return Err(bad("the query ends with an operator"));
        }
        if alternatives.len() == 1 && alternatives.first().is_some_and(Vec::is_empty) {
            alternatives.clear();
        }
        Ok(UserQuery { alternatives })
    }

    /// Whether a user, as [`user_view`] shows them, matches.
    pub fn matches(&self, view: &Value) -> bool {
        self.alternatives.is_empty()
            || self.alternatives.iter().any(|terms| terms.iter().all(|term| term.matches(view) != term.negate))
    }
}

impl Term {
    fn matches(&self, view: &Value) -> bool {
        let values: Vec<String> = match &self.field {
            Some(field) => leaf_values(view, field),
            None => DEFAULT_SEARCH_FIELDS.iter().flat_map(|f| leaf_values(view, f)).collect(),
        };
        match &self.pattern {
            Pattern::Exists => !values.is_empty(),
            Pattern::Text { text, quoted } => {
                let text = text.to_lowercase();
                values.iter().any(|value| {
                    let value = value.to_lowercase();
                    if !quoted && (text.contains('*') || text.contains('?')) {
                        glob(&text, &value)
                    } else if self.field.is_none() {
                        value.contains(&text)
                    } else {
                        value == text
                    }
                })
            }
            Pattern::Range { low, high, inclusive } => values.iter().any(|value| {
                let above = low.as_deref().is_none_or(|low| {
                    let order = compare_values(Some(value), Some(low));
                    order.is_gt() || (*inclusive && order.is_eq())
                });
                let below = high.as_deref().is_none_or(|high| {
                    let order = compare_values(Some(value), Some(high));
                    order.is_lt() || (*inclusive && order.is_eq())
                });
                above && below
            }),
        }
    }
}

fn tokenize(q: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = q.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '(' || c == ')' {
            return Err("parentheses are not supported".into());
        }
        let mut negate = false;
        if c == '-' || c == '+' {
            negate = c == '-';
            i += 1;
        }
        // A field name, or a bare word.
        let mut word = String::new();
        let mut quoted_bare = None;
        if chars.get(i) == Some(&'"') {
            let (text, next) = read_quoted(&chars, i)?;
            quoted_bare = Some(text);
            i = next;
        } else {
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ':' {
                if chars[i] == '(' || chars[i] == ')' {
                    return Err("parentheses are not supported".into());
                }
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                word.push(chars[i]);
                i += 1;
            }
        }
        if let Some(text) = quoted_bare {
            tokens.push(Token::Term(Term { negate, field: None, pattern: Pattern::Text { text, quoted: true } }));
            continue;
        }
        if chars.get(i) != Some(&':') {
            let keyword = match word.as_str() {
                "AND" | "&&" if !negate => Some(Token::And),
                "OR" | "||" if !negate => Some(Token::Or),
                "NOT" | "!" if !negate => Some(Token::Not),
                _ => None,
            };
            tokens.push(keyword.unwrap_or(Token::Term(Term {
                negate,
                field: None,
                pattern: Pattern::Text { text: word, quoted: false },
            })));
            continue;
        }
        i += 1; // ':'
        if word.is_empty() {
            return Err("a term has an empty field name".into());
        }
        let pattern = match chars.get(i) {
            Some('"') => {
                let (text, next) = read_quoted(&chars, i)?;
                i = next;
                Pattern::Text { text, quoted: true }
            }
            Some(open @ ('[' | '{')) => {
                let close = if *open == '[' { ']' } else { '}' };
                let inclusive = *open == '[';
                let end = chars[i..].iter().position(|c| *c == close).ok_or("a range is not closed")? + i;
                let inner: String = chars[i + 1..end].iter().collect();
                i = end + 1;
                let parts: Vec<&str> = inner.split_whitespace().collect();
                let [low, "TO", high] = parts.as_slice() else { return Err("ranges are written [low TO high]".into()) };
                let bound = |b: &str| (b != "*").then(|| b.trim_matches('"').to_owned());
                Pattern::Range { low: bound(low), high: bound(high), inclusive }
            }
            _ => {
                let mut value = String::new();
                while i < chars.len() && !chars[i].is_whitespace() {
                    if chars[i] == '(' || chars[i] == ')' {
                        return Err("parentheses are not supported".into());
                    }
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
                if value.is_empty() {
                    return Err(format!("{word}: has no value"));
                }
                if value == "*" { Pattern::Exists } else { Pattern::Text { text: value, quoted: false } }
            }
        };
        let (field, pattern) = match (word.as_str(), pattern) {
            ("_exists_", Pattern::Text { text, .. }) => (text, Pattern::Exists),
            (_, pattern) => (word, pattern),
        };
        tokens.push(Token::Term(Term { negate, field: Some(field), pattern }));
    }
    Ok(tokens)
}

/// The text of a quoted string starting at `start` (a `"`), and the index after its closing quote.
fn read_quoted(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(chars[i + 1]);
                i += 2;
            }
            '"' => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err("a quoted string is not closed".into())
}

/// `*` matches any run of characters, `?` one character.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The scalar values at a dotted path (arrays are searched element by element), as text.
fn leaf_values(view: &Value, path: &str) -> Vec<String> {
    let mut current = vec![view];
    for part in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            let value = match value {
                Value::Array(items) => items.iter().filter_map(|item| item.get(part)).collect::<Vec<_>>(),
                other => other.get(part).into_iter().collect(),
            };
            next.extend(value);
        }
        current = next;
    }
    let mut out = Vec::new();
    for value in current {
        match value {
            Value::Array(items) => out.extend(items.iter().filter_map(scalar_text)),
            other => out.extend(scalar_text(other)),
        }
    }
    out
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn first_value(view: &Value, path: &str) -> Option<String> {
    leaf_values(view, path).into_iter().next()
}

/// Numbers compare as numbers, anything else as text (ISO dates sort by time); missing values sort last.
fn compare_values(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => a.to_lowercase().cmp(&b.to_lowercase()),
        },
    }
}
