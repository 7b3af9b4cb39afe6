"""The web service's pure parts: the wheel's geometry, the Swedish reasons, form parsing, the
FHIR mapping's validation, and when the demo serves the UI."""

from __future__ import annotations

import datetime as dt
import string
import uuid

import pytest

from projections.plan import AREAS
from schemas.events import Area
from services.api.models import AssessArea, OpenEmergencyAccess, RecordMeeting, RegisterConsent
from services.api.ui import forms, sv, wheel
from services.dev.demo import serve

# -- the wheel -------------------------------------------------------------------------------------

def test_the_wheel_has_seven_sectors_in_order_with_swedish_labels() -> None:
    sectors = wheel.sectors({Area.HEALTH: 2, Area.HOME: 5})
    assert [s.area for s in sectors] == list(AREAS)
    assert [s.label for s in sectors] == ["omsorg", "hälsa", "lärande", "trygghet", "relationer", "hem", "utveckling"]
    health, home = sectors[1], sectors[5]
    assert health.rating == 2 and health.fill == wheel.FILL[2] and health.filled and health.title == "hälsa: 2 – oro"
    assert home.filled and f"A {wheel.RADIUS} {wheel.RADIUS}" in home.filled  # 5 reaches the rim
    assert sectors[0].filled is None and sectors[0].title == "omsorg: ej bedömd"


@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_a_sectors_reach_follows_its_rating(rating: int) -> None:
    [sector] = [s for s in wheel.sectors({Area.CARE: rating}) if s.area is Area.CARE]
    radius = wheel.RADIUS * rating / 5
    assert f"A {radius} {radius}" in (sector.filled or "")


def test_numbers_on_dark_fills_are_white_and_on_light_ones_black() -> None:
    sectors = {s.rating: s for s in wheel.sectors(dict(zip(AREAS, [1, 2, 3, 4, 5], strict=False)))}
    assert sectors[5].ink == "#ffffff" and sectors[3].ink == "#000000"
    assert sectors[1].ink == "#000000"  # a small sector: its number sits outside it, on the light wheel


def _contrast(foreground: str, background: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize("rating", [3, 4, 5])
def test_numbers_inside_sectors_meet_wcag_aa_contrast(rating: int) -> None:
    assert _contrast(wheel.INK[rating], wheel.FILL[rating]) >= 4.5


# -- Swedish reasons ---------------------------------------------------------------------------------

def _sample(template: str) -> str:
    names = {n for _, n, _, _ in string.Formatter().parse(template) if n}
    return template.format(**{n: f"X{n}" for n in names})


@pytest.mark.parametrize("english", list(sv.REASONS))
def test_every_known_reason_has_a_swedish_translation(english: str) -> None:
    reason = _sample(english)
    translated = sv.translate(reason)
    assert translated != reason
    for _, name, _, _ in string.Formatter().parse(english):
        if name and name not in ("field", "role"):
            assert f"X{name}" in translated, (english, translated)


def test_unknown_reasons_pass_through_and_fields_get_swedish_names() -> None:
    assert sv.translate("something else") == "something else"
    assert sv.translate("decisions must not be empty") == "beslut får inte vara tomt"
    assert sv.translate("party 123 may not grant as GUARDIAN") == "123 kan inte lämna samtycke som vårdnadshavare"


# -- forms -------------------------------------------------------------------------------------------

def test_a_meeting_form_becomes_the_api_body() -> None:
    body = forms.parse("meetings", {"held_on": "2026-11-30", "participant_orgs": ["a", "b"],
                                    "other_participants": "c\n\nb\n", "lead_org": "", "decisions": "Beslut",
                                    "notes": ""})
    assert isinstance(body, RecordMeeting)
    assert body.participant_orgs == ["a", "b", "c"] and body.lead_org is None and body.notes is None


def test_a_consent_form_ends_on_the_day_after_its_last_day() -> None:
    party = uuid.uuid4()
    body = forms.parse("consents", {"grantors": [f"GUARDIAN:{party}"], "categories": ["HEALTH"],
                                    "recipients": ["a"], "other_recipients": "b", "valid_from": "2026-12-01",
                                    "valid_to": "2026-12-31", "source_organisations": "", "areas": []})
    assert isinstance(body, RegisterConsent)
    assert body.valid_from == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert body.valid_to == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert body.recipients == ["a", "b"] and body.areas is None and body.source_organisations is None
    assert body.grantors[0].party_id == party


@pytest.mark.parametrize(("slug", "values", "message"), [
    ("assessments", {"area": "care"}, "Bedömning: måste fyllas i"),
    ("assessments", {"area": "moon", "rating": "3"}, "Område: ogiltigt värde"),
    ("emergency-access", {"reason_code": "AKUT_FARA", "days": "9"}, "Hur länge: ogiltigt värde"),
    ("consents", {"grantors": ["nonsense"], "categories": [], "recipients": []}, "Vilka uppgifter: måste fyllas i"),
    ("meetings", {"held_on": "x", "participant_orgs": [], "decisions": "y"}, "Mötesdatum: ogiltigt värde"),
])
def test_invalid_forms_say_what_is_wrong_in_swedish(slug: str, values: dict[str, object], message: str) -> None:
    with pytest.raises(forms.InvalidForm) as caught:
        forms.parse(slug, values)
    assert message in caught.value.reasons


def test_bodies_refuse_text_that_cannot_be_stored() -> None:
    with pytest.raises(ValueError):
        AssessArea.model_validate({"area": "care", "rating": 3, "comment": "a\x00b"})
    with pytest.raises(ValueError):
        OpenEmergencyAccess.model_validate({"reason_code": "AKUT_FARA", "days": 0})
    with pytest.raises(ValueError):
        RegisterConsent.model_validate({"grantors": [{"party_id": str(uuid.uuid4()), "role": "GUARDIAN"}],
                                        "categories": ["HEALTH"], "recipients": ["a"],
                                        "valid_from": "9999-12-31T23:59:59-23:59", "valid_to": "2027-01-01T00:00:00Z"})


# -- when the demo serves the UI ----------------------------------------------------------------------

@pytest.mark.parametrize(("env", "tty", "expected"), [
    (None, True, True), (None, False, False), ("1", False, True), ("0", True, False), ("yes", False, True),
    ("no", True, False),
])
def test_the_demo_serves_the_ui_only_when_someone_is_there(monkeypatch: pytest.MonkeyPatch, env: str | None,
                                                          tty: bool, expected: bool) -> None:
    if env is None:
        monkeypatch.delenv(serve.SERVE_ENV, raising=False)
    else:
        monkeypatch.setenv(serve.SERVE_ENV, env)
    assert serve.wanted(stdin_is_tty=tty) is expected


def test_a_non_interactive_demo_returns_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from services.settings import Settings

    monkeypatch.delenv(serve.SERVE_ENV, raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    console = Console(record=True, width=200)
    assert serve.serve_ui(Settings(_env_file=None), console) is True  # type: ignore[call-arg]
    assert "not served" in console.export_text()
