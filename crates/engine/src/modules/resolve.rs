//! Node's CommonJS resolution (`require.resolve`), on the host, over the file system.
//!
//! What Node 22 does for `require(x)` from a file in `dir`, minus what actions cannot use: built-ins first (with or
//! without `node:`), then relative paths (`./x`: the file, `x.js`, `x.json`, then the folder's `package.json`
//! `main` and `index.js`/`index.json`), then `node_modules` folders from `dir` up to the actions folder, where a package's
//! `exports` (with the `node`, `require` and `default` conditions, subpath patterns and arrays) decides when it has
//! one, and `main`/`index.js` otherwise. ES modules (`.mjs`, or `.js` under `"type": "module"`) and native addons
//! are refused with the reason.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::builtins;

/// What a specifier names.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A file, and whether it is JSON.
    File(PathBuf),
    /// A built-in the sandbox provides.
    Builtin(&'static str),
    /// A Node built-in the sandbox does not provide.
    Unavailable(String),
}

/// The conditions Node's `require` matches in `exports`.
const CONDITIONS: [&str; 3] = ["node", "require", "default"];

/// Resolves `specifier` as `require` in a file of `dir` would, within `root` (absolute, normalized: the actions
/// folder). Action code is untrusted and the host reads what it names: nothing outside `root` is looked up or read,
/// by a relative or absolute path, by `..` in a package subpath, or by a package's `main` (compared on the path as
/// written, so a `node_modules` linked in from elsewhere still works).
pub fn resolve(root: &Path, dir: &Path, specifier: &str) -> Result<Resolved, String> {
    let resolved = resolve_unconfined(root, dir, specifier)?;
    if let Resolved::File(path) = &resolved
        && !normalize(path).starts_with(root)
    {
        return Err(outside(specifier, root));
    }
    Ok(resolved)
}

fn outside(specifier: &str, root: &Path) -> String {
    format!("'{specifier}' leads outside the actions folder {}, where modules must be", root.display())
}

fn resolve_unconfined(root: &Path, dir: &Path, specifier: &str) -> Result<Resolved, String> {
    if let Some(name) = specifier.strip_prefix("node:") {
        return match builtins::provided(name) {
            Some(name) => Ok(Resolved::Builtin(name)),
            None if builtins::is_node_builtin(name) => Ok(Resolved::Unavailable(name.to_owned())),
            None => Err(format!("'{specifier}' is not a Node built-in module")),
        };
    }
    if let Some(name) = builtins::provided(specifier) {
        return Ok(Resolved::Builtin(name));
    }
    if builtins::is_node_builtin(specifier) {
        return Ok(Resolved::Unavailable(specifier.to_owned()));
    }
    if specifier.is_empty() {
        return Err("the module name is empty".to_owned());
    }
    let relative = specifier == "." || specifier == ".." || specifier.starts_with("./") || specifier.starts_with("../");
    if relative || specifier.starts_with('/') {
        let path = normalize(&dir.join(specifier));
        if !path.starts_with(root) {
            return Err(outside(specifier, root));
        }
        return load_file_or_directory(&path)?
            .map(Resolved::File)
            .ok_or_else(|| format!("no file or folder '{}'", path.display()));
    }
    if specifier.starts_with('#') {
        return Err("package imports ('#...') are not supported".to_owned());
    }
    load_node_modules(root, dir, specifier)
}

fn load_node_modules(root: &Path, dir: &Path, specifier: &str) -> Result<Resolved, String> {
    let (name, subpath) =
        split_package(specifier).ok_or_else(|| format!("'{specifier}' is not a valid package name"))?;
    let mut searched = Vec::new();
    for ancestor in dir.ancestors().take_while(|a| a.starts_with(root)) {
        if ancestor.file_name().is_some_and(|n| n == "node_modules") {
            continue;
        }
        let modules = ancestor.join("node_modules");
        let package = modules.join(name);
        if !package.is_dir() {
            searched.push(modules);
            continue;
        }
        let manifest = read_manifest(&package)?;
        if let Some(exports) = manifest.as_ref().and_then(|m| m.get("exports")).filter(|e| !e.is_null()) {
            let target = exports_target(exports, &subpath)
                .map_err(|reason| format!("{reason} ({})", package.join("package.json").display()))?;
            let path = normalize(&package.join(&target));
            if !path.starts_with(&package) {
                return Err(format!("\"exports\" of {name} points outside the package: {target}"));
            }
            if !path.is_file() {
                return Err(format!("\"exports\" of {name} names {}, which does not exist", path.display()));
            }
            return Ok(Resolved::File(path));
        }
        let full = normalize(&modules.join(specifier));
        if !full.starts_with(root) {
            return Err(outside(specifier, root));
        }
        if let Some(found) = load_file_or_directory(&full)? {
            return Ok(Resolved::File(found));
        }
        searched.push(modules);
    }
    let first = searched.first().map(|p| p.display().to_string()).unwrap_or_default();
    Err(format!("cannot find package '{name}' in {first} or any folder above it up to {}", root.display()))
}

/// `@scope/name/sub` → (`@scope/name`, `./sub`); `name` → (`name`, `.`).
fn split_package(specifier: &str) -> Option<(&str, String)> {
    let mut parts = specifier.splitn(3, '/');
    let first = parts.next()?;
    let (name_len, rest) = if first.starts_with('@') {
        let second = parts.next().filter(|s| !s.is_empty())?;
        (first.len() + 1 + second.len(), parts.next())
    } else {
        let rest = specifier.get(first.len() + 1..);
        (first.len(), rest)
    };
    let name = &specifier[..name_len];
    if name.is_empty() || name.starts_with('.') || name.contains('\\') || name.contains('%') {
        return None;
    }
    let subpath = match rest {
        Some(rest) if !rest.is_empty() => format!("./{rest}"),
        _ => ".".to_owned(),
    };
    Some((name, subpath))
}

/// LOAD_AS_FILE then LOAD_AS_DIRECTORY.
fn load_file_or_directory(path: &Path) -> Result<Option<PathBuf>, String> {
    if let Some(file) = load_file(path)? {
        return Ok(Some(file));
    }
    load_directory(path)
}

fn load_file(path: &Path) -> Result<Option<PathBuf>, String> {
    if path.is_file() {
        return Ok(Some(path.to_owned()));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for extension in ["js", "json", "node"] {
        let candidate = path.with_file_name(format!("{name}.{extension}"));
        if candidate.is_file() {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

fn load_index(path: &Path) -> Option<PathBuf> {
    ["index.js", "index.json", "index.node"].iter().map(|index| path.join(index)).find(|p| p.is_file())
}

fn load_directory(path: &Path) -> Result<Option<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(None);
    }
    if let Some(main) = read_manifest(path)?.as_ref().and_then(|m| m.get("main")).and_then(Value::as_str) {
        let main = normalize(&path.join(main));
        if let Some(file) = load_file(&main)? {
            return Ok(Some(file));
        }
        if let Some(index) = load_index(&main) {
            return Ok(Some(index));
        }
    }
    Ok(load_index(path))
}

/// A folder's `package.json`, when it has one.
pub(crate) fn read_manifest(dir: &Path) -> Result<Option<Value>, String> {
    let path = dir.join("package.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map(Some).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

/// PACKAGE_EXPORTS_RESOLVE: the package-relative target (`./dist/index.js`) of `subpath` (`.` or `./x`).
pub(crate) fn exports_target(exports: &Value, subpath: &str) -> Result<String, String> {
    let is_subpath_map = exports.as_object().is_some_and(|map| map.keys().any(|k| k.starts_with('.')));
    let not_exported = || format!("package subpath '{subpath}' is not defined by \"exports\"");
    if !is_subpath_map {
        if subpath != "." {
            return Err(not_exported());
        }
        return target(exports, None)?.ok_or_else(not_exported);
    }
    let Some(map) = exports.as_object() else { return Err(not_exported()) };
    if map.keys().any(|k| !k.starts_with('.')) {
        return Err("\"exports\" mixes subpaths and conditions".to_owned());
    }
    if let Some(value) = map.get(subpath).filter(|_| !subpath.contains('*')) {
        return target(value, None)?.ok_or_else(not_exported);
    }
    // Subpath patterns: the key with the longest prefix before its `*` wins (Node's PATTERN_KEY_COMPARE).
    let mut best: Option<(&str, &Value, &str)> = None;
    for (key, value) in map {
        let Some(star) = key.find('*') else { continue };
        if key[star + 1..].contains('*') {
            continue;
        }
        let (prefix, suffix) = (&key[..star], &key[star + 1..]);
        if subpath.len() >= key.len() && subpath.starts_with(prefix) && subpath.ends_with(suffix) {
            let matched = &subpath[prefix.len()..subpath.len() - suffix.len()];
            let better = best.is_none_or(|(k, _, _)| pattern_key_longer(key, k));
            if better {
                best = Some((key, value, matched));
            }
        }
    }
    match best {
        Some((_, value, matched)) => target(value, Some(matched))?.ok_or_else(not_exported),
        None => Err(not_exported()),
    }
}

fn pattern_key_longer(a: &str, b: &str) -> bool {
    let prefix = |k: &str| k.find('*').map_or(k.len(), |i| i + 1);
    let (pa, pb) = (prefix(a), prefix(b));
    if pa != pb { pa > pb } else { a.len() > b.len() }
}

/// PACKAGE_TARGET_RESOLVE with Node's `require` conditions.
fn target(value: &Value, pattern: Option<&str>) -> Result<Option<String>, String> {
    match value {
        Value::String(text) => {
            if !text.starts_with("./") {
                return Err(format!("invalid \"exports\" target '{text}' (targets start with './')"));
            }
            if text.split('/').any(|segment| segment == ".." || segment == "node_modules") {
                return Err(format!("invalid \"exports\" target '{text}'"));
            }
            Ok(Some(match pattern {
                Some(matched) => text.replace('*', matched),
                None => text.clone(),
            }))
        }
        Value::Array(targets) => {
            let mut last_error = None;
            for t in targets {
                match target(t, pattern) {
                    Ok(Some(found)) => return Ok(Some(found)),
                    Ok(None) => {}
                    Err(e) => last_error = Some(e),
                }
            }
            match last_error {
                Some(e) => Err(e),
                None => Ok(None),
            }
        }
        Value::Object(conditions) => {
            for (condition, value) in conditions {
                if CONDITIONS.contains(&condition.as_str())
                    && let Some(found) = target(value, pattern)?
                {
                    return Ok(Some(found));
                }
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Removes `.` and `..` components without touching the file system.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn splits_package_names() {
        assert_eq!(split_package("lodash"), Some(("lodash", ".".to_owned())));
        assert_eq!(split_package("lodash/fp"), Some(("lodash", "./fp".to_owned())));
        assert_eq!(split_package("@auth0/x/y/z"), Some(("@auth0/x", "./y/z".to_owned())));
        assert_eq!(split_package("@auth0"), None);
        assert_eq!(split_package(".hidden"), None);
    }

    #[test]
    fn exports_follow_nodes_require_conditions() {
        let uuid = json!({".": {"node": {"module": "./esm.js", "require": "./dist/index.js", "import": "./w.mjs"},
                                 "default": "./browser.js"}, "./package.json": "./package.json"});
        assert_eq!(exports_target(&uuid, ".").as_deref(), Ok("./dist/index.js"));
        assert_eq!(exports_target(&uuid, "./package.json").as_deref(), Ok("./package.json"));
        assert!(exports_target(&uuid, "./dist/other.js").is_err());
        let axios = json!({".": {"types": {}, "browser": {"require": "./b.cjs"}, "default": {"require": "./n.cjs", "default": "./i.js"}}});
        assert_eq!(exports_target(&axios, ".").as_deref(), Ok("./n.cjs"));
        let import_only = json!({".": {"import": "./i.mjs"}});
        assert!(exports_target(&import_only, ".").is_err());
        assert_eq!(exports_target(&json!("./main.js"), ".").as_deref(), Ok("./main.js"));
        assert_eq!(exports_target(&json!(["./a.js"]), ".").as_deref(), Ok("./a.js"));
        let patterns = json!({"./*": "./lib/*.js", "./features/*": "./src/features/*.js", "./features/x": null});
        assert_eq!(exports_target(&patterns, "./util").as_deref(), Ok("./lib/util.js"));
        assert_eq!(exports_target(&patterns, "./features/y").as_deref(), Ok("./src/features/y.js"));
        assert!(exports_target(&patterns, "./features/x").is_err());
        assert!(exports_target(&json!({".": "../outside.js"}), ".").is_err());
    }

    #[test]
    fn normalizes_without_the_file_system() {
        assert_eq!(normalize(Path::new("a/b/../c/./d")), PathBuf::from("a/c/d"));
    }
}
