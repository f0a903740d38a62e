"""Failed authentications limited per client address, to slow key guessing: bad API keys
and refused console sign-ins share one budget per address."""

from __future__ import annotations

from tests.ratelimit.conftest import App, admin_key, assert_too_many, login_token, sign_in

GUESS = "hd_notakey_0000000000000000000000"


def from_address(address: str) -> dict[str, str]:
    """Headers of a request relayed by the (trusted) loopback proxy for `address`."""
    return {"X-Forwarded-For": address}


def test_an_address_guessing_keys_is_slowed(start_app: App, storage: dict[str, object]) -> None:
    client = start_app(auth_failure_limit="3/minute", **storage)
    good = admin_key(client)
    used = admin_key(client)
    guesser = from_address("198.51.100.7")
    # a key this address already used successfully keeps working (it is not a guess)
    assert client.get("/me", headers={**guesser, "X-API-Key": used}).status_code == 200
    for i in range(3):
        answer = client.get("/me", headers={**guesser, "X-API-Key": f"{GUESS}{i}"})
        assert answer.status_code == 401
    # past the limit no key from that address is checked, not even a right one
    assert_too_many(client.get("/me", headers={**guesser, "X-API-Key": GUESS}), 60)
    refused = client.get("/me", headers={**guesser, "X-API-Key": good})
    assert assert_too_many(refused, 60) >= 55
    assert client.get("/me", headers={**guesser, "X-API-Key": used}).status_code == 200
    # another address is not held up
    elsewhere = from_address("203.0.113.20")
    assert client.get("/me", headers={**elsewhere, "X-API-Key": good}).status_code == 200
    assert client.get("/me", headers={**elsewhere, "X-API-Key": GUESS}).status_code == 401


def test_a_request_without_a_key_is_not_a_guess(start_app: App) -> None:
    client = start_app(auth_failure_limit="2/minute")
    for _ in range(5):
        assert client.get("/me").status_code == 401
    assert client.get("/me", headers={"X-API-Key": admin_key(client)}).status_code == 200


def test_refused_console_sign_ins_count_too(start_app: App, storage: dict[str, object]) -> None:
    client = start_app(auth_failure_limit="2/minute", **storage)
    good = admin_key(client)
    for _ in range(2):
        refused = client.post(
            "/ui/login", data={"api_key": GUESS, "csrf_token": login_token(client)}
        )
        assert refused.status_code == 401
    page = client.post("/ui/login", data={"api_key": good, "csrf_token": login_token(client)})
    assert page.status_code == 429
    assert 55 <= int(page.headers["retry-after"]) <= 60
    assert "Too many failed sign-ins" in page.text
    # the same address's API keys are held up as well
    assert_too_many(client.get("/me", headers={"X-API-Key": good}), 60)


def test_a_right_sign_in_is_not_counted(start_app: App) -> None:
    client = start_app(auth_failure_limit="1/minute")
    key = admin_key(client)
    for _ in range(3):
        sign_in(client, key)
    assert client.get("/me", headers={"X-API-Key": GUESS}).status_code == 401
