//! Auth0's password policy for the database connection: the five strength levels (`none` to `excellent`), the
//! dictionary of common passwords and the personal-information check, with the refusals Auth0's
//! `/dbconnections/signup` and password-change endpoints answer.
//!
//! It exists because applications written for Auth0 read a refusal's `description.rules` and `policy` to tell the
//! user what to fix, and Auth0's own sign-up pages check the password in the browser with its open-source library
//! password-sheriff before sending it: the server has to accept and refuse the same passwords, and explain them in
//! the same words, or a page says "fine" and the server says "too weak".
//!
//! What counts, and where this differs from password-sheriff on purpose:
//! - The character classes are password-sheriff's, ASCII only: lower case `a-z`, upper case `A-Z`, numbers `0-9`,
//!   and special characters the space and ASCII punctuation (OWASP's list, `!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`).
//!   Other characters (`é`, `Ä`, `山`, full-width digits) count toward the length but toward no class, so a page
//!   that checks with password-sheriff agrees with the server.
//! - Length is counted in characters (Unicode scalar values), not bytes (password-sheriff counts UTF-16 units).
//! - Every level also refuses passwords longer than [`MAX_PASSWORD_LENGTH`] characters (each is hashed with argon2;
//!   the bound keeps that cost fixed). Auth0's levels have no such rule, so it is listed last, as
//!   `lengthAtMost`, after Auth0's own rules, which keep their positions.
//! - `none` is password-sheriff's `nonEmpty` rule ("Non-empty password required"), as Auth0 answers it.
//!
//! The checks run in this order, and the first that fails is the answer: the level's rules (the only refusal
//! that lists what to change), then personal information, then the dictionary. Personal information comes before
//! the dictionary because "it contains your name" tells the user more than "it is too common"; both come after the
//! rules so that a page showing the rules never hides a rule the password also breaks.
//!
//! The dictionary is SecLists' `Passwords/Common-Credentials/10k-most-common.txt` (MIT, Daniel Miessler and the
//! SecLists contributors), shipped as `common-passwords.txt` beside this file; `common-passwords.NOTICE` carries
//! its source and licence. Passwords are compared with it case-insensitively.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use gatehouse_types::config::{ConnectionConfig, PasswordPolicyLevel};
use serde_json::{Map, Value, json};

/// The longest password any level accepts, in characters.
pub const MAX_PASSWORD_LENGTH: usize = 128;

/// A personal value shorter than this is not looked for in the password: two letters match too many passwords.
const MIN_PERSONAL_LENGTH: usize = 3;

const COMMON_PASSWORDS_TXT: &str = include_str!("common-passwords.txt");

/// The dictionary, lower-cased. Immutable data built on first use, not state.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> =
    LazyLock::new(|| COMMON_PASSWORDS_TXT.lines().filter(|line| !line.is_empty()).map(str::to_lowercase).collect());

/// Whether `password` is one of the 10,000 most common passwords, ignoring case.
pub fn is_common(password: &str) -> bool {
    COMMON_PASSWORDS.contains(&password.to_lowercase())
}

/// What is known of the user a password is for, to refuse a password made of it.
#[derive(Clone, Copy, Debug, Default)]
pub struct PersonalInfo<'a> {
    /// The email; its local part (before the last `@`) is looked for.
    pub email: &'a str,
    /// The username, when the connection has them.
    pub username: Option<&'a str>,
    /// The full name.
    pub name: Option<&'a str>,
    /// The given name.
    pub given_name: Option<&'a str>,
    /// The family name.
    pub family_name: Option<&'a str>,
    /// The nickname.
    pub nickname: Option<&'a str>,
}

impl PersonalInfo<'_> {
    /// Whether the password contains, ignoring case, any of the values of at least [`MIN_PERSONAL_LENGTH`] characters.
    fn is_in(&self, password: &str) -> bool {
        let password = password.to_lowercase();
        let local_part = self.email.rsplit_once('@').map_or(self.email, |(local, _)| local);
        [Some(local_part), self.username, self.name, self.given_name, self.family_name, self.nickname]
            .into_iter()
            .flatten()
            .map(|value| value.trim().to_lowercase())
            .any(|value| value.chars().count() >= MIN_PERSONAL_LENGTH && password.contains(&value))
    }
}

/// A database connection's password policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// The strength level.
    pub level: PasswordPolicyLevel,
    /// Refuse the passwords of the dictionary.
    pub dictionary: bool,
    /// Refuse a password that contains the user's email local part, username or names.
    pub no_personal_info: bool,
}

impl PasswordPolicy {
    /// The policy a `[connection]` configures.
    pub fn from_config(connection: &ConnectionConfig) -> Self {
        PasswordPolicy {
            level: connection.password_policy,
            dictionary: connection.password_dictionary,
            no_personal_info: connection.password_no_personal_info,
        }
    }

    /// Checks a new password for the user `info` describes; the first failing check (rules, personal information,
    /// dictionary) is the refusal.
    // The refusal is Auth0's answer, built at most once per sign-up or password change: not worth a Box in the
    // signature every caller matches on.
    #[allow(clippy::result_large_err)]
    pub fn check(&self, password: &str, info: &PersonalInfo<'_>) -> Result<(), PasswordRefusal> {
        let rules = rules_of(self.level);
        if !rules.iter().all(|rule| rule.is_met(password)) {
            return Err(PasswordRefusal {
                name: PasswordRefusal::STRENGTH,
                message: "Password is too weak",
                description: json!({
                    "rules": rules.iter().map(|rule| rule.describe(password)).collect::<Vec<_>>(),
                    "verified": false,
                }),
                policy: Some(self.policy_text()),
            });
        }
        if self.no_personal_info && info.is_in(password) {
            return Err(PasswordRefusal {
                name: PasswordRefusal::USER_INFO,
                message: "Password contains user information",
                description: json!("Password is not allowed, it might contain user information."),
                policy: None,
            });
        }
        if self.dictionary && is_common(password) {
            return Err(PasswordRefusal {
                name: PasswordRefusal::DICTIONARY,
                message: "Password is too common",
                description: json!("Password is not allowed, it might be too common."),
                policy: None,
            });
        }
        Ok(())
    }

    /// The level's rules for a page, in `lang` ("en" or "ja"), each with whether `password` meets it (for a page
    /// that re-renders after a refusal; pass "" before the user has typed anything).
    pub fn rules(&self, lang: &str, password: &str) -> Vec<RuleStatus> {
        let japanese = is_japanese(lang);
        rules_of(self.level)
            .iter()
            .map(|rule| RuleStatus {
                code: rule.code(),
                text: if japanese { rule.japanese() } else { rule.english() },
                met: rule.is_met(password),
                items: rule
                    .classes()
                    .iter()
                    .map(|class| RuleStatus {
                        code: class.code(),
                        text: (if japanese { class.japanese() } else { class.english() }).to_owned(),
                        met: class.is_in(password),
                        items: Vec::new(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// The policy as Auth0's `policy` text ("* At least 8 characters in length\n* ..."), the way password-sheriff
    /// writes it: one `* ` line per rule, one ` * ` line per character class.
    pub fn policy_text(&self) -> String {
        let mut lines = Vec::new();
        for rule in rules_of(self.level) {
            lines.push(format!("* {}", rule.english()));
            lines.extend(rule.classes().iter().map(|class| format!(" * {}", class.english())));
        }
        lines.join("\n")
    }
}

/// One rule of a level, as a page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleStatus {
    /// password-sheriff's code (`lengthAtLeast`, `containsAtLeast`, `lowerCase`, ...), for styling or translating.
    pub code: &'static str,
    /// The rule in the page's language.
    pub text: String,
    /// Whether the password meets it.
    pub met: bool,
    /// The character classes of a `shouldContain` or `containsAtLeast` rule; empty otherwise.
    pub items: Vec<RuleStatus>,
}

/// Why a password was refused, as Auth0 answers it (status 400).
#[derive(Clone, Debug, PartialEq)]
pub struct PasswordRefusal {
    /// `PasswordStrengthError`, `PasswordNoUserInfoError` or `PasswordDictionaryError`.
    pub name: &'static str,
    /// Auth0's one-line message ("Password is too weak").
    pub message: &'static str,
    /// The rules with `verified` flags for a strength error; a sentence for the others.
    pub description: Value,
    /// The policy text, for a strength error only.
    pub policy: Option<String>,
}

impl PasswordRefusal {
    /// The name of a refusal for the level's rules.
    pub const STRENGTH: &'static str = "PasswordStrengthError";
    /// The name of a refusal for personal information.
    pub const USER_INFO: &'static str = "PasswordNoUserInfoError";
    /// The name of a refusal for a common password.
    pub const DICTIONARY: &'static str = "PasswordDictionaryError";

    /// Auth0's JSON answer (adds "code":"invalid_password" and "statusCode":400).
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("name".into(), json!(self.name));
        body.insert("message".into(), json!(self.message));
        body.insert("code".into(), json!("invalid_password"));
        body.insert("description".into(), self.description.clone());
        if let Some(policy) = &self.policy {
            body.insert("policy".into(), json!(policy));
        }
        body.insert("statusCode".into(), json!(400));
        Value::Object(body)
    }

    /// One sentence for a page or a CLI, in "en" or "ja" ("The password is too common." / ...).
    pub fn sentence(&self, lang: &str) -> String {
        let japanese = is_japanese(lang);
        let sentence = match self.name {
            Self::STRENGTH if japanese => "パスワードが条件を満たしていません。",
            Self::STRENGTH => "The password is too weak.",
            Self::USER_INFO if japanese => "名前、ユーザー名、メールアドレスを含むパスワードは使えません。",
            Self::USER_INFO => "The password must not contain your name, username or email address.",
            Self::DICTIONARY if japanese => "このパスワードはよく使われているため使えません。",
            Self::DICTIONARY => "The password is too common.",
            _ => return self.message.to_owned(),
        };
        sentence.to_owned()
    }
}

impl fmt::Display for PasswordRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for PasswordRefusal {}

fn is_japanese(lang: &str) -> bool {
    lang.get(..2).is_some_and(|prefix| prefix.eq_ignore_ascii_case("ja"))
        && matches!(lang.as_bytes().get(2), None | Some(b'-' | b'_'))
}

/// password-sheriff's character classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CharClass {
    Lower,
    Upper,
    Number,
    Special,
}

const FAIR_CLASSES: &[CharClass] = &[CharClass::Lower, CharClass::Upper, CharClass::Number];
const ALL_CLASSES: &[CharClass] = &[CharClass::Lower, CharClass::Upper, CharClass::Number, CharClass::Special];

impl CharClass {
    fn code(self) -> &'static str {
        match self {
            CharClass::Lower => "lowerCase",
            CharClass::Upper => "upperCase",
            CharClass::Number => "numbers",
            CharClass::Special => "specialCharacters",
        }
    }

    fn english(self) -> &'static str {
        match self {
            CharClass::Lower => "lower case letters (a-z)",
            CharClass::Upper => "upper case letters (A-Z)",
            CharClass::Number => "numbers (i.e. 0-9)",
            CharClass::Special => "special characters (e.g. !@#$%^&*)",
        }
    }

    fn japanese(self) -> &'static str {
        match self {
            CharClass::Lower => "英小文字 (a〜z)",
            CharClass::Upper => "英大文字 (A〜Z)",
            CharClass::Number => "数字 (0〜9)",
            CharClass::Special => "記号 (!@#$%^&* など)",
        }
    }

    fn matches(self, c: char) -> bool {
        match self {
            CharClass::Lower => c.is_ascii_lowercase(),
            CharClass::Upper => c.is_ascii_uppercase(),
            CharClass::Number => c.is_ascii_digit(),
            CharClass::Special => c == ' ' || c.is_ascii_punctuation(),
        }
    }

    fn is_in(self, password: &str) -> bool {
        password.chars().any(|c| self.matches(c))
    }
}

/// One rule of a level; the messages and codes are password-sheriff's, except `LengthAtMost` (ours).
#[derive(Clone, Copy, Debug)]
enum Rule {
    NonEmpty,
    LengthAtLeast(usize),
    ShouldContain(&'static [CharClass]),
    ContainsAtLeast(usize, &'static [CharClass]),
    IdenticalChars(usize),
    LengthAtMost(usize),
}

/// The rules of each level, in password-sheriff's order, then the length bound.
fn rules_of(level: PasswordPolicyLevel) -> &'static [Rule] {
    const MAX: Rule = Rule::LengthAtMost(MAX_PASSWORD_LENGTH);
    match level {
        PasswordPolicyLevel::None => &[Rule::NonEmpty, MAX],
        PasswordPolicyLevel::Low => &[Rule::LengthAtLeast(6), MAX],
        PasswordPolicyLevel::Fair => &[Rule::LengthAtLeast(8), Rule::ShouldContain(FAIR_CLASSES), MAX],
        PasswordPolicyLevel::Good => &[Rule::LengthAtLeast(8), Rule::ContainsAtLeast(3, ALL_CLASSES), MAX],
        PasswordPolicyLevel::Excellent => {
            &[Rule::LengthAtLeast(10), Rule::ContainsAtLeast(3, ALL_CLASSES), Rule::IdenticalChars(2), MAX]
        }
    }
}

impl Rule {
    fn code(self) -> &'static str {
        match self {
            Rule::NonEmpty => "nonEmpty",
            Rule::LengthAtLeast(_) => "lengthAtLeast",
            Rule::ShouldContain(_) => "shouldContain",
            Rule::ContainsAtLeast(..) => "containsAtLeast",
            Rule::IdenticalChars(_) => "identicalChars",
            Rule::LengthAtMost(_) => "lengthAtMost",
        }
    }

    /// The message with `%d`/`%s` placeholders, as Auth0 sends it.
    fn template(self) -> &'static str {
        match self {
            Rule::NonEmpty => "Non-empty password required",
            Rule::LengthAtLeast(_) => "At least %d characters in length",
            Rule::ShouldContain(_) => "Should contain:",
            Rule::ContainsAtLeast(..) => "Contain at least %d of the following %d types of characters:",
            Rule::IdenticalChars(_) => "No more than %d identical characters in a row (e.g., \"%s\" not allowed)",
            Rule::LengthAtMost(_) => "At most %d characters in length",
        }
    }

    /// The values of the placeholders.
    fn format(self) -> Vec<Value> {
        match self {
            Rule::NonEmpty | Rule::ShouldContain(_) => Vec::new(),
            Rule::LengthAtLeast(n) | Rule::LengthAtMost(n) => vec![json!(n)],
            Rule::ContainsAtLeast(n, classes) => vec![json!(n), json!(classes.len())],
            Rule::IdenticalChars(max) => vec![json!(max), json!("a".repeat(max + 1))],
        }
    }

    fn english(self) -> String {
        fill(self.template(), &self.format())
    }

    fn japanese(self) -> String {
        match self {
            Rule::NonEmpty => "1 文字以上".to_owned(),
            Rule::LengthAtLeast(n) => format!("{n} 文字以上"),
            Rule::ShouldContain(_) => "次の文字をすべて含む".to_owned(),
            Rule::ContainsAtLeast(n, classes) => format!("次の {} 種類のうち {n} 種類以上の文字を含む", classes.len()),
            Rule::IdenticalChars(max) => {
                format!("同じ文字を {} 文字以上続けない (「{}」など)", max + 1, "a".repeat(max + 1))
            }
            Rule::LengthAtMost(n) => format!("{n} 文字以内"),
        }
    }

    fn classes(self) -> &'static [CharClass] {
        match self {
            Rule::ShouldContain(classes) | Rule::ContainsAtLeast(_, classes) => classes,
            _ => &[],
        }
    }

    fn is_met(self, password: &str) -> bool {
        let length = password.chars().count();
        match self {
            Rule::NonEmpty => length > 0,
            Rule::LengthAtLeast(n) => length >= n,
            Rule::LengthAtMost(n) => length <= n,
            Rule::ShouldContain(classes) => classes.iter().all(|class| class.is_in(password)),
            Rule::ContainsAtLeast(n, classes) => classes.iter().filter(|class| class.is_in(password)).count() >= n,
            Rule::IdenticalChars(max) => length > 0 && longest_run(password) <= max,
        }
    }

    /// The rule as password-sheriff's `missing()` describes it, with whether `password` meets it.
    fn describe(self, password: &str) -> Value {
        let verified = self.is_met(password);
        let items: Vec<Value> = self
            .classes()
            .iter()
            .map(|class| json!({ "message": class.english(), "code": class.code(), "verified": class.is_in(password) }))
            .collect();
        match self {
            Rule::NonEmpty => json!({ "message": self.template(), "code": self.code(), "verified": verified }),
            Rule::ShouldContain(_) => {
                json!({ "message": self.template(), "code": self.code(), "verified": verified, "items": items })
            }
            Rule::ContainsAtLeast(..) => json!({
                "message": self.template(),
                "code": self.code(),
                "format": self.format(),
                "items": items,
                "verified": verified,
            }),
            Rule::LengthAtLeast(_) | Rule::LengthAtMost(_) | Rule::IdenticalChars(_) => json!({
                "message": self.template(),
                "format": self.format(),
                "code": self.code(),
                "verified": verified,
            }),
        }
    }
}

/// The length of the longest run of one character.
fn longest_run(password: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    let mut previous = None;
    for c in password.chars() {
        run = if previous == Some(c) { run + 1 } else { 1 };
        longest = longest.max(run);
        previous = Some(c);
    }
    longest
}

/// Fills `%d` and `%s` in order with `args`, as Node's `util.format` does for password-sheriff.
fn fill(template: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(template.len() + 8);
    let mut args = args.iter();
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('%') {
        out.push_str(before);
        match (after.strip_prefix('d').or_else(|| after.strip_prefix('s')), args.as_slice().first()) {
            (Some(tail), Some(arg)) => {
                args.next();
                match arg {
                    Value::String(s) => out.push_str(s),
                    other => out.push_str(&other.to_string()),
                }
                rest = tail;
            }
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
