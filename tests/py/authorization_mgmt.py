#!/usr/bin/env python3
"""End-to-end: seed 004's authorization set up through Auth0's own Management API SDK (auth0-python's
`auth0.management.Auth0`, tests/py/requirements.txt), then used through its authentication SDK (`GetToken`).

    python3 tests/py/authorization_mgmt.py --issuer <issuer>

The issuer is a running Gatehouse (http://127.0.0.1:<port>/) with the test tenant of tests/src/lib.rs plus a
`test-admin` client granted the Management API and a `reporting` machine-to-machine client without a grant
(tests/tests/auth0_python.rs writes it). `Auth0(base_url=...)` takes an http:// base URL as it is.

Steps, each depending on the previous ones (a failure stops the sequence; later steps are reported as skipped):
  token             GetToken.client_credentials for the Management API;
  rbac              resource_servers.update: RBAC on, permissions in access tokens;
  role              roles.create, roles.permissions.add, roles.list(name_filter) with its pager;
  user_role         users.roles.assign to taro, users.permissions.list shows what the role grants;
  organization      organizations.create with the database connection enabled, members.create (jane),
                    members.roles.assign, members.list;
  client_grant      client_grants.create (organizations allowed), organizations.client_grants.create;
  m2m_token         GetToken.client_credentials(organization=...) for `reporting`: org_id in the token;
  password_token    GetToken.login as taro: the role's scopes and permissions in the access token.
Prints one JSON line ({"ok": true|false, "checks": {...}, "org_id", "role_id"}); exits 1 if any step failed.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import traceback
from urllib.parse import urlparse

from auth0.authentication import GetToken
from auth0.management import Auth0

API = "https://api.example.com/"
PASSWORD = "correct-horse-battery"


def claims(jwt: str) -> dict:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def get_token(issuer: str, client_id: str, secret: str) -> GetToken:
    parts = urlparse(issuer)
    return GetToken(parts.netloc, client_id, client_secret=secret, protocol=parts.scheme, timeout=30.0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issuer", required=True)
    issuer = parser.parse_args().issuer
    checks: dict = {}
    state: dict = {}

    def step(name, fn):
        if any(not c.get("ok") for c in checks.values()):
            checks[name] = {"ok": False, "skipped": True}
            return
        try:
            detail = fn() or {}
            checks[name] = {"ok": True, **detail}
        except Exception as e:  # noqa: BLE001 - every failure is reported in the JSON line
            checks[name] = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}

    def token():
        admin = get_token(issuer, "test-admin", "test-admin-secret-0123456789")
        answer = admin.client_credentials(audience=issuer + "api/v2/")
        state["mgmt"] = Auth0(base_url=issuer + "api/v2", token=answer["access_token"], timeout=30.0)
        return {}

    def rbac():
        mgmt = state["mgmt"]
        api = next(r for r in mgmt.resource_servers.list() if r.identifier == API)
        updated = mgmt.resource_servers.update(api.id, enforce_policies=True, token_dialect="access_token_authz")
        assert updated.enforce_policies is True, updated
        return {"token_dialect": updated.token_dialect}

    def role():
        mgmt = state["mgmt"]
        created = mgmt.roles.create(name="editor", description="Reads and writes data")
        mgmt.roles.permissions.add(
            created.id,
            permissions=[
                {"resource_server_identifier": API, "permission_name": "read:data"},
                {"resource_server_identifier": API, "permission_name": "write:data"},
            ],
        )
        found = [r.name for r in mgmt.roles.list(name_filter="edit")]
        permissions = sorted(p.permission_name for p in mgmt.roles.permissions.list(created.id))
        state["role_id"] = created.id
        return {"role_id": created.id, "listed": found, "permissions": permissions}

    def user_role():
        mgmt = state["mgmt"]
        taro = next(iter(mgmt.users.list(q='email:"taro@example.com"')))
        jane = next(iter(mgmt.users.list(q='email:"jane@example.com"')))
        state["taro"], state["jane"] = taro.user_id, jane.user_id
        mgmt.users.roles.assign(taro.user_id, roles=[state["role_id"]])
        roles = [r.name for r in mgmt.users.roles.list(taro.user_id)]
        permissions = sorted(p.permission_name for p in mgmt.users.permissions.list(taro.user_id))
        return {"roles": roles, "permissions": permissions}

    def organization():
        mgmt = state["mgmt"]
        org = mgmt.organizations.create(
            name="initech",
            display_name="Initech",
            metadata={"plan": "pro"},
            enabled_connections=[{"connection_id": "con_gatehouse_database", "assign_membership_on_login": False}],
        )
        mgmt.organizations.members.create(org.id, members=[state["jane"]])
        mgmt.organizations.members.roles.assign(org.id, state["jane"], roles=[state["role_id"]])
        members = [m.email for m in mgmt.organizations.members.list(org.id)]
        listed = [o.name for o in mgmt.organizations.list()]
        by_name = mgmt.organizations.get_by_name("initech").id
        state["org_id"] = org.id
        return {"org_id": org.id, "members": members, "listed": listed, "by_name": by_name}

    def client_grant():
        mgmt = state["mgmt"]
        grant = mgmt.client_grants.create(
            audience=API, client_id="reporting", scope=["read:data"], organization_usage="allow"
        )
        mgmt.organizations.client_grants.create(state["org_id"], grant_id=grant.id)
        grants = [g.client_id for g in mgmt.client_grants.list(client_id="reporting")]
        return {"grant_id": grant.id, "listed": grants}

    def m2m_token():
        reporting = get_token(issuer, "reporting", "reporting-secret-0123456789")
        answer = reporting.client_credentials(audience=API, organization="initech")
        payload = claims(answer["access_token"])
        return {"org_id": payload.get("org_id"), "sub": payload.get("sub"), "scope": payload.get("scope")}

    def password_token():
        web = get_token(issuer, "test-web", "test-web-secret-0123456789")
        answer = web.login(
            username="taro@example.com",
            password=PASSWORD,
            realm="Username-Password-Authentication",
            audience=API,
            scope="openid read:data write:data",
        )
        payload = claims(answer["access_token"])
        return {"scope": payload.get("scope"), "permissions": payload.get("permissions")}

    for name, fn in [
        ("token", token),
        ("rbac", rbac),
        ("role", role),
        ("user_role", user_role),
        ("organization", organization),
        ("client_grant", client_grant),
        ("m2m_token", m2m_token),
        ("password_token", password_token),
    ]:
        step(name, fn)
    ok = all(c.get("ok") for c in checks.values())
    print(json.dumps({"ok": ok, "checks": checks, "org_id": state.get("org_id"), "role_id": state.get("role_id")}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
