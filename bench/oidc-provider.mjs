#!/usr/bin/env node
// The peer of `make bench`'s token-endpoint phase: panva's node-oidc-provider (a certified OpenID Provider), one
// Node process, configured to answer the same three token requests Gatehouse answers in the same run:
//
//   client_credentials   RS256 JWT access token for the API (resource indicators, `accessTokenFormat: 'jwt'`)
//   refresh_token        rotated on every use (as Gatehouse always does): a JWT access token, an ID token and a
//                        new refresh token per request
//   password             registered with `provider.registerGrantType` (node-oidc-provider has no password grant):
//                        an argon2id check (the npm `argon2` package, Gatehouse's parameters), then the same three
//                        tokens as refresh_token
//
//   node bench/oidc-provider.mjs --modules DIR --port N --secret S --user EMAIL --password P --api URL
//
// DIR is where the bench installed the pinned packages (outside the repository). Its storage is the provider's
// default in-memory adapter (Gatehouse writes to sled), and it signs with a fresh 2048-bit RSA key, as Gatehouse.
// It prints one line, `ready <issuer>`, when it listens.
import { createRequire } from 'node:module';
import { generateKeyPairSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
for (const key of ['modules', 'port', 'secret', 'user', 'password', 'api']) {
  if (!args[key]) {
    console.error(`oidc-provider.mjs: --${key} is required`);
    process.exit(2);
  }
}

const require = createRequire(path.join(path.resolve(args.modules), 'package.json'));
const load = (name) => import(pathToFileURL(require.resolve(name)).href);
const { Provider, errors } = await load('oidc-provider');
const { issueIdToken } = await load('oidc-provider/lib/helpers/grant_common.js');
const argon2 = (await load('argon2')).default;

// Gatehouse's parameters (crates/auth/src/crypto/password.rs): OWASP's argon2id, 19 MiB, 2 passes, 1 lane.
const ARGON2 = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 };
const API = args.api;
const SCOPE = 'openid offline_access read:data';
const issuer = `http://127.0.0.1:${args.port}`;
const accountId = 'auth0|bench';
const users = new Map([[args.user, { accountId, hash: await argon2.hash(args.password, ARGON2) }]]);
const account = {
  accountId,
  claims: () => ({ sub: accountId, email: args.user, email_verified: true }),
};
const resourceServer = {
  scope: 'read:data',
  audience: API,
  accessTokenFormat: 'jwt',
  accessTokenTTL: 86400,
  jwt: { sign: { alg: 'RS256' } },
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench',
      client_secret: args.secret,
      grant_types: ['client_credentials', 'refresh_token', 'password'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  jwks: { keys: [jwk] },
  scopes: ['openid', 'offline_access', 'read:data'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  findAccount: (_ctx, id) => (id === accountId ? account : undefined),
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => API,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== API) throw new errors.InvalidTarget();
        return resourceServer;
      },
    },
  },
  ttl: { ClientCredentials: 86400, AccessToken: 86400, IdToken: 36000, RefreshToken: 30 * 86400, Grant: 30 * 86400 },
});

provider.registerGrantType(
  'password',
  async (ctx) => {
    const { username, password } = ctx.oidc.params;
    if (!username || !password) throw new errors.InvalidRequest('username and password are required');
    const user = users.get(username.trim().toLowerCase());
    const hash = user?.hash ?? (await argon2.hash('no such user', ARGON2));
    if (!(await argon2.verify(hash, password)) || !user) throw new errors.InvalidGrant('Wrong email or password.');
    const { client } = ctx.oidc;
    ctx.oidc.entity('Account', account);
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(API, 'read:data');
    const grantId = await grant.save();
    ctx.oidc.entity('Grant', grant);
    const authTime = Math.floor(Date.now() / 1000);
    const at = new provider.AccessToken({ accountId, client, grantId, gty: 'password' });
    at.resourceServer = new provider.ResourceServer(API, resourceServer);
    at.scope = 'read:data';
    const accessToken = await at.save();
    const rt = new provider.RefreshToken({ accountId, client, grantId, gty: 'password', scope: SCOPE, resource: API, authTime });
    const refreshToken = await rt.save();
    const idToken = await issueIdToken(provider, ctx, rt, at, grant);
    ctx.body = {
      access_token: accessToken,
      id_token: idToken,
      refresh_token: refreshToken,
      scope: SCOPE,
      expires_in: at.expiration,
      token_type: 'Bearer',
    };
  },
  ['username', 'password', 'scope', 'audience'],
);

provider.listen(Number(args.port), '127.0.0.1', () => console.log(`ready ${issuer}`));
