// Type declarations for Gatehouse actions: the `event` and `api` objects a handler receives (post-login and every
// other trigger), the CommonJS module bindings, and the globals the Gatehouse sandbox provides. For editors only;
// nothing loads this file at run time.
//
// Sources: crates/types/src/{event,factor,command}.rs (the event Gatehouse builds), crates/engine/src/worker/
// prelude.js and commands.rs (the api surface and its validation), boa_runtime's extensions (atob/btoa, timers,
// TextEncoder/TextDecoder, structuredClone, queueMicrotask), and the shared Auth0 reference
// (auth0-actions-and-mfa.md §1, §2, §4.2).
//
// Use: actions/jsconfig.json includes this file for every actions/**/*.js, or add to an action
//   /// <reference path="../api.d.ts" />
// Compile with `lib: ["es2022"]` and without the DOM lib or @types/node: this file declares exactly the
// non-ECMAScript globals Gatehouse provides (no Request, AbortController, crypto.subtle, process, ...), and it
// would clash with those libraries' declarations.
//
// In a .js file TypeScript binds `exports.onExecutePostLogin = ...` as a CommonJS export of its own and ignores the
// `exports` declared here, so annotate the handler in one of these ways for autocomplete:
//   /** @param {PostLoginEvent} event @param {PostLoginAPI} api */
//   exports.onExecutePostLogin = async (event, api) => { ... };
// or
//   /** @type {OnExecutePostLogin} */
//   exports.onExecutePostLogin = async (event, api) => { ... };

// ---- Factors -----------------------------------------------------------------------------------------------------

/** An MFA factor type as Gatehouse spells it in `enrolledFactors[].type` and `methods[].type`. */
type FactorType =
  | 'otp'
  | 'email'
  | 'push-notification'
  | 'phone'
  | 'webauthn-platform'
  | 'webauthn-roaming'
  | 'recovery-code';

/** Options of the phone factor. */
interface PhoneFactorOptions {
  /** Method offered first: `sms`, `voice` or `both` (any other value throws TypeError). */
  preferredMethod?: 'sms' | 'voice' | 'both';
}

/** Options of the push factor. */
interface PushFactorOptions {
  /** `false` hides the OTP fallback of Guardian push (a non-boolean throws TypeError). */
  otpFallback?: boolean;
}

/** A factor to challenge with; an unknown `type` throws TypeError. `push` is an alias of `push-notification`. */
type FactorSelector =
  | {
      /** The factor type. */
      type: 'otp' | 'email' | 'webauthn-platform' | 'webauthn-roaming' | 'recovery-code';
      /** Factor options (none are defined for these types). */
      options?: { [option: string]: any };
    }
  | {
      /** The phone factor (SMS or voice). */
      type: 'phone';
      /** Phone options. */
      options?: PhoneFactorOptions;
    }
  | {
      /** Guardian push; `push` is accepted as an alias. */
      type: 'push' | 'push-notification';
      /** Push options. */
      options?: PushFactorOptions;
    };

/** A factor to enroll; `email` cannot be enrolled through actions (Gatehouse ignores it). */
type EnrollmentFactorSelector =
  | {
      /** The factor type. */
      type: 'otp' | 'webauthn-platform' | 'webauthn-roaming' | 'push' | 'push-notification' | 'recovery-code';
      /** Factor options. */
      options?: { [option: string]: any };
    }
  | {
      /** The phone factor (SMS or voice). */
      type: 'phone';
      /** Phone options. */
      options?: PhoneFactorOptions;
    };

// ---- event -------------------------------------------------------------------------------------------------------

/** A free-form JSON object from the event (query, body, metadata...). */
interface EventJsonObject {
  /** Any JSON value. */
  readonly [key: string]: any;
}

/** One completed authentication method. */
interface AuthenticationMethod {
  /** `pwd`, `federated`, `passkey`, `sms`, `email`, `phone_number`, `mfa`, or the URL of a custom method (`recordMethod`). */
  readonly name: string;
  /** ISO-8601 time the method was completed. */
  readonly timestamp: string;
  /** The factor used; present only when `name` is `mfa`. */
  readonly type?: FactorType;
}

/** Confidence of a risk assessment; `low` means MFA is advised, `neutral` is reserved. */
type RiskConfidence = 'low' | 'medium' | 'high' | 'neutral';

/** Code of the NewDevice assessor. */
type NewDeviceCode =
  | 'match'
  | 'partial_match'
  | 'no_match'
  | 'initial_login'
  | 'unknown_device'
  | 'no_device_history'
  | 'assessment_not_available';

/** Code of the ImpossibleTravel assessor. */
type ImpossibleTravelCode =
  | 'minimal_travel_from_last_login'
  | 'travel_from_last_login'
  | 'substantial_travel_from_last_login'
  | 'impossible_travel_from_last_login'
  | 'invalid_travel'
  | 'missing_geoip'
  | 'anonymous_proxy'
  | 'unknown_location'
  | 'initial_login'
  | 'location_history_not_found'
  | 'assessment_not_available';

/** Code of the UntrustedIP assessor. */
type UntrustedIpCode = 'not_found_on_deny_list' | 'found_on_deny_list' | 'invalid_ip_address' | 'assessment_not_available';

/** Code of the AgentDetection assessor. */
type AgentDetectionCode = 'unknown' | 'verified_agent';

/** Adaptive MFA's risk assessment (reference §1.2); Gatehouse passes it through as supplied. */
interface RiskAssessment {
  /** Overall confidence; compare with `===` (the values have no order). */
  readonly confidence: RiskConfidence;
  /** Assessment format version, e.g. `"1"`. */
  readonly version: string;
  /** Per-assessor results. */
  readonly assessments: {
    /** Whether the device was used in the last 30 days. */
    readonly NewDevice?: {
      /** Assessor result code. */
      readonly code: NewDeviceCode;
      /** Assessor confidence. */
      readonly confidence: RiskConfidence;
      /** Which signals were known. */
      readonly details?: {
        /** Whether the device cookie was known. */
        readonly device?: 'known' | 'unknown';
        /** Whether the user agent was known. */
        readonly useragent?: 'known' | 'unknown';
      };
    };
    /** Whether the travel since the last login is plausible. */
    readonly ImpossibleTravel?: {
      /** Assessor result code. */
      readonly code: ImpossibleTravelCode;
      /** Assessor confidence. */
      readonly confidence: RiskConfidence;
    };
    /** Whether the IP is on a deny list. */
    readonly UntrustedIP?: {
      /** Assessor result code. */
      readonly code: UntrustedIpCode;
      /** Assessor confidence. */
      readonly confidence: RiskConfidence;
      /** Deny-list match details. */
      readonly details?: {
        /** The originating IP. */
        readonly ip?: string;
        /** What matched. */
        readonly matches?: string;
        /** Deny-list source. */
        readonly source?: string;
        /** Deny-list category. */
        readonly category?: string;
      };
    };
    /** Whether the client is a known agent. */
    readonly AgentDetection?: {
      /** Assessor result code. */
      readonly code: AgentDetectionCode;
      /** Assessor confidence. */
      readonly confidence: RiskConfidence;
      /** Detection details. */
      readonly details?: {
        /** Detection provider. */
        readonly provider?: string;
      };
    };
  };
  /** [Early Access in Auth0] Supplemental assessments (Akamai), free-form. */
  readonly supplemental?: EventJsonObject;
}

/** `event.authentication`: always present in Gatehouse. */
interface PostLoginAuthentication {
  /** Methods completed in this session, first factor first; refreshed only when an action starts. */
  readonly methods: readonly AuthenticationMethod[];
  /** Adaptive MFA's risk assessment; absent unless supplied with the login. */
  readonly riskAssessment?: RiskAssessment;
}

/** `event.authorization`: always present in Gatehouse. */
interface PostLoginAuthorization {
  /** Names of the user's roles (empty array when none). */
  readonly roles: readonly string[];
}

/** `event.client`. */
interface PostLoginClient {
  /** The client id. */
  readonly client_id: string;
  /** The application name. */
  readonly name: string;
  /** Client metadata (string values). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** `event.connection`. */
interface PostLoginConnection {
  /** Connection id. */
  readonly id: string;
  /** Connection name, e.g. `Username-Password-Authentication`. */
  readonly name: string;
  /** Strategy: `auth0` for database connections, the connection name for social ones. */
  readonly strategy: string;
  /** Connection metadata (string values), when set. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** `event.organization`. */
interface PostLoginOrganization {
  /** `org_...` id. */
  readonly id: string;
  /** Machine name. */
  readonly name: string;
  /** Display name. */
  readonly display_name: string;
  /** Organization metadata (string values). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Geolocation of the request IP; every field may be missing. */
interface GeoIp {
  /** City name. */
  readonly cityName?: string;
  /** Continent code. */
  readonly continentCode?: string;
  /** ISO 3166-1 alpha-2 country code. */
  readonly countryCode?: string;
  /** ISO 3166-1 alpha-3 country code. */
  readonly countryCode3?: string;
  /** Country name. */
  readonly countryName?: string;
  /** Latitude. */
  readonly latitude?: number;
  /** Longitude. */
  readonly longitude?: number;
  /** Subdivision code. */
  readonly subdivisionCode?: string;
  /** Subdivision name. */
  readonly subdivisionName?: string;
  /** IANA time zone. */
  readonly timeZone?: string;
  /** Other fields, as supplied. */
  readonly [key: string]: any;
}

/** `event.request`: issued anew each time the flow resumes. */
interface PostLoginRequest {
  /** Originating IP. */
  readonly ip: string;
  /** HTTP method. */
  readonly method: string;
  /** Query string of the authorization request (values as supplied, usually strings). */
  readonly query: EventJsonObject;
  /** POST body, an empty object when there is none. */
  readonly body: EventJsonObject;
  /** Geolocation of the IP (an empty object when unknown). */
  readonly geoip: GeoIp;
  /** Host name used for the flow. */
  readonly hostname?: string;
  /** Language requested by the browser. */
  readonly language?: string;
  /** `User-Agent` header. */
  readonly user_agent?: string;
  /** Autonomous system number. */
  readonly asn?: string;
}

/** `event.resource_server`. */
interface PostLoginResourceServer {
  /** The API identifier (audience). */
  readonly identifier: string;
}

/** `event.stats`. */
interface PostLoginStats {
  /** Number of logins including this one. */
  readonly logins_count: number;
}

/** `event.tenant`. */
interface PostLoginTenant {
  /** Tenant name. */
  readonly id: string;
}

/** Protocols Auth0 documents for `event.transaction.protocol`. */
type TransactionProtocol =
  | 'oidc-basic-profile'
  | 'oidc-ciba'
  | 'oidc-ciba-web-link'
  | 'oidc-implicit-profile'
  | 'oauth2-device-code'
  | 'oauth2-resource-owner'
  | 'oauth2-resource-owner-jwt-bearer'
  | 'oauth2-password'
  | 'oauth2-webauthn'
  | 'oauth2-access-token'
  | 'oauth2-refresh-token'
  | 'oauth2-token-exchange'
  | 'oidc-hybrid-profile'
  | 'samlp'
  | 'wsfed'
  | 'wstrust-usernamemixed';

/** `event.transaction`: always present in Gatehouse, arrays default to empty. */
interface PostLoginTransaction {
  /** Transaction id. */
  readonly id?: string;
  /** `acr_values` of the request. */
  readonly acr_values: readonly string[];
  /** Scopes requested. */
  readonly requested_scopes: readonly string[];
  /** `prompt` values of the request, e.g. `['none']`. */
  readonly prompt: readonly string[];
  /** Protocol of the flow, e.g. `oidc-basic-profile` or `oauth2-refresh-token`. */
  readonly protocol?: TransactionProtocol | (string & {});
  /** Redirect URI of the request. */
  readonly redirect_uri?: string;
  /** The application's `state`. */
  readonly state?: string;
  /** Resolved locale. */
  readonly locale?: string;
  /** `ui_locales` of the request. */
  readonly ui_locales: readonly string[];
  /** `login_hint` of the request. */
  readonly login_hint?: string;
  /** `query`, `fragment`, `form_post` or `web_message`. */
  readonly response_mode?: 'query' | 'fragment' | 'form_post' | 'web_message' | (string & {});
  /** `code`, `token`, `id_token`. */
  readonly response_type: readonly string[];
  /** Correlation id of the initial request. */
  readonly correlation_id?: string;
  /** Transaction metadata shared between actions; live: reflects `api.transaction.setMetadata` immediately. */
  readonly metadata: Readonly<Record<string, string | number | boolean>>;
}

/** An enrolled factor of the user. */
interface EnrolledFactor {
  /** Factor type. */
  readonly type: FactorType;
  /** Factor details such as a masked `phone_number` or `email`, when known. */
  readonly options?: EventJsonObject;
}

/** A linked identity (passed through as stored). */
interface UserIdentity {
  /** Connection name. */
  readonly connection?: string;
  /** Whether the connection is social. */
  readonly isSocial?: boolean;
  /** Identity provider, e.g. `auth0`. */
  readonly provider?: string;
  /** User id at the provider. */
  readonly user_id?: string;
  /** Profile data from the provider. */
  readonly profileData?: EventJsonObject;
  /** Other fields, as stored. */
  readonly [key: string]: any;
}

/** `event.user`. */
interface PostLoginUser {
  /** User id, e.g. `auth0|...`. */
  readonly user_id: string;
  /** Email address. */
  readonly email?: string;
  /** Whether the email address is verified. */
  readonly email_verified: boolean;
  /** Username. */
  readonly username?: string;
  /** Full name. */
  readonly name?: string;
  /** Nickname. */
  readonly nickname?: string;
  /** Given name. */
  readonly given_name?: string;
  /** Family name. */
  readonly family_name?: string;
  /** Picture URL. */
  readonly picture?: string;
  /** Phone number (E.164). */
  readonly phone_number?: string;
  /** Whether the phone number is verified. */
  readonly phone_verified?: boolean;
  /** Creation time. */
  readonly created_at: string;
  /** Last update time. */
  readonly updated_at: string;
  /** Last password reset, database users only. */
  readonly last_password_reset?: string;
  /** Access-affecting metadata; not updated in-flight by `api.user.setAppMetadata`. */
  readonly app_metadata: EventJsonObject;
  /** User preferences; not updated in-flight by `api.user.setUserMetadata`. */
  readonly user_metadata: EventJsonObject;
  /** Linked identities. */
  readonly identities: readonly UserIdentity[];
  /** MFA providers the user is enrolled with (`guardian`, `google-authenticator`); always an array. */
  readonly multifactor: readonly string[];
  /** Active enrolled factors (always an array); refreshed only when an action starts. */
  readonly enrolledFactors: readonly EnrolledFactor[];
  /** Other root attributes the identity provider supplied (an enterprise directory's `groups`, SAML or social profile attributes), as they are. */
  readonly [attribute: string]: unknown;
}

/** `event.session` (passed through as supplied; most fields are Enterprise-only in Auth0). */
interface PostLoginSession {
  /** Session id. */
  readonly id?: string;
  /** Last authentication time. */
  readonly authenticated_at?: string;
  /** Creation time. */
  readonly created_at?: string;
  /** Last update time. */
  readonly updated_at?: string;
  /** Absolute expiry time. */
  readonly expires_at?: string;
  /** Idle expiry time. */
  readonly idle_expires_at?: string;
  /** Last interaction time. */
  readonly last_interacted_at?: string;
  /** Clients of the session. */
  readonly clients?: readonly { readonly client_id: string }[];
  /** Device details (`initial_ip`, `last_user_agent`...). */
  readonly device?: EventJsonObject;
  /** Cookie mode. */
  readonly cookie?: { readonly mode: 'persistent' | 'non-persistent' };
  /** Session metadata. */
  readonly metadata?: EventJsonObject;
  /** User id of the session. */
  readonly user_id?: string;
  /** Other fields, as supplied. */
  readonly [key: string]: any;
}

/** `event.refresh_token` (passed through as supplied). */
interface PostLoginRefreshToken {
  /** Refresh token id. */
  readonly id?: string;
  /** Client id. */
  readonly client_id?: string;
  /** Creation time. */
  readonly created_at?: string;
  /** Absolute expiry time. */
  readonly expires_at?: string;
  /** Idle expiry time. */
  readonly idle_expires_at?: string;
  /** Last exchange time. */
  readonly last_exchanged_at?: string;
  /** Whether the token rotates. */
  readonly rotating?: boolean;
  /** Bound session id. */
  readonly session_id?: string;
  /** Bound user id. */
  readonly user_id?: string;
  /** Refresh token metadata. */
  readonly metadata?: EventJsonObject;
  /** Other fields, as supplied. */
  readonly [key: string]: any;
}

/** `event.prompt`: data collected by a custom prompt (passed through as supplied). */
interface PostLoginPrompt {
  /** Prompt id. */
  readonly id?: string;
  /** Field values. */
  readonly fields?: EventJsonObject;
  /** Shared variables. */
  readonly vars?: EventJsonObject;
  /** Other fields, as supplied. */
  readonly [key: string]: any;
}

/** `event.custom_domain` (passed through as supplied). */
interface PostLoginCustomDomain {
  /** The custom domain. */
  readonly domain?: string;
  /** Domain metadata. */
  readonly domain_metadata?: Readonly<Record<string, string>>;
  /** Other fields, as supplied. */
  readonly [key: string]: any;
}

/** `event.security_context` (passed through as supplied). */
interface PostLoginSecurityContext {
  /** JA3 TLS fingerprint. */
  readonly ja3?: string;
  /** JA4 TLS fingerprint. */
  readonly ja4?: string;
  /** Other fields, as supplied. */
  readonly [key: string]: any;
}

/** The post-login `event` (trigger v3 shape), deep-frozen: assignments to it have no effect. */
interface PostLoginEvent {
  /** Methods completed in this session and the risk assessment; always present. */
  readonly authentication: PostLoginAuthentication;
  /** The user's roles; always present. */
  readonly authorization: PostLoginAuthorization;
  /** The application the user logs in to. */
  readonly client: PostLoginClient;
  /** The connection the user authenticated with. */
  readonly connection: PostLoginConnection;
  /** The organization of the transaction, when there is one. */
  readonly organization?: PostLoginOrganization;
  /** The HTTP request that started or resumed the flow. */
  readonly request: PostLoginRequest;
  /** The API (audience) requested, when there is one. */
  readonly resource_server?: PostLoginResourceServer;
  /** The action's secrets (string values). */
  readonly secrets: Readonly<Record<string, string>>;
  /** The SSO session, when one exists. */
  readonly session?: PostLoginSession;
  /** Login statistics. */
  readonly stats: PostLoginStats;
  /** The tenant. */
  readonly tenant: PostLoginTenant;
  /** The authorization transaction; always present. */
  readonly transaction: PostLoginTransaction;
  /** The user. */
  readonly user: PostLoginUser;
  /** The refresh token being exchanged, on `oauth2-refresh-token` flows. */
  readonly refresh_token?: PostLoginRefreshToken;
  /** Data collected by a custom prompt. */
  readonly prompt?: PostLoginPrompt;
  /** The custom domain in use. */
  readonly custom_domain?: PostLoginCustomDomain;
  /** TLS fingerprints. */
  readonly security_context?: PostLoginSecurityContext;
}

/** Name Auth0's action template uses for the event (`@param {Event} event`). */
type Event = PostLoginEvent;

// ---- api ---------------------------------------------------------------------------------------------------------

/** Provider of `api.multifactor.enable`. */
type MultifactorProvider = 'any' | 'guardian' | 'google-authenticator' | 'duo' | 'none';

/** Options of `api.multifactor.enable`. */
interface MultifactorEnableOptions {
  /** Whether the MFA page may offer "remember this browser" (default false; a non-boolean throws TypeError). */
  allowRememberBrowser?: boolean;
  /** Duo settings: accepted for compatibility and ignored (Gatehouse has no Duo; `duo` acts as `any`). */
  providerOptions?: { host: string; ikey: string; skey: string; username?: string };
}

/** Options of `challengeWith`. */
interface ChallengeWithOptions {
  /** Alternatives behind "Try another method". */
  additionalFactors?: FactorSelector[];
}

/** Options of `enrollWith`. */
interface EnrollWithOptions {
  /** Alternatives behind "Try another method". */
  additionalFactors?: EnrollmentFactorSelector[];
}

/** Options of `api.redirect.sendUserTo`. */
interface SendUserToOptions {
  /** Query parameters merged into the URL (replacing same-named ones); non-strings are JSON-encoded. */
  query?: Record<string, string | number | boolean>;
}

/** Options of `api.redirect.encodeToken`. */
interface EncodeTokenOptions {
  /** HS256 signing secret; an empty or missing secret throws TypeError. */
  secret: string;
  /** Claims added to (and overriding) `iat`, `iss`, `sub`, `exp`, `ip`. */
  payload?: Record<string, unknown>;
  /** Lifetime in whole seconds (default 900). */
  expiresInSeconds?: number;
}

/** Options of `api.redirect.validateToken`. */
interface ValidateTokenOptions {
  /** HS256 secret the token was signed with; an empty or missing secret throws TypeError. */
  secret: string;
  /** Body or query parameter holding the token (default `session_token`). */
  tokenParameterName?: string;
}

/** Claims of a session token that passed `validateToken`. */
interface SessionTokenClaims {
  /** Expiry (seconds since the epoch); required and checked. */
  readonly exp: number;
  /** Subject; checked to equal `event.user.user_id`. */
  readonly sub?: string;
  /** Issuer; checked to equal `event.request.hostname` when that is set. */
  readonly iss?: string;
  /** Issued-at (seconds since the epoch). */
  readonly iat?: number;
  /** IP the token was issued to (not checked). */
  readonly ip?: string;
  /** Must equal the `state` parameter of the `/continue` request. */
  readonly state?: string;
  /** Other claims. */
  readonly [claim: string]: unknown;
}

/** A cached value. */
interface CacheRecord {
  /** The cached string. */
  value: string;
  /** Expiry in milliseconds since the epoch. */
  expires_at: number;
}

/** Options of `api.cache.set`; with both, the earlier expiry wins; never beyond 24 hours. */
interface CacheSetOptions {
  /** Lifetime in milliseconds (default 15 minutes). */
  ttl?: number;
  /** Absolute expiry in milliseconds since the epoch. */
  expires_at?: number;
}

/** Error codes `api.cache.set` returns in Gatehouse. */
type CacheSetErrorCode =
  | 'CacheKeySizeExceeded'
  | 'CacheValueSizeExceeded'
  | 'CacheSizeExceeded'
  | 'InvalidExpiry'
  | 'ItemAlreadyExpired'
  | 'MaxSideEffectsExceeded';

/** Error codes `api.cache.delete` returns in Gatehouse. */
type CacheDeleteErrorCode = 'CacheKeyDoesNotExist' | 'MaxSideEffectsExceeded';

/** Result of `api.cache.set`. */
type CacheWriteResult =
  | {
      /** The value was stored. */
      type: 'success';
      /** The stored record. */
      record: CacheRecord;
    }
  | {
      /** The value was not stored. */
      type: 'error';
      /** Why. */
      code: CacheSetErrorCode;
    };

/** Result of `api.cache.delete`. */
type CacheDeleteResult =
  | {
      /** The key was removed. */
      type: 'success';
    }
  | {
      /** Nothing was removed. */
      type: 'error';
      /** Why. */
      code: CacheDeleteErrorCode;
    };

/** The post-login `api`: every call is validated at once (invalid arguments throw) and applied by the flow. */
interface PostLoginAPI {
  /** Access control. */
  readonly access: {
    /** Denies the login (`access_denied`, `error_description` = reason); the action finishes, then the flow stops; metadata changes still apply. */
    deny(reason: string): PostLoginAPI;
  };
  /** The access token issued at the end of the flow. */
  readonly accessToken: {
    /** Sets a claim (JSON value) on the access token; a later write wins; throws on `scope`; restricted names are dropped. */
    setCustomClaim(name: string, value: unknown): PostLoginAPI;
    /** Adds a scope: trimmed, non-empty, at most 280 characters, no whitespace, at most 1000 adds; else throws. */
    addScope(scope: string): void;
    /** Removes a scope (same validation as addScope); the later add or remove of a scope wins. */
    removeScope(scope: string): void;
  };
  /** The ID token issued at the end of the flow. */
  readonly idToken: {
    /** Sets a claim (JSON value) on the ID token; a later write wins; throws on `scope`; restricted names are dropped. */
    setCustomClaim(name: string, value: unknown): PostLoginAPI;
  };
  /** MFA by provider, run after all actions. */
  readonly multifactor: {
    /** Requires MFA, deferred to the end of the flow; a later call wins; dropped if any challengeWith or enrollWith ran; unknown provider throws TypeError. */
    enable(provider: MultifactorProvider, options?: MultifactorEnableOptions): PostLoginAPI;
  };
  /** Customized MFA and authentication methods. */
  readonly authentication: {
    /** Challenges with a factor ("Try another method" lists additionalFactors); pauses the flow after this action; at most 4 per flow; throws TypeError on an unknown factor type. */
    challengeWith(factor: FactorSelector, options?: ChallengeWithOptions): void;
    /** Shows a picker of the given factors the user is enrolled in; pauses the flow after this action; at most 4 per flow; throws TypeError on an unknown factor type. */
    challengeWithAny(factors: FactorSelector[]): void;
    /** Enrolls the user in a factor; pauses the flow after this action; at most 4 per flow; throws TypeError on an unknown factor type. */
    enrollWith(factor: EnrollmentFactorSelector, options?: EnrollWithOptions): void;
    /** Shows a picker of factors to enroll, in list order; pauses the flow after this action; at most 4 per flow; throws TypeError on an unknown factor type. */
    enrollWithAny(factors: EnrollmentFactorSelector[]): void;
    /** Records a custom method (http or https URL, else TypeError) in `authentication.methods`; only in onContinuePostLogin, else throws. */
    recordMethod(url: string): PostLoginAPI;
    /** Switches the login to the primary user holding this identity; non-empty, at most 128 characters; a second call throws. */
    setPrimaryUser(primaryUserId: string): void;
  };
  /** User metadata, written once at the end of the flow. */
  readonly user: {
    /** Sets (or with `null` removes) an app_metadata key; aggregated per key and written at the end of the flow. */
    setAppMetadata(key: string, value: unknown): PostLoginAPI;
    /** Sets (or with `null` removes) a user_metadata key; aggregated per key and written at the end of the flow. */
    setUserMetadata(key: string, value: unknown): PostLoginAPI;
  };
  /** Redirects to an external page and back. */
  readonly redirect: {
    /** Redirects the browser after this action (pauses the flow); resumes in this action's onContinuePostLogin; not with MFA commands in the same action. */
    sendUserTo(url: string | URL, options?: SendUserToOptions): PostLoginAPI;
    /** Returns an HS256 JWT with `iat`, `iss`, `sub`, `exp`, `ip` and the payload; signed, not encrypted. */
    encodeToken(options: EncodeTokenOptions): string;
    /** Verifies the session token of the `/continue` request (signature, expiry, state, sub, iss) and returns its claims; throws if invalid. */
    validateToken(options: ValidateTokenOptions): SessionTokenClaims;
    /** @deprecated Whether a redirect is possible: false for `prompt=none` and ROPG, password, refresh-token and webauthn flows. */
    canRedirect(): boolean;
  };
  /** Metadata shared between the actions of this transaction. */
  readonly transaction: {
    /** Sets (or with `null` removes) a key, visible at once in `event.transaction.metadata`; key 1-64 chars, value at most 8 KB, total 16 KB; objects throw TypeError. */
    setMetadata(key: string, value: string | number | boolean | null): void;
  };
  /** The trigger's cache: up to 20 entries, keys at most 64 bytes, values 4 KB, 8 KB in total, 20 writes per run. */
  readonly cache: {
    /** Returns the unexpired record at `key`, or undefined. */
    get(key: string): CacheRecord | undefined;
    /** Stores a string (default 15 minutes, at most 24 hours); returns the record or an error code, never throws for limits. */
    set(key: string, value: string, options?: CacheSetOptions): CacheWriteResult;
    /** Deletes the record at `key`; returns `CacheKeyDoesNotExist` when there is none. */
    delete(key: string): CacheDeleteResult;
  };
  /** Rules compatibility. */
  readonly rules: {
    /** Always false: Gatehouse has no Rules. */
    wasExecuted(ruleId: string): boolean;
  };
  /**
   * The SSO session (Auth0 Enterprise). `revoke` denies the login; the rest are checked as Auth0 checks them and
   * recorded in the outcome (`recorded`): Gatehouse has no session store to apply them to.
   */
  readonly session: {
    revoke(reason: string, options?: { preserveRefreshTokens?: boolean }): PostLoginAPI;
    setExpiresAt(epochMs: number): PostLoginAPI;
    setIdleExpiresAt(epochMs: number): PostLoginAPI;
    setCookieMode(mode: 'persistent' | 'non-persistent'): PostLoginAPI;
    /** Key `^[a-zA-Z0-9_-]{1,255}$`, value a string of at most 255 characters or null. */
    setMetadata(key: string, value: string | null): PostLoginAPI;
    deleteMetadata(key: string): PostLoginAPI;
    evictMetadata(): PostLoginAPI;
  };
  /** The refresh token being exchanged (Auth0 Enterprise): `revoke` denies a refresh token exchange; the rest is recorded. */
  readonly refreshToken: {
    revoke(reason: string): PostLoginAPI;
    setExpiresAt(epochMs: number): PostLoginAPI;
    setIdleExpiresAt(epochMs: number): PostLoginAPI;
    setMetadata(key: string, value: string | null): PostLoginAPI;
    deleteMetadata(key: string): PostLoginAPI;
    evictMetadata(): PostLoginAPI;
  };
  /** Forms: recorded (Gatehouse has no Forms); once per action, never with a redirect in the same action. */
  readonly prompt: {
    render(promptId: string, options?: { fields?: Record<string, unknown>; vars?: Record<string, unknown> }): PostLoginAPI;
  };
  /** Refuses the login with `errorMessage` (both at most 100 characters); the code is recorded. */
  readonly validation: {
    error(errorCode: string, errorMessage: string): PostLoginAPI;
  };
  /** The SAML response's attributes and settings: checked and recorded (Gatehouse issues no SAML responses). */
  readonly samlResponse: {
    setAttribute(attribute: string, value: unknown): PostLoginAPI;
    setAudience(audience: string): PostLoginAPI;
    setRecipient(recipient: string): PostLoginAPI;
    setCreateUpnClaim(create: boolean): PostLoginAPI;
    setPassthroughClaimsWithNoMapping(passthrough: boolean): PostLoginAPI;
    setMapUnknownClaimsAsIs(map: boolean): PostLoginAPI;
    setMapIdentities(map: boolean): PostLoginAPI;
    setSignatureAlgorithm(algorithm: 'rsa-sha256' | 'rsa-sha1'): PostLoginAPI;
    setDigestAlgorithm(algorithm: 'sha256' | 'sha1'): PostLoginAPI;
    setDestination(destination: string): PostLoginAPI;
    setLifetimeInSeconds(seconds: number): PostLoginAPI;
    setSignResponse(sign: boolean): PostLoginAPI;
    setNameIdentifierFormat(format: string): PostLoginAPI;
    setNameIdentifierProbes(probes: string[]): PostLoginAPI;
    setAuthnContextClassRef(ref: string): PostLoginAPI;
    setSigningCert(pem: string): PostLoginAPI;
    setIncludeAttributeNameFormat(include: boolean): PostLoginAPI;
    setTypedAttributes(typed: boolean): PostLoginAPI;
    setEncryptionCert(pem: string): PostLoginAPI;
    setEncryptionPublicKey(pem: string): PostLoginAPI;
    setCert(pem: string): PostLoginAPI;
    /** The key is recorded as "[redacted]". */
    setKey(pem: string): PostLoginAPI;
    setRelayState(state: string): PostLoginAPI;
    setIssuer(issuer: string): PostLoginAPI;
    setEncryptionAlgorithm(algorithm: 'aes256-gcm' | 'aes256-cbc'): PostLoginAPI;
  };
}

// ---- the phone triggers -----------------------------------------------------------------------------------------

/** `event.notification` of custom-phone-provider: the message to deliver. */
interface PhoneNotification {
  /** The message rendered for SMS. */
  readonly as_text: string;
  /** The message rendered for a voice call (the code spoken digit by digit). */
  readonly as_voice: string;
  /** The one-time code. */
  readonly code: string;
  /** `text` (SMS) or `voice`. */
  readonly delivery_method: 'text' | 'voice';
  /** The sender number configured for this delivery method (`[mfa.phone] from_text` / `from_voice`), or empty. */
  readonly from: string;
  /** The user's language, e.g. `ja`. */
  readonly locale: string;
  /** Why the message is sent. */
  readonly message_type: 'otp_enroll' | 'otp_verify' | 'blocked_account' | 'change_password' | 'password_breach';
  /** The phone number, E.164. */
  readonly recipient: string;
}

/** The event of custom-phone-provider. */
interface CustomPhoneProviderEvent {
  readonly notification: PhoneNotification;
  readonly client: EventJsonObject;
  /** The request that caused the message; `language` is the user's language. */
  readonly request: EventJsonObject & { readonly language?: string };
  readonly tenant: { readonly id: string };
  readonly user: EventJsonObject;
  /** The tenant's secrets (`[secrets]`). */
  readonly secrets: { readonly [name: string]: string };
  readonly transaction?: EventJsonObject;
}

/** The api of custom-phone-provider. The last `drop` or `retry` of a run decides; without either the message is sent. */
interface CustomPhoneProviderAPI {
  readonly notification: {
    /** Do not deliver, and do not try again (reason: at most 1,024 characters kept). */
    drop(reason?: string): void;
    /** This try failed: deliver again later (up to 5 tries, with backoff). */
    retry(reason?: string): void;
  };
  readonly cache: PostLoginAPI['cache'];
}

/** The event of send-phone-message (Auth0's older phone trigger). */
interface SendPhoneMessageEvent {
  readonly message_options: {
    /** `enrollment` or `second-factor-authentication`. */
    readonly action: string;
    readonly code: string;
    /** `sms` or `voice`. */
    readonly message_type: 'sms' | 'voice';
    readonly recipient: string;
    readonly text: string;
  };
  readonly client: EventJsonObject;
  readonly request: EventJsonObject;
  readonly tenant: { readonly id: string };
  readonly user: EventJsonObject;
  readonly secrets: { readonly [name: string]: string };
}

/** The api of send-phone-message: only the cache. */
interface SendPhoneMessageAPI {
  readonly cache: PostLoginAPI['cache'];
}

/** The event of credentials-exchange: one `client_credentials` token request. */
interface CredentialsExchangeEvent {
  /** The token being issued: its custom claims so far and its scopes. */
  readonly accessToken: { readonly customClaims: EventJsonObject; readonly scope: readonly string[] };
  readonly client: { readonly client_id: string; readonly name: string; readonly metadata: { readonly [key: string]: string } };
  /** The organization the request names (`organization=`), when its client grant allows one. */
  readonly organization?: {
    readonly id: string;
    readonly name: string;
    readonly display_name: string;
    readonly metadata: { readonly [key: string]: string };
  };
  /** The request: `body` has its fields without the client secret. */
  readonly request: {
    readonly ip: string;
    readonly hostname?: string;
    readonly method: string;
    readonly user_agent?: string;
    readonly language?: string;
    readonly body: { readonly [field: string]: string };
  };
  /** The API the token is for. */
  readonly resource_server: { readonly identifier: string };
  readonly tenant: { readonly id: string };
  readonly transaction: {
    readonly requested_scopes: readonly string[];
    /** The scopes the token will get, as `api.transaction` calls change them (read it again after a call). */
    readonly target_scopes: readonly string[];
  };
  /** The tenant's secrets (`[secrets]`). */
  readonly secrets: { readonly [name: string]: string };
}

/** The api of credentials-exchange. */
interface CredentialsExchangeAPI {
  readonly access: {
    /** Refuses the request with this OAuth error (any other code throws); stops the flow after this action. */
    deny(code: 'invalid_scope' | 'invalid_request' | 'server_error', reason?: string): CredentialsExchangeAPI;
  };
  readonly accessToken: {
    /** Adds a claim to the access token (restricted names such as `gty` are dropped with a warning). */
    setCustomClaim(name: string, value: unknown): CredentialsExchangeAPI;
  };
  readonly cache: PostLoginAPI['cache'];
  /** The target scopes: each call changes `event.transaction.target_scopes` at once; scopes the client grant does
   * not authorize are dropped when the token is issued. */
  readonly transaction: {
    addTargetScope(scope: string): CredentialsExchangeAPI;
    removeTargetScope(scope: string): CredentialsExchangeAPI;
    setTargetScopes(scopes: readonly string[]): CredentialsExchangeAPI;
    clearTargetScopes(): CredentialsExchangeAPI;
  };
}

// ---- the account triggers ---------------------------------------------------------------------------------------

/** `event.connection` of the account triggers: the database connection. */
interface AccountConnection {
  readonly id: string;
  readonly name: string;
  /** `auth0` for a database connection. */
  readonly strategy: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** `event.request` of the account triggers. */
interface AccountRequest {
  readonly ip: string;
  readonly method: string;
  readonly hostname?: string;
  readonly language?: string;
  readonly user_agent?: string;
  readonly geoip?: GeoIp;
  /** The query string (pre-user-registration, password-reset-post-challenge). */
  readonly query?: EventJsonObject;
  /** The form body without the password (pre-user-registration; password-reset-post-challenge after a redirect). */
  readonly body?: EventJsonObject;
}

/** The transaction a sign-up started from, as far as it is known. */
interface AccountTransaction {
  readonly locale?: string;
  readonly ui_locales?: readonly string[];
  readonly protocol?: TransactionProtocol | (string & {});
  readonly requested_scopes?: readonly string[];
  readonly redirect_uri?: string;
  readonly state?: string;
  readonly login_hint?: string;
  readonly correlation_id?: string;
}

/** The tenant's secrets (`[secrets]`). */
interface AccountSecrets {
  readonly [name: string]: string;
}

/** The user attempting to register (pre-user-registration): no `user_id` yet. */
interface PreUserRegistrationUser {
  readonly email?: string;
  readonly username?: string;
  readonly name?: string;
  readonly given_name?: string;
  readonly family_name?: string;
  readonly nickname?: string;
  readonly picture?: string;
  readonly phone_number?: string;
  readonly user_metadata?: EventJsonObject;
  readonly app_metadata?: EventJsonObject;
}

/** The event of pre-user-registration: runs before a sign-up is stored. */
interface PreUserRegistrationEvent {
  readonly client?: PostLoginClient;
  readonly connection: AccountConnection;
  readonly request: AccountRequest;
  readonly tenant: { readonly id: string };
  readonly transaction?: AccountTransaction;
  readonly user: PreUserRegistrationUser;
  readonly secrets: AccountSecrets;
}

/** The api of pre-user-registration. */
interface PreUserRegistrationAPI {
  readonly access: {
    /** Refuses the sign-up after this action: `reason` goes to the logs, `userMessage` to the user. */
    deny(reason: string, userMessage?: string): PreUserRegistrationAPI;
  };
  /** Metadata of the user being created: aggregated per key, applied when the user is stored (32 KB each at most). */
  readonly user: {
    setAppMetadata(key: string, value: unknown): PreUserRegistrationAPI;
    setUserMetadata(key: string, value: unknown): PreUserRegistrationAPI;
  };
  readonly validation: {
    /** Refuses the sign-up after this action with this error code and message (strings of at most 100 characters). */
    error(errorCode: string, errorMessage: string): PreUserRegistrationAPI;
  };
  readonly cache: PostLoginAPI['cache'];
}

/** The user just stored (post-user-registration) or whose password changed (post-change-password). */
interface AccountUser {
  readonly user_id: string;
  readonly email?: string;
  readonly email_verified?: boolean;
  readonly username?: string;
  readonly name?: string;
  readonly given_name?: string;
  readonly family_name?: string;
  readonly nickname?: string;
  readonly picture?: string;
  readonly phone_number?: string;
  readonly phone_verified?: boolean;
  readonly created_at?: string;
  readonly updated_at?: string;
  readonly last_password_reset?: string;
  readonly user_metadata?: EventJsonObject;
  readonly app_metadata?: EventJsonObject;
  readonly [attribute: string]: unknown;
}

/** The event of post-user-registration: runs after a sign-up is stored; its failure never undoes the sign-up. */
interface PostUserRegistrationEvent {
  readonly connection: AccountConnection;
  readonly request?: AccountRequest;
  readonly tenant: { readonly id: string };
  readonly transaction?: AccountTransaction;
  readonly user: AccountUser;
  readonly secrets: AccountSecrets;
}

/** The api of post-user-registration: only the cache. */
interface PostUserRegistrationAPI {
  readonly cache: PostLoginAPI['cache'];
}

/** The event of post-change-password: runs after a password change or reset is stored. */
interface PostChangePasswordEvent {
  readonly connection: AccountConnection;
  readonly request: AccountRequest;
  readonly tenant: { readonly id: string };
  readonly transaction?: AccountTransaction;
  readonly user: AccountUser;
  readonly secrets: AccountSecrets;
}

/** The api of post-change-password: only the cache. */
interface PostChangePasswordAPI {
  readonly cache: PostLoginAPI['cache'];
}

/** The event of password-reset-post-challenge: the user followed a reset link; the new password form comes next. */
interface PasswordResetPostChallengeEvent {
  /** What the user did in this reset: `email` (the link), then `{name: 'mfa', type}` for each challenge completed. */
  readonly authentication: { readonly methods: readonly AuthenticationMethod[] };
  readonly authorization?: PostLoginAuthorization;
  readonly client: PostLoginClient;
  readonly connection: AccountConnection;
  readonly organization?: PostLoginOrganization;
  readonly request: AccountRequest;
  readonly stats?: PostLoginStats;
  readonly tenant: { readonly id: string };
  readonly transaction: AccountTransaction;
  readonly user: AccountUser & { readonly enrolledFactors: readonly EnrolledFactor[]; readonly identities?: readonly UserIdentity[] };
  readonly secrets: AccountSecrets;
}

/** The api of password-reset-post-challenge. */
interface PasswordResetPostChallengeAPI {
  readonly access: {
    /** Refuses the reset after this action; `reason` may be shown to the user. */
    deny(reason: string): PasswordResetPostChallengeAPI;
  };
  readonly authentication: {
    /** Challenges with a factor after this action (later actions run once it is completed); skipped when one of the factors was completed in this reset. */
    challengeWith(factor: FactorSelector, options?: ChallengeWithOptions): void;
    /** Shows a picker of the given factors after this action; skipped when one of them was completed in this reset. */
    challengeWithAny(factors: FactorSelector[]): void;
  };
  readonly redirect: {
    /** Redirects the browser after this action; resumes in this action's onContinuePostChallenge; not with a challenge in the same action. */
    sendUserTo(url: string | URL, options?: SendUserToOptions): PasswordResetPostChallengeAPI;
    encodeToken(options: EncodeTokenOptions): string;
    validateToken(options: ValidateTokenOptions): SessionTokenClaims;
  };
  readonly cache: PostLoginAPI['cache'];
}

// ---- handlers and the CommonJS module ----------------------------------------------------------------------------

/** `exports.onExecutePostLogin`: runs for each login; returns void or a Promise of void (written as a union so `@type` accepts async functions in .js files). */
type OnExecutePostLogin =
  | ((event: PostLoginEvent, api: PostLoginAPI) => Promise<void>)
  | ((event: PostLoginEvent, api: PostLoginAPI) => void);

/** `exports.onContinuePostLogin`: runs in the action that called `api.redirect.sendUserTo` when the browser returns to `/continue`. */
type OnContinuePostLogin =
  | ((event: PostLoginEvent, api: PostLoginAPI) => Promise<void>)
  | ((event: PostLoginEvent, api: PostLoginAPI) => void);

/** What an action exports (each trigger's folder calls its own handler). */
interface PostLoginExports {
  /** Handler for each login (required by Gatehouse when the action runs). */
  onExecutePostLogin?: OnExecutePostLogin;
  /** Handler for the return from a redirect. */
  onContinuePostLogin?: OnContinuePostLogin;
  /** custom-phone-provider: delivers one SMS or voice message. */
  onExecuteCustomPhoneProvider?: (event: CustomPhoneProviderEvent, api: CustomPhoneProviderAPI) => Promise<void> | void;
  /** send-phone-message: delivers one SMS or voice message (Auth0's older trigger). */
  onExecuteSendPhoneMessage?: (event: SendPhoneMessageEvent, api: SendPhoneMessageAPI) => Promise<void> | void;
  /** credentials-exchange: runs on each `client_credentials` token request. */
  onExecuteCredentialsExchange?: (event: CredentialsExchangeEvent, api: CredentialsExchangeAPI) => Promise<void> | void;
  /** pre-user-registration: runs before a sign-up is stored. */
  onExecutePreUserRegistration?: (event: PreUserRegistrationEvent, api: PreUserRegistrationAPI) => Promise<void> | void;
  /** post-user-registration: runs after a sign-up is stored. */
  onExecutePostUserRegistration?: (event: PostUserRegistrationEvent, api: PostUserRegistrationAPI) => Promise<void> | void;
  /** post-change-password: runs after a password change or reset is stored. */
  onExecutePostChangePassword?: (event: PostChangePasswordEvent, api: PostChangePasswordAPI) => Promise<void> | void;
  /** password-reset-post-challenge: runs after the user followed a reset link, before the new password form. */
  onExecutePostChallenge?: (event: PasswordResetPostChallengeEvent, api: PasswordResetPostChallengeAPI) => Promise<void> | void;
  /** password-reset-post-challenge: runs in the action that redirected when the browser comes back. */
  onContinuePostChallenge?: (event: PasswordResetPostChallengeEvent, api: PasswordResetPostChallengeAPI) => Promise<void> | void;
}

/** The action's exports object (a fresh one per login). */
declare var exports: PostLoginExports;

/** The action's CommonJS module (a fresh one per login). */
declare var module: {
  /** The exports object; may be replaced. */
  exports: PostLoginExports;
  /** The action's path. */
  readonly id: string;
};

/**
 * Loads an npm package from `actions/node_modules` (`gatehouse actions install`), a relative file, or a Node
 * built-in actions have (crypto, buffer, events, stream, util, assert, path, querystring, url, string_decoder,
 * timers, process). Names are resolved when the flow loads, so they must be string literals; fs, http, net,
 * child_process and the like are not available (docs/ACTIONS.md). Install `@types/node` for the built-ins' types.
 */
declare var require: (name: string) => any;

/** The action's path. */
declare var __filename: string;

/** The directory of the action's path. */
declare var __dirname: string;

/** The global object (same as globalThis). */
declare var global: typeof globalThis;

// ---- console -----------------------------------------------------------------------------------------------------

/** Console output, captured per action (Node-like formatting; at most 1000 lines, 8 KB per line). */
interface Console {
  /** Logs at level `log`; supports `%s %d %i %f %j %o %O %c %%`. */
  log(...data: any[]): void;
  /** Logs at level `info`. */
  info(...data: any[]): void;
  /** Logs at level `debug`. */
  debug(...data: any[]): void;
  /** Logs at level `warn`. */
  warn(...data: any[]): void;
  /** Logs at level `error`. */
  error(...data: any[]): void;
  /** Logs at level `trace` (no stack is added). */
  trace(...data: any[]): void;
  /** Logs an inspected value. */
  dir(item?: any): void;
  /** Logs an inspected value (no table rendering). */
  table(data?: any): void;
  /** Logs `Assertion failed` at level `error` when the condition is falsy. */
  assert(condition?: any, ...data: any[]): void;
  /** Logs `label: n`, counting calls per label. */
  count(label?: string): void;
  /** No-op. */
  time(label?: string): void;
  /** No-op. */
  timeEnd(label?: string): void;
  /** Logs its arguments, if any (no indentation). */
  group(...data: any[]): void;
  /** No-op. */
  groupEnd(): void;
}

/** Console output, captured per action. */
declare var console: Console;

// ---- Buffer (Node subset) ----------------------------------------------------------------------------------------

/** Encodings Buffer supports (case-insensitive at run time); others throw TypeError. */
type BufferEncoding = 'utf8' | 'utf-8' | 'base64' | 'base64url' | 'hex' | 'latin1' | 'binary' | 'ascii';

/** A Uint8Array with Node's encoding helpers (the subset Gatehouse implements). */
interface Buffer extends Uint8Array {
  /** Decodes bytes `start` to `end` with the encoding (default utf8). */
  toString(encoding?: BufferEncoding, start?: number, end?: number): string;
  /** Returns `{ type: 'Buffer', data: [...] }`. */
  toJSON(): { type: 'Buffer'; data: number[] };
  /** Whether both hold the same bytes. */
  equals(other: Uint8Array): boolean;
  /** Not available in Gatehouse: always throws an Error. */
  write(...args: unknown[]): never;
}

/** The Buffer constructor and its static helpers. */
interface BufferConstructor {
  /** @deprecated A zero-filled buffer of `size` bytes; use Buffer.alloc. */
  new (size: number): Buffer;
  /** The prototype of buffers. */
  readonly prototype: Buffer;
  /** Encodes a string (default utf8). */
  from(text: string, encoding?: BufferEncoding): Buffer;
  /** Copies bytes of an ArrayBuffer. */
  from(arrayBuffer: ArrayBuffer, byteOffset?: number, length?: number): Buffer;
  /** Copies bytes from an array, typed array or iterable of numbers. */
  from(data: ArrayLike<number> | Iterable<number>): Buffer;
  /** Rebuilds a buffer from its toJSON form. */
  from(json: { type: 'Buffer'; data: number[] }): Buffer;
  /** A zero-filled buffer, optionally filled with a byte (a string fill uses its first character code). */
  alloc(size: number, fill?: number | string): Buffer;
  /** A zero-filled buffer of `size` bytes. */
  allocUnsafe(size: number): Buffer;
  /** Whether the value is a Buffer. */
  isBuffer(value: unknown): value is Buffer;
  /** Byte length of a string in an encoding (default utf8), or of a buffer. */
  byteLength(value: string | ArrayBuffer | ArrayBufferView, encoding?: BufferEncoding): number;
  /** Concatenates byte arrays, truncated or zero-padded to totalLength when given. */
  concat(list: readonly Uint8Array[], totalLength?: number): Buffer;
}

/** Node's Buffer (subset: from, alloc, allocUnsafe, isBuffer, byteLength, concat, toString, toJSON, equals). */
declare var Buffer: BufferConstructor;

// ---- URL and URLSearchParams -------------------------------------------------------------------------------------

/** A WHATWG URL. */
declare class URL {
  /** Parses `url`, relative to `base` when given; throws TypeError when invalid. */
  constructor(url: string | URL, base?: string | URL);
  /** Whether `url` (relative to `base`) parses. */
  static canParse(url: string | URL, base?: string | URL): boolean;
  /** The whole URL; setting it reparses. */
  href: string;
  /** Scheme, host and port. */
  readonly origin: string;
  /** Scheme with the trailing colon, e.g. `https:`. */
  protocol: string;
  /** User name. */
  username: string;
  /** Password. */
  password: string;
  /** Host name and port. */
  host: string;
  /** Host name. */
  hostname: string;
  /** Port, empty for the scheme default. */
  port: string;
  /** Path. */
  pathname: string;
  /** Query string with the leading `?`, or empty. */
  search: string;
  /** Fragment with the leading `#`, or empty. */
  hash: string;
  /** Live view of the query; changes update `search`. */
  readonly searchParams: URLSearchParams;
  /** The href. */
  toString(): string;
  /** The href. */
  toJSON(): string;
}

/** Form-encoded name/value pairs. */
declare class URLSearchParams {
  /** From a query string (leading `?` ignored), pairs, a record or another instance. */
  constructor(
    init?:
      | string
      | URLSearchParams
      | readonly (readonly [string, string])[]
      | Iterable<readonly [string, string]>
      | Record<string, string>,
  );
  /** Number of pairs. */
  readonly size: number;
  /** Adds a pair. */
  append(name: string, value: string): void;
  /** Removes pairs with the name (and value, when given). */
  delete(name: string, value?: string): void;
  /** First value of the name, or null. */
  get(name: string): string | null;
  /** All values of the name. */
  getAll(name: string): string[];
  /** Whether a pair with the name (and value, when given) exists. */
  has(name: string, value?: string): boolean;
  /** Replaces the values of the name with one. */
  set(name: string, value: string): void;
  /** Sorts pairs by name. */
  sort(): void;
  /** Calls `callback(value, name, params)` for each pair. */
  forEach(callback: (value: string, name: string, parent: URLSearchParams) => void, thisArg?: any): void;
  /** Names, in order. */
  keys(): IterableIterator<string>;
  /** Values, in order. */
  values(): IterableIterator<string>;
  /** `[name, value]` pairs, in order. */
  entries(): IterableIterator<[string, string]>;
  /** `[name, value]` pairs, in order. */
  [Symbol.iterator](): IterableIterator<[string, string]>;
  /** The form-encoded string, without `?`. */
  toString(): string;
}

// ---- fetch -------------------------------------------------------------------------------------------------------

/** Header initializer: a Headers, `[name, value]` pairs, or a record. */
type HeadersInit =
  | Headers
  | readonly (readonly [string, string])[]
  | Iterable<readonly [string, string]>
  | Record<string, string>;

/** Request or response body: strings, form parameters or bytes (objects are not serialized: JSON.stringify them). */
type BodyInit = string | URLSearchParams | ArrayBuffer | ArrayBufferView;

/** Options of `fetch` (only these three are supported). */
interface RequestInit {
  /** HTTP method (default GET), upper-cased. */
  method?: string;
  /** Request headers. */
  headers?: HeadersInit;
  /** Request body; URLSearchParams sets a form content-type unless one is given. */
  body?: BodyInit | null;
}

/** Options of `new Response`. */
interface ResponseInit {
  /** Status code (default 200). */
  status?: number;
  /** Status text (default empty). */
  statusText?: string;
  /** Response headers. */
  headers?: HeadersInit;
  /** Response URL (Gatehouse extension, default empty). */
  url?: string;
}

/** HTTP headers (names lower-cased; repeated names joined with `, `). */
declare class Headers {
  /** From a Headers, pairs or a record. */
  constructor(init?: HeadersInit);
  /** Adds a value. */
  append(name: string, value: string): void;
  /** Removes all values of the name. */
  delete(name: string): void;
  /** Values of the name joined with `, `, or null. */
  get(name: string): string | null;
  /** Whether the name is present. */
  has(name: string): boolean;
  /** Replaces the values of the name. */
  set(name: string, value: string): void;
  /** Calls `callback(value, name, headers)` per name, sorted. */
  forEach(callback: (value: string, name: string, parent: Headers) => void, thisArg?: any): void;
  /** `[name, value]` pairs, sorted by name. */
  entries(): IterableIterator<[string, string]>;
  /** Names, sorted. */
  keys(): IterableIterator<string>;
  /** Values, sorted by name. */
  values(): IterableIterator<string>;
  /** `[name, value]` pairs, sorted by name. */
  [Symbol.iterator](): IterableIterator<[string, string]>;
}

/** An HTTP response (body buffered as text; no streams, blob or formData). */
declare class Response {
  /** A response with the body as text. */
  constructor(body?: BodyInit | null, init?: ResponseInit);
  /** A JSON response with `content-type: application/json` unless given. */
  static json(data: unknown, init?: ResponseInit): Response;
  /** Status code. */
  readonly status: number;
  /** Whether status is 200-299. */
  readonly ok: boolean;
  /** Status text. */
  readonly statusText: string;
  /** Response headers. */
  readonly headers: Headers;
  /** Final URL. */
  readonly url: string;
  /** Always false. */
  readonly redirected: boolean;
  /** Always `basic`. */
  readonly type: 'basic';
  /** Whether the body was read. */
  readonly bodyUsed: boolean;
  /** Reads the body as text (once). */
  text(): Promise<string>;
  /** Reads the body and parses it as JSON (once). */
  json(): Promise<any>;
  /** Reads the body as UTF-8 bytes (once). */
  arrayBuffer(): Promise<ArrayBuffer>;
  /** Copies an unread response; throws TypeError once the body was read. */
  clone(): Response;
}

/** Sends an HTTP request through the Gatehouse host; resolves for any status, rejects with TypeError on network failure. */
declare function fetch(input: string | URL, init?: RequestInit): Promise<Response>;

// ---- crypto ------------------------------------------------------------------------------------------------------

/** Random values (no `crypto.subtle` in Gatehouse). */
interface GatehouseCrypto {
  /** A random version-4 UUID. */
  randomUUID(): string;
  /** Fills a typed array with random bytes and returns it; at most 65536 bytes, else RangeError. */
  getRandomValues<T extends ArrayBufferView>(array: T): T;
}

/** Random values: randomUUID and getRandomValues only. */
declare var crypto: GatehouseCrypto;

// ---- encoding ----------------------------------------------------------------------------------------------------

/** Encodes strings as UTF-8. */
declare class TextEncoder {
  /** A UTF-8 encoder. */
  constructor();
  /** Always `utf-8`. */
  readonly encoding: string;
  /** UTF-8 bytes of the string (lone surrogates become U+FFFD). */
  encode(input?: string): Uint8Array;
}

/** Decodes UTF-8 or UTF-16 bytes. */
declare class TextDecoder {
  /** `utf-8` (default), `utf-16le` or `utf-16be` and their aliases; others throw RangeError. */
  constructor(label?: string, options?: { ignoreBOM?: boolean });
  /** `utf-8`, `utf-16le` or `utf-16be`. */
  readonly encoding: string;
  /** Whether a byte order mark is kept. */
  readonly ignoreBOM: boolean;
  /** Decodes the bytes (invalid sequences become U+FFFD; no streaming). */
  decode(input?: ArrayBuffer | ArrayBufferView): string;
}

/** Decodes base64 (whitespace ignored) to a binary string; throws on invalid input. */
declare function atob(data: string): string;

/** Encodes a binary string as base64; throws if a character is above U+00FF. */
declare function btoa(data: string): string;

// ---- timers and scheduling ---------------------------------------------------------------------------------------

/** Runs `handler(...args)` after `timeout` ms, unless the handler's promise settles first; returns an id (no string code). */
declare function setTimeout(handler: (...args: any[]) => void, timeout?: number, ...args: any[]): number;

/** Runs `handler(...args)` every `timeout` ms until cleared or the handler's promise settles; returns an id. */
declare function setInterval(handler: (...args: any[]) => void, timeout?: number, ...args: any[]): number;

/** Cancels a timeout. */
declare function clearTimeout(id?: number): void;

/** Cancels an interval. */
declare function clearInterval(id?: number): void;

/** Queues `callback` as a microtask. */
declare function queueMicrotask(callback: () => void): void;

/** Deep-copies a value with the structured clone algorithm. */
declare function structuredClone<T>(value: T, options?: { transfer?: ArrayBuffer[] }): T;
