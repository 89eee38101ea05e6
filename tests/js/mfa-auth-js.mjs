// End-to-end: Gatehouse's MFA API driven by Auth0's own Node SDK, @auth0/auth0-auth-js (its `AuthClient` and the
// `authClient.mfa` MfaClient). Run by tests/tests/auth_js.rs:
//
//   node tests/js/mfa-auth-js.mjs --plain <http issuer> \
//        --tls-issuer https://127.0.0.1:<P>/ --tls-ca <ca.pem> --tls-outbox <dir>
//
// auth0-auth-js only speaks https: every URL it builds is `https://${domain}/...` (`domain` is a bare host[:port]),
// and its grants go through openid-client, which it never lets make plain-http requests (no `allowInsecureRequests`).
// So the script checks three things:
//   http_direct    an http:// Gatehouse (`--plain`) given as `domain`: the SDK's requests go to https://<host:port>/
//                  and fail in the TLS handshake; a `domain` with a scheme builds a broken URL;
//   custom_fetch   the same Gatehouse through the SDK's `customFetch` option, rewriting https:// to http:// on the
//                  wire: MfaClient's four plain-fetch calls (/mfa/associate, /mfa/challenge, /mfa/authenticators,
//                  DELETE /mfa/authenticators/{id}) work; getTokenByPassword and mfa.verify, which go through
//                  openid-client's discovery of https://<domain>/, are refused because the discovery document's
//                  issuer is http://<domain>/;
//   tls            a Gatehouse whose issuer is https://127.0.0.1:<P>/ (`--tls-issuer`), serving https itself
//                  (`gatehouse serve --tls-cert --tls-key`) with a certificate from a throwaway CA (`--tls-ca`) that
//                  the child Node process trusts (NODE_EXTRA_CA_CERTS): the whole MFA flow through the SDK.
// The tenants are tests/src/lib.rs's test tenant with `[mfa] policy = "always"`; `--plain` offers otp and
// recovery-code, the TLS one otp, recovery-code and email (`--tls-outbox` is its data/outbox, for email codes).
//
// Prints one JSON line ({"ok": true|false, "checks": {...}}); exits 1 if any check failed.

import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CLIENT_ID = 'test-web';
const CLIENT_SECRET = 'test-web-secret-0123456789';
const REALM = 'Username-Password-Authentication';
const AUDIENCE = 'https://api.example.com/';
const PASSWORD = 'correct-horse-battery';
const SCOPE = 'openid profile';

const { values: args } = parseArgs({
  options: {
    plain: { type: 'string' },
    'tls-issuer': { type: 'string' },
    'tls-ca': { type: 'string' },
    'tls-outbox': { type: 'string' },
  },
});
for (const name of ['plain', 'tls-issuer', 'tls-ca', 'tls-outbox']) {
  if (!args[name]) {
    console.error(`usage: node mfa-auth-js.mjs --plain <issuer> --tls-issuer <issuer> --tls-ca <ca.pem> --tls-outbox <dir> (missing --${name})`);
    process.exit(2);
  }
}

// --- The parent: this script again with Node trusting the test CA. -----------------------------------------------
// Node's fetch reads NODE_EXTRA_CA_CERTS at start-up only.
if (!process.env.GATEHOUSE_E2E_TLS_CHILD) {
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, GATEHOUSE_E2E_TLS_CHILD: '1', NODE_EXTRA_CA_CERTS: args['tls-ca'] },
  });
  process.exit(child.status ?? 1);
}

// --- The child: the checks. ---------------------------------------------------------------------------------------
const { AuthClient, isMfaRequiredError } = await import('@auth0/auth0-auth-js');
const SDK_VERSION = JSON.parse(
  readFileSync(new URL('node_modules/@auth0/auth0-auth-js/package.json', import.meta.url), 'utf8'),
).version;

class CheckFailed extends Error {}

function expect(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

/** Runs `fn`, which must throw; returns the error. */
async function rejects(fn, what) {
  try {
    const value = await fn();
    throw new CheckFailed(`${what} succeeded: ${JSON.stringify(value)}`);
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    return e;
  }
}

/** An SDK error as plain data (the cause carries the server's `error` and `error_description`). */
function describe(e) {
  return {
    name: e?.name,
    code: e?.code,
    message: e?.message,
    statusCode: e?.statusCode,
    cause: e?.cause && (e.cause.error !== undefined
      ? { error: e.cause.error, error_description: e.cause.error_description }
      : { code: e.cause.code, message: e.cause.message }),
  };
}

function jwtPayload(token) {
  expect(typeof token === 'string' && token.split('.').length === 3, `not a JWT: ${token}`);
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

// --- RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s) ---
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.toUpperCase().replace(/[=\s-]/g, '')) {
    const index = alphabet.indexOf(c);
    if (index < 0) throw new CheckFailed(`not base32: ${text}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totpAt(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** Codes for steps the server has not seen used: now's, or the next step's when now's was used. */
class Authenticator {
  constructor(secret) {
    this.secret = secret;
    this.lastStep = -1;
  }
  next() {
    const step = Math.max(Math.floor(Date.now() / 1000 / 30), this.lastStep + 1);
    this.lastStep = step;
    return totpAt(this.secret, step);
  }
}

/** A fetch that records the URLs the SDK asks for, optionally rewriting them first. */
function recordingFetch(log, rewrite = (url) => url) {
  return async (input, init) => {
    const original = input instanceof Request ? input.url : String(input);
    const target = rewrite(original);
    log.push(target === original ? original : `${original} -> ${target}`);
    if (input instanceof Request) {
      return fetch(new Request(target, input), init);
    }
    return fetch(target, init);
  };
}

/** The password-realm grant without the SDK: the mfa_token the SDK cannot fetch from an http:// server. */
async function mfaTokenByHand(issuer, username) {
  const response = await fetch(`${issuer}oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'http://auth0.com/oauth/grant-type/password-realm', client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET, username, password: PASSWORD, realm: REALM, scope: SCOPE, audience: AUDIENCE,
    }),
  });
  const body = await response.json();
  expect(response.status === 403 && body.error === 'mfa_required', `password-realm by hand: ${response.status} ${JSON.stringify(body)}`);
  return body.mfa_token;
}

/** The SDK's password grant, which must answer mfa_required; returns the mfa_token from the error. */
async function sdkMfaToken(client, username, options = {}) {
  const e = await rejects(
    () => client.getTokenByPassword({ username, password: PASSWORD, realm: REALM, scope: SCOPE, audience: AUDIENCE, ...options }),
    `getTokenByPassword(${username}) under policy always`,
  );
  expect(isMfaRequiredError(e), `not an mfa_required error: ${JSON.stringify(describe(e))}`);
  expect(e.name === 'TokenByPasswordError', `error name ${e.name}`);
  expect(e.statusCode === 403, `HTTP ${e.statusCode}, expected 403`);
  expect(e.cause.error_description === 'Multifactor authentication required', `error_description ${e.cause.error_description}`);
  expect(typeof e.cause.mfa_token === 'string' && e.cause.mfa_token.split('.').length === 3, `mfa_token ${e.cause.mfa_token}`);
  return e.cause.mfa_token;
}

function expectMfaTokens(tokens, issuer, what, audience = AUDIENCE) {
  expect(typeof tokens?.accessToken === 'string' && typeof tokens?.idToken === 'string', `${what}: ${JSON.stringify(tokens)}`);
  expect(tokens.tokenType?.toLowerCase() === 'bearer', `${what}: token_type ${tokens.tokenType}`);
  expect(JSON.stringify(tokens.claims?.amr) === '["mfa"]', `${what}: ID token amr ${JSON.stringify(tokens.claims?.amr)}`);
  expect(tokens.claims?.iss === issuer, `${what}: ID token iss ${tokens.claims?.iss}, expected ${issuer}`);
  const access = jwtPayload(tokens.accessToken);
  const audiences = Array.isArray(access.aud) ? access.aud : [access.aud];
  expect(audiences.includes(audience), `${what}: access token aud ${JSON.stringify(access.aud)} lacks ${audience}`);
  return { scope: tokens.scope, amr: tokens.claims.amr, aud: access.aud };
}

/** The 6-digit code of the newest email in the outbox, and its recipient. */
function latestEmail(outbox) {
  const files = readdirSync(outbox).filter((f) => f.endsWith('.eml')).sort();
  expect(files.length > 0, `no email in ${outbox}`);
  const text = readFileSync(join(outbox, files[files.length - 1]), 'utf8');
  const code = text.match(/code is: (\d{6})/)?.[1];
  const to = text.match(/^To: (.*)$/mi)?.[1]?.trim();
  expect(code, `no code in the newest email: ${text.slice(0, 400)}`);
  return { code, to };
}

// --- http_direct: an http:// Gatehouse as `domain`. ---
async function httpDirect() {
  const issuer = args.plain;
  const host = new URL(issuer).host;
  const mfaToken = await mfaTokenByHand(issuer, 'jane@example.com');

  const urls = [];
  const client = new AuthClient({ domain: host, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, customFetch: recordingFetch(urls) });
  const list = await rejects(() => client.mfa.listAuthenticators({ mfaToken }), 'mfa.listAuthenticators against http://');
  expect(urls[0] === `https://${host}/mfa/authenticators`, `the SDK asked for ${urls[0]}`);
  // fetch fails in the TLS handshake: the server answers plain HTTP to a ClientHello.
  expect(list instanceof TypeError && /fetch failed/.test(list.message) && /SSL|EPROTO|ECONNRESET/.test(String(list.cause?.code)),
    `listAuthenticators: ${JSON.stringify(describe(list))}`);
  const password = await rejects(
    () => client.getTokenByPassword({ username: 'jane@example.com', password: PASSWORD, realm: REALM, scope: SCOPE }),
    'getTokenByPassword against http://',
  );
  expect(urls.includes(`https://${host}/.well-known/openid-configuration`), `no discovery request over https: ${urls}`);

  // A domain with a scheme is not a way out: the SDK prefixes https:// all the same.
  const schemeUrls = [];
  const withScheme = new AuthClient({ domain: issuer.replace(/\/$/, ''), clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, customFetch: recordingFetch(schemeUrls) });
  const scheme = await rejects(() => withScheme.mfa.listAuthenticators({ mfaToken }), 'a domain with http://');
  expect(schemeUrls[0]?.startsWith(`https://${issuer.replace(/\/$/, '')}`), `with a scheme the SDK asked for ${schemeUrls[0]}`);
  return {
    requested: urls,
    list_authenticators_error: describe(list),
    get_token_by_password_error: describe(password),
    domain_with_scheme: { requested: schemeUrls[0], error: describe(scheme) },
  };
}

// --- custom_fetch: the same server through customFetch, https:// rewritten to http://. ---
async function customFetch() {
  const issuer = args.plain;
  const host = new URL(issuer).host;
  const urls = [];
  const rewrite = (url) => url.replace(`https://${host}/`, `http://${host}/`);
  const client = new AuthClient({ domain: host, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, customFetch: recordingFetch(urls, rewrite) });

  // The grants go through openid-client's discovery of https://<domain>/: the document's issuer must be exactly
  // that URL, and it is http://<domain>/.
  const password = await rejects(
    () => client.getTokenByPassword({ username: 'taro@example.com', password: PASSWORD, realm: REALM, scope: SCOPE, audience: AUDIENCE }),
    'getTokenByPassword through a rewriting customFetch',
  );
  const passwordCause = password.cause?.error_description ?? password.cause?.message ?? password.message;
  expect(/issuer/i.test(`${passwordCause} ${password.message}`), `getTokenByPassword: ${JSON.stringify(describe(password))}`);

  // MfaClient's own calls are plain fetches: they reach the server.
  const mfaToken = await mfaTokenByHand(issuer, 'taro@example.com');
  const unenrolled = await rejects(() => client.mfa.challengeAuthenticator({ challengeType: 'otp', mfaToken }), 'challenge before enrolling');
  expect(unenrolled.name === 'MfaChallengeError' && unenrolled.cause?.error === 'association_required',
    `challenge before enrolling: ${JSON.stringify(describe(unenrolled))}`);
  expect(unenrolled.message === 'User is not enrolled. You can use /mfa/associate endpoint to enroll the first authenticator.',
    `association_required message: ${unenrolled.message}`);
  const enrollment = await client.mfa.enrollAuthenticator({ authenticatorTypes: ['otp'], mfaToken });
  expect(enrollment.authenticatorType === 'otp' && typeof enrollment.secret === 'string' && enrollment.barcodeUri?.startsWith('otpauth://totp/'),
    `enrollAuthenticator: ${JSON.stringify(enrollment)}`);
  const listed = await client.mfa.listAuthenticators({ mfaToken });
  expect(listed.some((a) => a.authenticatorType === 'otp' && a.active === false), `listAuthenticators: ${JSON.stringify(listed)}`);
  const verify = await rejects(
    () => client.mfa.verify({ mfaToken, factorType: 'otp', otp: new Authenticator(enrollment.secret).next() }),
    'mfa.verify through a rewriting customFetch',
  );
  // Discovery runs before verify's try block, so openid-client's own error comes through unwrapped.
  expect(/issuer/i.test(verify.message), `mfa.verify: ${JSON.stringify(describe(verify))}`);
  return {
    requested: urls,
    get_token_by_password_error: describe(password),
    challenge_before_enrolling: describe(unenrolled),
    enrolled: { authenticatorType: enrollment.authenticatorType, recoveryCodes: enrollment.recoveryCodes?.length },
    listed,
    verify_error: describe(verify),
  };
}

// --- tls: the whole flow against Gatehouse serving https itself. ---
/** A fetch for the SDK that notes each endpoint it calls (authenticator ids folded into `{id}`). */
function endpointRecorder(seen) {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    seen.push({ request: `${method} ${url.pathname.replace(/\/(totp|email|recovery-code)%7C[^/]*$/i, '/$1|{id}')}` });
    return fetch(input, init);
  };
}

async function tls() {
  const issuer = args['tls-issuer'];
  const domain = new URL(issuer).host;
  const seen = [];
  const client = new AuthClient({ domain, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, customFetch: endpointRecorder(seen) });
  const result = {};

  // jane: enroll OTP with the SDK, confirm it, challenge it, use and regenerate the recovery code.
  let mfaToken = await sdkMfaToken(client, 'jane@example.com');
  let listed = await client.mfa.listAuthenticators({ mfaToken });
  const email = listed.find((a) => a.authenticatorType === 'oob');
  expect(email?.active === true && email.name?.includes('***') && !email.name.includes('jane'),
    `jane's verified email is listed, masked: ${JSON.stringify(listed)}`);
  expect(!listed.some((a) => a.authenticatorType === 'otp'), `no OTP before enrolling: ${JSON.stringify(listed)}`);
  // Auth0 names an oob authenticator's channel `oob_channel`; the SDK maps only `oob_channels`.
  result.oob_channels_mapped = email.oobChannels ?? null;
  const unsupported = await rejects(() => client.mfa.challengeAuthenticator({ challengeType: 'otp', mfaToken }), 'an otp challenge before enrolling OTP');
  expect(unsupported.name === 'MfaChallengeError' && unsupported.cause?.error === 'unsupported_challenge_type'
    && unsupported.message === 'The user does not support the requested challenge type (otp). Supported type: oob.',
  `otp challenge with email only: ${JSON.stringify(describe(unsupported))}`);

  // jane's verified email is already her factor: with only the password (this mfa_token), enrolling is refused,
  // so a stolen password cannot enroll the thief's app. She passes the email challenge first, then enrolls.
  const takeover = await rejects(() => client.mfa.enrollAuthenticator({ authenticatorTypes: ['otp'], mfaToken }), 'enrolling before passing email');
  expect(takeover.cause?.error === 'access_denied' && takeover.message === 'User is already enrolled.',
    `enrolling before passing email: ${JSON.stringify(describe(takeover))}`);
  const first = await client.mfa.challengeAuthenticator({ challengeType: 'oob', mfaToken });
  const firstMail = latestEmail(args['tls-outbox']);
  expect(/jane@example\.com/.test(firstMail.to ?? ''), `the email challenge went to ${firstMail.to}`);
  result.email_first = expectMfaTokens(
    await client.mfa.verify({ mfaToken, factorType: 'oob', oobCode: first.oobCode, bindingCode: firstMail.code }),
    issuer,
    'verify oob (jane, before enrolling)',
  );

  const enrollment = await client.mfa.enrollAuthenticator({ authenticatorTypes: ['otp'], mfaToken });
  expect(enrollment.authenticatorType === 'otp', `enrollAuthenticator: ${JSON.stringify(enrollment)}`);
  const uri = new URL(enrollment.barcodeUri);
  expect(uri.protocol === 'otpauth:' && uri.host === 'totp' && uri.searchParams.get('secret') === enrollment.secret
    && decodeURIComponent(uri.pathname) === '/Gatehouse Test:jane@example.com', `barcodeUri ${enrollment.barcodeUri}`);
  expect(enrollment.recoveryCodes?.length === 1 && enrollment.recoveryCodes[0].length === 24, `recoveryCodes ${JSON.stringify(enrollment.recoveryCodes)}`);
  const app = new Authenticator(enrollment.secret);
  let recoveryCode = enrollment.recoveryCodes[0];
  listed = await client.mfa.listAuthenticators({ mfaToken });
  expect(listed.some((a) => a.authenticatorType === 'otp' && a.active === false && a.id.startsWith('totp|dev_')), `pending OTP: ${JSON.stringify(listed)}`);

  let tokens = await client.mfa.verify({ mfaToken, factorType: 'otp', otp: app.next() });
  result.confirm = expectMfaTokens(tokens, issuer, 'verify otp (enrollment)');
  expect(tokens.scope === SCOPE, `scope ${tokens.scope}`);

  mfaToken = await sdkMfaToken(client, 'jane@example.com');
  listed = await client.mfa.listAuthenticators({ mfaToken });
  const otp = listed.find((a) => a.authenticatorType === 'otp');
  expect(otp?.active === true && listed.some((a) => a.authenticatorType === 'recovery-code' && a.active), `active after confirming: ${JSON.stringify(listed)}`);
  const challenge = await client.mfa.challengeAuthenticator({ challengeType: 'otp', authenticatorId: otp.id, mfaToken });
  expect(JSON.stringify(challenge) === '{"challengeType":"otp"}', `challengeAuthenticator: ${JSON.stringify(challenge)}`);
  const right = app.next();
  const wrong = await rejects(() => client.mfa.verify({ mfaToken, factorType: 'otp', otp: right === '000000' ? '111111' : '000000' }), 'a wrong OTP');
  expect(wrong.name === 'MfaVerifyError' && wrong.cause?.error === 'invalid_grant' && wrong.message === 'Invalid otp_code.'
    && wrong.statusCode === 403, `a wrong OTP: ${JSON.stringify(describe(wrong))}`);
  tokens = await client.mfa.verify({ mfaToken, factorType: 'otp', otp: right });
  result.challenge = expectMfaTokens(tokens, issuer, 'verify otp (challenge)');
  const replay = await rejects(() => client.mfa.verify({ mfaToken, factorType: 'otp', otp: right }), 'the same OTP twice');
  expect(replay.cause?.error === 'invalid_grant', `the same OTP twice: ${JSON.stringify(describe(replay))}`);

  mfaToken = await sdkMfaToken(client, 'jane@example.com');
  tokens = await client.mfa.verify({ mfaToken, factorType: 'recovery-code', recoveryCode });
  result.recovery = expectMfaTokens(tokens, issuer, 'verify recovery-code');
  expect(typeof tokens.recoveryCode === 'string' && tokens.recoveryCode.length === 24 && tokens.recoveryCode !== recoveryCode,
    `the new recovery code (TokenResponse.recoveryCode): ${tokens.recoveryCode}`);
  const used = await rejects(() => client.mfa.verify({ mfaToken, factorType: 'recovery-code', recoveryCode }), 'a used recovery code');
  expect(used.cause?.error === 'invalid_grant' && used.message === 'Invalid recovery_code.', `a used recovery code: ${JSON.stringify(describe(used))}`);
  recoveryCode = tokens.recoveryCode;

  // Deleting needs an access token for the MFA API with remove:authenticators; an mfa_token is refused.
  const mfaAudience = `${issuer}mfa/`;
  mfaToken = await sdkMfaToken(client, 'jane@example.com', { audience: mfaAudience, scope: 'openid read:authenticators remove:authenticators' });
  const byTicket = await rejects(() => client.mfa.deleteAuthenticator({ authenticatorId: otp.id, mfaToken }), 'deleting with an mfa_token');
  expect(byTicket.name === 'MfaDeleteAuthenticatorError' && byTicket.cause?.error === 'insufficient_scope' && byTicket.statusCode === 403,
    `deleting with an mfa_token: ${JSON.stringify(describe(byTicket))}`);
  tokens = await client.mfa.verify({ mfaToken, factorType: 'recovery-code', recoveryCode });
  result.mfa_api_token = expectMfaTokens(tokens, issuer, 'verify recovery-code for the MFA API', mfaAudience);
  expect(tokens.scope?.split(' ').includes('remove:authenticators'), `MFA API scopes: ${tokens.scope}`);
  await client.mfa.deleteAuthenticator({ authenticatorId: otp.id, mfaToken: tokens.accessToken });
  listed = await client.mfa.listAuthenticators({ mfaToken: tokens.accessToken });
  expect(!listed.some((a) => a.id === otp.id), `the OTP authenticator is gone: ${JSON.stringify(listed)}`);
  result.after_delete = listed.map((a) => `${a.authenticatorType}:${a.active}`).sort();

  // taro: the email factor (his verified address), challenged and verified with the emailed binding code.
  mfaToken = await sdkMfaToken(client, 'taro@example.com');
  const oob = await client.mfa.challengeAuthenticator({ challengeType: 'oob', mfaToken });
  expect(oob.challengeType === 'oob' && typeof oob.oobCode === 'string' && oob.bindingMethod === 'prompt', `oob challenge: ${JSON.stringify(oob)}`);
  const mail = latestEmail(args['tls-outbox']);
  expect(/taro@example\.com/.test(mail.to ?? ''), `the newest email is for ${mail.to}`);
  const badBinding = await rejects(
    () => client.mfa.verify({ mfaToken, factorType: 'oob', oobCode: oob.oobCode, bindingCode: mail.code === '000000' ? '111111' : '000000' }),
    'a wrong binding code',
  );
  expect(badBinding.cause?.error === 'invalid_grant' && badBinding.message === 'MFA Invalid binding code.', `a wrong binding code: ${JSON.stringify(describe(badBinding))}`);
  tokens = await client.mfa.verify({ mfaToken, factorType: 'oob', oobCode: oob.oobCode, bindingCode: mail.code });
  result.email = expectMfaTokens(tokens, issuer, 'verify oob (email)');

  result.endpoints = [...new Set(seen.map((s) => s.request))];
  return result;
}

const report = { ok: true, auth0_auth_js: SDK_VERSION, node: process.version, checks: {} };
for (const [name, check] of [['http_direct', httpDirect], ['custom_fetch', customFetch], ['tls', tls]]) {
  try {
    report.checks[name] = { ok: true, ...(await check()) };
  } catch (e) {
    report.ok = false;
    report.checks[name] = e instanceof CheckFailed
      ? { ok: false, error: e.message }
      : { ok: false, error: `${e?.name}: ${e?.message}`, detail: describe(e), stack: e?.stack?.split('\n').slice(0, 6).join('\n') };
  }
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
