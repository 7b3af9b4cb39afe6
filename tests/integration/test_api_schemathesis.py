"""schemathesis against /openapi.json, in process (ASGI), with valid dev tokens (DESIGN §9):
0 server errors, 0 schema violations, and input outside the schema rejected with a 4xx.

Left out, deliberately: ``positive_data_acceptance`` -- input that fits the schema is still
refused when it breaks a domain rule (a rating for a closed plan, a consent without its
grantors) or names a child the caller may not see (404) -- and the stateful checks.
Valid input is also generated about a child in the caller's scope, so commands reach the domain
rules and the publish port, not only the 404. (schemathesis' own pytest plugin is not used: its
lazy fixture loader reaches into a pytest internal that pytest 9 no longer has.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.api import AUDITOR, COORDINATOR_BHV, Harness, harness

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection, ignored_auth]
MAX_EXAMPLES = 30


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    return harness(tmp_path_factory.mktemp("schemathesis"))


def _strategies(operation, h: Harness):  # type: ignore[no-untyped-def]
    """Random valid and invalid input; and valid input about the child in the caller's scope."""
    yield operation.as_strategy(GenerationMode.POSITIVE)
    yield operation.as_strategy(GenerationMode.NEGATIVE)
    names = {p.name for p in operation.path_parameters}
    if "child_id" in names:
        yield operation.as_strategy(GenerationMode.POSITIVE, path_parameters={"child_id": str(h.county.a)})


def _fuzz(h: Harness, principal, path_prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Every operation under ``path_prefix``, each strategy ``MAX_EXAMPLES`` times; the failures."""
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"bearer": {"bearer": h.token(principal)}}}})
    api = schemathesis.openapi.from_asgi("/openapi.json", h.app, config=config)
    failures: list[str] = []
    operations = [r.ok() for r in api.get_all_operations()]
    assert operations
    for operation in operations:
        if not operation.path.startswith(path_prefix):
            continue
        for strategy in _strategies(operation, h):
            @given(strategy)
            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate])
            def run(case) -> None:  # type: ignore[no-untyped-def]
                case.call_and_validate(checks=CHECKS)

            try:
                run()
            except Exception as exc:  # noqa: BLE001 -- collected and reported all at once
                failures.append(f"{operation.method.upper()} {operation.path}: {type(exc).__name__}: {exc}"[:2_000])
    return failures


def test_the_api_keeps_its_contract_for_a_coordinator(h: Harness) -> None:
    failures = _fuzz(h, COORDINATOR_BHV, "/")
    assert not failures, "\n\n".join(failures)


def test_the_audit_api_keeps_its_contract_for_an_auditor(h: Harness) -> None:
    failures = _fuzz(h, AUDITOR, "/audit")
    assert not failures, "\n\n".join(failures)


def test_the_spec_documents_every_answer(h: Harness, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    spec = TestClient(h.app).get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403", "422"} <= codes, (method, path, codes)
            if "{child_id}" in path and not path.startswith("/audit"):
                assert "404" in codes, (method, path)
