//! Loading actions from disk and checking them before they are used.
//!
//! A flow is the `*.js` files of a folder in file-name order (`10-step-up.js`, `20-roles.js`). Every file is
//! parsed as the CommonJS module it will run as, so a syntax error is reported with file and line when the flow is
//! loaded, never at login time.

use std::fmt;
use std::path::{Path, PathBuf};

use boa_engine::Source;
use gatehouse_types::Trigger;
use sha2::{Digest, Sha256};

use crate::protocol::{ActionSource, FlowSpec};

/// Largest action file accepted (Auth0: 100 kB).
pub const MAX_ACTION_BYTES: usize = 100 * 1024;
/// Most actions one trigger may run (Auth0: 20).
pub const MAX_ACTIONS_PER_TRIGGER: usize = 20;

/// Why an action could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when the problem is in the code.
    pub line: Option<u32>,
    /// 1-based column.
    pub column: Option<u32>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}

/// All the problems found while loading a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

fn io_error(file: &Path, e: impl fmt::Display) -> LoadError {
    LoadError { file: file.to_owned(), line: None, column: None, message: e.to_string() }
}

/// The `*.js` files directly inside `dir`, sorted by file name.
pub fn action_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        if path.is_file() && path.extension().is_some_and(|x| x == "js") {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Loads the actions of a trigger folder (`actions/post-login/`). A missing folder is an empty flow.
pub fn load_folder(dir: &Path, trigger: Trigger) -> Result<FlowSpec, LoadErrors> {
    if !dir.exists() {
        return Ok(flow_spec(trigger, Vec::new()));
    }
    let files = action_files(dir).map_err(|e| LoadErrors(vec![e]))?;
    load_files(&files, trigger)
}

/// Loads files or folders in the order given (a folder contributes its files in name order).
pub fn load_paths(paths: &[PathBuf], trigger: Trigger) -> Result<FlowSpec, LoadErrors> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(action_files(path).map_err(|e| LoadErrors(vec![e]))?);
        } else {
            files.push(path.clone());
        }
    }
    load_files(&files, trigger)
}

fn load_files(files: &[PathBuf], trigger: Trigger) -> Result<FlowSpec, LoadErrors> {
    let mut errors = Vec::new();
    let mut actions = Vec::new();
    if files.len() > MAX_ACTIONS_PER_TRIGGER {
        errors.push(LoadError {
            file: files[MAX_ACTIONS_PER_TRIGGER].clone(),
            line: None,
            column: None,
            message: format!("a trigger runs at most {MAX_ACTIONS_PER_TRIGGER} actions; {} were given", files.len()),
        });
    }
    for file in files {
        let code = match std::fs::read_to_string(file) {
            Ok(code) => code,
            Err(e) => {
                errors.push(io_error(file, e));
                continue;
            }
        };
        if code.len() > MAX_ACTION_BYTES {
            errors.push(io_error(file, format!("the action is {} bytes; the limit is {MAX_ACTION_BYTES}", code.len())));
            continue;
        }
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        actions.push(ActionSource { name, path: file.display().to_string(), code });
    }
    let spec = flow_spec(trigger, actions);
    for (action, file) in spec.actions.iter().zip(files) {
        if let Err(mut e) = check_syntax(action) {
            e.file = file.clone();
            errors.push(e);
        }
    }
    if errors.is_empty() { Ok(spec) } else { Err(LoadErrors(errors)) }
}

/// A flow from sources already in memory.
pub fn flow_spec(trigger: Trigger, actions: Vec<ActionSource>) -> FlowSpec {
    let mut hash = Sha256::new();
    hash.update(trigger.id());
    for action in &actions {
        for part in [&action.name, &action.path, &action.code] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
    }
    FlowSpec { hash: hex::encode(hash.finalize()), trigger, actions }
}

/// Node's CommonJS wrapper, kept on the first line so line numbers in errors match the file.
pub(crate) const WRAPPER_HEAD: &str = "(function (exports, require, module, __filename, __dirname) {";

/// Deepest nesting of brackets (`(`, `[`, `{`, `${`) and of prefix operators an action may have. Real code stays
/// far below (minified libraries reach a few dozen); the parser, the compiler and the interpreter all recurse on
/// nesting, and this bound keeps each of them inside its stack.
pub const MAX_NESTING: usize = 256;

/// Stack of the thread that parses an action on the host. The limit above keeps a parse far below it; the size is
/// only reserved address space, touched as deep as a parse goes.
const PARSE_STACK: usize = 256 * 1024 * 1024;

/// An action's code wrapped as the function expression that runs it. The text is only ever compiled after
/// [`check_syntax`] (on the host) or [`prove_wrapper`] (in the worker) has shown, with the engine's own parser,
/// that the whole wrapped text is that one function expression, so the file's code is exactly its body: a file
/// cannot close the wrapper and add code outside it (which would outlive the login that ran it).
pub(crate) fn wrap(code: &str) -> String {
    format!("{WRAPPER_HEAD}{code}\n}})")
}

/// Parses an action as the CommonJS module it runs as: the nesting bound, then the engine's parser on a thread
/// with its own large stack (an action file must never overflow the host's stack), then the proof that the
/// wrapped text is one function expression.
pub fn check_syntax(action: &ActionSource) -> Result<(), LoadError> {
    let at = |line: Option<u32>, column: Option<u32>, message: String| LoadError {
        file: PathBuf::from(&action.path),
        line,
        column,
        message,
    };
    if let Some((line, column)) = nesting_over(&action.code, MAX_NESTING) {
        return Err(at(
            Some(line),
            Some(column),
            format!("the code is nested more than {MAX_NESTING} levels deep (brackets or prefix operators)"),
        ));
    }
    let text = wrap(&action.code);
    let path = action.path.clone();
    let parsed = std::thread::Builder::new()
        .name("gatehouse-parse".to_owned())
        .stack_size(PARSE_STACK)
        .spawn(move || prove_wrapper(&text, &path))
        .map_err(|e| at(None, None, format!("could not start the parser: {e}")))?
        .join()
        .map_err(|_| at(None, None, "the parser failed on this file".to_owned()))?;
    parsed.map_err(|(line, column, message)| at(line, column, message))
}

/// Parses `text` (a wrapped action) and proves it is exactly one parenthesized function expression. Errors are
/// `(line, column, message)` in the action file's coordinates.
pub(crate) fn prove_wrapper(text: &str, path: &str) -> Result<(), (Option<u32>, Option<u32>, String)> {
    use boa_engine::ast::scope::Scope;
    use boa_engine::ast::{Expression, Statement, StatementListItem};
    use boa_engine::interner::Interner;
    use boa_engine::parser::Parser;

    let mut interner = Interner::default();
    let source = Source::from_bytes(text).with_path(Path::new(path));
    let script = match Parser::new(source).parse_script(&Scope::new_global(), &mut interner) {
        Ok(script) => script,
        Err(e) => {
            let rendered = e.to_string();
            let (line, column) = syntax_position(&rendered).unzip();
            let column = match (line, column) {
                (Some(1), Some(c)) => Some(c.saturating_sub(WRAPPER_HEAD.len() as u32).max(1)),
                (_, c) => c,
            };
            let message = match rendered.find(" at line ") {
                Some(i) => rendered[..i].to_owned(),
                None => rendered,
            };
            let message = if message.starts_with("SyntaxError") { message } else { format!("SyntaxError: {message}") };
            return Err((line, column, message));
        }
    };
    let mut expression = match &script.statements()[..] {
        [StatementListItem::Statement(statement)] => match statement.as_ref() {
            Statement::Expression(expression) => Some(expression),
            _ => None,
        },
        _ => None,
    };
    while let Some(Expression::Parenthesized(inner)) = expression {
        expression = Some(inner.expression());
    }
    match expression {
        Some(Expression::FunctionExpression(_)) => Ok(()),
        _ => Err((
            None,
            None,
            "SyntaxError: the action closes the function it runs in (an unbalanced `}` or `)`); an action file is \
             the body of a CommonJS module"
                .to_owned(),
        )),
    }
}

/// The line and column where `code` first nests deeper than `limit`, counted as the parser recurses:
///
/// - each open bracket (`(`, `[`, `{`, and `${` in a template) is a level;
/// - within a level, each token that makes the parser recurse without a closing bracket (`=>`, `?`, `:`,
///   assignment operators, `**`, `...`, `if`, `else`, `for`, `while`, `do`, `with`, `yield`) adds one until the
///   statement ends (`;`, `,`, a statement block's `}` not followed by `else`/`catch`/`finally`/`while`, or a line
///   break between an operand and a word, where automatic semicolon insertion ends it);
/// - a run of prefix operators (`!`, `~`, unary `+`/`-`, `++`/`--`, `typeof`, `void`, `delete`, `await`, `new`)
///   adds its length.
///
/// Strings, comments, templates and regular expressions are skipped as the lexer would; a `/` is read as a
/// regular expression where an operand is expected. The count errs high, never low: a file it passes parses within
/// the host's parse stack and the worker's.
pub fn nesting_over(code: &str, limit: usize) -> Option<(u32, u32)> {
    let mut scanner = Scanner { chars: code.chars().collect(), i: 0, line: 1, column: 1 };
    // Open levels: the bracket, the recursion counted inside it, and whether a `{` opened a statement block.
    let mut levels: Vec<Level> = vec![Level { bracket: '^', chain: 0, statement_block: true, header: false }];
    let mut prefix = 0usize;
    let mut after_operand = false;
    // The last significant token, for telling a statement block from an object and a header's `)`.
    let mut last = Last::Start;
    // A statement block just closed: the statement ends unless `else`, `catch`, `finally` or `while` follows.
    let mut block_closed = false;
    let mut newline_before;
    loop {
        newline_before = scanner.skip_trivia();
        let c = scanner.peek()?;
        let (line, column) = (scanner.line, scanner.column);
        let word = if is_word_start(c) { Some(scanner.word()) } else { None };
        let continues_statement = matches!(word.as_deref(), Some("else" | "catch" | "finally" | "while"));
        if block_closed
            && !continues_statement
            && let Some(level) = levels.last_mut()
        {
            level.chain = 0;
        }
        block_closed = false;
        // A line break between an operand and a word ends the statement (nothing lets a word follow an operand),
        // unless the operand was a statement header's `)` or the word is a binary operator.
        if newline_before
            && after_operand
            && last != Last::HeaderClose
            && word.as_deref().is_some_and(|w| !matches!(w, "in" | "instanceof" | "of"))
        {
            if let Some(level) = levels.last_mut() {
                level.chain = 0;
            }
            prefix = 0;
        }
        let mut grew = false;
        if let Some(word) = word {
            match word.as_str() {
                "typeof" | "void" | "delete" | "await" | "new" => {
                    prefix += 1;
                    grew = true;
                    after_operand = false;
                    last = Last::Operator;
                }
                "if" | "for" | "while" | "with" | "switch" | "catch" => {
                    bump(&mut levels);
                    grew = true;
                    after_operand = false;
                    last = Last::Header;
                }
                "else" | "do" | "try" | "finally" => {
                    bump(&mut levels);
                    grew = true;
                    after_operand = false;
                    last = Last::BlockKeyword;
                }
                "yield" => {
                    bump(&mut levels);
                    grew = true;
                    after_operand = false;
                    last = Last::Operator;
                }
                "in" | "instanceof" | "of" | "return" | "throw" | "case" | "default" | "extends" => {
                    after_operand = false;
                    last = if word == "case" || word == "default" { Last::Case } else { Last::Operator };
                }
                "function" => {
                    after_operand = false;
                    // A declaration at the start of a statement has a statement block as its body.
                    last = if matches!(last, Last::Start | Last::StatementEnd) { Last::Header } else { Last::Operator };
                }
                _ => {
                    after_operand = true;
                    prefix = 0;
                    if last != Last::Header {
                        last = Last::Operand;
                    }
                }
            }
        } else if c == '\'' || c == '"' {
            scanner.string(c);
            after_operand = true;
            prefix = 0;
            last = Last::Operand;
        } else if c == '`' {
            scanner.bump();
            if scanner.template() {
                levels.push(Level { bracket: '$', chain: 0, statement_block: false, header: false });
                grew = true;
            }
            after_operand = true;
            prefix = 0;
            last = Last::Operand;
        } else if c == '/' && !after_operand {
            scanner.regex();
            after_operand = true;
            prefix = 0;
            last = Last::Operand;
        } else if c.is_ascii_digit() {
            scanner.word();
            after_operand = true;
            prefix = 0;
            last = Last::Operand;
        } else if matches!(c, '(' | '[' | '{') {
            scanner.bump();
            // A call or an index on an operand extends a member chain, which Boa parses in time quadratic in its
            // length: it counts like recursion.
            if after_operand && c != '{' {
                bump(&mut levels);
            }
            let statement_block =
                c == '{' && matches!(last, Last::Start | Last::StatementEnd | Last::HeaderClose | Last::BlockKeyword);
            levels.push(Level { bracket: c, chain: 0, statement_block, header: c == '(' && last == Last::Header });
            grew = true;
            after_operand = false;
            prefix = 0;
            last = if statement_block { Last::StatementEnd } else { Last::Open };
        } else if matches!(c, ')' | ']' | '}') {
            scanner.bump();
            let closed = if levels.len() > 1 { levels.pop() } else { None };
            match closed {
                Some(level) if level.bracket == '$' => {
                    // Back in the template's text: to its end, or to its next `${`.
                    if scanner.template() {
                        levels.push(Level { bracket: '$', chain: 0, statement_block: false, header: false });
                    }
                    after_operand = true;
                    last = Last::Operand;
                }
                Some(level) if level.statement_block => {
                    block_closed = true;
                    after_operand = false;
                    last = Last::StatementEnd;
                }
                Some(level) if level.header => {
                    after_operand = true;
                    last = Last::HeaderClose;
                }
                _ => {
                    after_operand = c != '}';
                    last = Last::Operand;
                }
            }
            prefix = 0;
        } else if c == ';' || c == ',' {
            scanner.bump();
            if let Some(level) = levels.last_mut() {
                level.chain = 0;
            }
            prefix = 0;
            after_operand = false;
            last = if c == ';' { Last::StatementEnd } else { Last::Operator };
        } else {
            let operator = scanner.punctuator();
            match operator.as_str() {
                "!" | "~" => {
                    prefix += 1;
                    grew = true;
                }
                "+" | "-" | "++" | "--" if !after_operand => {
                    prefix += 1;
                    grew = true;
                }
                "=>" | "?" | "**" | "..." | "=" | "+=" | "-=" | "*=" | "/=" | "%=" | "**=" | "<<=" | ">>=" | ">>>="
                | "&=" | "|=" | "^=" | "&&=" | "||=" | "??=" => {
                    bump(&mut levels);
                    grew = true;
                }
                ":" if last != Last::Case => {
                    bump(&mut levels);
                    grew = true;
                }
                "." | "?." => {
                    bump(&mut levels);
                    grew = true;
                }
                _ => {}
            }
            // `a++` and `a--` end an operand; every other punctuator expects one next.
            let postfix = after_operand && matches!(operator.as_str(), "++" | "--");
            after_operand = postfix;
            if !postfix && !matches!(operator.as_str(), "!" | "~" | "+" | "-" | "++" | "--") {
                prefix = 0;
            }
            last = if operator == "=>" { Last::BlockKeyword } else { Last::Operator };
        }
        if grew {
            let depth = levels.len() - 1 + levels.iter().map(|l| l.chain).sum::<usize>() + prefix;
            if depth > limit {
                return Some((line, column));
            }
        }
    }
}

/// One open bracket of [`nesting_over`].
struct Level {
    bracket: char,
    chain: usize,
    statement_block: bool,
    /// The parentheses of an `if`/`for`/`while`/`with`/`switch`/`catch` or a function declaration's parameters.
    header: bool,
}

fn bump(levels: &mut [Level]) {
    if let Some(level) = levels.last_mut() {
        level.chain += 1;
    }
}

/// The last significant token, as far as [`nesting_over`] needs to know.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Start,
    StatementEnd,
    Operand,
    Operator,
    Open,
    /// A keyword whose parentheses come next (`if`, `for`...), or a function declaration's name.
    Header,
    /// The `)` closing such parentheses: a statement body follows.
    HeaderClose,
    /// `else`, `do`, `try`, `finally`, `=>`: a block may follow.
    BlockKeyword,
    /// `case` or `default`: their `:` is not a label.
    Case,
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$' || c == '\\' || c == '#'
}

/// The character-level part of [`nesting_over`].
struct Scanner {
    chars: Vec<char>,
    i: usize,
    line: u32,
    column: u32,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
            self.i += 1;
        }
    }

    /// Skips whitespace and comments; whether a line break was among them.
    fn skip_trivia(&mut self) -> bool {
        let mut newline = false;
        loop {
            match (self.peek(), self.chars.get(self.i + 1).copied()) {
                (Some(c), _) if c.is_whitespace() => {
                    newline |= matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}');
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    self.bump();
                    self.bump();
                    while self.peek().is_some()
                        && !(self.peek() == Some('*') && self.chars.get(self.i + 1) == Some(&'/'))
                    {
                        newline |= self.peek() == Some('\n');
                        self.bump();
                    }
                    self.bump();
                    self.bump();
                }
                _ => return newline,
            }
        }
    }

    /// An identifier, keyword or number.
    fn word(&mut self) -> String {
        let mut word = String::new();
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || matches!(c, '_' | '$' | '\\' | '#' | '.') && !(c == '.' && word.is_empty()) {
                if c == '.' && !word.starts_with(|d: char| d.is_ascii_digit()) {
                    break;
                }
                word.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if word.is_empty() {
            self.bump();
        }
        word
    }

    fn string(&mut self, quote: char) {
        self.bump();
        while let Some(c) = self.peek() {
            if c == quote || c == '\n' {
                break;
            }
            if c == '\\' {
                self.bump();
            }
            self.bump();
        }
        self.bump();
    }

    fn regex(&mut self) {
        self.bump();
        let mut class = false;
        while let Some(c) = self.peek() {
            if c == '\n' || (!class && c == '/') {
                break;
            }
            match c {
                '\\' => self.bump(),
                '[' => class = true,
                ']' => class = false,
                _ => {}
            }
            self.bump();
        }
        self.bump();
        while self.peek().is_some_and(char::is_alphanumeric) {
            self.bump();
        }
    }

    /// A template's text up to its end (`false`) or to a `${` (`true`), after the opening backquote or `}`.
    fn template(&mut self) -> bool {
        while let Some(c) = self.peek() {
            match c {
                '\\' => {
                    self.bump();
                    self.bump();
                }
                '`' => {
                    self.bump();
                    return false;
                }
                '$' if self.chars.get(self.i + 1) == Some(&'{') => {
                    self.bump();
                    self.bump();
                    return true;
                }
                _ => self.bump(),
            }
        }
        false
    }

    /// The longest punctuator at the cursor (or one character).
    fn punctuator(&mut self) -> String {
        const PUNCTUATORS: [&str; 41] = [
            ">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "=>", "==", "!=", "<=", ">=",
            "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "**", "<<", ">>", "=",
            "?", ":", "!", "~", "+", "-", ".",
        ];
        for p in PUNCTUATORS {
            if p.chars().enumerate().all(|(k, c)| self.chars.get(self.i + k) == Some(&c)) {
                for _ in 0..p.chars().count() {
                    self.bump();
                }
                // `?.` before a digit is `?` then a number (`a?.5:1`).
                return p.to_owned();
            }
        }
        let c = self.peek().map(String::from).unwrap_or_default();
        self.bump();
        c
    }
}

/// Line and column of a Boa syntax error message ("... at line 3, col 7").
pub(crate) fn syntax_position(text: &str) -> Option<(u32, u32)> {
    let i = text.find("at line ")?;
    let after = &text[i + "at line ".len()..];
    let line: String = after.chars().take_while(char::is_ascii_digit).collect();
    let j = after.find("col ")?;
    let column: String = after[j + 4..].chars().take_while(char::is_ascii_digit).collect();
    Some((line.parse().ok()?, column.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(code: &str) -> ActionSource {
        ActionSource { name: "a.js".into(), path: "actions/a.js".into(), code: code.into() }
    }

    #[test]
    fn reports_syntax_errors_with_line() {
        let err = check_syntax(&source("exports.onExecutePostLogin = async (event, api) => {\n  const x = ;\n};\n"))
            .expect_err("syntax error");
        assert_eq!(err.line, Some(2));
        assert!(err.message.starts_with("SyntaxError"), "{}", err.message);
    }

    #[test]
    fn accepts_commonjs_top_level_return() {
        assert!(check_syntax(&source("if (true) return;\nexports.x = 1;")).is_ok());
    }

    #[test]
    fn hash_changes_with_code() {
        let a = flow_spec(Trigger::PostLogin, vec![source("1")]);
        let b = flow_spec(Trigger::PostLogin, vec![source("2")]);
        assert_ne!(a.hash, b.hash);
    }
}

#[cfg(test)]
mod nesting_tests {
    use super::*;

    fn source(code: String) -> ActionSource {
        ActionSource { name: "deep.js".into(), path: "actions/deep.js".into(), code }
    }

    /// Shapes of deep nesting, each at `depth`.
    fn shapes(depth: usize) -> Vec<(&'static str, String)> {
        vec![
            // Left open, as a 100 KB file can be 100,000 levels deep only that way; the parser recurses all the same.
            ("open arrays", format!("exports.x = {}", "[".repeat(depth))),
            ("open parentheses", format!("exports.x = {}", "(".repeat(depth))),
            ("open blocks", "{".repeat(depth)),
            ("arrays", format!("exports.x = {}{};", "[".repeat(depth), "]".repeat(depth))),
            ("parentheses", format!("exports.x = {}1{};", "(".repeat(depth), ")".repeat(depth))),
            ("blocks", format!("{}{}", "{".repeat(depth), "}".repeat(depth))),
            ("objects", format!("exports.x = {}1{};", "{a:".repeat(depth), "}".repeat(depth))),
            ("calls", format!("exports.x = {}1{};", "f(".repeat(depth), ")".repeat(depth))),
            ("templates", format!("exports.x = {}1{};", "`${".repeat(depth), "}`".repeat(depth))),
            ("negations", format!("exports.x = {}1;", "!".repeat(depth))),
            ("unary minus", format!("exports.x = {}1;", "- ".repeat(depth))),
            ("typeof", format!("exports.x = {}1;", "typeof ".repeat(depth))),
            ("arrows", format!("exports.x = {}1;", "x => ".repeat(depth))),
            ("conditionals", format!("exports.x = {}1;", "a ? 1 : ".repeat(depth))),
            ("assignments", format!("let a; exports.x = {}1;", "a = ".repeat(depth))),
            ("exponents", format!("exports.x = {}1;", "2 ** ".repeat(depth))),
            ("sums", format!("exports.x = {}1;", "1 + ".repeat(depth))),
            ("functions", format!("{}{}", "function f() {".repeat(depth), "}".repeat(depth))),
            ("ifs", format!("{}1;", "if (a) ".repeat(depth))),
            ("ifs on lines", format!("{}1;", "if (a)\n".repeat(depth))),
            ("else ifs", format!("if (a) {{}}{}", " else if (a) {{}}".repeat(depth))),
            ("labels", format!("{}1;", "a:\n".repeat(depth))),
            ("arrows on lines", format!("exports.x = {}1;", "x =>\n".repeat(depth))),
            ("arrows past blocks", format!("exports.x = {}1;", "x => function () {} ? 1 : ".repeat(depth))),
            ("conditionals on lines", format!("exports.x = {}1;", "a ? b\n : ".repeat(depth))),
            ("spreads", format!("exports.x = [{}a];", "...".repeat(depth))),
            ("calls in a chain", format!("exports.x = f{};", "()".repeat(depth))),
            ("members in a chain", format!("exports.x = a{};", ".b".repeat(depth))),
            ("statements without semicolons", "let a\na = 1\n".repeat(depth)),
        ]
    }

    /// Shapes the parser reads in a loop, not by recursion: any length is fine.
    const LINEAR: [&str; 2] = ["sums", "statements without semicolons"];

    #[test]
    fn real_code_is_not_refused() {
        for dir in ["actions/post-login", "actions/examples"] {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir);
            for file in action_files(&root).unwrap_or_default() {
                let code = std::fs::read_to_string(&file).unwrap();
                assert_eq!(nesting_over(&code, 32), None, "{}", file.display());
            }
        }
        let standard_style =
            "const a = require('x')\n".repeat(400) + &"if (a) {\n  b = c\n} else {\n  d = e\n}\n".repeat(400);
        assert_eq!(nesting_over(&standard_style, MAX_NESTING), None);
        let switch = format!("switch (x) {{ {} }}", "case 1:\n  y = 2\n".repeat(500));
        assert_eq!(nesting_over(&switch, MAX_NESTING), None);
        let object = format!("exports.x = {{ {} }};", "a: 1,\n".repeat(1000));
        assert_eq!(nesting_over(&object, MAX_NESTING), None);
        let template = "const t = `a ${ b ? `c ${ d } e` : f } g`;\n".repeat(300);
        assert_eq!(nesting_over(&template, MAX_NESTING), None);
    }

    #[test]
    fn deep_nesting_is_refused_with_its_line_or_parsed_never_a_crash() {
        for depth in [10, 100, 300, 1_000, 10_000, 100_000] {
            for (shape, code) in shapes(depth) {
                if code.len() > MAX_ACTION_BYTES {
                    // Refused for its size before it is parsed (load_files); the shapes above it are still tried.
                    if LINEAR.contains(&shape) {
                        continue;
                    }
                }
                let started = std::time::Instant::now();
                let result = check_syntax(&source(code));
                if depth > MAX_NESTING && !LINEAR.contains(&shape) {
                    let error = result.expect_err(shape);
                    assert!(error.line.is_some(), "{shape} at {depth}: {error}");
                    assert!(error.message.contains("nested more than"), "{shape} at {depth}: {error}");
                }
                assert!(started.elapsed().as_secs() < 20, "{shape} at {depth} took {:?}", started.elapsed());
            }
        }
    }
}
