#!/usr/bin/env python3
"""End-to-end: the password-realm grant through Auth0's own Python SDK (auth0-python, tests/py/requirements.txt).

    python3 tests/py/password_realm.py --plain <issuer> --mfa-action <issuer> [--mfa-policy <issuer>]

Each issuer is a running Gatehouse (http://127.0.0.1:<port>/) with the test tenant of tests/src/lib.rs (client
`test-web`, allowed the password grants; users jane@example.com / taro@example.com; API https://api.example.com/):
  --plain       no post-login action, MFA policy "never": GetToken.login returns tokens;
  --mfa-action  a post-login action calls api.multifactor.enable('any'): GetToken.login raises Auth0Error
                `mfa_required` whose content carries an `mfa_token` (Auth0: 403 {"error": "mfa_required",
                "error_description": "Multifactor authentication required", "mfa_token": ...});
  --mfa-policy  the tenant's [mfa] policy = "always", no action: the same error.
Prints one JSON line ({"ok": true|false, "checks": {...}}); exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import traceback
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error

CLIENT_ID = "test-web"
CLIENT_SECRET = "test-web-secret-0123456789"
REALM = "Username-Password-Authentication"
AUDIENCE = "https://api.example.com/"
PASSWORD = "correct-horse-battery"


class CheckFailed(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def jwt_payload(token: Any) -> dict[str, Any]:
    expect(isinstance(token, str) and token.count(".") == 2, f"not a JWT: {token!r}")
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def get_token(issuer: str) -> GetToken:
    """GetToken for an http:// issuer: auth0-python takes a bare host[:port] and a protocol."""
    parts = urlsplit(issuer)
    return GetToken(parts.netloc, CLIENT_ID, client_secret=CLIENT_SECRET, protocol=parts.scheme, timeout=30.0)


def login_succeeds(issuer: str) -> dict[str, Any]:
    tokens = get_token(issuer).login(
        "jane@example.com", PASSWORD, realm=REALM, scope="openid", audience=AUDIENCE
    )
    expect(isinstance(tokens, dict), f"login returned {tokens!r}")
    expect(tokens.get("token_type") == "Bearer", f"token_type {tokens.get('token_type')!r}")
    access = jwt_payload(tokens.get("access_token"))
    identity = jwt_payload(tokens.get("id_token"))
    audiences = access.get("aud") if isinstance(access.get("aud"), list) else [access.get("aud")]
    expect(AUDIENCE in audiences, f"access token aud {access.get('aud')!r} lacks {AUDIENCE}")
    expect(access.get("iss") == issuer, f"access token iss {access.get('iss')!r} != {issuer}")
    expect(access.get("azp") == CLIENT_ID, f"access token azp {access.get('azp')!r}")
    expect(identity.get("aud") == CLIENT_ID, f"ID token aud {identity.get('aud')!r}")
    expect(identity.get("iss") == issuer, f"ID token iss {identity.get('iss')!r}")
    expect(identity.get("sub") == access.get("sub"), "ID and access tokens name different users")
    expect("amr" not in identity, f"no MFA happened, yet amr is {identity.get('amr')!r}")
    return {
        "keys": sorted(tokens),
        "expires_in": tokens.get("expires_in"),
        "scope": tokens.get("scope"),
        "access_token_scope": access.get("scope"),
        "sub": access.get("sub"),
    }


def wrong_password_is_invalid_grant(issuer: str) -> dict[str, Any]:
    try:
        get_token(issuer).login("taro@example.com", "not-the-password", realm=REALM, scope="openid", audience=AUDIENCE)
    except Auth0Error as e:
        expect(e.error_code == "invalid_grant", f"error_code {e.error_code!r}, expected invalid_grant")
        expect(e.message == "Wrong email or password.", f"message {e.message!r}")
        return {"status_code": e.status_code, "error_code": e.error_code, "message": e.message}
    raise CheckFailed("a wrong password was accepted")


def mfa_required(issuer: str) -> dict[str, Any]:
    try:
        tokens = get_token(issuer).login(
            "jane@example.com", PASSWORD, realm=REALM, scope="openid", audience=AUDIENCE
        )
    except Auth0Error as e:
        # auth0-python keeps the response body in `content` for mfa_required (and only for it).
        content = e.content if isinstance(e.content, dict) else {}
        observed = {
            "status_code": e.status_code,
            "error_code": e.error_code,
            "message": e.message,
            "content_keys": sorted(content),
            "mfa_token_is_jwt": isinstance(content.get("mfa_token"), str) and content["mfa_token"].count(".") == 2,
        }
        expect(e.error_code == "mfa_required", f"error_code {e.error_code!r}, expected mfa_required: {observed}")
        expect(e.message == "Multifactor authentication required", f"message {e.message!r}")
        # Auth0 answers 403 Forbidden (its "Authenticate Using ROPG Flow with MFA" docs).
        expect(e.status_code == 403, f"HTTP {e.status_code}, expected 403")
        expect(content.get("error") == "mfa_required", f"content {e.content!r}")
        token = content.get("mfa_token")
        expect(isinstance(token, str) and len(token) > 20, f"no mfa_token in the error's content: {e.content!r}")
        return observed
    raise CheckFailed(f"login returned tokens although MFA is required: {sorted(tokens)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plain", required=True, help="issuer of a Gatehouse without MFA")
    parser.add_argument("--mfa-action", required=True, help="issuer of a Gatehouse whose action enables MFA")
    parser.add_argument("--mfa-policy", help="issuer of a Gatehouse whose MFA policy is always")
    args = parser.parse_args()

    checks: list[tuple[str, Any]] = [
        ("login", lambda: login_succeeds(args.plain)),
        ("wrong_password", lambda: wrong_password_is_invalid_grant(args.plain)),
        ("mfa_required_by_action", lambda: mfa_required(args.mfa_action)),
    ]
    if args.mfa_policy:
        checks.append(("mfa_required_by_policy", lambda: mfa_required(args.mfa_policy)))

    report: dict[str, Any] = {"ok": True, "auth0_python": version("auth0-python"), "checks": {}}
    for name, check in checks:
        try:
            report["checks"][name] = {"ok": True, **check()}
        except CheckFailed as e:
            report["ok"] = False
            report["checks"][name] = {"ok": False, "error": str(e)}
        except Exception as e:  # an unexpected exception from the SDK: report it as it is
            report["ok"] = False
            report["checks"][name] = {
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=3),
            }
    print(json.dumps(report, sort_keys=True))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
