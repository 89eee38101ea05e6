// Writes who changed their password, from where, to the action's console (the tenant log keeps it with the run).
// Copy it to actions/post-change-password/.
exports.onExecutePostChangePassword = async (event, api) => {
  const where = event.request.geoip?.countryCode || 'an unknown country';
  console.log(`password changed for ${event.user.user_id} from ${event.request.ip} (${where})`);
};
