// Source: seed 001 (Auth0 docs, "ユニバーサルログインに対するMFA選択をカスタイズする" (Customize MFA Selection for Universal Login)),
// section "ユーザーが別の認証方法を選択できるようにします" (let users choose another method), example "登録済み要素" (enrolled factors).
// Challenge with OTP by default; "Try another method" offers the user's other enrolled factors.
exports.onExecutePostLogin = async (event, api) => {
  const enrolledFactors = event.user.enrolledFactors.map((f) => ({type: f.type}));
  api.authentication.challengeWith({ type: 'otp' },
    { additionalFactors: enrolledFactors })
};
