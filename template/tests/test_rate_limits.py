"""E: rate limits on login, register and refresh, keyed by client (an IPv4 address or an IPv6 network) and by
account. What keeps the owner of an attacked account able to log in (device tokens) is in `test_lockout.py`."""

import logging
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from pydantic import ValidationError

from support import API, PASSWORD, AppFactory, audit_events, client_for, login, register, unique_email


def _assert_throttled(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["detail"], str)
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert int(retry_after) > 0
    return int(retry_after)


async def test_e01_login_limit_per_client(make_app: AppFactory) -> None:
    app = await make_app(rate_limit_login="3/minute")
    async with client_for(app) as http, client_for(app, "127.0.0.2") as other:
        email = unique_email()
        assert (await register(http, email)).status_code == 201
        for _ in range(3):
            assert (await login(http, email)).status_code == 200
        # The right password does not help once the client's window is full.
        retry_after = _assert_throttled(await login(http, email))
        assert retry_after <= 60
        # The limit belongs to that client only.
        assert (await login(other, email)).status_code == 200


async def test_e02_failed_logins_per_account_from_many_clients(make_app: AppFactory) -> None:
    app = await make_app(rate_limit_login_account="3/minute")
    addresses = [f"127.0.0.{n}" for n in range(10, 16)]
    clients = [client_for(app, address) for address in addresses]
    try:
        victim, bystander = unique_email(), unique_email()
        assert (await register(clients[0], victim)).status_code == 201
        assert (await register(clients[0], bystander)).status_code == 201
        for target in (victim, unique_email("ghost")):
            # One failure from each of three clients fills the account's window...
            for http in clients[:3]:
                assert (await login(http, target, "wrong password, guessed")).status_code == 401
            # ...so a fourth client is throttled on that username, even with the right password.
            _assert_throttled(await login(clients[3], target, "another wrong guess here"))
            _assert_throttled(await login(clients[4], target, PASSWORD))
        # Another username sent from the very same clients is unaffected.
        for http in clients[:5]:
            assert (await login(http, bystander)).status_code == 200
        # The account key does not depend on the case or padding of the submitted username.
        _assert_throttled(await login(clients[5], f"  {victim.upper()} "))
    finally:
        for http in clients:
            await http.aclose()


async def test_e02_concurrent_guesses_at_one_username_stay_within_the_limit(make_app: AppFactory) -> None:
    limit = 4
    app = await make_app(rate_limit_login_account=f"{limit}/minute")
    clients = [client_for(app, f"127.0.2.{n + 1}") for n in range(3 * limit)]
    try:
        victim = unique_email()
        assert (await register(clients[0], victim)).status_code == 201
        # Successful logins give their slot back: the window is still empty after more of them than it holds.
        for http in clients[: limit + 1]:
            assert (await login(http, victim)).status_code == 200

        statuses = [0] * len(clients)

        async def guess(index: int) -> None:
            statuses[index] = (await login(clients[index], victim, f"guess number {index} at the password")).status_code

        async with anyio.create_task_group() as group:
            for index in range(len(clients)):
                group.start_soon(guess, index)
        # All at once, from 3N clients: still N guesses get a password check, the others are refused before one.
        assert statuses.count(401) == limit, statuses
        assert statuses.count(429) == 2 * limit, statuses
        assert (await login(clients[-1], victim, PASSWORD)).status_code == 429
    finally:
        for http in clients:
            await http.aclose()


async def test_e03_register_and_refresh_have_their_own_limits(make_app: AppFactory) -> None:
    app = await make_app(rate_limit_register="2/minute", rate_limit_login="2/minute", rate_limit_refresh="2/minute")
    async with client_for(app) as http:
        first, second = unique_email(), unique_email()
        assert (await register(http, first)).status_code == 201
        assert (await register(http, second)).status_code == 201
        _assert_throttled(await register(http, unique_email()))

        # Register's limit is spent, yet login still has its own budget.
        tokens = await login(http, first)
        assert tokens.status_code == 200
        assert (await login(http, second)).status_code == 200
        _assert_throttled(await login(http, first))

        # Login's limit is spent too, yet refresh has its own budget.
        refresh_token = tokens.json()["refresh_token"]
        for _ in range(2):
            rotated = await http.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token})
            assert rotated.status_code == 200, rotated.text
            refresh_token = rotated.json()["refresh_token"]
        _assert_throttled(await http.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token}))


async def test_e04_forwarded_for_believed_only_from_trusted_proxies(make_app: AppFactory) -> None:
    untrusted = await make_app(rate_limit_login="2/minute")
    async with client_for(untrusted) as http:
        email = unique_email()
        assert (await register(http, email)).status_code == 201
        for n in range(2):
            response = await http.post(
                f"{API}/auth/login",
                data={"username": email, "password": PASSWORD},
                headers={"X-Forwarded-For": f"127.0.0.{20 + n}"},
            )
            assert response.status_code == 200
        # A new forwarded address from a peer that is not a trusted proxy changes nothing.
        spoofed = await http.post(
            f"{API}/auth/login",
            data={"username": email, "password": PASSWORD},
            headers={"X-Forwarded-For": "127.0.0.99"},
        )
        _assert_throttled(spoofed)

    proxied = await make_app(rate_limit_login="2/minute", trusted_proxies=["127.0.0.1"])
    async with client_for(proxied) as proxy:
        email = unique_email()
        assert (await register(proxy, email)).status_code == 201

        async def via_proxy(forwarded_for: str) -> httpx.Response:
            return await proxy.post(
                f"{API}/auth/login",
                data={"username": email, "password": PASSWORD},
                headers={"X-Forwarded-For": forwarded_for},
            )

        assert (await via_proxy("127.0.0.30")).status_code == 200
        assert (await via_proxy("127.0.0.30")).status_code == 200
        _assert_throttled(await via_proxy("127.0.0.30"))
        # Behind a trusted proxy, another forwarded client has a budget of its own.
        assert (await via_proxy("127.0.0.31")).status_code == 200
        # A client that prepends a made-up address is still keyed by the address the proxy saw.
        _assert_throttled(await via_proxy("127.0.0.77, 127.0.0.30"))
        # The proxy's own address is not a shared key either: a direct peer outside the list ignores the header.
        async with client_for(proxied, "127.0.0.2") as direct:
            assert (
                await direct.post(f"{API}/auth/login", data={"username": email, "password": PASSWORD})
            ).status_code == 200
            assert (
                await direct.post(
                    f"{API}/auth/login",
                    data={"username": email, "password": PASSWORD},
                    headers={"X-Forwarded-For": "127.0.0.40"},
                )
            ).status_code == 200
            _assert_throttled(
                await direct.post(
                    f"{API}/auth/login",
                    data={"username": email, "password": PASSWORD},
                    headers={"X-Forwarded-For": "127.0.0.41"},
                )
            )


async def test_e06_login_works_again_after_the_window(make_app: AppFactory) -> None:
    app = await make_app(rate_limit_login="2/second")
    async with client_for(app) as http:
        email = unique_email()
        assert (await register(http, email)).status_code == 201
        assert (await login(http, email)).status_code == 200
        assert (await login(http, email)).status_code == 200
        retry_after = _assert_throttled(await login(http, email))
        assert retry_after == 1
        await anyio.sleep(1.1)  # the window is one second long
        assert (await login(http, email)).status_code == 200


async def _login_from(app: Any, address: str, email: str, headers: dict[str, str] | None = None) -> int:
    async with client_for(app, address) as http:
        response = await http.post(
            f"{API}/auth/login", data={"username": email, "password": PASSWORD}, headers=headers or {}
        )
        return response.status_code


async def test_e09_ipv6_clients_are_keyed_by_their_network(make_app: AppFactory) -> None:
    email = unique_email()
    default = await make_app(rate_limit_login="2/minute")
    async with client_for(default) as http:
        assert (await register(http, email)).status_code == 201
    # Two addresses of one /64, then a third in another spelling: one client.
    assert await _login_from(default, "2001:db8:1:2::1", email) == 200
    assert await _login_from(default, "2001:db8:1:2:ffff:ffff:ffff:fffe", email) == 200
    assert await _login_from(default, "2001:0DB8:0001:0002:0000:0000:0000:0ABC", email) == 429
    # The next /64 is another client.
    assert await _login_from(default, "2001:db8:1:3::1", email) == 200
    # An IPv4-mapped address is its IPv4 address: not the network of every IPv4 client of a dual-stack socket.
    assert await _login_from(default, "127.0.0.60", email) == 200
    assert await _login_from(default, "::ffff:127.0.0.60", email) == 200
    assert await _login_from(default, "::ffff:7f00:3c", email) == 429
    assert await _login_from(default, "::ffff:127.0.0.61", email) == 200

    # RATE_LIMIT_IPV6_PREFIX=128: every address is a client, whatever its spelling; 48: the whole /48 is one.
    exact = await make_app(rate_limit_login="2/minute", rate_limit_ipv6_prefix=128)
    assert await _login_from(exact, "2001:db8::7", email) == 200
    assert await _login_from(exact, "2001:DB8:0:0:0:0:0:7", email) == 200
    assert await _login_from(exact, "2001:0db8:0000::0007", email) == 429
    assert await _login_from(exact, "2001:db8::8", email) == 200
    wide = await make_app(rate_limit_login="2/minute", rate_limit_ipv6_prefix=48)
    for n in range(2):
        assert await _login_from(wide, f"2001:db8:9:{n}::1", email) == 200
    assert await _login_from(wide, "2001:db8:9:ffff::1", email) == 429


def test_e09_ipv6_prefix_setting_is_bounded(make_settings: Callable[..., Any]) -> None:
    assert make_settings().rate_limit_ipv6_prefix == 64
    for prefix in (32, 128):
        assert make_settings(rate_limit_ipv6_prefix=prefix).rate_limit_ipv6_prefix == prefix
    for prefix in (0, 31, 129):
        with pytest.raises(ValidationError, match="rate_limit_ipv6_prefix"):
            make_settings(rate_limit_ipv6_prefix=prefix)


async def test_e09_trusted_proxies_and_forwarded_addresses_in_every_spelling(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audit")
    email = unique_email()
    # An IPv4 proxy seen through a dual-stack socket (`::ffff:127.0.0.1`) matches TRUSTED_PROXIES=127.0.0.1.
    mapped_peer = await make_app(rate_limit_login="2/minute", trusted_proxies=["127.0.0.1"])
    async with client_for(mapped_peer) as http:
        assert (await register(http, email)).status_code == 201
    for _ in range(2):
        assert await _login_from(mapped_peer, "::ffff:127.0.0.1", email, {"X-Forwarded-For": "127.0.0.70"}) == 200
    assert await _login_from(mapped_peer, "::ffff:127.0.0.1", email, {"X-Forwarded-For": "::ffff:127.0.0.70"}) == 429
    assert await _login_from(mapped_peer, "::ffff:127.0.0.1", email, {"X-Forwarded-For": "127.0.0.71"}) == 200

    # An IPv4-mapped TRUSTED_PROXIES network is its IPv4 network; forwarded IPv6 clients are keyed by their /64,
    # written in any form a proxy writes (brackets, a port, capitals).
    mapped_network = await make_app(rate_limit_login="2/minute", trusted_proxies=["::ffff:127.0.0.0/104"])
    for forwarded in ("2001:db8:5::1", "2001:db8:5::2:1"):
        assert await _login_from(mapped_network, "127.0.0.1", email, {"X-Forwarded-For": forwarded}) == 200
    mark = len(caplog.records)
    assert await _login_from(mapped_network, "127.0.0.1", email, {"X-Forwarded-For": "[2001:DB8:5:0::3]:443"}) == 429
    assert await _login_from(mapped_network, "127.0.0.1", email, {"X-Forwarded-For": "2001:db8:6::1"}) == 200
    assert await _login_from(mapped_network, "127.0.0.1", email, {"X-Forwarded-For": "127.0.0.72:5555"}) == 200
    # The audit log keeps the client's own address, not its network.
    throttled = [event for event in audit_events(caplog.records[mark:]) if event["event"] == "authn_throttled"]
    assert [event["client"] for event in throttled] == ["2001:db8:5::3"]
