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


def test_an_auditors_history_of_a_protected_child_names_no_municipality() -> None:
    from types import SimpleNamespace

    from services.api.audit.reads import history_entry_out
    from services.dev.samples import sample_event

    moved = sample_event("ChildMoved", seed=3)
    entry = SimpleNamespace(event=moved, topic="intake.population", partition=0, offset=1,
                            recorded_at=moved.envelope.recorded_at, type_name="ChildMoved")
    shown = history_entry_out(entry).fields
    hidden = history_entry_out(entry, protected=True).fields
    places = {"from_municipality_code", "to_municipality_code"}
    assert places <= shown.keys() and not places & hidden.keys()
    assert hidden.keys() == shown.keys() - places


# -- names, not ids; Swedish local time; readable facts (issue 15, item 7) ------------------------------
# Each rule against a small reference written here: the EU's summer-time rule, integer rounding of
# hundredths, and the county directory's file read with tomllib.

import random
import tomllib
from decimal import Decimal

from schemas.events import Category
from services.api.models import FactOut, OrgOut
from services.api.orgs import OrgDirectory
from services.api.ui import readable
from services.county import SYNTHETIC_COUNTY, load_county_directory

MONTHS_SV = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
             "november", "december"]


def _last_sunday(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 31)
    while day.weekday() != 6:
        day -= dt.timedelta(days=1)
    return day


def _swedish_reference(utc: dt.datetime) -> str:
    """Summer time (UTC+2) from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last
    Sunday of October, else UTC+1; the hour 02:00-03:00 on that October Sunday happens twice."""
    begins = dt.datetime.combine(_last_sunday(utc.year, 3), dt.time(1), dt.UTC)
    ends = dt.datetime.combine(_last_sunday(utc.year, 10), dt.time(1), dt.UTC)
    summer = begins <= utc < ends
    here = utc + dt.timedelta(hours=2 if summer else 1)
    shown = f"{here.day} {MONTHS_SV[here.month - 1]} {here.year} {here.hour:02d}:{here.minute:02d}"
    if here.date() == _last_sunday(utc.year, 10) and here.hour == 2:
        shown += " (sommartid)" if summer else " (normaltid)"
    return shown


@pytest.mark.parametrize("start", [dt.datetime(2026, 10, 24, 21, 0, tzinfo=dt.UTC),  # summer time ends 25 Oct
                                   dt.datetime(2026, 3, 28, 22, 0, tzinfo=dt.UTC),  # and begins 29 March
                                   dt.datetime(2026, 12, 31, 21, 0, tzinfo=dt.UTC)])  # a year turns
def test_moments_are_shown_in_swedish_local_time_across_the_summer_time_change(start: dt.datetime) -> None:
    for minutes in range(0, 8 * 60, 10):
        at = start + dt.timedelta(minutes=minutes)
        assert readable.moment(at) == _swedish_reference(at), at
    # The repeated hour says which of the two it is: 00:30 and 01:30 UTC read 02:30 both.
    first, second = (readable.moment(dt.datetime(2026, 10, 25, h, 30, tzinfo=dt.UTC)) for h in (0, 1))
    assert first == "25 oktober 2026 02:30 (sommartid)" and second == "25 oktober 2026 02:30 (normaltid)"


def test_a_moments_day_is_the_swedish_day_and_a_date_stays_as_it_is() -> None:
    assert readable.day(dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC)) == "1 juli 2026"  # 00:30 in Sweden
    assert readable.day(dt.datetime(2026, 12, 31, 22, 59, tzinfo=dt.UTC)) == "31 december 2026"  # 23:59
    assert readable.day(dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC)) == "1 januari 2027"
    assert readable.day(dt.date(2026, 10, 25)) == "25 oktober 2026" and readable.day(None) == "–"
    assert readable.moment(dt.datetime(2026, 7, 1, 10, 0)) == "1 juli 2026 12:00"  # naive means UTC


def test_percentages_are_rounded_to_one_decimal_with_a_comma() -> None:
    for hundredths in range(10_001):
        tenths = (hundredths + 5) // 10  # half up, in integers
        expected = f"{tenths // 10}" + (f",{tenths % 10}" if tenths % 10 else "") + " %"
        assert readable.percent(f"{hundredths // 100}.{hundredths % 100:02d}") == expected, hundredths
    assert readable.percent(12.25) == "12,3 %" and readable.percent(Decimal("7.0")) == "7 %"
    assert readable.percent("ingen siffra") == "ingen siffra" and readable.percent("nan") == "nan"


def _absence(start: dt.date, percent: str, unexcused: str = "0", source: str = "skolenhet-07802001") -> FactOut:
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return FactOut(fact_event_id=uuid.uuid4(), fact_type="AbsenceSummarised", label="Frånvaro", area=Area.LEARNING,
                   source=OrgOut(id=source, name=None), category=Category.SCHOOL, basis="CONSENT", occurred_at=None,
                   released_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                   details={"school_unit_id": source, "period_start": start.isoformat(),
                            "period_end": end.isoformat(), "absence_percent": percent,
                            "unexcused_percent": unexcused})


def _tenths(text: str) -> int:
    whole, _, frac = text.partition(".")
    return (int(whole) * 100 + int((frac + "00")[:2]) + 5) // 10


@pytest.mark.parametrize("seed", range(25))
def test_absence_is_sorted_by_month_and_its_trend_compares_the_last_two(seed: int) -> None:
    rng = random.Random(seed)
    months = [dt.date(2025 + (8 + m) // 12, (8 + m) % 12 + 1, 1) for m in range(rng.randrange(1, 11))]
    values = {m: f"{rng.randrange(0, 40)}.{rng.randrange(0, 100):02d}" for m in months}
    if len(months) > 1 and seed % 3 == 0:  # exactly one percentage point apart: a rise
        values[months[-1]] = f"{_tenths(values[months[-2]]) // 10 + 1}.{_tenths(values[months[-2]]) % 10}"
    facts = [_absence(m, values[m]) for m in months]
    rng.shuffle(facts)
    series = readable.absence_series(facts)
    assert series is not None
    assert [m.start for m in series.months] == months  # period order, whatever order they came in
    assert [m.label for m in series.months] == [f"{MONTHS_SV[m.month - 1]} {m.year}" for m in months]
    if len(months) == 1:
        assert series.trend is None
    else:
        change = _tenths(values[months[-1]]) - _tenths(values[months[-2]])
        assert series.trend == ("up" if change >= 10 else "down" if change <= -10 else "flat")
    xs = [float(p.split(",")[0]) for p in series.points.split()]
    ys = [float(p.split(",")[1]) for p in series.points.split()]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    for (a, ya), (b, yb) in zip(zip(months, ys, strict=True), zip(months[1:], ys[1:], strict=True), strict=False):
        assert (ya > yb) == (_tenths(values[a]) < _tenths(values[b])), (values[a], values[b])  # higher is more
    assert all(0 <= y <= series.height for y in ys)


def test_no_absence_no_series_and_other_facts_stay_in_the_table() -> None:
    visit = _absence(dt.date(2026, 9, 1), "3").model_copy(update={"fact_type": "HealthVisitRecorded"})
    assert readable.absence_series([visit]) is None
    assert readable.without_absence([visit, _absence(dt.date(2026, 9, 1), "3")]) == [visit]
    odd = _absence(dt.date(2026, 9, 1), "3").model_copy(update={"details": {"period_start": "2026-09-01",
                                                                            "period_end": "2026-09-15",
                                                                            "absence_percent": "4.04"}})
    [month] = readable.absence_series([odd]).months  # type: ignore[union-attr]
    assert month.label == "1 september 2026 – 15 september 2026" and month.unexcused is None


def _directory_file() -> dict:
    return tomllib.loads(SYNTHETIC_COUNTY.read_text(encoding="utf-8"))


def test_organisations_read_by_name_with_the_id_on_hover() -> None:
    directory = OrgDirectory.from_county(load_county_directory(SYNTHETIC_COUNTY))
    for unit in _directory_file()["organisations"]:
        shown = readable.org(unit["id"], directory)
        assert shown == f'<span class="org" title="{unit["id"]}">{unit["name"]}</span>'.replace("&", "&amp;")
    unknown = readable.org("nonexistent-org-42", directory)
    assert unknown == '<span class="org unknown" title="okänd organisation: nonexistent-org-42">nonexistent-org-42</span>'
    school = OrgOut(id="skolenhet-07802001", name="Växjö grundskola 1", person="Rut <Rektor>")
    assert readable.org(school, directory).endswith(", rektor Rut &lt;Rektor&gt;")
    assert readable.org(OrgOut(id="x", name="<b>"), directory) == '<span class="org" title="x">&lt;b&gt;</span>'
    region = _directory_file()["region"]
    assert str(readable.org(region["id"], directory)).endswith(f'>{region["name"]}</span>')
    assert directory.name(region["id"]) is None  # the region is shown by name but is no unit a plan can name


def test_municipalities_read_by_name_with_the_code_on_hover() -> None:
    directory = OrgDirectory.from_county(load_county_directory(SYNTHETIC_COUNTY))
    for m in _directory_file()["municipalities"]:
        assert readable.municipality(m["code"], directory) == \
            f'<span class="municipality" title="kommunkod {m["code"]}">{m["name"]}</span>'
    assert ">0680<" in readable.municipality("0680", directory) and "utanför länet" in readable.municipality("0680",
                                                                                                            directory)
    assert readable.municipality(None, directory) == "–"


@pytest.mark.parametrize("kinds", [None, forms.NAMED_PERSON_KINDS])
def test_pickers_list_every_directory_organisation_of_their_kinds_by_municipality(kinds: frozenset | None) -> None:
    raw = _directory_file()
    directory = OrgDirectory.from_county(load_county_directory(SYNTHETIC_COUNTY))
    wanted = {o["id"] for o in raw["organisations"] if kinds is None or o["kind"] in kinds}
    home = "SE2321000065-BHV0781"  # Ljungby's BVC: Ljungby first
    groups = forms.org_groups(forms.OrgPicker(kinds, multiple=True, home=home), directory)
    listed = [org for _, options in groups for org, _ in options]
    assert sorted(listed) == sorted(wanted) and len(listed) == len(set(listed))
    names = {m["code"]: m["name"] for m in raw["municipalities"]}
    unit_of = {o["id"]: o for o in raw["organisations"]}
    assert groups[0][0] == "Ljungby"
    assert [g for g, _ in groups[1:]] == [names[m["code"]] for m in raw["municipalities"] if m["code"] != "0781"]
    for label, options in groups:
        assert {names[unit_of[org]["municipality_code"]] for org, _ in options} == {label}
        assert all(name == unit_of[org]["name"] for org, name in options)
    if kinds is not None:
        assert not any(unit_of[o]["kind"] == "SOCIAL" for o in listed)  # social services are never named person


def test_a_single_picker_offers_the_organisations_around_the_child_first() -> None:
    directory = OrgDirectory.from_county(load_county_directory(SYNTHETIC_COUNTY))
    near = ("kommun-0780-soc", "SE2321000065-BHV0780", "skola-okand")
    groups = forms.org_groups(forms.OrgPicker(forms.NAMED_PERSON_KINDS, near=near), directory)
    # No social services, and no organisation the directory does not know: the command would refuse it.
    assert groups[0] == (forms.NEAR, [("SE2321000065-BHV0780", "Barnavårdscentralen Växjö")])
    multiple = forms.org_groups(forms.OrgPicker(near=near, multiple=True), directory)
    assert forms.NEAR not in [g for g, _ in multiple]  # one organisation listed twice would be posted twice


def test_picked_organisations_post_as_the_ids_the_commands_take() -> None:
    body = forms.parse("meetings", {"held_on": "2026-11-30", "participant_orgs": ["a"],
                                    "other_participants": ["b", "c", "a"], "lead_org": "c", "decisions": "Beslut"})
    assert isinstance(body, RecordMeeting) and body.participant_orgs == ["a", "b", "c"] and body.lead_org == "c"
    party = uuid.uuid4()
    body = forms.parse("consents", {"grantors": [f"GUARDIAN:{party}"], "categories": ["HEALTH"], "obtained": "WRITTEN",
                                    "recipients": ["a"], "other_recipients": ["b"], "valid_from": "2026-12-01",
                                    "valid_to": "2026-12-31", "source_organisations": ["s1", "s2"]})
    assert isinstance(body, RegisterConsent)
    assert body.recipients == ["a", "b"] and body.source_organisations == ["s1", "s2"]
    one = forms.parse("consents", {"grantors": [f"GUARDIAN:{party}"], "categories": ["HEALTH"], "obtained": "WRITTEN",
                                   "recipients": "a", "valid_from": "2026-12-01", "valid_to": "2026-12-31",
                                   "source_organisations": "s1"})
    assert isinstance(one, RegisterConsent) and one.source_organisations == ["s1"]


def _fact(fact_type: str, details: dict[str, str]) -> FactOut:
    return _absence(dt.date(2026, 9, 1), "0").model_copy(update={"fact_type": fact_type, "details": details})


def test_facts_read_in_words_with_their_codes_on_hover() -> None:
    directory = OrgDirectory.from_county(load_county_directory(SYNTHETIC_COUNTY))

    def rows(fact_type: str, details: dict[str, str]) -> dict[str, str]:
        return {k: str(v) for k, v in readable.fact_rows(_fact(fact_type, details), directory)}

    support = rows("SchoolSupportDecided", {"school_unit_id": "skolenhet-07802001", "support_type": "SPECIAL_SUPPORT",
                                            "decided_on": "2026-10-25"})
    assert support == {"skolenhet": '<span class="org" title="skolenhet-07802001">Växjö grundskola 1</span>',
                       "stöd": '<span class="code" title="SPECIAL_SUPPORT">särskilt stöd</span>',
                       "beslutsdatum": "25 oktober 2026"}
    weight = rows("ObservationRecorded", {"unit_id": "nowhere", "code": "29463-7", "value": "12.35", "unit": "kg",
                                          "observed_on": "2026-03-29"})
    assert weight["mätning"] == '<span class="code" title="29463-7">vikt</span>' and weight["värde"] == "12,35 kg"
    assert "okänd organisation: nowhere" in weight["enhet"] and "unit" not in weight and "enhet (mått)" not in weight.values()
    assert rows("ConditionNoted", {"code": "195967001", "clinical_status": "resolved"}) == {
        "tillstånd": '<span class="code" title="195967001">astma</span>',
        "status": '<span class="code" title="resolved">läkt</span>'}
    vaccine = rows("ImmunizationRecorded", {"vaccine_code": "J07BD52", "dose_number": "1"})
    assert "mässling" in vaccine["vaccin"] and vaccine["dos"] == "1"
    assert rows("ConditionNoted", {"code": "999999", "clinical_status": "whatever"}) == {"tillstånd": "999999",
                                                                                         "status": "whatever"}
    assert rows("ChildBorn", {"birth_date": "2026-10-25", "municipality_code": "0780", "pregnancy_event_id": "x"}) == {
        "född": "25 oktober 2026", "kommun": '<span class="municipality" title="kommunkod 0780">Växjö</span>'}
    assert rows("Anything", {"flag": "True", "other": "False"}) == {"flag": "ja", "other": "nej"}
    placement = rows("SchoolPlacementStarted", {"school_type": "PRESCHOOL_CLASS", "start_date": "2026-08-15"})
    assert "förskoleklass" in placement["skolform"] and placement["från"] == "15 augusti 2026"


def test_an_auditors_history_names_organisations_and_municipalities() -> None:
    directory = OrgDirectory.from_county(load_county_directory(SYNTHETIC_COUNTY))
    shown = readable.history_value("participant_orgs", ["SE2321000065-BHV0780", "kommun-0780-soc"], directory)
    assert ">Barnavårdscentralen Växjö</span>, <span" in shown and ">Socialtjänsten Växjö<" in shown
    assert ">Växjö<" in readable.history_value("to_municipality_code", "0780", directory)
    assert readable.history_value("rating", 3, directory) == "3 – varken eller"  # issue 16: in words
    shown = readable.history_value("consent_ids", ["a" * 12, "b" * 12], directory)  # short, whole on hover
    assert shown == '<span class="id" title="aaaaaaaaaaaa">aaaaaaaa</span>, <span class="id" title="bbbbbbbbbbbb">bbbbbbbb</span>'


def test_a_moment_typed_without_a_zone_is_swedish_time() -> None:
    import datetime as _dt

    from services.api.ui.auditing import typed_moment as _moment

    utc = _dt.UTC
    assert _moment("2026-11-01T13:00") == _dt.datetime(2026, 11, 1, 12, 0, tzinfo=utc)  # CET, +01:00
    assert _moment("2026-07-01T13:00") == _dt.datetime(2026, 7, 1, 11, 0, tzinfo=utc)  # CEST, +02:00
    assert _moment("2026-07-01T13:00+00:00") == _dt.datetime(2026, 7, 1, 13, 0, tzinfo=utc)
    assert _moment("not a time") is None


@pytest.mark.parametrize(("text", "ok"), [
    ("Ordinarie text med åäö, tab\toch\nrader", True),
    ("می\u200cخواهم", True),  # Persian needs the zero-width non-joiner
    ("\U0001F469\u200d\U0001F467", True),  # an emoji sequence joins with ZWJ
    ("\u200fسلام\u200e", True),  # the direction marks reorder nothing
    ("avtal\u202egnidlo", False),  # right-to-left override: "avtalolding" shown as something else
    ("\u2066dold\u2069", False),  # isolates
    ("a\u200bb", False),  # zero-width space
    ("\ufeffbom", False),
    ("rad\u2028rad", False),
    ("\x1b[31mröd", False),  # a terminal escape
    ("c1\x85", False),
    ("tag\U000E0041", False),
    ("del\x7f", False),
])
def test_text_that_spoofs_is_refused(text: str, ok: bool) -> None:
    from pydantic import TypeAdapter, ValidationError

    from services.api.models import LongText

    try:
        TypeAdapter(LongText).validate_python(text)
        accepted = True
    except ValidationError as exc:
        accepted = False
        assert "invisible or turn the text's direction" in str(exc)
    assert accepted is ok
