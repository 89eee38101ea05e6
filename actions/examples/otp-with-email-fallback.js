// Source: seed 001 (Auth0 docs, "ユニバーサルログインに対するMFA選択をカスタイズする" (Customize MFA Selection for Universal Login)),
// section "ユーザーが別の認証方法を選択できるようにします" (let users choose another method), example "指定要素" (specified factor).
// Challenge with OTP by default; "Try another method" offers email.
exports.onExecutePostLogin = async (event, api) => {
  api.authentication.challengeWith({ type: 'otp' },
    { additionalFactors: [{type: 'email'}] })
};
