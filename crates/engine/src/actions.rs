//! Loading actions from disk and checking them before they are used.
//!
//! A flow is the `*.js` files of a folder in file-name order (`10-step-up.js`, `20-roles.js`). Every file is
//! parsed as the CommonJS module it will run as, so a syntax error is reported with file and line when the flow is
//! loaded, never at login time.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use boa_engine::Source;
use gatehouse_types::Trigger;
use sha2::{Digest, Sha256};

use crate::modules::{self, ActionRequires};
use crate::nesting::nesting_over;
use crate::protocol::{ActionSource, FlowSpec, ModuleGraph};

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
    let mut requires = Vec::new();
    for (action, file) in actions.iter().zip(files) {
        match check_syntax(action) {
            Ok(names) => requires.push(ActionRequires { file: file.clone(), names }),
            Err(mut e) => {
                e.file = file.clone();
                errors.push(e);
            }
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    let modules = modules::link(requires).map_err(LoadErrors)?;
    Ok(flow_spec_with_modules(trigger, actions, modules))
}

/// A flow from sources already in memory, with no modules.
pub fn flow_spec(trigger: Trigger, actions: Vec<ActionSource>) -> FlowSpec {
    let modules = ModuleGraph { modules: Vec::new(), actions: actions.iter().map(|_| Default::default()).collect() };
    flow_spec_with_modules(trigger, actions, modules)
}

/// A flow with the modules its actions require.
pub fn flow_spec_with_modules(trigger: Trigger, actions: Vec<ActionSource>, modules: ModuleGraph) -> FlowSpec {
    let mut hash = Sha256::new();
    hash.update(trigger.id());
    for action in &actions {
        for part in [&action.name, &action.path, &action.code] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
    }
    if !modules.is_empty() {
        for module in &modules.modules {
            for part in [&module.path, &module.code] {
                hash.update((part.len() as u64).to_be_bytes());
                hash.update(part.as_bytes());
            }
        }
        // The links too: the same files can resolve differently.
        hash.update(
            serde_json::to_vec(&(&modules.actions, modules.modules.iter().map(|m| &m.links).collect::<Vec<_>>()))
                .unwrap_or_default(),
        );
    }
    FlowSpec { hash: hex::encode(hash.finalize()), trigger, actions: actions.into(), modules: Arc::new(modules) }
}

/// Node's CommonJS wrapper, kept on the first line so line numbers in errors match the file.
pub(crate) const WRAPPER_HEAD: &str = "(function (exports, require, module, __filename, __dirname) {";

/// Deepest nesting of brackets (`(`, `[`, `{`, `${`) and of prefix operators an action may have. Real code stays
/// far below (minified libraries reach a few dozen); the parser, the compiler and the interpreter all recurse on
/// nesting, and this bound keeps each of them inside its stack.
pub const MAX_NESTING: usize = 256;

/// Stack of the thread that parses an action on the host. The limit above keeps a parse far below it; the size is
/// only reserved address space, touched as deep as a parse goes.
pub(crate) const PARSE_STACK: usize = 256 * 1024 * 1024;

/// An action's code wrapped as the function expression that runs it. The text is only ever compiled after
/// [`check_syntax`] (on the host) or [`prove_wrapper`] (in the worker) has shown, with the engine's own parser,
/// that the whole wrapped text is that one function expression, so the file's code is exactly its body: a file
/// cannot close the wrapper and add code outside it (which would outlive the login that ran it).
pub(crate) fn wrap(code: &str) -> String {
    format!("{WRAPPER_HEAD}{code}\n}})")
}

/// Parses an action as the CommonJS module it runs as: the nesting bound, then the engine's parser on a thread
/// with its own large stack (an action file must never overflow the host's stack), then the proof that the
/// wrapped text is one function expression. Answers the names its `require` calls pass as a string literal.
pub fn check_syntax(action: &ActionSource) -> Result<Vec<String>, LoadError> {
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
        .spawn(move || {
            crate::placement::thread_started();
            prove_wrapper(&text, &path)
        })
        .map_err(|e| at(None, None, format!("could not start the parser: {e}")))?
        .join()
        .map_err(|_| at(None, None, "the parser failed on this file".to_owned()))?;
    parsed.map_err(|(line, column, message)| at(line, column, message))
}

/// Parses `text` (a wrapped action or module) and proves it is exactly one parenthesized function expression.
/// Answers the names its `require` calls pass as a string literal, in source order. Errors are
/// `(line, column, message)` in the file's coordinates.
pub(crate) fn prove_wrapper(text: &str, path: &str) -> Result<Vec<String>, (Option<u32>, Option<u32>, String)> {
    use std::ops::ControlFlow;

    use boa_engine::ast::expression::Call;
    use boa_engine::ast::expression::literal::LiteralKind;
    use boa_engine::ast::scope::Scope;
    use boa_engine::ast::visitor::{VisitWith, Visitor};
    use boa_engine::ast::{Expression, Statement, StatementListItem};
    use boa_engine::interner::Interner;
    use boa_engine::parser::Parser;

    /// Collects `require("literal")`.
    struct Requires<'i> {
        interner: &'i Interner,
        names: Vec<String>,
    }
    impl<'ast> Visitor<'ast> for Requires<'_> {
        type BreakTy = std::convert::Infallible;
        fn visit_call(&mut self, node: &'ast Call) -> ControlFlow<Self::BreakTy> {
            if let (Expression::Identifier(function), [Expression::Literal(literal)]) = (node.function(), node.args())
                && self.interner.resolve_expect(function.sym()).to_string() == "require"
                && let LiteralKind::String(sym) = literal.kind()
            {
                let name = self.interner.resolve_expect(*sym).to_string();
                if !self.names.contains(&name) {
                    self.names.push(name);
                }
            }
            node.visit_with(self)
        }
    }

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
        Some(Expression::FunctionExpression(function)) => {
            let mut requires = Requires { interner: &interner, names: Vec::new() };
            let _ = function.visit_with(&mut requires);
            Ok(requires.names)
        }
        _ => Err((
            None,
            None,
            "SyntaxError: the action closes the function it runs in (an unbalanced `}` or `)`); an action file is \
             the body of a CommonJS module"
                .to_owned(),
        )),
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
