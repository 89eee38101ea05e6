// Only users who verified their email may reset their password: the behaviour of Auth0's marketplace template
// "Email verified" for password-reset-post-challenge
// (https://github.com/auth0/opensource-marketplace/tree/main/templates/email-verified-PASSWORD_RESET_POST_CHALLENGE),
// with its message, which the reset page shows. Copy it to actions/password-reset-post-challenge/.
exports.onExecutePostChallenge = async (event, api) => {
  if (event.user.email_verified !== true) {
    api.access.deny('Please verify your email before changing your password.');
  }
};
