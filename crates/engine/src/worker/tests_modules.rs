//! `require` in actions: Node's resolution over a `node_modules` folder on disk, module state per login, the
//! built-ins, and the load errors. In-process, on small packages written for each test.

use std::path::Path;

use gatehouse_types::{Command, Trigger};
use serde_json::{Value, json};

use super::tests::{Harness, event};
use crate::actions::load_folder;
use crate::protocol::RunReport;

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
    std::fs::write(file, text).expect("write");
}

/// The ID token claims a run set, by name.
fn claims(report: &RunReport) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for action in &report.actions {
        assert_eq!(action.error, None, "the action failed");
        for command in &action.commands {
            if let Command::SetCustomClaim { name, value, .. } = command {
                out.insert(name.clone(), value.clone());
            }
        }
    }
    out
}

fn load_error(root: &Path) -> String {
    load_folder(&root.join("post-login"), Trigger::PostLogin).expect_err("the flow must not load").to_string()
}

#[test]
fn resolves_like_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    // `exports` with conditions: the `require` branch, not `import` nor `browser`.
    write(
        root,
        "node_modules/cond/package.json",
        r#"{"name":"cond","exports":{".":{"import":"./esm.mjs","browser":"./b.js","node":{"require":"./node.js"},"default":"./d.js"},"./extra":"./lib/extra.js"}}"#,
    );
    write(root, "node_modules/cond/node.js", "module.exports = 'node-require';");
    write(root, "node_modules/cond/lib/extra.js", "exports.extra = true;");
    // `main` without an extension, then `index.js`, then JSON.
    write(root, "node_modules/mainpkg/package.json", r#"{"name":"mainpkg","main":"lib/entry"}"#);
    write(
        root,
        "node_modules/mainpkg/lib/entry.js",
        "module.exports = require('./data.json').v + require('../other');",
    );
    write(root, "node_modules/mainpkg/lib/data.json", r#"{"v": 40}"#);
    write(root, "node_modules/mainpkg/other/index.js", "module.exports = 2;");
    write(root, "node_modules/@scope/pkg/package.json", r#"{"name":"@scope/pkg"}"#);
    write(
        root,
        "node_modules/@scope/pkg/index.js",
        "exports.scoped = __filename.endsWith('node_modules/@scope/pkg/index.js');",
    );
    write(root, "node_modules/noexports/sub/thing.js", "module.exports = 'deep';");
    // A nested node_modules wins for the package that has it.
    write(root, "node_modules/outer/index.js", "module.exports = require('inner');");
    write(root, "node_modules/outer/node_modules/inner/index.js", "module.exports = 'nested';");
    write(root, "node_modules/inner/index.js", "module.exports = 'top';");
    write(root, "post-login/lib/helper.js", "exports.helped = true;");
    write(
        root,
        "post-login/10-require.js",
        r#"
        const cond = require('cond');
        const { extra } = require('cond/extra');
        const crypto = require('node:crypto');
        exports.onExecutePostLogin = async (event, api) => {
          api.idToken.setCustomClaim('cond', cond);
          api.idToken.setCustomClaim('extra', extra);
          api.idToken.setCustomClaim('main', require('mainpkg'));
          api.idToken.setCustomClaim('scoped', require('@scope/pkg').scoped);
          api.idToken.setCustomClaim('deep', require('noexports/sub/thing'));
          api.idToken.setCustomClaim('nested', require('outer') + '/' + require('inner'));
          api.idToken.setCustomClaim('helper', require('./lib/helper').helped);
          api.idToken.setCustomClaim('same', require('crypto') === crypto && require('util') === require('node:util'));
        };
        "#,
    );
    let mut h = Harness::load(&root.join("post-login"));
    let got = claims(&h.run(event()));
    assert_eq!(
        Value::Object(got),
        json!({"cond": "node-require", "extra": true, "main": 42, "scoped": true, "deep": "deep",
               "nested": "nested/top", "helper": true, "same": true})
    );
}

/// A module runs again in every login: its state, and what it did to its own exports, never reach another login.
/// Built-in modules are shared and frozen, so a login cannot change them for the next.
#[test]
fn module_state_is_per_login_and_builtins_are_frozen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "node_modules/counter/index.js", "let n = 0; module.exports = { next: () => ++n, seen: [] };");
    write(
        root,
        "node_modules/poison/index.js",
        "var util = require('util'); util.stolen = 'x'; try { require('events').prototype.emit = null; } catch (e) {}\n\
         module.exports = typeof require('events').prototype.emit;",
    );
    write(
        root,
        "post-login/10-state.js",
        r#"
        const counter = require('counter');
        exports.onExecutePostLogin = async (event, api) => {
          counter.seen.push(event.user.user_id);
          api.idToken.setCustomClaim('n', [counter.next(), counter.next()]);
          api.idToken.setCustomClaim('seen', counter.seen);
          api.idToken.setCustomClaim('emit', require('poison'));
          api.idToken.setCustomClaim('stolen', require('util').stolen === undefined);
        };
        "#,
    );
    let mut h = Harness::load(&root.join("post-login"));
    for user in ["auth0|1", "auth0|2"] {
        let mut e = event();
        e["user"]["user_id"] = json!(user);
        let got = claims(&h.run(e));
        assert_eq!(got["n"], json!([1, 2]));
        assert_eq!(got["seen"], json!([user]), "no other login's data");
        assert_eq!(got["emit"], json!("function"));
        assert_eq!(got["stolen"], json!(true));
    }
}

#[test]
fn node_builtins_that_actions_have() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "post-login/10-builtins.js",
        r#"
        const crypto = require('crypto');
        const { EventEmitter } = require('events');
        const util = require('util');
        const assert = require('assert');
        const qs = require('querystring');
        const url = require('url');
        const path = require('path');
        const { StringDecoder } = require('string_decoder');
        const { Readable, Transform } = require('stream');
        exports.onExecutePostLogin = async (event, api) => {
          const c = api.idToken.setCustomClaim;
          c('md5', crypto.createHash('md5').update('jane@example.com').digest('hex'));
          c('sha256', crypto.createHash('sha256').update('abc').digest('base64'));
          c('hmac', crypto.createHmac('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('hex'));
          c('tse', [crypto.timingSafeEqual(Buffer.from('ab'), Buffer.from('ab')), crypto.timingSafeEqual(Buffer.from('ab'), Buffer.from('ac'))]);
          let mismatch; try { crypto.timingSafeEqual(Buffer.from('a'), Buffer.from('ab')); } catch (e) { mismatch = e.name; }
          c('tse_len', mismatch);
          c('random', [crypto.randomBytes(70000).length, typeof crypto.randomUUID(), crypto.randomInt(5, 6)]);
          let cipher; try { crypto.createCipheriv('aes-256-gcm'); } catch (e) { cipher = e.message; }
          c('cipher', cipher);
          const secret = crypto.createSecretKey(Buffer.from('s3cret'));
          c('secret', [secret.type, secret.symmetricKeySize, crypto.createHmac('sha1', secret).update('x').digest('hex') === crypto.createHmac('sha1', 's3cret').update('x').digest('hex')]);
          const e = new EventEmitter();
          const got = [];
          e.once('x', (v) => got.push(v));
          e.emit('x', 1); e.emit('x', 2);
          function Legacy() { EventEmitter.call(this); }
          util.inherits(Legacy, EventEmitter);
          Legacy.prototype.emit = function (t) { got.push('own ' + t); return true; };
          new Legacy().emit('y');
          c('events', got);
          c('promisify', await util.promisify((a, cb) => cb(null, a * 2))(21));
          c('format', util.format('%s=%d %j', 'a', 1, { b: 2 }));
          let failed; try { assert.deepStrictEqual({ a: [1] }, { a: [2] }); } catch (err) { failed = err.code; }
          c('assert', failed);
          c('qs', [qs.stringify({ a: [1, 2], b: 'x y' }), qs.parse('a=1&a=2&b=x%20y')]);
          const legacy = url.parse('https://user:pw@Example.com:8443/p/a?x=1#h', true);
          c('url', [legacy.hostname, legacy.port, legacy.pathname, legacy.query.x, legacy.auth, new url.URL('/q', 'https://a.example').href]);
          c('path', [path.join('/a/b', '../c', 'd.js'), path.extname('x.tar.gz'), path.basename('/a/b.js', '.js'), path.resolve('a', '/b', 'c')]);
          const d = new StringDecoder('utf8');
          const euro = Buffer.from('€');
          c('decoder', d.write(euro.subarray(0, 1)) + '|' + d.write(euro.subarray(1)) + d.end());
          const upper = new Transform({ transform(chunk, enc, cb) { cb(null, String(chunk).toUpperCase()); } });
          const chunks = [];
          for await (const chunk of Readable.from(['a', 'b'])) chunks.push(chunk);
          upper.on('data', (x) => chunks.push(x));
          upper.write('c');
          await new Promise((r) => setImmediate(r));
          c('stream', chunks);
          c('process', [process.version.startsWith('v'), Object.keys(process.env).length, typeof process.nextTick]);
          const form = new FormData();
          form.append('a', '1');
          form.append('f', new Blob(['hi'], { type: 'text/plain' }), 'f.txt');
          const request = new Request('https://api.example.com/x', { method: 'POST', body: form });
          const body = await request.text();
          c('form', [request.headers.get('content-type').startsWith('multipart/form-data; boundary='), body.includes('name="f"; filename="f.txt"'), await new Blob(['x', 'y']).text()]);
          const controller = new AbortController();
          controller.abort();
          let aborted; try { await fetch('https://api.example.com/', { signal: controller.signal }); } catch (err) { aborted = err.name; }
          c('abort', [aborted, AbortSignal.abort().aborted]);
        };
        "#,
    );
    let mut h = Harness::load(&root.join("post-login"));
    let got = claims(&h.run(event()));
    let expected = json!({
        "md5": "9e26471d35a78862c17e467d87cddedf",
        "sha256": "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
        "hmac": "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
        "tse": [true, false],
        "tse_len": "RangeError",
        "random": [70000, "string", 5],
        "cipher": "crypto.createCipheriv is not available in actions",
        "secret": ["secret", 6, true],
        "events": [1, "own y"],
        "promisify": 42,
        "format": "a=1 {\"b\":2}",
        "assert": "ERR_ASSERTION",
        "qs": ["a=1&a=2&b=x%20y", {"a": ["1", "2"], "b": "x y"}],
        "url": ["example.com", "8443", "/p/a", "1", "user:pw", "https://a.example/q"],
        "path": ["/a/c/d.js", ".gz", "b", "/b/c"],
        "decoder": "|€",
        "stream": ["a", "b", "C"],
        "process": [true, 0, "function"],
        "form": [true, true, "xy"],
        "abort": ["AbortError", true],
    });
    for (key, value) in expected.as_object().expect("an object") {
        assert_eq!(got.get(key), Some(value), "{key}");
    }
}

/// RS256 with the host's RSA: sign with a PKCS#8 key, verify with its SPKI public key, refuse a changed message.
#[test]
fn rsa_signatures_through_the_host() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    let pair = KeyPair::generate(KeySize::Rsa2048).expect("a key");
    let private = pem::encode(&pem::Pem::new("PRIVATE KEY", pair.as_der().expect("pkcs8").as_ref().to_vec()));
    let public = pem::encode(&pem::Pem::new("PUBLIC KEY", pair.public_key().as_der().expect("spki").as_ref().to_vec()));
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "post-login/10-rsa.js",
        r#"
        const crypto = require('crypto');
        exports.onExecutePostLogin = async (event, api) => {
          const key = crypto.createPrivateKey(event.secrets.PRIVATE);
          const pub = crypto.createPublicKey(event.secrets.PUBLIC);
          const derived = crypto.createPublicKey(event.secrets.PRIVATE);
          const signature = crypto.createSign('RSA-SHA256').update('header.payload').sign(key, 'base64');
          api.idToken.setCustomClaim('rsa', [
            key.type, key.asymmetricKeyType, key.asymmetricKeyDetails.modulusLength, pub.equals(derived),
            crypto.createVerify('RSA-SHA256').update('header.payload').verify(pub, signature, 'base64'),
            crypto.createVerify('RSA-SHA256').update('header.payload!').verify(pub, signature, 'base64'),
            crypto.verify('sha256', Buffer.from('header.payload'), event.secrets.PUBLIC, Buffer.from(signature, 'base64')),
          ]);
          let notKey; try { crypto.createPrivateKey('just a secret'); } catch (e) { notKey = e.message.startsWith('error:1E08010C'); }
          api.idToken.setCustomClaim('not_a_key', notKey);
        };
        "#,
    );
    let mut h = Harness::load(&dir.path().join("post-login"));
    let mut e = event();
    e["secrets"] = json!({ "PRIVATE": private, "PUBLIC": public });
    let got = claims(&h.run(e));
    assert_eq!(got["rsa"], json!(["private", "rsa", 2048, true, true, false, true]));
    assert_eq!(got["not_a_key"], json!(true));
}

/// Node built-ins actions do not have: refused in an action's own require at load, a stub in a dependency that
/// throws only when used, so packages that merely import them still load.
#[test]
fn unavailable_builtins_fail_the_load_or_throw_when_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "post-login/10-fs.js", "const fs = require('fs');\nexports.onExecutePostLogin = async () => {};");
    let error = load_error(root);
    assert!(error.contains("10-fs.js: module 'fs' is not available in actions"), "{error}");

    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "node_modules/isomorphic/index.js",
        "const http = require('http'); const zlib = require('node:zlib');\n\
         const flush = zlib.constants.Z_SYNC_FLUSH;\n\
         class Agent extends http.Agent {}\n\
         exports.get = () => http.get('http://x');",
    );
    write(
        root,
        "post-login/10-iso.js",
        r#"const iso = require('isomorphic');
        exports.onExecutePostLogin = async (event, api) => {
          try { iso.get(); } catch (e) { api.idToken.setCustomClaim('error', e.message); }
          let dynamic; try { require('left-' + 'pad'); } catch (e) { dynamic = e.code; }
          api.idToken.setCustomClaim('dynamic', dynamic);
        };"#,
    );
    let mut h = Harness::load(&root.join("post-login"));
    let got = claims(&h.run(event()));
    assert_eq!(got["error"], json!("module 'http' is not available in actions"));
    assert_eq!(got["dynamic"], json!("MODULE_NOT_FOUND"));
}

#[test]
fn broken_dependencies_fail_the_load_with_action_module_and_reason() {
    /// What the action requires, the files to write, what the load error says.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("require('nope')", &[], "cannot find module 'nope': cannot find package 'nope' in"),
        (
            "require('esm')",
            &[
                ("node_modules/esm/package.json", r#"{"type":"module","main":"index.js"}"#),
                ("node_modules/esm/index.js", "export default 1;"),
            ],
            "is an ES module (its package.json says \"type\": \"module\")",
        ),
        (
            "require('importonly')",
            &[("node_modules/importonly/package.json", r#"{"exports":{"import":"./i.mjs"}}"#)],
            "package subpath '.' is not defined by \"exports\"",
        ),
        (
            "require('broken')",
            &[
                ("node_modules/broken/index.js", "module.exports = require('./inner');"),
                ("node_modules/broken/inner.js", "\nconst x = ;"),
            ],
            "node_modules/broken/index.js): ",
        ),
        (
            "require('closer')",
            &[("node_modules/closer/index.js", "exports.a = 1;\n});\nlet leak = [];\n(function () {")],
            "closes the function it runs in",
        ),
        ("require('./missing-helper')", &[], "cannot find module './missing-helper': no file or folder"),
    ];
    for (require, files, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, text) in *files {
            write(dir.path(), path, text);
        }
        write(dir.path(), "post-login/10-a.js", &format!("{require};\nexports.onExecutePostLogin = async () => {{}};"));
        // Paths are shown relative to the working folder when inside it; these are not, so match the tail.
        let error = load_error(dir.path());
        assert!(error.contains("10-a.js: "), "{error}");
        assert!(error.contains(expected), "{require}: {error}");
    }
    // A dependency's own unresolvable require does not fail the load: it throws if it runs (optional packages).
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "node_modules/optional/index.js",
        "let color; try { color = require('supports-color'); } catch (e) { color = e.code; } module.exports = color;",
    );
    write(
        dir.path(),
        "post-login/10-a.js",
        "const o = require('optional');\nexports.onExecutePostLogin = async (e, api) => { api.idToken.setCustomClaim('o', o); };",
    );
    let mut h = Harness::load(&dir.path().join("post-login"));
    assert_eq!(claims(&h.run(event()))["o"], json!("MODULE_NOT_FOUND"));
}

/// Action code is untrusted and the host reads what it requires: nothing outside the actions folder is read, by a
/// relative or absolute path, by `..` through a package, or by a package's `main`; a `node_modules` linked in from
/// elsewhere still resolves, as the path is written.
#[test]
fn requires_stay_inside_the_actions_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret.json");
    std::fs::write(&secret, r#"{"password": "hunter2"}"#).expect("write");
    let actions = dir.path().join("actions");
    write(&actions, "node_modules/plain/index.js", "module.exports = 1;");
    write(&actions, "node_modules/sneaky/package.json", r#"{"main": "../../../secret.json"}"#);
    let attempts = [
        "../../secret.json".to_owned(),
        secret.display().to_string(),
        "plain/../../../secret.json".to_owned(),
        "sneaky".to_owned(),
    ];
    for attempt in &attempts {
        let root = tempfile::tempdir_in(dir.path()).expect("tempdir");
        let actions_folder = root.path();
        std::os::unix::fs::symlink(actions.join("node_modules"), actions_folder.join("node_modules")).expect("link");
        write(
            actions_folder,
            "post-login/10-steal.js",
            &format!("const s = require({attempt:?});\nexports.onExecutePostLogin = async () => {{}};"),
        );
        let error = load_error(actions_folder);
        assert!(error.contains("outside the actions folder"), "{attempt}: {error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
    // The linked node_modules itself resolves.
    let root = tempfile::tempdir_in(dir.path()).expect("tempdir");
    std::os::unix::fs::symlink(actions.join("node_modules"), root.path().join("node_modules")).expect("link");
    write(
        root.path(),
        "post-login/10-ok.js",
        "const p = require('plain');\nexports.onExecutePostLogin = async (e, api) => { api.idToken.setCustomClaim('p', p); };",
    );
    let mut h = Harness::load(&root.path().join("post-login"));
    assert_eq!(claims(&h.run(event()))["p"], json!(1));
}
