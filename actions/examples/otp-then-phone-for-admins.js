// Source: seed 001 (Auth0 docs, "ユニバーサルログインに対するMFA選択をカスタイズする" (Customize MFA Selection for Universal Login)),
// use case "ロールを使用して、チャレンジ方法を決定する" (use roles to decide the challenge).
// Everyone is challenged with OTP; admins are additionally challenged with phone.
exports.onExecutePostLogin = async (event, api) => {
  api.authentication.challengeWith({type: 'otp'});
  const isAdmin = event.authorization?.roles.includes('admin');
  if(isAdmin) {
    api.authentication.challengeWith({type: 'phone'});
  }
}
