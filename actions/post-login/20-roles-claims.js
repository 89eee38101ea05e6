// Adds the user's roles to the ID token and the access token as a namespaced custom claim.
// Seed 004 (authorization best practices) advises that authorization data the application or API
// enforces travel in the tokens as custom claims; Auth0 requires custom claims to be namespaced
// (a plain `roles` claim is restricted and would be dropped).
const NAMESPACE = 'https://gatehouse.dev';

exports.onExecutePostLogin = async (event, api) => {
  const roles = event.authorization?.roles ?? [];
  api.idToken.setCustomClaim(`${NAMESPACE}/roles`, roles);
  api.accessToken.setCustomClaim(`${NAMESPACE}/roles`, roles);
};
