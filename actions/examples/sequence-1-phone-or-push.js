// Source: seed 001 (Auth0 docs, "ユニバーサルログインに対するMFA選択をカスタイズする" (Customize MFA Selection for Universal Login)),
// section "シーケンス化されたフローとコンテキストに基づくフロー" (sequenced and contextual flows), ACTION 1.
// First action of a two-action sequence: let the user pick phone or push.
exports.onExecutePostLogin = async (event, api) => {
  api.authentication.challengeWithAny([{ type: 'phone'}, { type: 'push-notification' }]);
}
