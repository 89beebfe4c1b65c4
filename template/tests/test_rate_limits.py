"""E: rate limits on login, register and refresh, keyed by client address and by submitted username."""

import anyio
import httpx

from support import API, PASSWORD, AppFactory, client_for, login, register, unique_email


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
