// Source: seed 001 (Auth0 docs, "ユニバーサルログインに対するMFA選択をカスタイズする" (Customize MFA Selection for Universal Login)),
// section "シーケンス化されたフローとコンテキストに基づくフロー" (sequenced and contextual flows), ACTION 2.
// Second action of the sequence: admins who completed phone in ACTION 1 are
// also challenged with push.

// Decide based on what the user did in the previous action
exports.onExecutePostLogin = async (event, api) => {
  if(event.authentication.methods.find(m => m.type === 'phone') && event.authorization?.roles.includes('admin')) {
    api.authentication.challengeWith({ type: 'push-notification' });
  }
}
