// Source: seed 001 (Auth0 docs, "ユニバーサルログインに対するMFA選択をカスタイズする" (Customize MFA Selection for Universal Login)),
// section "アクションを使用して、ユーザーにチャレンジを行う" (challenge users with Actions).
// The seed gives only the challengeWith call; it is wrapped here in an onExecutePostLogin
// handler. Challenge with phone, letting the user choose SMS or voice.
exports.onExecutePostLogin = async (event, api) => {
  api.authentication.challengeWith({
    type: 'phone',
    options: { preferredMethod: 'both'}
  });
};
