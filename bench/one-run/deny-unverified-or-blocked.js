/**
 * The common case of `gatehouse bench`'s one-run login: refuse blocked users and unverified addresses of
 * the company's domains, and count logins in app_metadata.
 */
exports.onExecutePostLogin = async (event, api) => {
  if (event.user.app_metadata?.blocked) {
    return api.access.deny('This account is blocked');
  }
  const domain = (event.user.email ?? '').split('@')[1] ?? '';
  if (['example.com', 'example.org'].includes(domain) && !event.user.email_verified) {
    return api.access.deny('Verify your email address first');
  }
  api.user.setAppMetadata('logins', (event.user.app_metadata?.logins ?? 0) + 1);
};
