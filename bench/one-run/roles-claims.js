/**
 * The common case of `gatehouse bench`'s one-run login: the user's roles into both tokens, under a namespace.
 */
exports.onExecutePostLogin = async (event, api) => {
  const namespace = 'https://example.com';
  const roles = event.authorization?.roles ?? [];
  api.idToken.setCustomClaim(`${namespace}/roles`, roles);
  api.accessToken.setCustomClaim(`${namespace}/roles`, roles);
};
