// Refuses sign-ups from throwaway mailboxes with api.validation.error, whose code and message the sign-up answers
// with; everyone else gets a note of where they signed up from, in the new user's metadata. Copy it to
// actions/pre-user-registration/.
const DISPOSABLE = ['mailinator.com', 'guerrillamail.com', '10minutemail.com', 'trashmail.com', 'yopmail.com'];

exports.onExecutePreUserRegistration = async (event, api) => {
  const domain = (event.user.email || '').split('@').pop().toLowerCase();
  if (DISPOSABLE.includes(domain)) {
    return api.validation.error('disposable_email', 'Please sign up with a permanent email address.');
  }
  api.user.setUserMetadata('preferred_language', event.transaction?.locale || event.request.language || 'en');
  api.user.setAppMetadata('signup_country', event.request.geoip?.countryCode || 'unknown');
};
