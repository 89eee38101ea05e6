//! What actions `require`: npm dependencies from `node_modules`, relative files, and Node's built-ins.
//!
//! The host resolves every `require("name")` with a literal name when the flow loads ([`link`]), with Node's
//! CommonJS resolution ([`resolve`]), reads and parses each file it reaches (following their own `require` calls),
//! and sends the sources to the worker with the flow ([`crate::protocol::ModuleGraph`]). The worker has no file
//! system: it compiles each module as the body of a CommonJS wrapper function, exactly as an action is (so a module
//! cannot close its wrapper either), and instantiates modules per run, on first `require`, so no login sees
//! another's module state.
//!
//! An action's own `require` that cannot be resolved, names a built-in actions do not have, or reaches a file that
//! does not parse fails the flow's load with the action, the module and the reason. Inside a dependency, a name
//! that cannot be resolved throws `MODULE_NOT_FOUND` when (and only if) the call runs, as in Node: packages
//! `require` optional dependencies inside `try`.

pub mod builtins;
pub mod resolve;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use crate::actions::{LoadError, MAX_NESTING, PARSE_STACK, prove_wrapper, wrap};
use crate::nesting::nesting_over;
use crate::protocol::{Link, ModuleGraph, ModuleKind, ModuleSource};
use resolve::{Resolved, read_manifest};

/// Most modules one flow may load.
pub const MAX_MODULES: usize = 5_000;
/// Largest file a flow may load.
pub const MAX_MODULE_BYTES: usize = 16 * 1024 * 1024;
/// Largest module [`escape_async_call`] repairs.
const MAX_REPAIRED_BYTES: usize = 256 * 1024;
/// Most source, in bytes, one flow's modules may have together (the flow crosses to a worker in one frame).
pub const MAX_TOTAL_MODULE_BYTES: usize = 40 * 1024 * 1024;

/// One action's literal `require` names, to link.
pub(crate) struct ActionRequires {
    pub file: PathBuf,
    pub names: Vec<String>,
}

/// Resolves and reads everything the actions require. Runs on a thread with a large stack: every JavaScript
/// module is parsed (the same nesting bound and wrapper proof as an action).
pub(crate) fn link(actions: Vec<ActionRequires>) -> Result<ModuleGraph, Vec<LoadError>> {
    if actions.iter().all(|a| a.names.is_empty()) {
        return Ok(ModuleGraph { modules: Vec::new(), actions: actions.iter().map(|_| BTreeMap::new()).collect() });
    }
    let files: Vec<PathBuf> = actions.iter().map(|a| a.file.clone()).collect();
    std::thread::Builder::new()
        .name("gatehouse-link".to_owned())
        .stack_size(PARSE_STACK)
        .spawn(move || {
            crate::placement::thread_started();
            Linker::default().run(actions)
        })
        .map_err(|e| vec![plain(&files[0], format!("could not start the module loader: {e}"))])?
        .join()
        .map_err(|_| vec![plain(&files[0], "the module loader failed".to_owned())])?
}

fn plain(file: &Path, message: String) -> LoadError {
    LoadError { file: file.to_owned(), line: None, column: None, message }
}

/// Why a file could not become a module.
enum AddError {
    /// It exists but cannot be used (unreadable, too big, does not parse): the flow does not load.
    Broken(String),
    /// Node would refuse it too (an ES module, a native addon): a dependency's `require` of it throws when run.
    Unsupported(String),
}

impl AddError {
    fn reason(&self) -> &str {
        match self {
            AddError::Broken(r) | AddError::Unsupported(r) => r,
        }
    }
}

#[derive(Default)]
struct Linker {
    graph: ModuleGraph,
    by_path: HashMap<PathBuf, usize>,
    /// Each module's literal `require` names, until they are linked.
    names: Vec<Vec<String>>,
    /// The action that first reached each module (whose load fails when it is broken).
    origin: Vec<usize>,
    total: usize,
    package_types: HashMap<PathBuf, bool>,
    /// Each action's actions folder, outside which nothing is looked up or read.
    roots: Vec<PathBuf>,
}

impl Linker {
    fn run(mut self, actions: Vec<ActionRequires>) -> Result<ModuleGraph, Vec<LoadError>> {
        let mut errors = Vec::new();
        let mut queue = VecDeque::new();
        for (index, action) in actions.iter().enumerate() {
            let dir =
                std::path::absolute(&action.file).ok().and_then(|p| p.parent().map(Path::to_owned)).unwrap_or_default();
            let dir = resolve::normalize(&dir);
            // The actions folder: the trigger folder's parent (`actions/` for `actions/post-login/x.js`).
            let root = dir.parent().map_or_else(|| dir.clone(), Path::to_owned);
            self.roots.push(root.clone());
            let mut links = BTreeMap::new();
            for name in &action.names {
                let link = match resolve::resolve(&root, &dir, name) {
                    Ok(Resolved::Builtin(builtin)) => Link::Builtin(builtin.to_owned()),
                    Ok(Resolved::Unavailable(module)) => {
                        errors.push(plain(&action.file, format!("module '{module}' is not available in actions")));
                        continue;
                    }
                    Ok(Resolved::File(path)) => match self.add(&path, index, &mut queue) {
                        Ok(i) => Link::Module(i),
                        Err(e) => {
                            errors.push(plain(&action.file, format!("cannot load module '{name}': {}", e.reason())));
                            continue;
                        }
                    },
                    Err(reason) => {
                        let hint = if reason.starts_with("cannot find package") {
                            " (list it in actions/package.json and run `gatehouse actions install`)"
                        } else {
                            ""
                        };
                        errors.push(plain(&action.file, format!("cannot find module '{name}': {reason}{hint}")));
                        continue;
                    }
                };
                links.insert(name.clone(), link);
            }
            self.graph.actions.push(links);
        }
        while let Some(index) = queue.pop_front() {
            let names = std::mem::take(&mut self.names[index]);
            let dir = Path::new(&self.graph.modules[index].path).parent().map(Path::to_owned).unwrap_or_default();
            let dir = resolve::normalize(&std::path::absolute(&dir).unwrap_or(dir));
            let origin = self.origin[index];
            let root = self.roots[origin].clone();
            let mut links = BTreeMap::new();
            for name in names {
                let link = match resolve::resolve(&root, &dir, &name) {
                    Ok(Resolved::Builtin(builtin)) => Link::Builtin(builtin.to_owned()),
                    Ok(Resolved::Unavailable(module)) => Link::Unavailable(module),
                    Ok(Resolved::File(path)) => match self.add(&path, origin, &mut queue) {
                        Ok(i) => Link::Module(i),
                        Err(AddError::Unsupported(reason)) => Link::Missing(reason),
                        Err(AddError::Broken(reason)) => {
                            let by = display(Path::new(&self.graph.modules[index].path));
                            errors.push(plain(
                                &actions[origin].file,
                                format!("cannot load module '{name}' (required by {by}): {reason}"),
                            ));
                            continue;
                        }
                    },
                    Err(reason) => Link::Missing(reason),
                };
                links.insert(name, link);
            }
            self.graph.modules[index].links = links;
        }
        if errors.is_empty() { Ok(self.graph) } else { Err(errors) }
    }

    /// The module for `path`, read and parsed the first time it is reached.
    fn add(&mut self, path: &Path, origin: usize, queue: &mut VecDeque<usize>) -> Result<usize, AddError> {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        if let Some(&index) = self.by_path.get(&key) {
            return Ok(index);
        }
        let shown = display(path);
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        let kind = match extension {
            "json" => ModuleKind::Json,
            "node" => {
                return Err(AddError::Unsupported(format!("{shown} is a native addon, which actions cannot load")));
            }
            "mjs" => return Err(AddError::Unsupported(format!("{shown} is an ES module; actions load CommonJS"))),
            "js" if self.is_esm_package(path) => {
                return Err(AddError::Unsupported(format!(
                    "{shown} is an ES module (its package.json says \"type\": \"module\"); actions load CommonJS"
                )));
            }
            _ => ModuleKind::Js,
        };
        if self.graph.modules.len() >= MAX_MODULES {
            return Err(AddError::Broken(format!("a flow loads at most {MAX_MODULES} modules")));
        }
        // The size first, so a huge file is never read.
        let size = std::fs::metadata(path).map_err(|e| AddError::Broken(format!("cannot read {shown}: {e}")))?.len();
        if size > MAX_MODULE_BYTES as u64 {
            return Err(AddError::Broken(format!("{shown} is {size} bytes; the limit is {MAX_MODULE_BYTES}")));
        }
        let code = std::fs::read_to_string(path).map_err(|e| AddError::Broken(format!("cannot read {shown}: {e}")))?;
        if code.len() > MAX_MODULE_BYTES {
            return Err(AddError::Broken(format!("{shown} is {} bytes; the limit is {MAX_MODULE_BYTES}", code.len())));
        }
        self.total += code.len();
        if self.total > MAX_TOTAL_MODULE_BYTES {
            return Err(AddError::Broken(format!(
                "the modules of this flow exceed {MAX_TOTAL_MODULE_BYTES} bytes together"
            )));
        }
        let (code, names) = match kind {
            ModuleKind::Json => {
                serde_json::from_str::<serde::de::IgnoredAny>(&code)
                    .map_err(|e| AddError::Broken(format!("{shown} is not valid JSON: {e}")))?;
                (code, Vec::new())
            }
            ModuleKind::Js => parse(code, &shown).map_err(AddError::Broken)?,
        };
        let index = self.graph.modules.len();
        self.graph.modules.push(ModuleSource { path: shown, kind, code, links: BTreeMap::new() });
        self.names.push(names);
        self.origin.push(origin);
        self.by_path.insert(key, index);
        queue.push_back(index);
        Ok(index)
    }

    /// Whether the nearest `package.json` above `file` says `"type": "module"`.
    fn is_esm_package(&mut self, file: &Path) -> bool {
        let Some(dir) = file.parent() else { return false };
        for ancestor in dir.ancestors() {
            if let Some(&esm) = self.package_types.get(ancestor) {
                return esm;
            }
            if ancestor.join("package.json").is_file() {
                let esm = read_manifest(ancestor)
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.get("type").and_then(|t| t.as_str()) == Some("module"));
                self.package_types.insert(ancestor.to_owned(), esm);
                return esm;
            }
        }
        false
    }
}

/// Checks a module as an action is checked; answers the code to run (see [`escape_async_calls`]) and its literal
/// `require` names.
fn parse(code: String, shown: &str) -> Result<(String, Vec<String>), String> {
    if let Some((line, column)) = nesting_over(&code, MAX_NESTING) {
        return Err(format!("{shown}:{line}:{column}: the code is nested more than {MAX_NESTING} levels deep"));
    }
    let mut code = code;
    let mut repairs = 0;
    loop {
        match prove_wrapper(&wrap(&code), shown) {
            Ok(names) => return Ok((code, names)),
            // Each repair parses the whole file again: only small files get them (asynckit's are a few hundred bytes).
            Err((Some(line), Some(column), message))
                if message.contains("async arrow function") && repairs < 64 && code.len() <= MAX_REPAIRED_BYTES =>
            {
                match escape_async_call(&code, line, column) {
                    Some(repaired) => {
                        code = repaired;
                        repairs += 1;
                    }
                    None => return Err(format!("{shown}:{line}:{column}: {message}")),
                }
            }
            Err((line, column, message)) => {
                return Err(match (line, column) {
                    (Some(line), Some(column)) => format!("{shown}:{line}:{column}: {message}"),
                    (Some(line), None) => format!("{shown}:{line}: {message}"),
                    _ => format!("{shown}: {message}"),
                });
            }
        }
    }
}

/// Boa 0.22's parser reads `async(x)` as the start of an async arrow function even where it is a call of a
/// variable named `async` (asynckit, which form-data and so axios load, does this). Spelled `\u0061sync`, the
/// same identifier can never be the keyword, and parses as the call it is. Rewrites the last `async` before the
/// error at `line`:`column` (1-based), or answers `None` when there is none there.
fn escape_async_call(code: &str, line: u32, column: u32) -> Option<String> {
    let line_start = if line <= 1 { 0 } else { code.match_indices('\n').nth(line as usize - 2).map(|(i, _)| i + 1)? };
    let rest = &code[line_start..];
    let offset = line_start + rest.char_indices().nth(column.saturating_sub(1) as usize).map_or(rest.len(), |(i, _)| i);
    let before = &code[..offset];
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$' || c == '\\';
    let mut search = before.len();
    while let Some(at) = before[..search].rfind("async") {
        let standalone = !before[..at].chars().next_back().is_some_and(|c| is_word(c) || c == '.')
            && !code[at + 5..].chars().next().is_some_and(is_word);
        if standalone {
            // Only when `async` is followed by `(`: a call, not `async function` or `async x =>`.
            if code[at + 5..].trim_start().starts_with('(') {
                return Some(format!("{}\\u0061sync{}", &code[..at], &code[at + 5..]));
            }
            return None;
        }
        search = at;
    }
    None
}

/// A path as shown to operators: relative to the working folder when it is inside it.
fn display(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match std::env::current_dir().ok().and_then(|cwd| absolute.strip_prefix(cwd).ok().map(Path::to_owned)) {
        Some(relative) => relative.display().to_string(),
        None => absolute.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_calls_of_a_variable_named_async() {
        let code =
            "var async = require('./async.js');\nfunction f(cb) {\n  g(1, async(cb));\n  async(cb)(null, 2);\n}\n";
        let (fixed, names) = parse(code.to_owned(), "m.js").expect("repaired");
        assert_eq!(names, vec!["./async.js".to_owned()]);
        assert!(fixed.contains("g(1, \\u0061sync(cb))"), "{fixed}");
        assert!(fixed.contains("var async = require"), "{fixed}");
        // Real async arrows and functions are left alone.
        let code = "const a = async (x) => x;\nconst b = async function () {};\n";
        assert_eq!(parse(code.to_owned(), "m.js").expect("parses").0, code);
        // Other syntax errors are still errors, with the module's position.
        let err = parse("const x = ;".to_owned(), "m.js").expect_err("broken");
        assert!(err.starts_with("m.js:1:"), "{err}");
    }
}
