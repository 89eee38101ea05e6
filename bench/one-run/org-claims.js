/**
 * The common case of `gatehouse bench`'s one-run login: the organization's id and display name, and the user's
 * plan, as access token claims.
 */
exports.onExecutePostLogin = async (event, api) => {
  if (event.organization) {
    api.accessToken.setCustomClaim('https://example.com/org', {
      id: event.organization.id,
      name: event.organization.display_name,
    });
  }
  api.accessToken.setCustomClaim('https://example.com/plan', event.user.app_metadata?.plan ?? 'free');
};
