//! Which Node built-in modules actions can `require`.
//!
//! The provided ones are built in the sandbox's prelude (`worker/node.js`) over the host surface; every other
//! Node built-in (`fs`, `http`, `child_process`, ...) is refused in an action's own `require` when the flow loads,
//! and is a stub whose every call throws in a dependency's, so packages that also run in browsers work on their
//! `fetch` path.

/// The built-ins the sandbox provides, by the name `require` takes.
pub const PROVIDED: &[&str] = &[
    "assert",
    "assert/strict",
    "buffer",
    "crypto",
    "events",
    "path",
    "process",
    "querystring",
    "stream",
    "string_decoder",
    "timers",
    "url",
    "util",
];

/// Node 22's other built-in modules: none of them is available in an action.
const UNAVAILABLE: &[&str] = &[
    "async_hooks",
    "child_process",
    "cluster",
    "console",
    "constants",
    "dgram",
    "diagnostics_channel",
    "dns",
    "dns/promises",
    "domain",
    "fs",
    "fs/promises",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path/posix",
    "path/win32",
    "perf_hooks",
    "punycode",
    "readline",
    "repl",
    "sea",
    "sqlite",
    "stream/consumers",
    "stream/promises",
    "stream/web",
    "sys",
    "test",
    "timers/promises",
    "tls",
    "trace_events",
    "tty",
    "util/types",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

/// The provided built-in called `name`.
pub fn provided(name: &str) -> Option<&'static str> {
    PROVIDED.iter().copied().find(|p| *p == name)
}

/// Whether `name` is one of Node's built-in modules the sandbox does not provide.
pub fn is_node_builtin(name: &str) -> bool {
    UNAVAILABLE.contains(&name)
}
