// Source: seed 001 (Auth0 docs, "ユニバーサルログインに対するMFA選択をカスタイズする" (Customize MFA Selection for Universal Login)),
// use case "現在の登録を使用して、チャレンジ方法を決定する" (use current enrollments to decide the challenge).
// Challenge with whichever of OTP and phone the user is enrolled in (picker when both).
exports.onExecutePostLogin = async (event, api) => {
  api.authentication.challengeWithAny([{type: 'otp'}, {type: 'phone'}]);
}
