// Sign-ups only from the tenant's email domains: the behaviour of Auth0's marketplace template "Simple domain
// allowlist" for pre-user-registration
// (https://github.com/auth0/opensource-marketplace/tree/main/templates/simple-domain-allowlist-PRE_USER_REGISTRATION):
// the same secret, the same reasons and messages. ALLOWED_DOMAINS is a secret: domains separated by commas. The
// userMessage (second argument of deny) is what the sign-up page shows. Copy it to actions/pre-user-registration/.
exports.onExecutePreUserRegistration = async (event, api) => {
  const email = event.user.email;
  if (!email) {
    return api.access.deny('invalid_email', 'Email is invalid');
  }
  const allowed = (event.secrets.ALLOWED_DOMAINS || '')
    .split(',')
    .map((domain) => domain.trim().toLowerCase())
    .filter(Boolean);
  if (allowed.length === 0) {
    return api.access.deny('invalid_config', 'Invalid configuration');
  }
  const parts = email.split('@');
  if (parts.length !== 2) {
    return api.access.deny('invalid_email', 'Email is invalid');
  }
  if (!allowed.includes(parts[1].toLowerCase())) {
    return api.access.deny('invalid_domain', 'Email domain is prohibited');
  }
};
