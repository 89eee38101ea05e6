// A password reset link alone is not enough for users with an authenticator app: they confirm with an OTP code (or
// a recovery code) before they may choose a new password. Users without one go on with the link. Copy it to
// actions/password-reset-post-challenge/.
exports.onExecutePostChallenge = async (event, api) => {
  const enrolled = event.user.enrolledFactors || [];
  if (enrolled.some((factor) => factor.type === 'otp')) {
    api.authentication.challengeWith({ type: 'otp' }, { additionalFactors: [{ type: 'recovery-code' }] });
  }
};
