"""The web service's pure parts: the wheel's geometry, the Swedish reasons, form parsing, the
FHIR mapping's validation, and when the demo serves the UI."""

from __future__ import annotations

import datetime as dt
import string
import uuid

import pytest

from projections.plan import AREAS
from schemas.events import Area, ConsentObtained, GrantorRole
from services.api.models import (
    AssessArea,
    ConsentOut,
    GrantorOut,
    OpenEmergencyAccess,
    PlanView,
    RecordMeeting,
    RegisterConsent,
)
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


def test_every_reason_of_the_consent_registry_is_translated() -> None:
    from services.commands import consent as registry

    english = [v for k, v in vars(registry).items() if k.isupper() and isinstance(v, str)]
    english += list(registry.HAD_LAPSED.values())
    assert set(english) <= set(sv.REASONS)


def test_lapses_have_swedish_labels_with_the_configured_age() -> None:
    assert sv.lapse_label("child_age", 16) == "upphörde när barnet fyllde 16 år"
    assert sv.lapse_label("adulthood") == "upphörde vid 18-årsdagen"
    assert sv.lapse_label("custody") == "upphörde när vårdnaden ändrades"
    assert sv.lapse_label("birth") == "upphörde vid födseln"
    assert sv.lapse_label("register") == "folkbokföringen stödde inte samtycket när det lämnades"
    assert sv.lapse_label(None) is None and sv.lapse_label("nonsense") is None


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
    body = forms.parse("consents", {"grantors": [f"GUARDIAN:{party}"], "categories": ["HEALTH"], "obtained": "WRITTEN",
                                    "recipients": ["a"], "other_recipients": "b", "valid_from": "2026-12-01",
                                    "valid_to": "2026-12-31", "source_organisations": "", "areas": []})
    assert isinstance(body, RegisterConsent)
    assert body.obtained is ConsentObtained.WRITTEN
    assert body.valid_from == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert body.valid_to == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert body.recipients == ["a", "b"] and body.areas is None and body.source_organisations is None
    assert body.grantors[0].party_id == party


def test_a_consent_from_today_starts_when_the_form_is_posted_not_at_a_past_midnight() -> None:
    today = dt.datetime.now(dt.UTC).date()
    values = {"grantors": [f"GUARDIAN:{uuid.uuid4()}"], "categories": ["HEALTH"], "obtained": "DIGITAL",
              "recipients": ["a"], "valid_from": today.isoformat(), "valid_to": today.isoformat()}
    before = dt.datetime.now(dt.UTC)
    body = forms.parse("consents", values)
    assert isinstance(body, RegisterConsent)
    assert before <= body.valid_from <= dt.datetime.now(dt.UTC)
    assert body.valid_to == dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    later = forms.parse("consents", values | {"valid_from": (today + dt.timedelta(days=1)).isoformat(),
                                              "valid_to": (today + dt.timedelta(days=9)).isoformat()})
    assert isinstance(later, RegisterConsent)
    assert later.valid_from == dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    with pytest.raises(forms.InvalidForm) as caught:
        forms.parse("consents", values | {"obtained": ""})
    assert caught.value.reasons == ["Hur samtycket lämnades: måste fyllas i"]


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


# -- consents: who may grant and withdraw, and the pending ones --------------------------------------

def _view(**kw: object) -> PlanView:
    base = {"child_id": uuid.uuid4(), "birth_date": dt.date(2016, 1, 1), "unborn": False, "guardians": [uuid.uuid4()],
            "expectant_parent": None, "consents": [], "read_at": dt.datetime.now(dt.UTC)}
    return PlanView.model_construct(**(base | kw))  # type: ignore[arg-type]


def test_who_may_grant_follows_the_childs_life() -> None:
    parent = uuid.uuid4()
    unborn = _view(unborn=True, birth_date=None, guardians=[], expectant_parent=parent)
    assert forms.grantor_options(unborn) == [(f"EXPECTANT_PARENT:{parent}", f"Blivande förälder ({str(parent)[:8]})")]
    child = _view()
    assert [v.partition(":")[0] for v, _ in forms.grantor_options(child)] == ["GUARDIAN", "CHILD"]
    adult = _view(birth_date=dt.date(2000, 1, 1))
    assert forms.grantor_options(adult) == [(f"YOUNG_PERSON:{adult.child_id}", "Den unga själv")]
    # Those who granted may withdraw too, though no longer required.
    consent = ConsentOut.model_construct(grantors=[GrantorOut(party_id=adult.guardians[0], role=GrantorRole.GUARDIAN)])
    assert [v for v, _ in forms.withdraw_options(adult, consent)] == [
        f"YOUNG_PERSON:{adult.child_id}", f"GUARDIAN:{adult.guardians[0]}"]


def test_pending_consents_are_shown_until_the_read_model_has_them_or_an_hour_has_passed() -> None:
    from projections.consents import consent_of
    from schemas.codec import Codec
    from services.api import pending
    from services.api.store import PendingRow
    from services.dev.samples import sample_event

    codec, now = Codec(), dt.datetime.now(dt.UTC)
    granted = [sample_event("ConsentGranted", seed=n) for n in range(4)]

    def row(n: int, age: dt.timedelta, withdrawn: dt.datetime | None = None) -> PendingRow:
        e = granted[n]
        return PendingRow(e.consent_id, e.child_id, now - age, codec.encode(e), withdrawn)  # type: ignore[attr-defined]

    known = consent_of(granted[0])  # type: ignore[arg-type]
    withdrawn_known = consent_of(granted[3])  # type: ignore[arg-type]
    rows = [row(0, dt.timedelta(minutes=1)), row(1, dt.timedelta(minutes=5), now),
            row(2, pending.KEEP + dt.timedelta(seconds=1)), row(3, dt.timedelta(minutes=1), now)]
    shown, stale = pending.merge([known, withdrawn_known], rows, codec, now)
    assert [(s.consent.consent_id, s.pending) for s in shown] == [
        (known.consent_id, False), (withdrawn_known.consent_id, False), (granted[1].consent_id, True)]  # type: ignore[attr-defined]
    assert shown[1].consent.withdrawn_at == now  # the withdrawal the read model does not show yet
    assert shown[2].consent.withdrawn_at == now
    assert sorted(stale) == sorted([known.consent_id, granted[2].consent_id])  # type: ignore[attr-defined]
    broken = PendingRow(uuid.uuid4(), uuid.uuid4(), now, b"not avro", None)
    assert pending.merge([], [broken], codec, now) == ([], [broken.consent_id])
