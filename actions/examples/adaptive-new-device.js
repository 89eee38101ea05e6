// Source: seed 001 (Auth0 docs, "ユニバーサルログインに対するMFA選択をカスタイズする" (Customize MFA Selection for Universal Login)),
// use case "Adaptive MFAを使用して、ユーザーにチャレンジを行うタイミングを決定する" (use Adaptive MFA to decide when to challenge).
// Challenge with any enrolled factor when Adaptive MFA's NewDevice confidence is low or medium.

/**
 * Handler that will be called during the execution of a PostLogin flow.
 *
 * @param {Event} event - Details about the user and the context in which they are logging in.
 * @param {PostLoginAPI} api - Interface whose methods can be used to change the behavior of the login.
 */
exports.onExecutePostLogin = async (event, api) => {
  if (event.authentication?.riskAssessment?.assessments.NewDevice) {
    // Example condition: prompt MFA only based on the NewDevice
    // confidence level, this will prompt for MFA when a user is logging in
    // from an unknown device.
    let shouldPromptMfa;
    switch (event.authentication.riskAssessment.assessments.NewDevice.confidence) {
      case 'low':
      case 'medium':
        shouldPromptMfa = true;
        break;
      case 'high':
        shouldPromptMfa = false;
        break;
      case 'neutral':
        // When this assessor has no useful information about the confidence,
        // do not prompt MFA.
        shouldPromptMfa = false;
        break;
    }

    // It only makes sense to prompt for MFA when the user has at least one
    // enrolled MFA factor.
    const canPromptMfa = event.user.enrolledFactors?.length > 0;
    if (shouldPromptMfa && canPromptMfa) {
      const enrolledFactors = event.user.enrolledFactors.map((f) => ({type: f.type}));
      api.authentication.challengeWithAny(enrolledFactors);
    }
  }
};
