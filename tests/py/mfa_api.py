#!/usr/bin/env python3
"""End-to-end: the MFA API the way a Python application drives it with Auth0's own SDK (auth0-python,
tests/py/requirements.txt) plus plain HTTP, as Auth0's "Authenticate Using ROPG Flow with MFA" docs describe.

    python3 tests/py/mfa_api.py --issuer <issuer>

The issuer is a running Gatehouse (http://127.0.0.1:<port>/) with the test tenant of tests/src/lib.rs (client
`test-web`, allowed the password and MFA grants; user jane@example.com; API https://api.example.com/) and
`[mfa] policy = "always"` with the otp and recovery-code factors (jane starts with no factor: with the email factor
on, her verified email would already be one and `/mfa/associate` would answer "User is already enrolled.").

auth0-python's `GetToken.login` (the password-realm grant) raises `Auth0Error` `mfa_required`; its `content` carries
the `mfa_token`. auth0-python 6.8.0 has no MFA API client and no MFA grant: `GetToken` offers authorization_code,
authorization_code_pkce, client_credentials, login (password-realm), refresh_token, passwordless_login,
backchannel_login and access_token_for_connection, nothing for `http://auth0.com/oauth/grant-type/mfa-otp`,
`mfa-oob` or `mfa-recovery-code`. So `/mfa/associate`, `/mfa/challenge`, `/mfa/authenticators` and the three MFA
grants of `/oauth/token` are plain POSTs/GETs (urllib), and the TOTP codes come from RFC 6238 implemented below
with hmac/hashlib/base64 (no extra package).

Steps, each depending on the previous ones (a failure stops the sequence; later steps are reported as skipped):
  mfa_required           GetToken.login -> Auth0Error mfa_required (403) with an mfa_token in its content;
  associate_otp          POST /mfa/associate ["otp"] -> secret, barcode_uri, recovery_codes;
  authenticators_pending GET /mfa/authenticators -> the OTP authenticator, inactive until confirmed;
  confirm_with_otp       the mfa-otp grant with a code computed here -> tokens with amr ["mfa"];
  authenticators_active  a new login's mfa_token lists OTP and the recovery code, both active;
  otp_challenge          POST /mfa/challenge otp; a wrong code, the right one, the same one again;
  recovery_code          the mfa-recovery-code grant -> tokens and a new recovery_code; the old one is refused,
                         the new one works (and is replaced in turn).
Prints one JSON line ({"ok": true|false, "checks": {...}}); exits 1 if any step failed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import struct
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from importlib.metadata import version
from typing import Any

from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error

CLIENT_ID = "test-web"
CLIENT_SECRET = "test-web-secret-0123456789"
REALM = "Username-Password-Authentication"
AUDIENCE = "https://api.example.com/"
USER = "jane@example.com"
PASSWORD = "correct-horse-battery"
SCOPE = "openid profile"
GRANT = "http://auth0.com/oauth/grant-type/"


class CheckFailed(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# --- RFC 6238 (TOTP over RFC 4226 HOTP, HMAC-SHA1, 30-second steps) --------------------------------------------


def b32decode(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").replace("-", "").upper().rstrip("=")
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, digits: int = 6) -> str:
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp_at(secret: str, step: int, digits: int = 6) -> str:
    return hotp(b32decode(secret), step, digits)


def current_step() -> int:
    return int(time.time()) // 30


def rfc6238_self_test() -> None:
    # RFC 6238 Appendix B, SHA1: the ASCII key "12345678901234567890" gives 94287082 at T = 59 s (step 1) and
    # 07081804 at T = 1111111109 s.
    key = base64.b32encode(b"12345678901234567890").decode()
    expect(totp_at(key, 59 // 30, 8) == "94287082", "RFC 6238 test vector at T=59")
    expect(totp_at(key, 1111111109 // 30, 8) == "07081804", "RFC 6238 test vector at T=1111111109")


# --- HTTP ----------------------------------------------------------------------------------------------------------


def jwt_payload(token: Any) -> dict[str, Any]:
    expect(isinstance(token, str) and token.count(".") == 2, f"not a JWT: {token!r}")
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def http(method: str, url: str, *, json_body: Any = None, form: dict[str, str] | None = None,
         bearer: str | None = None) -> tuple[int, Any, dict[str, str]]:
    """One request; (status, parsed JSON body or text, headers). Error statuses are answers, not exceptions."""
    headers = {"accept": "application/json"}
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["content-type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    if bearer:
        headers["authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, answer_headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as e:
        status, raw, answer_headers = e.code, e.read(), dict(e.headers)
    text = raw.decode("utf-8", "replace")
    try:
        body: Any = json.loads(text) if text else None
    except json.JSONDecodeError:
        body = text
    return status, body, {k.lower(): v for k, v in answer_headers.items()}


class Flow:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        parts = urllib.parse.urlsplit(issuer)
        # auth0-python takes a bare host[:port] and a protocol.
        self.sdk = GetToken(parts.netloc, CLIENT_ID, client_secret=CLIENT_SECRET, protocol=parts.scheme, timeout=30.0)
        self.mfa_token = ""
        self.secret = ""
        self.recovery_code = ""
        self.last_step = -1

    def url(self, path: str) -> str:
        return self.issuer + path.lstrip("/")

    def next_code(self) -> str:
        """A code for a step the server has not seen used yet: now, or the next step if now's code was used."""
        step = max(current_step(), self.last_step + 1)
        self.last_step = step
        return totp_at(self.secret, step)

    def login_mfa_required(self) -> dict[str, Any]:
        """GetToken.login must raise mfa_required; keeps the mfa_token from the error's content."""
        try:
            tokens = self.sdk.login(USER, PASSWORD, realm=REALM, scope=SCOPE, audience=AUDIENCE)
        except Auth0Error as e:
            content = e.content if isinstance(e.content, dict) else {}
            expect(e.error_code == "mfa_required", f"error_code {e.error_code!r} ({e.status_code}: {e.message})")
            expect(e.status_code == 403, f"HTTP {e.status_code}, expected 403")
            expect(e.message == "Multifactor authentication required", f"message {e.message!r}")
            token = content.get("mfa_token")
            expect(isinstance(token, str) and token.count(".") == 2, f"no mfa_token in the error's content: {e.content!r}")
            self.mfa_token = token
            return {"status_code": e.status_code, "error_code": e.error_code, "content_keys": sorted(content)}
        raise CheckFailed(f"GetToken.login returned tokens although the policy is always: {sorted(tokens)}")

    def grant(self, kind: str, **fields: str) -> tuple[int, Any]:
        # A plain POST: auth0-python 6.8.0 has no method for the MFA grants (see the module docstring).
        form = {"grant_type": GRANT + kind, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "mfa_token": self.mfa_token, **fields}
        status, body, _ = http("POST", self.url("oauth/token"), form=form)
        return status, body

    def authenticators(self) -> list[dict[str, Any]]:
        status, body, headers = http("GET", self.url("mfa/authenticators"), bearer=self.mfa_token)
        expect(status == 200 and isinstance(body, list), f"GET /mfa/authenticators: {status} {body!r}")
        expect(headers.get("cache-control") == "no-store", f"cache-control {headers.get('cache-control')!r}")
        return body

    def check_tokens(self, status: int, body: Any, what: str) -> dict[str, Any]:
        expect(status == 200 and isinstance(body, dict), f"{what}: HTTP {status} {body!r}")
        expect(body.get("token_type") == "Bearer", f"{what}: token_type {body.get('token_type')!r}")
        expect(body.get("scope") == SCOPE, f"{what}: scope {body.get('scope')!r}, expected {SCOPE!r}")
        identity = jwt_payload(body.get("id_token"))
        access = jwt_payload(body.get("access_token"))
        expect(identity.get("amr") == ["mfa"], f"{what}: ID token amr {identity.get('amr')!r}")
        expect(identity.get("iss") == self.issuer, f"{what}: ID token iss {identity.get('iss')!r}")
        expect(identity.get("aud") == CLIENT_ID, f"{what}: ID token aud {identity.get('aud')!r}")
        expect(identity.get("email") in (None, USER), f"{what}: ID token email {identity.get('email')!r}")
        audiences = access.get("aud") if isinstance(access.get("aud"), list) else [access.get("aud")]
        expect(AUDIENCE in audiences, f"{what}: access token aud {access.get('aud')!r} lacks {AUDIENCE}")
        return {"keys": sorted(body), "amr": identity.get("amr"), "aud": access.get("aud")}

    # --- the steps ---

    def step_mfa_required(self) -> dict[str, Any]:
        return self.login_mfa_required()

    def step_associate_otp(self) -> dict[str, Any]:
        status, body, headers = http("POST", self.url("mfa/associate"), json_body={"authenticator_types": ["otp"]},
                                     bearer=self.mfa_token)
        expect(status == 200 and isinstance(body, dict), f"POST /mfa/associate: {status} {body!r}")
        expect(headers.get("cache-control") == "no-store", f"cache-control {headers.get('cache-control')!r}")
        expect(body.get("authenticator_type") == "otp", f"authenticator_type {body.get('authenticator_type')!r}")
        secret = body.get("secret")
        expect(isinstance(secret, str) and len(b32decode(secret)) >= 10, f"secret {secret!r} is not base32")
        uri = body.get("barcode_uri", "")
        parsed = urllib.parse.urlsplit(uri)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        expect(parsed.scheme == "otpauth" and parsed.netloc == "totp", f"barcode_uri {uri!r}")
        expect(urllib.parse.unquote(parsed.path) == f"/Gatehouse Test:{USER}", f"barcode_uri label {parsed.path!r}")
        expect(query == {"secret": secret, "issuer": "Gatehouse Test", "algorithm": "SHA1", "digits": "6",
                         "period": "30"}, f"barcode_uri parameters {query!r}")
        codes = body.get("recovery_codes")
        expect(isinstance(codes, list) and len(codes) == 1 and isinstance(codes[0], str) and len(codes[0]) == 24,
               f"recovery_codes {codes!r} (Auth0 returns one 24-character code on the first enrollment)")
        self.secret, self.recovery_code = secret, codes[0]
        return {"keys": sorted(body), "barcode_uri_prefix": uri.split("?")[0]}

    def step_authenticators_pending(self) -> dict[str, Any]:
        listed = self.authenticators()
        otp = [a for a in listed if a.get("authenticator_type") == "otp"]
        expect(len(otp) == 1 and otp[0].get("active") is False, f"the new OTP authenticator is pending: {listed!r}")
        expect(str(otp[0].get("id", "")).startswith("totp|dev_"), f"OTP id {otp[0].get('id')!r}")
        email = [a for a in listed if a.get("authenticator_type") == "oob"]
        expect(not email, f"no email authenticator on a tenant without the email factor: {listed!r}")
        return {"authenticators": [(a.get("authenticator_type"), a.get("active")) for a in listed]}

    def step_confirm_with_otp(self) -> dict[str, Any]:
        status, body = self.grant("mfa-otp", otp=self.next_code())
        return self.check_tokens(status, body, "mfa-otp (enrollment)")

    def step_authenticators_active(self) -> dict[str, Any]:
        self.login_mfa_required()
        listed = self.authenticators()
        kinds = {(a.get("authenticator_type"), a.get("active")) for a in listed}
        expect(("otp", True) in kinds, f"OTP active after confirmation: {listed!r}")
        expect(("recovery-code", True) in kinds, f"the recovery code is active with it: {listed!r}")
        recovery = [a for a in listed if a.get("authenticator_type") == "recovery-code"]
        expect(str(recovery[0].get("id", "")).startswith("recovery-code|dev_"), f"recovery-code id {recovery!r}")
        return {"authenticators": sorted(f"{k}:{v}" for k, v in kinds)}

    def step_otp_challenge(self) -> dict[str, Any]:
        status, body, _ = http("POST", self.url("mfa/challenge"), json_body={
            "mfa_token": self.mfa_token, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "challenge_type": "otp"})
        expect(status == 200 and body == {"challenge_type": "otp"}, f"POST /mfa/challenge otp: {status} {body!r}")
        right = self.next_code()
        wrong = "000000" if right != "000000" else "111111"
        status, body = self.grant("mfa-otp", otp=wrong)
        expect(status == 403 and isinstance(body, dict) and body.get("error") == "invalid_grant"
               and body.get("error_description") == "Invalid otp_code.", f"a wrong code: {status} {body!r}")
        status, body = self.grant("mfa-otp", otp=right)
        tokens = self.check_tokens(status, body, "mfa-otp (challenge)")
        status, body = self.grant("mfa-otp", otp=right)
        expect(status == 403 and isinstance(body, dict) and body.get("error_description") == "Invalid otp_code.",
               f"the same code twice: {status} {body!r}")
        return {"challenge": "otp", "tokens": tokens}

    def step_recovery_code(self) -> dict[str, Any]:
        self.login_mfa_required()
        old = self.recovery_code
        status, body = self.grant("mfa-recovery-code", recovery_code=old)
        tokens = self.check_tokens(status, body, "mfa-recovery-code")
        new = body.get("recovery_code")
        expect(isinstance(new, str) and len(new) == 24 and new != old, f"a new recovery_code in the answer: {new!r}")
        self.login_mfa_required()
        status, body = self.grant("mfa-recovery-code", recovery_code=old)
        expect(status == 403 and isinstance(body, dict) and body.get("error") == "invalid_grant"
               and body.get("error_description") == "Invalid recovery_code.", f"the used code again: {status} {body!r}")
        status, body = self.grant("mfa-recovery-code", recovery_code=new)
        self.check_tokens(status, body, "mfa-recovery-code (the regenerated code)")
        newer = body.get("recovery_code")
        expect(isinstance(newer, str) and newer not in (old, new), f"the regenerated code is replaced too: {newer!r}")
        self.recovery_code = newer
        return {"tokens": tokens, "regenerated": True}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issuer", required=True, help="issuer of a Gatehouse whose MFA policy is always")
    args = parser.parse_args()

    flow = Flow(args.issuer)
    steps = [
        ("rfc6238", lambda: (rfc6238_self_test(), {})[1]),
        ("mfa_required", flow.step_mfa_required),
        ("associate_otp", flow.step_associate_otp),
        ("authenticators_pending", flow.step_authenticators_pending),
        ("confirm_with_otp", flow.step_confirm_with_otp),
        ("authenticators_active", flow.step_authenticators_active),
        ("otp_challenge", flow.step_otp_challenge),
        ("recovery_code", flow.step_recovery_code),
    ]
    report: dict[str, Any] = {"ok": True, "auth0_python": version("auth0-python"), "checks": {}}
    for name, step in steps:
        if not report["ok"]:
            report["checks"][name] = {"ok": False, "error": "skipped: an earlier step failed"}
            continue
        try:
            report["checks"][name] = {"ok": True, **step()}
        except CheckFailed as e:
            report["ok"] = False
            report["checks"][name] = {"ok": False, "error": str(e)}
        except Exception as e:  # an unexpected exception (the SDK, the network): report it as it is
            report["ok"] = False
            report["checks"][name] = {"ok": False, "error": f"{type(e).__name__}: {e}",
                                      "traceback": traceback.format_exc(limit=3)}
    print(json.dumps(report, sort_keys=True))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
