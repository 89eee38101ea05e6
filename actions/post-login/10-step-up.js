// Adapted from seed 000 (Japanese column "Auth0を利用した任意タイミングでの多要素認証" (MFA at any moment with Auth0)),
// "Step2. MFAを要求するアクションの作成" (creating the action that requires MFA), 2-2 <コード例> (code example);
// the seed's code as published is actions/examples/step-up-by-scope.js.
// Step-up authentication: when the login asks for the sensitive scope `write:data`, require MFA
// (deferred to the end of the flow).
exports.onExecutePostLogin = async (event, api) => {
  // The scopes this login asks for, whichever endpoint it came through. The seed read
  // event.request.query.scope, but only /authorize fills event.request.query: the token endpoint's grants
  // (password, refresh) leave it empty, so that check let `grant_type=password&scope=openid write:data` through
  // without MFA. event.transaction.requested_scopes is always present and already split (the server accepts a
  // single space as the only separator and refuses the request otherwise).
  const requestedScopes = event.transaction.requested_scopes;

  // The scopes sensitive enough to require MFA.
  const sensitiveScopes = ["write:data"];

  // Whole-scope comparison: `write:database` is not `write:data`.
  const requiresMfa = sensitiveScopes.some(scope => requestedScopes.includes(scope));

  if (!requiresMfa) {
    return;
  } else {
    api.multifactor.enable("any");
  }
};
