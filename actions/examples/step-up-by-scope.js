// PITFALL, kept verbatim on purpose: do not copy this scope check into a flow. event.request.query is only
// filled on /authorize; the token endpoint's grants (password, refresh) leave it empty, so this action lets
// `grant_type=password&scope=openid write:data` through without MFA. A scope check in a post-login action must
// read event.transaction.requested_scopes, as actions/post-login/10-step-up.js does.
// Source: seed 000 (Japanese column "Auth0を利用した任意タイミングでの多要素認証" (MFA at any moment with Auth0)),
// "Step2. MFAを要求するアクションの作成" (creating the action that requires MFA), 2-2 <コード例> (code example).
// Step-up authentication: when the authorization request asks for the sensitive
// scope `write:data`, require MFA (deferred to the end of the flow).
exports.onExecutePostLogin = async (event, api) => {
  // リクエストのクエリパラメータからスコープを取得する
  const requestedScopes = event.request.query?.scope?.split(' ') || [];

  // MFAを強制する機密性の高いスコープのリスト
  const sensitiveScopes = ["write:data"];

  // 要求されたスコープの中に、機密性の高いスコープが含まれているかチェックして、存在するならMFAを実行
  const requiresMfa = sensitiveScopes.some(scope => requestedScopes.includes(scope));

  if (!requiresMfa) {
    return;
  } else {
    api.multifactor.enable("any");
  }
};
