"""Limits (issue 17, finding 9): bodies over their limit get 413, and the doors an attacker would
knock on -- the dev login's token and login, lookups by personnummer -- 429 past their rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.api.limits import BODY_MAX, RATES, Buckets, Rate
from tests.support.api import ADMINISTRATOR, AUDITOR, COORDINATOR_BHV, COORDINATOR_SOC, Harness, harness
from tests.support.browser import Browser


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return harness(tmp_path)


def test_a_body_over_the_limit_is_refused_before_it_is_read(h: Harness) -> None:
    client = Browser(h.app)
    headers = h.headers(COORDINATOR_BHV)
    big = json.dumps({"personnummer": "x" * (BODY_MAX + 10)})
    declared = client.post("/children/search", content=big, headers={**headers, "content-type": "application/json"})
    assert declared.status_code == 413 and "larger than" in declared.json()["reasons"][0]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(BODY_MAX // 1024 + 2):
            yield b" " * 1024

    streamed = client.post("/children/search", content=chunks(), headers={**headers, "content-type": "application/json"})
    assert streamed.status_code == 413
    assert h.publish.events == []  # nothing read, nothing logged
    small = client.post("/children/search", json={"personnummer": "12"}, headers=headers)
    assert small.status_code == 422  # under the limit the route itself answers


@pytest.mark.parametrize(("path", "who", "body"), [
    ("/children/search", COORDINATOR_BHV, {"personnummer": "19121212-1212"}),
    ("/emergency-access", COORDINATOR_BHV, {"personnummer": "19121212-1212", "reason_code": "AKUT_FARA", "days": 1}),
])
def test_lookups_by_personnummer_are_limited_per_user(h: Harness, path: str, who, body: dict) -> None:  # type: ignore[no-untyped-def]
    client, rate = Browser(h.app), RATES["lookup"]
    answers = [client.post(path, json=body, headers=h.headers(who)).status_code for _ in range(rate.burst + 1)]
    assert 429 not in answers[:-1] and answers[-1] == 429
    refused = client.post(path, json=body, headers=h.headers(who))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "För många försök" in refused.json()["detail"]
    other = client.post(path, json=body, headers=h.headers(COORDINATOR_SOC))  # another user has their own
    assert other.status_code != 429


def test_the_pages_lookups_are_limited_too(h: Harness) -> None:
    for who, path in ((COORDINATOR_BHV, "/ui/children/search"), (AUDITOR, "/ui/audit/search"),
                      (ADMINISTRATOR, "/ui/admin/extract")):
        client = Browser(h.app)
        client.cookies.set("kronobarn_token", h.token(who))
        answers = [client.post(path, data={"personnummer": "19121212-1212"}, follow_redirects=False).status_code
                   for _ in range(RATES["lookup"].burst + 1)]
        assert 429 not in answers[:-1] and answers[-1] == 429, (path, answers[-3:])


def test_the_dev_login_is_limited_per_address(h: Harness) -> None:
    client = Browser(h.app)
    dev_user = "dev-coordinator-SE2321000065-BHV0780"
    answers = [client.post("/dev/token", json={"subject": dev_user}).status_code
               for _ in range(RATES["login"].burst + 1)]
    assert set(answers[:-1]) == {200} and answers[-1] == 429
    assert client.post("/dev/login", data={"subject": dev_user},
                       follow_redirects=False).status_code == 429  # one bucket for both doors


def test_a_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    buckets = Buckets(Rate(burst=2, per_minute=60), clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(2)] == [0, 0]
    assert buckets.take("a") == pytest.approx(1.0)  # one a second: the next in 1 s
    assert buckets.take("b") == 0  # another key its own bucket
    now[0] += 1.0
    assert buckets.take("a") == 0 and buckets.take("a") > 0
