// Tells another system about each new user: a POST to the WEBHOOK_URL secret, with the WEBHOOK_TOKEN secret as a
// bearer token. The user is already stored: if the webhook fails, the action throws, the failure is logged, and the
// sign-up stands. Copy it to actions/post-user-registration/.
exports.onExecutePostUserRegistration = async (event, api) => {
  const response = await fetch(event.secrets.WEBHOOK_URL, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Bearer ' + event.secrets.WEBHOOK_TOKEN,
    },
    body: JSON.stringify({
      user_id: event.user.user_id,
      email: event.user.email,
      created_at: event.user.created_at,
      connection: event.connection.name,
    }),
  });
  if (!response.ok) {
    throw new Error('the webhook answered ' + response.status);
  }
};
