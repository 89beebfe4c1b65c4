"""M01-M05: TOTP MFA over HTTP, with real codes (pyotp, as an authenticator app makes them) and real hashes.

Enrolment shows the secret once and stores it encrypted; login of an MFA account takes two steps, a TOTP code
counts once per time step, and guessing meets the account's RATE_LIMIT_MFA window; recovery codes are stored as
hashes and work once; disabling MFA and changing the password need the password and a code; and with
MFA_REQUIRED_FOR_ADMINS admin routes refuse an admin without MFA.
"""

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pyotp
import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from support import API, PASSWORD, Account, AccountFactory, AppFactory, audit_events, client_for, login
from support.smtp import SmtpServer, body_of, running

NEW_PASSWORD = "a quiet heron counts the reeds along the northern canal"


@dataclass
class Enrolled:
    """An account with MFA on: its authenticator, the code that confirmed it, and its recovery codes."""

    account: Account
    totp: pyotp.TOTP
    confirming_code: str
    recovery_codes: list[str]


def fernet_for(secret: str) -> Fernet:
    """The Fernet key the service derives from a SECRET_KEY or MFA_ENCRYPTION_KEY, computed here independently."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"rampart/mfa-secret-box").derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


async def enrol(http: httpx.AsyncClient, account: Account) -> Enrolled:
    started = await http.post(f"{API}/users/me/mfa/totp", headers=account.headers)
    assert started.status_code == 200, started.text
    totp = pyotp.TOTP(started.json()["secret"])
    code = totp.now()
    confirmed = await http.post(f"{API}/users/me/mfa/totp/confirm", json={"code": code}, headers=account.headers)
    assert confirmed.status_code == 200, confirmed.text
    return Enrolled(account, totp, code, confirmed.json()["recovery_codes"])


def later_code(totp: pyotp.TOTP) -> str:
    """The code of the next time step, which the service takes already (one step of clock drift)."""
    return totp.at(time.time() + 30)


async def challenge(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    first = await login(http, email, password)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["mfa_required"] is True, body
    assert "access_token" not in body, body
    token: str = body["mfa_token"]
    return token


async def second_step(http: httpx.AsyncClient, mfa_token: str, code: str) -> httpx.Response:
    return await http.post(f"{API}/auth/login/mfa", json={"mfa_token": mfa_token, "code": code})


async def twice_at_once(http: httpx.AsyncClient, email: str, code: str) -> list[int]:
    """Two second steps with one code, each with a challenge of its own, sent at the same moment: the statuses."""
    tokens = [await challenge(http, email) for _ in range(2)]
    statuses: list[int] = []

    async def attempt(token: str) -> None:
        statuses.append((await second_step(http, token, code)).status_code)

    async with anyio.create_task_group() as group:
        for token in tokens:
            group.start_soon(attempt, token)
    return sorted(statuses)


async def rows(app: FastAPI, sql: str, **parameters: Any) -> list[Any]:
    async with app.state.engine.connect() as connection:
        return list((await connection.execute(text(sql), parameters)).all())


async def mfa_counts(http: httpx.AsyncClient) -> dict[str, float]:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        sample.labels["step"]: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "security_mfa_events_total"
    }


async def test_m01_enrolment_is_confirmed_by_a_valid_code_and_shown_once(
    app: FastAPI, client: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    """M01: the secret comes once (URI and QR code); MFA is on only after a right code of it."""
    account = await make_account()
    started = await client.post(f"{API}/users/me/mfa/totp", headers=account.headers)
    assert started.status_code == 200, started.text
    body = started.json()
    uri = urlsplit(body["otpauth_uri"])
    query = parse_qs(uri.query)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert query["secret"] == [body["secret"]]
    assert query["issuer"] == [app.state.settings.project_name]
    assert len(base64.b32decode(body["secret"])) >= 20, "160 bits at least (RFC 4226)"
    assert body["qr_svg"].startswith("<svg")
    assert body["qr_svg"].rstrip().endswith("</svg>")
    assert "href" not in body["qr_svg"], "no external resource"
    totp = pyotp.TOTP(body["secret"])

    # Not on yet: a password alone still logs in, and a wrong code confirms nothing.
    assert "access_token" in (await login(client, account.email)).json()
    wrong = str((int(totp.now()) + 1) % 1_000_000).zfill(6)
    refused = await client.post(f"{API}/users/me/mfa/totp/confirm", json={"code": wrong}, headers=account.headers)
    assert refused.status_code == 400, refused.text
    assert "access_token" in (await login(client, account.email)).json()

    confirmed = await client.post(
        f"{API}/users/me/mfa/totp/confirm", json={"code": totp.now()}, headers=account.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    assert len(set(confirmed.json()["recovery_codes"])) == 10
    assert (await login(client, account.email)).json()["mfa_required"] is True

    # Shown once: no route reads the secret back, and enrolling again is refused while MFA is on.
    assert (await client.get(f"{API}/users/me/mfa/totp", headers=account.headers)).status_code == 405
    again = await client.post(f"{API}/users/me/mfa/totp", headers=account.headers)
    assert again.status_code == 409, again.text
    assert body["secret"] not in again.text
    again_confirm = await client.post(
        f"{API}/users/me/mfa/totp/confirm", json={"code": later_code(totp)}, headers=account.headers
    )
    assert again_confirm.status_code == 409, again_confirm.text


async def test_m01_secret_encrypted_at_rest_and_reencrypted_after_a_key_change(
    make_app: AppFactory, make_account: AccountFactory
) -> None:
    """M01: the database holds the secret only as Fernet under a key derived from SECRET_KEY (or from
    MFA_ENCRYPTION_KEY once set); a secret of the earlier key still works, and is stored again under the new one."""
    first = await make_app()
    secret_key = first.state.settings.secret_key.get_secret_value()
    async with client_for(first) as http:
        enrolled = await enrol(http, await make_account(http=http))
    email = enrolled.account.email
    [(stored,)] = await rows(first, "SELECT encrypted_secret FROM mfa_totp_credentials")
    assert enrolled.totp.secret not in stored
    assert fernet_for(secret_key).decrypt(stored.encode()).decode() == enrolled.totp.secret

    # A dedicated key, with SECRET_KEY kept among the earlier ones until every secret moved.
    dedicated = secrets.token_hex(32)
    database_url = first.state.settings.database_url.get_secret_value()
    rotated = await make_app(
        database_url=database_url, mfa_encryption_key=dedicated, mfa_encryption_key_previous=secret_key
    )
    async with client_for(rotated) as http:
        token = await challenge(http, email)
        assert (await second_step(http, token, later_code(enrolled.totp))).status_code == 200
    [(moved,)] = await rows(rotated, "SELECT encrypted_secret FROM mfa_totp_credentials")
    assert fernet_for(dedicated).decrypt(moved.encode()).decode() == enrolled.totp.secret
    with pytest.raises(InvalidToken):
        fernet_for(secret_key).decrypt(moved.encode())


async def test_m01_a_secret_no_key_opens_refuses_its_codes_not_the_request(
    make_app: AppFactory, make_account: AccountFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """M01: once the key a secret was sealed with is gone from the ring (MFA_ENCRYPTION_KEY set without the old key
    in MFA_ENCRYPTION_KEY_PREVIOUS), its TOTP codes get the usual 401, never a 500, the operator gets an error
    line, and a recovery code still lets the owner in."""
    caplog.set_level(logging.INFO)
    first = await make_app()
    async with client_for(first) as http:
        enrolled = await enrol(http, await make_account(http=http))
    database_url = first.state.settings.database_url.get_secret_value()
    keyless = await make_app(database_url=database_url, mfa_encryption_key=secrets.token_hex(32))
    async with client_for(keyless) as http:
        refused = await second_step(http, await challenge(http, enrolled.account.email), later_code(enrolled.totp))
        assert refused.status_code == 401, refused.text
        assert refused.json() == {"detail": "The MFA challenge or the code is not valid."}
        fails = [event for event in audit_events(caplog.records) if event["event"] == "authn_mfa_fail"]
        assert fails[-1]["reason"] == "secret_unreadable"
        errors = [
            record.msg
            for record in caplog.records
            if record.name == "mfa" and record.levelno == logging.ERROR and isinstance(record.msg, dict)
        ]
        assert errors, "no error line for the operator"
        assert errors[-1]["event"] == "mfa_secret_unreadable"
        rescued = await second_step(http, await challenge(http, enrolled.account.email), enrolled.recovery_codes[0])
        assert rescued.status_code == 200, rescued.text


async def test_m01_the_owner_is_mailed_when_mfa_goes_on_and_off(
    make_app: AppFactory, make_account: AccountFactory, smtp_server: SmtpServer
) -> None:
    """M01: enrolment needs no password, so a stolen access token could turn MFA on: the address of the account
    hears of it at once, and of MFA going off, through the real SMTP server."""
    async with running(await make_app(**smtp_server.settings)) as app, client_for(app) as http:
        enrolled = await enrol(http, await make_account(http=http))
        email = enrolled.account.email
        # Mail 0 is the verification link of the registration.
        enabled = await smtp_server.next_message(email, after=1)
        assert "Two-step login is on" in str(enabled["Subject"])
        body = {"password": PASSWORD, "code": later_code(enrolled.totp)}
        disabled = await http.request("DELETE", f"{API}/users/me/mfa/totp", json=body, headers=enrolled.account.headers)
        assert disabled.status_code == 204, disabled.text
        assert "Two-step login is off" in str((await smtp_server.next_message(email, after=2))["Subject"])
        assert enrolled.totp.secret not in body_of(enabled)


async def test_m02_login_needs_the_second_step_and_a_code_counts_once(
    client: httpx.AsyncClient, make_account: AccountFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """M02: the password step gives a challenge, not tokens; a TOTP code is accepted once per time step."""
    caplog.set_level(logging.INFO, logger="audit")
    enrolled = await enrol(client, await make_account())
    # The session of the enrolment stays; others ended with it. A fresh login is two steps.
    token = await challenge(client, enrolled.account.email)
    # The challenge is no access token, and an access token no challenge.
    assert (await client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    code = later_code(enrolled.totp)
    assert (await second_step(client, enrolled.account.access_token, code)).status_code == 401
    # The enrolment's code was used for its step: it cannot log in.
    assert (await second_step(client, token, enrolled.confirming_code)).status_code == 401

    before = await mfa_counts(client)
    signed_in = await second_step(client, token, code)
    assert signed_in.status_code == 200, signed_in.text
    pair = signed_in.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (await client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})).is_success

    # Replay: the same code again, within its step, with the same challenge or a new one, is refused.
    replayed = await second_step(client, token, code)
    assert replayed.status_code == 401, replayed.text
    assert (await second_step(client, await challenge(client, enrolled.account.email), code)).status_code == 401
    after = await mfa_counts(client)
    assert after["succeeded"] - before["succeeded"] == 1
    assert after["failed"] - before["failed"] == 2
    reasons = [event.get("reason") for event in audit_events(caplog.records) if event["event"] == "authn_mfa_fail"]
    assert reasons.count("replayed_code") >= 3, reasons
    logins = [event for event in audit_events(caplog.records) if event["event"] == "authn_login_success"]
    assert logins[-1]["mfa"] == "totp"


async def test_m02_one_code_sent_twice_at_once_logs_in_once(
    client: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    """M02: two requests with the same code at the same moment: the conditional UPDATE lets exactly one in."""
    enrolled = await enrol(client, await make_account())
    assert await twice_at_once(client, enrolled.account.email, later_code(enrolled.totp)) == [200, 401]


async def test_m02_guessing_is_rate_limited_per_account(
    make_app: AppFactory, make_account: AccountFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """M02: RATE_LIMIT_MFA counts every code of an account, from any client: once spent, even the right one is 429."""
    caplog.set_level(logging.INFO, logger="audit")
    app = await make_app(rate_limit_mfa="3/15 minutes")
    async with client_for(app) as http, client_for(app, "198.51.100.7") as elsewhere:
        victim = await enrol(http, await make_account(http=http))
        bystander = await enrol(http, await make_account(http=http))
        token = await challenge(http, victim.account.email)
        for guess in ("000000", "111111"):  # the enrolment took the first slot
            assert (await second_step(http, token, guess)).status_code == 401
        throttled = await second_step(elsewhere, token, later_code(victim.totp))
        assert throttled.status_code == 429, throttled.text
        assert int(throttled.headers["retry-after"]) > 0
        events = [event for event in audit_events(caplog.records) if event["event"] == "authn_throttled"]
        assert events[-1]["limit"] == "mfa_account"
        # Another account's budget is its own.
        assert (
            await second_step(http, await challenge(http, bystander.account.email), later_code(bystander.totp))
        ).is_success


async def test_m03_recovery_codes_are_hashed_and_work_once(
    app: FastAPI, client: httpx.AsyncClient, make_account: AccountFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """M03: the database keeps SHA-256 of each code only; a code logs in once, in any spelling; a used one fails."""
    caplog.set_level(logging.INFO, logger="audit")
    enrolled = await enrol(client, await make_account())
    stored = await rows(app, "SELECT code_hash, used_at FROM mfa_recovery_codes")
    normalised = [code.replace("-", "") for code in enrolled.recovery_codes]
    assert sorted(row.code_hash for row in stored) == sorted(
        hashlib.sha256(code.encode()).hexdigest() for code in normalised
    )
    assert all(len(code) == 20 for code in normalised), "80 bits each"
    dump = repr(await rows(app, "SELECT * FROM mfa_recovery_codes"))
    assert not any(code in dump for code in [*enrolled.recovery_codes, *normalised])

    first, second = enrolled.recovery_codes[:2]
    used = await second_step(client, await challenge(client, enrolled.account.email), first)
    assert used.status_code == 200, used.text
    again = await second_step(client, await challenge(client, enrolled.account.email), first)
    assert again.status_code == 401, again.text
    retyped = second.replace("-", "").upper()
    assert (await second_step(client, await challenge(client, enrolled.account.email), retyped)).status_code == 200
    recovery = [event for event in audit_events(caplog.records) if event["event"] == "authn_mfa_recovery_code_used"]
    assert [event["codes_left"] for event in recovery] == [9, 8]

    # Two requests with one code at once: exactly one gets in.
    assert await twice_at_once(client, enrolled.account.email, enrolled.recovery_codes[2]) == [200, 401]


async def test_m04_password_change_needs_a_code_on_top_of_the_password(
    client: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    """M04: an MFA account's password change without a code, or with a wrong one, changes nothing; a challenge
    issued before the change is void after it."""
    enrolled = await enrol(client, await make_account())
    headers = enrolled.account.headers
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    stale_challenge = await challenge(client, enrolled.account.email)

    missing = await client.post(f"{API}/users/me/password", json=change, headers=headers)
    assert missing.status_code == 400, missing.text
    wrong = await client.post(f"{API}/users/me/password", json={**change, "code": "123456"}, headers=headers)
    assert wrong.status_code == 400, wrong.text
    wrong_password = {**change, "current_password": NEW_PASSWORD, "code": later_code(enrolled.totp)}
    assert (await client.post(f"{API}/users/me/password", json=wrong_password, headers=headers)).status_code == 400
    await challenge(client, enrolled.account.email)  # the old password still works

    changed = await client.post(
        f"{API}/users/me/password", json={**change, "code": later_code(enrolled.totp)}, headers=headers
    )
    assert changed.status_code == 204, changed.text
    assert (await login(client, enrolled.account.email)).status_code == 401
    # The challenge of the old password is void, even with a right code (a recovery code, good for the next login).
    recovery_code = enrolled.recovery_codes[0]
    assert (await second_step(client, stale_challenge, recovery_code)).status_code == 401
    fresh = await challenge(client, enrolled.account.email, NEW_PASSWORD)
    assert (await second_step(client, fresh, recovery_code)).status_code == 200


async def test_m04_disabling_mfa_needs_the_password_and_a_code(
    client: httpx.AsyncClient, make_account: AccountFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """M04: DELETE /users/me/mfa/totp with a wrong password or a wrong code keeps MFA on; with both right it is off."""
    caplog.set_level(logging.INFO, logger="audit")
    enrolled = await enrol(client, await make_account())
    url = f"{API}/users/me/mfa/totp"
    headers = enrolled.account.headers
    attempts = [
        {"password": NEW_PASSWORD, "code": later_code(enrolled.totp)},
        {"password": PASSWORD, "code": "654321"},
    ]
    for body in attempts:
        refused = await client.request("DELETE", url, json=body, headers=headers)
        assert refused.status_code == 400, refused.text
        assert (await login(client, enrolled.account.email)).json()["mfa_required"] is True
    # A recovery code does too: the way out for an owner who lost the authenticator.
    disabled = await client.request(
        "DELETE", url, json={"password": PASSWORD, "code": enrolled.recovery_codes[0]}, headers=headers
    )
    assert disabled.status_code == 204, disabled.text
    assert "access_token" in (await login(client, enrolled.account.email)).json()
    assert (
        await client.request("DELETE", url, json={"password": PASSWORD, "code": "1"}, headers=headers)
    ).status_code == 409
    events = [event["event"] for event in audit_events(caplog.records) if event["event"].startswith("authn_mfa")]
    assert events[-1] == "authn_mfa_disabled"


async def test_m05_admin_routes_refuse_an_admin_without_mfa(
    make_app: AppFactory, make_account: AccountFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """M05: with MFA_REQUIRED_FOR_ADMINS, an admin without MFA gets 403 on admin routes until MFA is on; without the
    setting, nothing changes."""
    caplog.set_level(logging.INFO, logger="audit")
    for required in (False, True):
        app = await make_app(mfa_required_for_admins=required)
        async with client_for(app) as http:
            admin = await make_account(http=http)
            async with app.state.engine.begin() as connection:
                await connection.execute(text("UPDATE users SET is_admin = :yes"), {"yes": True})
            listed = await http.get(f"{API}/users", headers=admin.headers)
            assert listed.status_code == (403 if required else 200), listed.text
            if not required:
                continue
            denial = [event for event in audit_events(caplog.records) if event["event"] == "authz_fail"][-1]
            assert denial["reason"] == "mfa_required"
            enrolled = await enrol(http, admin)
            token = await challenge(http, admin.email)
            pair = (await second_step(http, token, later_code(enrolled.totp))).json()
            listed = await http.get(f"{API}/users", headers={"Authorization": f"Bearer {pair['access_token']}"})
            assert listed.status_code == 200, listed.text
