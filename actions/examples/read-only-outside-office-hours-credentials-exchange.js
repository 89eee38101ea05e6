/**
 * credentials-exchange: machine-to-machine tokens get write scopes only from the office network; elsewhere the
 * token is read-only. `api.transaction` changes the target scopes (scopes the client grant does not authorize
 * are dropped when the token is issued), and `event.transaction.target_scopes` shows the change at once.
 *
 * Secrets: OFFICE_IPS, comma-separated addresses.
 * @param {CredentialsExchangeEvent} event
 * @param {CredentialsExchangeAPI} api
 */
exports.onExecuteCredentialsExchange = async (event, api) => {
  const office = (event.secrets.OFFICE_IPS || '').split(',').map((ip) => ip.trim()).filter(Boolean);
  if (office.includes(event.request.ip)) return;
  for (const scope of event.transaction.target_scopes) {
    if (scope.startsWith('write:') || scope.startsWith('delete:')) api.transaction.removeTargetScope(scope);
  }
  api.accessToken.setCustomClaim('https://example.com/read_only', true);
  api.accessToken.setCustomClaim('https://example.com/scopes', event.transaction.target_scopes);
};
