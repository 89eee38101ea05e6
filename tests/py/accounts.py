#!/usr/bin/env python3
"""End-to-end: sign-up and password reset through Auth0's own Python SDK (auth0-python's `Database` client).

    python3 tests/py/accounts.py --issuer <issuer> --outbox <dir>

The issuer is a running Gatehouse (http://127.0.0.1:<port>/) with the test tenant of tests/src/lib.rs and
`[connection] password_policy = "good"`; its outbox folder receives the emails. Checks:
  signup          Database.signup returns Auth0's body (`_id` without `auth0|`, `email_verified` false, the names);
  weak_password   Auth0Error 400 `invalid_password`, "Password is too weak" (PasswordStrengthError's message);
  taken           Auth0Error 400 `invalid_signup` for an address that has an account;
  change_password Database.change_password returns the sentence for a known and an unknown address alike, and the
                  known one receives a reset link.
Prints one JSON line ({"ok": true|false, "checks": {...}}); exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import traceback
from typing import Any
from urllib.parse import urlsplit

from auth0.authentication import Database
from auth0.authentication.exceptions import Auth0Error

CLIENT_ID = "test-spa"
CONNECTION = "Username-Password-Authentication"
STRONG = "Sunflower-Meadow-42"
SENTENCE = "We've just sent you an email to reset your password."


class CheckFailed(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def database(issuer: str) -> Database:
    parts = urlsplit(issuer)
    return Database(parts.netloc, CLIENT_ID, protocol=parts.scheme, timeout=30.0)


def refused(call) -> Auth0Error:
    try:
        value = call()
    except Auth0Error as error:
        return error
    raise CheckFailed(f"expected Auth0Error, got {value!r}")


def signup(issuer: str) -> dict[str, Any]:
    body = database(issuer).signup(
        "hana@example.com", STRONG, CONNECTION, given_name="Hana", family_name="Sato",
        user_metadata={"plan": "free"},
    )
    expect(body.get("email") == "hana@example.com", f"email: {body}")
    expect(body.get("email_verified") is False, f"email_verified: {body}")
    expect(isinstance(body.get("_id"), str) and "|" not in body["_id"], f"_id: {body}")
    expect(body.get("given_name") == "Hana" and body.get("user_metadata") == {"plan": "free"}, f"fields: {body}")
    return {"keys": sorted(body)}


def weak_password(issuer: str) -> dict[str, Any]:
    """auth0-python raises Auth0Error with the body's `code` and `message` (it keeps no other field)."""
    error = refused(lambda: database(issuer).signup("weak@example.com", "abcdefgh", CONNECTION))
    expect(error.status_code == 400 and error.error_code == "invalid_password", f"{error.status_code} {error.error_code}")
    expect(error.message == "Password is too weak", f"message: {error.message!r}")
    return {"message": error.message}


def taken(issuer: str) -> dict[str, Any]:
    error = refused(lambda: database(issuer).signup("jane@example.com", STRONG, CONNECTION))
    expect(error.status_code == 400 and error.error_code == "invalid_signup", f"{error.status_code} {error.error_code}")
    return {"message": error.message}


def change_password(issuer: str, outbox: pathlib.Path) -> dict[str, Any]:
    before = {p.name for p in outbox.glob("*.eml")} if outbox.exists() else set()
    unknown = database(issuer).change_password("nobody@example.com", CONNECTION)
    known = database(issuer).change_password("taro@example.com", CONNECTION)
    expect(unknown == SENTENCE and known == SENTENCE, f"answers: {unknown!r} / {known!r}")
    deadline = time.monotonic() + 20
    while True:
        new = [p for p in outbox.glob("*.eml") if p.name not in before] if outbox.exists() else []
        mails = [p.read_text() for p in new]
        reset = [m for m in mails if "/u/reset-password?ticket=" in m]
        if reset:
            break
        expect(time.monotonic() < deadline, f"no reset email in {outbox}")
        time.sleep(0.05)
    expect(all("To: taro@example.com" in m for m in reset), "the link went to taro only")
    return {"emails": len(reset)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--outbox", required=True)
    args = parser.parse_args()
    from importlib.metadata import version

    report: dict[str, Any] = {"ok": True, "auth0_python": version("auth0-python"), "checks": {}}
    checks = [
        ("signup", lambda: signup(args.issuer)),
        ("weak_password", lambda: weak_password(args.issuer)),
        ("taken", lambda: taken(args.issuer)),
        ("change_password", lambda: change_password(args.issuer, pathlib.Path(args.outbox))),
    ]
    for name, check in checks:
        try:
            report["checks"][name] = {"ok": True, **check()}
        except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
            report["ok"] = False
            report["checks"][name] = {"ok": False, "error": f"{type(error).__name__}: {error}",
                                      "trace": traceback.format_exc(limit=4)}
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
