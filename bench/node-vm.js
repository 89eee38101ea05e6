#!/usr/bin/env node
// The Node baseline of `make bench`: the same post-login actions, run the way a careful Node host would run them
// with the `vm` module, and timed the same way (one login = start the flow and complete every prompt).
//
//   node bench/node-vm.js --logins 3000 --warmup 300 --event event.json a.js b.js ...   (--event - reads stdin)
//
// Per login: a fresh `vm.createContext()`; every action evaluated in it as a CommonJS module (Gatehouse's
// wrapper, so `exports`, `module`, `require` behave alike); its `onExecutePostLogin(event, api)` awaited with the
// event parsed from JSON and an `api` that validates and records commands with Gatehouse's shapes; then the
// commands applied with Gatehouse's flow rules (deny stops, challenges queue prompts, an already satisfied
// challenge is skipped, at most 4 MFA commands, `multifactor.enable` dropped when the flow challenged). A pause
// is completed with the first offered factor by appending `{ name: 'mfa', type, timestamp }` to
// `event.authentication.methods` before the next action, as a resume does. Each login is another user's (`eventFor`,
// the same changes as Gatehouse's bench makes).
//
// Compiled `vm.Script` objects are cached across logins (a script compiled once runs in any context), as a careful
// host would; `--compile-each-login` compiles them again in every login instead.
//
// Prints one JSON object: percentiles in ms, logins/s, and what the last login did (to compare with Gatehouse).
'use strict';

const fs = require('fs');
const path = require('path');
const vm = require('vm');

const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {';
const MAX_MFA_COMMANDS = 4;
const FACTORS = [
  'otp', 'email', 'push-notification', 'phone', 'webauthn-platform', 'webauthn-roaming', 'recovery-code',
];
const PROVIDERS = ['any', 'guardian', 'google-authenticator', 'duo', 'none'];

function parseArgs(argv) {
  const args = { logins: 3000, warmup: 300, event: null, compileEachLogin: false, actions: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--logins') args.logins = Number(argv[++i]);
    else if (a === '--warmup') args.warmup = Number(argv[++i]);
    else if (a === '--event') args.event = argv[++i];
    else if (a === '--compile-each-login') args.compileEachLogin = true;
    else args.actions.push(a);
  }
  if (!args.event || args.actions.length === 0 || !(args.logins > 0) || !(args.warmup >= 0)) {
    throw new Error('usage: node-vm.js --logins N --warmup N --event FILE|- [--compile-each-login] action.js...');
  }
  return args;
}

function compile(action) {
  return new vm.Script(WRAPPER_HEAD + action.code + '\n})', { filename: action.path });
}

// Values leave the untrusted context as JSON copies, as Gatehouse's host copies them (JSON.stringify + parse).
function copy(value) {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : JSON.parse(text);
}

function selector(value) {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError("A factor selector must be an object like { type: 'otp' }.");
  }
  const type = value.type === 'push' ? 'push-notification' : value.type;
  if (!FACTORS.includes(type)) throw new TypeError(`Invalid factor type '${value.type}'.`);
  if (value.options !== undefined && value.options !== null) {
    if (typeof value.options !== 'object') throw new TypeError('Factor options must be an object.');
    return { type, options: value.options };
  }
  return { type };
}

function requireStub(name) {
  const err = new Error(`Cannot find module '${name}'`);
  err.code = 'MODULE_NOT_FOUND';
  throw err;
}

// The post-login `api`, recording commands shaped like Gatehouse's `Command` enum.
function makeApi(commands) {
  const record = (command) => commands.push(command);
  const api = {};
  const claim = (token) => (name, value) => {
    if (typeof name !== 'string') throw new TypeError('The claim name must be a string.');
    if (name === 'scope') throw new Error('The "scope" claim cannot be set.');
    record({ command: 'set_custom_claim', token, name, value: copy(value) ?? null });
    return api;
  };
  const scope = (change) => (value) => {
    if (typeof value !== 'string') throw new TypeError('The value for the scope must be a string.');
    record({ command: 'modify_scope', change, scope: value.trim() });
  };
  const metadata = (target) => (key, value) => {
    if (typeof key !== 'string') throw new TypeError('The metadata key must be a string.');
    record({ command: 'set_metadata', target, key, value: copy(value) ?? null });
    return api;
  };
  const mfa = (command, single) => (first, options) => {
    if (single) {
      const opts = copy(options) ?? {};
      const additional = opts.additionalFactors ?? [];
      if (!Array.isArray(additional)) throw new TypeError('additionalFactors must be an array of factor selectors.');
      record({ command, factor: selector(copy(first)), additional_factors: additional.map(selector) });
    } else {
      const factors = copy(first);
      if (!Array.isArray(factors)) throw new TypeError('The factors must be an array of factor selectors.');
      record({ command, factors: factors.map(selector) });
    }
  };
  api.access = { deny: (reason) => (record({ command: 'deny', reason: String(reason ?? '') }), api) };
  api.accessToken = { setCustomClaim: claim('access'), addScope: scope('add'), removeScope: scope('remove') };
  api.idToken = { setCustomClaim: claim('id') };
  api.multifactor = {
    enable: (provider, options) => {
      if (!PROVIDERS.includes(provider)) throw new TypeError(`Invalid MFA provider '${provider}'.`);
      const remember = copy(options)?.allowRememberBrowser ?? false;
      record({ command: 'enable_multifactor', provider, allowRememberBrowser: remember });
      return api;
    },
  };
  api.authentication = {
    challengeWith: mfa('challenge_with', true),
    challengeWithAny: mfa('challenge_with_any', false),
    enrollWith: mfa('enroll_with', true),
    enrollWithAny: mfa('enroll_with_any', false),
  };
  api.user = { setAppMetadata: metadata('app'), setUserMetadata: metadata('user') };
  return api;
}

// Gatehouse's `plan_prompt`: the factors a challenge or enrollment offers, or null when it is skipped.
function planPrompt(command, event, flow) {
  const enrollment = command.command.startsWith('enroll');
  const requested = command.factors ?? [command.factor, ...command.additional_factors];
  const enrolled = (type) => event.user.enrolledFactors.some((f) => f.type === type) || flow.enrolled.includes(type);
  if (!enrollment && requested.some((f) => flow.completed.has(f.type))) return null;
  const usable = [];
  for (const factor of requested) {
    const ok = enrollment ? !enrolled(factor.type) && factor.type !== 'email' : enrolled(factor.type);
    if (ok && !usable.includes(factor.type)) usable.push(factor.type);
  }
  if (usable.length === 0) {
    if (enrollment && requested.every((f) => enrolled(f.type))) return null;
    throw new Error('An MFA challenge or enrollment is used but the requested factors are not properly set up.');
  }
  return { command: command.command, offered: usable, enrollment };
}

async function login(scripts, actions, eventText) {
  const context = vm.createContext({});
  const event = JSON.parse(eventText);
  const flow = {
    completed: new Set(), enrolled: [], prompts: [], mfaCommands: 0, multifactor: null,
    claims: { id: {}, access: {} }, result: 'allow', executed: 0,
  };
  const commands = [];
  const api = makeApi(commands);
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i];
    const script = scripts ? scripts[i] : compile(action);
    const wrapper = script.runInContext(context);
    const module = { exports: {}, id: action.path };
    wrapper.call(module.exports, module.exports, requireStub, module, action.path, path.dirname(action.path));
    const handler = module.exports.onExecutePostLogin;
    if (typeof handler !== 'function') throw new Error(`${action.path} does not export onExecutePostLogin`);
    commands.length = 0;
    flow.executed++;
    await handler(event, api);
    const queued = [];
    let denied = false;
    for (const command of commands) {
      switch (command.command) {
        case 'deny': denied = true; break;
        case 'set_custom_claim': flow.claims[command.token][command.name] = command.value; break;
        case 'enable_multifactor': flow.multifactor = command; break;
        case 'challenge_with':
        case 'challenge_with_any':
        case 'enroll_with':
        case 'enroll_with_any': {
          flow.mfaCommands++;
          if (flow.mfaCommands > MAX_MFA_COMMANDS) return { ...flow, result: 'error' };
          const prompt = planPrompt(command, event, flow);
          if (prompt) queued.push(prompt);
          break;
        }
        default: break;
      }
    }
    if (denied) return { ...flow, result: 'deny' };
    // The pause: the user completes each prompt with its first offered factor; the next action sees it.
    for (const prompt of queued) {
      const type = prompt.offered[0];
      event.authentication.methods.push({ name: 'mfa', type, timestamp: new Date().toISOString() });
      flow.completed.add(type);
      if (prompt.enrollment) {
        event.user.enrolledFactors.push({ type });
        flow.enrolled.push(type);
      }
      flow.prompts.push(type);
    }
  }
  if (flow.mfaCommands > 0) flow.multifactor = null;
  return flow;
}

function percentile(sorted, p) {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

// Login `n`'s event, as Gatehouse's bench makes it (`event_for`): another user, another transaction, the same
// application and the same decisions. Made before the login is timed, as there.
function eventFor(base, n) {
  const event = JSON.parse(JSON.stringify(base));
  const user = event.user;
  user.user_id = `auth0|bench-user-${n}`;
  user.email = `user${n}@example.com`;
  user.name = `Bench User ${n}`;
  user.nickname = `user${n}`;
  for (const identity of user.identities || []) if ('user_id' in identity) identity.user_id = `bench-user-${n}`;
  const state = `state-${n.toString(16).padStart(8, '0')}`;
  event.transaction.id = `tx_bench_${n}`;
  event.transaction.state = state;
  event.request.query.state = state;
  event.request.ip = `198.51.${Math.floor(n / 250) % 250}.${n % 250}`;
  event.stats.logins_count = 1 + (n % 500);
  const two = (x) => String(x).padStart(2, '0');
  for (const method of event.authentication.methods) {
    method.timestamp = `2026-12-03T${two(Math.floor(n / 3600) % 24)}:${two(Math.floor(n / 60) % 60)}:${two(n % 60)}.000Z`;
  }
  return JSON.stringify(event);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const eventText = fs.readFileSync(args.event === '-' ? 0 : args.event, 'utf8');
  const actions = args.actions.map((p) => ({ path: p, code: fs.readFileSync(p, 'utf8') }));
  const scripts = args.compileEachLogin ? null : actions.map(compile);

  const base = JSON.parse(eventText);
  let last;
  let n = 0;
  for (let i = 0; i < args.warmup; i++) last = await login(scripts, actions, eventFor(base, n++));
  const times = new Array(args.logins);
  const started = process.hrtime.bigint();
  for (let i = 0; i < args.logins; i++) {
    const text = eventFor(base, n++);
    const t = process.hrtime.bigint();
    last = await login(scripts, actions, text);
    times[i] = Number(process.hrtime.bigint() - t) / 1e6;
  }
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  times.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({
    node: process.version,
    scripts: args.compileEachLogin
      ? 'new vm.Script for every action in every login'
      : 'vm.Script compiled once per action, cached across logins',
    logins: args.logins,
    p50_ms: percentile(times, 50),
    p90_ms: percentile(times, 90),
    p99_ms: percentile(times, 99),
    max_ms: times[times.length - 1],
    logins_per_s: args.logins / wall,
    result: last.result,
    executed: last.executed,
    completed: last.prompts,
  }) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
