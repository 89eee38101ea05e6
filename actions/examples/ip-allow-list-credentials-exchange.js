// Machine-to-machine tokens only from known addresses: the behaviour of Auth0's marketplace template "IP address
// allow list" for the credentials-exchange trigger. ALLOW_LIST is a secret: addresses separated by commas. Copy it
// to actions/credentials-exchange/ to use it.
exports.onExecuteCredentialsExchange = async (event, api) => {
  const allowed = event.secrets.ALLOW_LIST?.split(',').map((ip) => ip.trim());
  if (!allowed) {
    return api.access.deny('server_error', 'Invalid configuration');
  }
  if (!allowed.includes(event.request.ip)) {
    return api.access.deny('invalid_request', 'Access denied for this IP address');
  }
};
