"""The pages' forms: what each asks (labels in Swedish), and how a posted form becomes the same
request body the JSON API takes -- so both go through one validation and one command. Longer
than our modules usually are: every form is declared here, with its pickers from the county
directory, so a label and its field are never in two places.

Every organisation field is a picker of the directory's units (never free text), and the
commands refuse an organisation the directory does not know or whose kind may not take the
role (issue 17, finding 3). A form posts text only, and the request models are strict (no
``"3"`` for 3): ``BODIES`` converts each posted value to its type explicitly -- a whole number
from its digits -- and leaves anything else as posted, for validation to refuse."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from projections.consent_rules import ADULT_AGE, age_on
from projections.plan import AREAS, CANCELLED, STATUS_OF
from schemas.events import (
    ActionEffect,
    Category,
    ConsentObtained,
    FollowUpOutcome,
    GrantorRole,
    InvitationAnswer,
    ParticipantRole,
)
from services.api import models
from services.api.models import PlanView
from services.api.orgs import OrgDirectory
from services.api.person import swedish_key
from services.api.ui import readable, sv
from services.commands import organisations


@dataclass
class Field:
    name: str
    label: str
    kind: str  # text, textarea, date, select, radio, checkboxes, number
    options: Sequence[tuple[str, str]] = ()
    required: bool = False
    help: str | None = None
    value: Any = None
    datalist: Sequence[tuple[str, str]] = ()
    autocomplete: str | None = None  # "off" for a personnummer: the browser keeps no copy
    picker: OrgPicker | None = None  # organisations from the county directory, named at render time

    @property
    def values(self) -> list[str]:
        if self.value is None:
            return []
        return [str(v) for v in self.value] if isinstance(self.value, list | tuple) else [str(self.value)]


@dataclass
class Form:
    slug: str
    title: str
    fields: list[Field]
    submit: str
    intro: str | None = None
    errors: list[str] = field(default_factory=list)


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def known_orgs(view: PlanView, me: str) -> list[tuple[str, str]]:
    """Organisations around the child: named person, lead, participants, consent recipients, me;
    as (id, name), the id for a name the view does not give (``org_choices`` names it from the
    directory)."""
    found: dict[str, str | None] = {}
    for o in [view.named_person, view.lead, *view.participants]:
        if o is not None:
            found.setdefault(o.id, o.name)
    for c in view.consents:
        for o in c.recipients:
            found.setdefault(o.id, o.name)
    found.setdefault(me, None)
    return [(k, v or k) for k, v in sorted(found.items())]


# -- organisation pickers --------------------------------------------------------------------------------

NAMED_PERSON_KINDS = organisations.NAMED_PERSON.kinds  # who may be named person: the command's own rule
NEAR = "Kring barnet"


@dataclass(frozen=True)
class OrgPicker:
    """Which organisations a field offers: the directory's units of ``kinds`` (every kind: None),
    grouped by municipality, after those already around the child (``near``, ids). The value
    posted is the id; the command still checks that the directory has it, of a kind that may
    take the role."""

    kinds: frozenset[str] | None = None
    near: tuple[str, ...] = ()
    multiple: bool = False
    blank: str | None = None  # the first, empty choice ("Ingen ändring"); None: "Välj …" when required
    home: str | None = None  # an organisation (the user's) whose municipality is listed first


def org_label(org_id: str, directory: OrgDirectory | None) -> str:
    name = None if directory is None else directory.display_name(org_id)
    return name or f"{org_id} ({sv.UNKNOWN_ORG})"


def offered(org_id: str, picker: OrgPicker, directory: OrgDirectory | None) -> bool:
    """A unit of the directory of the picker's kinds: one the directory does not know is not
    offered, for the command would refuse it (with no directory, every id around the child)."""
    if directory is None:
        return True
    kind = directory.kinds.get(org_id)
    return kind is not None and (picker.kinds is None or kind in picker.kinds)


def org_choices(picker: OrgPicker, directory: OrgDirectory | None) -> list[tuple[str, str]]:
    """The organisations around the child, by name (unknown ones by id), in the Swedish alphabet."""
    near = [i for i in dict.fromkeys(picker.near) if offered(i, picker, directory)]
    return sorted(((i, org_label(i, directory)) for i in near), key=lambda c: (swedish_key(c[1]), c[0]))


def org_groups(picker: OrgPicker, directory: OrgDirectory | None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The picker's choices as (group label, [(id, name)]): those around the child first (not in
    a multiple select, where one choice listed twice would be posted twice), then each
    municipality's units of the picker's kinds: the user's own municipality first, then the
    others in the directory's order."""
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    if picker.near and not picker.multiple:
        groups.append((NEAR, org_choices(picker, directory)))
    if directory is not None:
        by_code: dict[str, list[tuple[str, str]]] = {}
        home = None if picker.home is None else directory.municipality_of(picker.home)
        if home is not None:
            by_code[home] = []
        for unit in directory.units(picker.kinds):
            by_code.setdefault(unit.municipality_code, []).append((unit.id, unit.name))
        groups += [(directory.municipality_name(code) or code, units) for code, units in by_code.items()]
    return [g for g in groups if g[1]]


AREA_OPTIONS = [(a.value, sv.AREA[a].capitalize()) for a in AREAS]
RATING_OPTIONS = [(str(n), label) for n, label in sv.RATING.items()]
OBTAINED_OPTIONS = [(o.value, sv.OBTAINED[o].capitalize()) for o in ConsentObtained]
CATEGORY_OPTIONS = [(c.value, sv.CATEGORY[c].capitalize()) for c in (Category.HEALTH, Category.SCHOOL, Category.SOCIAL)]


def _consent_label(c: models.ConsentOut) -> str:
    cats = ", ".join(sv.CATEGORY[x] for x in c.categories)
    return f"Samtycke {str(c.consent_id)[:8]} – {cats} – till {readable.day(c.valid_to)}"


def _adult(view: PlanView) -> bool:
    return (not view.unborn and view.birth_date is not None
            and age_on(view.birth_date, dt.datetime.now(dt.UTC).date()) >= ADULT_AGE)


def grantor_options(view: PlanView) -> list[tuple[str, str]]:
    """Who can grant a consent now: the expectant parent of an unborn child; from 18 the young
    person alone; before that every guardian, and the child."""
    if view.unborn:
        parent = view.expectant_parent
        return [] if parent is None else [(f"{GrantorRole.EXPECTANT_PARENT.value}:{parent}",
                                           f"Blivande förälder ({str(parent)[:8]})")]
    if _adult(view):
        return [(f"{GrantorRole.YOUNG_PERSON.value}:{view.child_id}", "Den unga själv")]
    names = guardian_names(view)
    out = [(f"{GrantorRole.GUARDIAN.value}:{g}",
            f"Vårdnadshavare: {names[g]}" if g in names else f"Vårdnadshavare {n} ({str(g)[:8]})")
           for n, g in enumerate(view.guardians, 1)]
    if view.birth_date is not None:
        out.append((f"{GrantorRole.CHILD.value}:{view.child_id}", "Barnet självt"))
    return out


def guardian_names(view: PlanView) -> dict[uuid.UUID, str]:
    """The guardians' names the viewer is shown (``services.api.person``); else none."""
    return {g.party_id: g.name for g in getattr(view, "guardian_names", None) or ()}


def grantor_help(view: PlanView) -> str:
    if view.unborn:
        return "Den blivande föräldern lämnar samtycket för ett ofött barn."
    if _adult(view):
        return "Från 18 år lämnar den unga själv samtycket."
    return "Alla vårdnadshavare, och barnet från 15 år, måste samtycka."


def withdraw_options(view: PlanView, consent: models.ConsentOut) -> list[tuple[str, str]]:
    """Who may withdraw ``consent``: those who granted it, and those who would have to grant now."""
    out = dict(grantor_options(view))
    for g in consent.grantors:
        label = "Den unga själv" if g.role is GrantorRole.YOUNG_PERSON else (
            "Barnet självt" if g.role is GrantorRole.CHILD else f"{sv.GRANTOR[g.role].capitalize()}: {g.name}"
            if g.name else f"{sv.GRANTOR[g.role].capitalize()} ({str(g.party_id)[:8]})")
        out.setdefault(f"{g.role.value}:{g.party_id}", label)
    return list(out.items())


def withdrawable(view: PlanView) -> list[models.ConsentOut]:
    """Consents a withdrawal still ends: not withdrawn, lapsed or expired (pending ones too)."""
    at = view.read_at
    return [c for c in view.consents if c.withdrawn_at is None and c.valid_to > at
            and (c.lapsed_at is None or c.lapsed_at > at)]


# -- the forms -----------------------------------------------------------------------------------------

def open_plan(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    options = [(str(c.consent_id), _consent_label(c)) for c in view.consents
               if c.active and not c.pending and any(r.id == me for r in c.recipients)]
    return Form("plan", "Öppna plan", [
        Field("consent_ids", "Samtycken som planen öppnas under", "checkboxes", options, True,
              "Bara giltiga samtycken där din organisation är mottagare visas.", values.get("consent_ids")),
    ], "Öppna planen", "En plan öppnas under minst ett samtycke.")


def _near(view: PlanView, me: str) -> tuple[str, ...]:
    return tuple(i for i, _ in known_orgs(view, me))


MULTI_HELP = "Håll ned Ctrl (Cmd på Mac) för att välja flera."


def meeting(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    near = _near(view, me)
    return Form("meetings", "Registrera samverkansmöte", [
        Field("held_on", "Mötesdatum", "date", required=True, value=values.get("held_on", _today())),
        Field("participant_orgs", "Deltagande organisationer", "checkboxes", value=values.get("participant_orgs"),
              picker=OrgPicker(near=near, multiple=True, home=me)),
        Field("other_participants", "Andra deltagande organisationer", "select", value=values.get("other_participants"),
              help=f"Länets organisationer, per kommun. {MULTI_HELP}", picker=OrgPicker(multiple=True, home=me)),
        Field("lead_org", "Ansvarig för planen efter mötet", "select", help="Måste vara en av deltagarna.",
              value=values.get("lead_org"), picker=OrgPicker(near=near, blank="Ingen ändring", home=me)),
        Field("meeting_id", "Kallat möte", "select", [("", "Inget kallat möte"), *_unheld(view)],
              help="Välj kallelsen om mötet kallades här.", value=values.get("meeting_id")),
        Field("child_took_part", "Deltog barnet?", "select", YES_NO, value=values.get("child_took_part")),
        Field("guardians_took_part", "Deltog vårdnadshavarna?", "select", YES_NO,
              value=values.get("guardians_took_part")),
        Field("decisions", "Beslut", "textarea", required=True, value=values.get("decisions")),
        Field("notes", "Anteckningar", "textarea", value=values.get("notes")),
        Field("child_voice", "Barnets röst", "textarea", help="Vad barnet själv sa eller uttryckte.",
              value=values.get("child_voice")),
        Field("others_present", "Andra närvarande", "textarea", value=values.get("others_present")),
    ], "Registrera mötet")


def assessment(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    return Form("assessments", "Bedöm ett område", [
        Field("area", "Område", "select", AREA_OPTIONS, True, value=values.get("area")),
        Field("rating", "Bedömning", "radio", RATING_OPTIONS, True, value=values.get("rating")),
        Field("comment", "Kommentar", "textarea", value=values.get("comment")),
        Field("child_view", "Barnets egen syn", "textarea", value=values.get("child_view")),
        Field("guardians_view", "Vårdnadshavarnas syn", "textarea", value=values.get("guardians_view")),
    ], "Spara bedömningen")


def action(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    return Form("actions", "Besluta insats", [
        Field("area", "Område", "select", AREA_OPTIONS, True, value=values.get("area")),
        Field("need", "Behov", "textarea", required=True, value=values.get("need")),
        Field("what", "Insats (vad ska göras)", "textarea", required=True, value=values.get("what")),
        Field("responsible_org", "Ansvarig organisation", "select", required=True,
              value=values.get("responsible_org", me), picker=OrgPicker(near=_near(view, me), home=me)),
        Field("responsible_person", "Ansvarig person", "text", value=values.get("responsible_person")),
        Field("start_on", "Startar", "date", value=values.get("start_on")),
        Field("due_on", "Klart senast", "date", value=values.get("due_on")),
        Field("by_others", "Utförs av andra", "checkboxes", [(YES, "Insatsen utförs av andra än organisationerna "
                                                                   "(en förening, en släkting)")],
              help="Den ansvariga organisationen följer upp den.", value=values.get("by_others")),
        Field("performer", "Vem utför insatsen", "text", help="Krävs när insatsen utförs av andra.",
              value=values.get("performer")),
    ], "Besluta insatsen")


def complete(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    return Form("complete", "Slutför insats", [
        Field("completed_on", "Slutförd den", "date", required=True, value=values.get("completed_on", _today())),
    ], "Markera som slutförd")


def follow_up(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    return Form("follow-ups", "Lägg in uppföljning", [
        Field("due_on", "Datum för uppföljning", "date", required=True, value=values.get("due_on")),
        Field("area", "Område", "select", [("", "Hela planen"), *AREA_OPTIONS], value=values.get("area")),
        Field("what", "Vad ska följas upp", "textarea", value=values.get("what")),
    ], "Lägg in uppföljningen")


# -- the plan as a SIP (issue 20) ---------------------------------------------------------------------

YES = "ja"
YES_NO = [("", "Inte angivet"), (YES, "Ja"), ("nej", "Nej")]
LOCAL = ZoneInfo("Europe/Stockholm")  # the time a kallelse's form is typed in
ANSWER_OPTIONS = [(a.value, sv.ANSWER[a].capitalize()) for a in InvitationAnswer]
ROLE_OPTIONS = [(r.value, sv.PARTICIPANT_ROLE[r].capitalize()) for r in ParticipantRole]
STATUS_OPTIONS = [(s.value, sv.ACTION_STATUS[row].capitalize()) for s, row in STATUS_OF.items()]
EFFECT_OPTIONS = [("", "Utvärderas inte"), *((e.value, sv.EFFECT[e].capitalize()) for e in ActionEffect)]
OUTCOME_OPTIONS = [(o.value, sv.FOLLOW_UP_OUTCOME[o].capitalize()) for o in FollowUpOutcome]
EVALUATION = re.compile(r"eval-([0-9a-fA-F-]{36})-effect")


def _checked(values: Mapping[str, Any], key: str, default: bool) -> Any:
    """A checkbox's value to show: as posted once a form was posted, else ``default``."""
    return values.get(key) if values else ([YES] if default else None)


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")


def _unheld(view: PlanView) -> list[tuple[str, str]]:
    """Kallelser whose meeting is not yet recorded as held: a meeting form may record one."""
    return [(str(i.meeting_id), f"Kallelse till {_local(i.starts_at)}") for i in view.sip.invitations if not i.held]


def invitation(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    near = _near(view, me)
    return Form("invitations", "Kalla till samverkansmöte", [
        Field("starts_on", "Datum", "date", required=True, value=values.get("starts_on")),
        Field("starts_time", "Klockslag", "text", required=True, help="Svensk tid, till exempel 13:30.",
              value=values.get("starts_time")),
        Field("place", "Plats", "text", required=True, help="Ett rum eller en länk till ett videomöte.",
              value=values.get("place")),
        Field("invited_orgs", "Kallade organisationer", "checkboxes", value=values.get("invited_orgs"),
              picker=OrgPicker(near=near, multiple=True, home=me)),
        Field("other_invited", "Andra kallade organisationer", "select", value=values.get("other_invited"),
              help=f"Länets organisationer, per kommun. {MULTI_HELP}", picker=OrgPicker(multiple=True, home=me)),
        Field("invited_people", "Kallade personer", "textarea", help="Namn eller roll, till exempel mentor.",
              value=values.get("invited_people")),
        Field("child_invited", "Barnet", "checkboxes", [(YES, "Barnet kallas")],
              value=_checked(values, "child_invited", True)),
        Field("guardians_invited", "Vårdnadshavarna", "checkboxes", [(YES, "Vårdnadshavarna kallas")],
              value=_checked(values, "guardians_invited", True)),
        Field("not_invited_why", "Varför kallas inte barnet eller vårdnadshavarna", "textarea",
              help="Krävs om barnet eller vårdnadshavarna inte kallas.", value=values.get("not_invited_why")),
        Field("questions", "Frågor till mötet", "textarea", required=True, value=values.get("questions")),
    ], "Skicka kallelsen")


def answer(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    return Form("answer", "Svara på kallelse", [
        Field("answer", "Svar", "radio", ANSWER_OPTIONS, True, value=values.get("answer")),
        Field("sends", "Vem skickar ni", "text", help="Krävs om ni skickar någon annan.", value=values.get("sends")),
        Field("comment", "Kommentar", "textarea", value=values.get("comment")),
    ], "Skicka svaret", "Svaret gäller din organisation.")


def participant(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    return Form("participants", "Registrera deltagare och ansvar", [
        Field("organisation_id", "Organisation", "select", required=True, value=values.get("organisation_id"),
              picker=OrgPicker(near=_near(view, me), home=me)),
        Field("role", "Roll i planen", "select", ROLE_OPTIONS, True, value=values.get("role")),
        Field("responsibilities", "Ansvarar för", "textarea",
              help="Krävs utom för den som bara bidrar med kunskap.", value=values.get("responsibilities")),
        Field("contact", "Kontaktuppgifter", "text", value=values.get("contact")),
        Field("active", "Deltar", "checkboxes", [(YES, "Organisationen deltar i planen")],
              help="Ta bort markeringen när organisationen lämnar planen.", value=_checked(values, "active", True)),
    ], "Registrera deltagaren")


def status(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    return Form("status", "Ändra insatsens status", [
        Field("status", "Ny status", "select", STATUS_OPTIONS, True, value=values.get("status")),
        Field("changed_on", "Från och med", "date", required=True, value=values.get("changed_on", _today())),
        Field("reason", "Skäl", "textarea", help="Krävs när insatsen avbryts.", value=values.get("reason")),
    ], "Ändra status", "Planerad, pågår, genomförd; en insats kan avbrytas med ett skäl.")


def _scheduled(view: PlanView) -> list[tuple[str, str]]:
    """Follow-ups scheduled and not yet held, by date and area."""
    held = {r.follow_up_id for r in view.sip.reviews}
    found = [*view.follow_ups, *(f for a in view.areas for f in a.follow_ups)]
    return [(str(f.follow_up_id), f"{f.due_on.isoformat()} – {sv.AREA[f.area] if f.area else 'hela planen'}")
            for f in sorted(found, key=lambda f: (f.due_on, str(f.follow_up_id))) if f.follow_up_id not in held]


def review(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    """A follow-up held: one effect and evaluation per action not cancelled (no effect: not evaluated)."""
    fields = [
        Field("follow_up_id", "Uppföljning", "select", [("", "Ny uppföljning"), *_scheduled(view)],
              value=values.get("follow_up_id")),
        Field("held_on", "Datum", "date", required=True, value=values.get("held_on", _today())),
        Field("outcome", "Beslut om planen", "select", OUTCOME_OPTIONS, True, value=values.get("outcome")),
        Field("summary", "Sammanfattning", "textarea", required=True, value=values.get("summary")),
    ]
    for area in view.areas:
        for a in area.actions:
            if a.status == CANCELLED:
                continue
            key = f"eval-{a.action_id}"
            fields += [
                Field(f"{key}-effect", f"Insats ({area.label}): {a.what or 'insats'} – effekt", "select",
                      EFFECT_OPTIONS, value=values.get(f"{key}-effect")),
                Field(f"{key}-evaluation", "Utvärdering", "textarea", value=values.get(f"{key}-evaluation")),
                Field(f"{key}-child_words", "Barnets ord", "textarea", value=values.get(f"{key}-child_words")),
                Field(f"{key}-guardians_words", "Vårdnadshavarnas ord", "textarea",
                      value=values.get(f"{key}-guardians_words")),
            ]
    return Form("reviews", "Genomför uppföljning", fields, "Spara uppföljningen",
                "Utvärdera varje insats med barnets och vårdnadshavarnas egna ord. Välj ingen effekt för en insats "
                "som inte utvärderas nu.")


def transfer(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    return Form("transfer", "Flytta barnensbästa-ansvar", [
        Field("to_org", "Ny barnensbästa-ansvarig organisation", "select", required=True,
              help="Mödra- och barnhälsovård, förskolor, skolor och kommunernas aktivitetsansvar.",
              value=values.get("to_org"), picker=OrgPicker(NAMED_PERSON_KINDS, near=_near(view, me), home=me)),
        Field("reason_code", "Skäl", "select", list(sv.TRANSFER_REASONS.items()), True, value=values.get("reason_code")),
    ], "Flytta ansvaret", "Beslutet gäller till barnets nästa övergång (till exempel skolstart).")


def close(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    return Form("close", "Avsluta plan", [
        Field("reason_code", "Skäl", "select", list(sv.CLOSE_REASONS.items()), True, value=values.get("reason_code")),
    ], "Avsluta planen")


def consent(view: PlanView, me: str, values: Mapping[str, Any]) -> Form:
    today = dt.datetime.now(dt.UTC).date()
    return Form("consents", "Registrera samtycke", [
        Field("grantors", "Vem lämnar samtycket", "checkboxes", grantor_options(view), True,
              grantor_help(view), values.get("grantors")),
        Field("obtained", "Hur samtycket lämnades", "select", OBTAINED_OPTIONS, True, value=values.get("obtained")),
        Field("categories", "Vilka uppgifter", "checkboxes", CATEGORY_OPTIONS, True, value=values.get("categories")),
        Field("areas", "Vilka områden", "checkboxes", AREA_OPTIONS, help="Inget valt betyder alla områden.",
              value=values.get("areas")),
        Field("recipients", "Mottagande organisationer", "checkboxes", value=values.get("recipients"),
              picker=OrgPicker(near=_near(view, me), multiple=True, home=me)),
        Field("other_recipients", "Andra mottagare", "select", help=f"Länets organisationer, per kommun. {MULTI_HELP}",
              value=values.get("other_recipients"), picker=OrgPicker(multiple=True, home=me)),
        Field("source_organisations", "Från vilka organisationer", "select",
              help=f"Inget valt betyder alla. {MULTI_HELP}", value=values.get("source_organisations"),
              picker=OrgPicker(multiple=True, home=me)),
        Field("valid_from", "Gäller från", "date", required=True, help="Tidigast i dag: ett samtycke kan inte antedateras.",
              value=values.get("valid_from", today.isoformat())),
        Field("valid_to", "Gäller till och med", "date", required=True,
              value=values.get("valid_to", (today + dt.timedelta(days=365)).isoformat())),
    ], "Registrera samtycket")


def emergency(values: Mapping[str, Any]) -> Form:
    """Nödöppning by personnummer; the number typed is never put back into the form."""
    return Form("emergency-access", "Nödöppning", [
        Field("personnummer", "Barnets personnummer", "text", required=True,
              help="10 eller 12 siffror, med eller utan bindestreck. Samordningsnummer går också.",
              autocomplete="off"),
        Field("reason_code", "Skäl", "select", list(sv.EMERGENCY_REASONS.items()), True, value=values.get("reason_code")),
        Field("days", "Hur länge", "select", [(str(n), f"{n} dag" + ("ar" if n > 1 else "")) for n in range(1, 8)],
              True, "Högst 7 dagar.", values.get("days", "1")),
    ], "Öppna nödåtkomst",
        "Nödöppning ger dig läsrätt till planen för ett barn som du annars inte ser, i högst 7 dagar. Den kräver ett "
        "skäl, loggas och granskas i efterhand.")


# -- posted forms into request bodies ------------------------------------------------------------------------

def form_values(data: FormData) -> dict[str, Any]:
    """The posted fields as they were, for showing the form again."""
    out: dict[str, Any] = {}
    for key in data:
        items = [v for v in data.getlist(key) if isinstance(v, str)]
        out[key] = items if len(items) > 1 or key in MULTI else (items[0] if items else "")
    return out


MULTI = {"consent_ids", "participant_orgs", "grantors", "categories", "areas", "recipients", "other_participants",
         "other_recipients", "source_organisations", "invited_orgs", "other_invited"}


def _blank(value: Any) -> Any:
    return None if value in ("", None) else value


def _whole(value: Any) -> Any:
    """A whole number from the digits a form posts (a radio's or select's value); anything else
    as posted, so the strict model refuses it rather than guess."""
    value = _blank(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        return int(value)
    return value


def _lines(value: Any) -> list[str]:
    """Ids chosen in a multiple select (a list); a text posted instead (one id per line, as the
    pickers' free-text predecessors posted them) is split the same way, and the commands check
    every id against the directory all the same."""
    items = value if isinstance(value, list) else [value]
    return [line.strip() for item in items for line in str(item or "").splitlines() if line.strip()]


def _many(values: Mapping[str, Any], key: str) -> list[str]:
    found = values.get(key) or []
    return [v for v in (found if isinstance(found, list) else [found]) if v]


def _start_of(day: Any) -> Any:
    if not day:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(str(day)), dt.time(), dt.UTC).isoformat()
    except ValueError:
        return day  # let validation say what is wrong


def _valid_from(day: Any) -> Any:
    """The start of the day -- or, for today, the moment the form is posted: a consent "from
    today" starts now, not at a midnight already past (registration refuses backdating)."""
    start = _start_of(day)
    now = dt.datetime.now(dt.UTC)
    try:
        begins = dt.datetime.fromisoformat(start)
        today = begins <= now < begins + dt.timedelta(days=1)
    except (ValueError, TypeError, OverflowError):
        return start  # let validation say what is wrong
    return now.isoformat() if today else start


def _end_of(day: Any) -> Any:
    start = _start_of(day)
    try:
        return (dt.datetime.fromisoformat(start) + dt.timedelta(days=1)).isoformat() if start else None
    except (ValueError, TypeError, OverflowError):
        return start


def _grantors(values: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for item in _many(values, "grantors"):
        role, _, party = item.partition(":")
        out.append({"role": role, "party_id": party})
    return out


def _ticked(values: Mapping[str, Any], key: str) -> bool:
    """A checkbox: posted (ticked) or not."""
    return bool(_many(values, key))


def _yes_no(value: Any) -> Any:
    """Ja, nej or not given; anything else as posted, for validation to refuse."""
    return {"": None, None: None, YES: True, "nej": False}.get(value, value) if not isinstance(value, list) else value


def _local_moment(day: Any, time: Any) -> Any:
    """A day and a time typed in Swedish time, as the moment with its offset; as posted if unreadable."""
    if not day or not time:
        return None
    try:
        typed = dt.datetime.combine(dt.date.fromisoformat(str(day)), dt.time.fromisoformat(str(time).strip()))
    except ValueError:
        return f"{day} {time}"  # let validation say what is wrong
    return typed.replace(tzinfo=LOCAL).isoformat()


def _evaluations(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each action given an effect (``eval-<action id>-effect``) with its texts; the rest are not evaluated."""
    out = []
    for key in values:
        found = EVALUATION.fullmatch(key)
        if found and _blank(values[key]) is not None:
            prefix = f"eval-{found.group(1)}"
            out.append({"action_id": found.group(1), "effect": values[key],
                        "evaluation": values.get(f"{prefix}-evaluation", ""),
                        "child_words": _blank(values.get(f"{prefix}-child_words")),
                        "guardians_words": _blank(values.get(f"{prefix}-guardians_words"))})
    return out


BODIES: dict[str, tuple[type[BaseModel], Callable[[Mapping[str, Any]], dict[str, Any]]]] = {
    "plan": (models.OpenPlan, lambda v: {"consent_ids": _many(v, "consent_ids")}),
    "meetings": (models.RecordMeeting, lambda v: {
        "held_on": _blank(v.get("held_on")),
        "participant_orgs": list(dict.fromkeys(_many(v, "participant_orgs") + _lines(v.get("other_participants")))),
        "lead_org": _blank(v.get("lead_org")), "decisions": v.get("decisions", ""), "notes": _blank(v.get("notes")),
        "meeting_id": _blank(v.get("meeting_id")), "child_took_part": _yes_no(v.get("child_took_part")),
        "guardians_took_part": _yes_no(v.get("guardians_took_part")), "child_voice": _blank(v.get("child_voice")),
        "others_present": _blank(v.get("others_present"))}),
    "assessments": (models.AssessArea, lambda v: {
        "area": _blank(v.get("area")), "rating": _whole(v.get("rating")), "comment": _blank(v.get("comment")),
        "child_view": _blank(v.get("child_view")), "guardians_view": _blank(v.get("guardians_view"))}),
    "actions": (models.AgreeAction, lambda v: {
        "area": _blank(v.get("area")), "need": v.get("need", ""), "what": v.get("what", ""),
        "responsible_org": v.get("responsible_org", ""), "due_on": _blank(v.get("due_on")),
        "start_on": _blank(v.get("start_on")), "by_others": _ticked(v, "by_others"),
        "performer": _blank(v.get("performer")), "responsible_person": _blank(v.get("responsible_person"))}),
    "invitations": (models.InviteMeeting, lambda v: {
        "starts_at": _local_moment(v.get("starts_on"), v.get("starts_time")), "place": v.get("place", ""),
        "invited_orgs": list(dict.fromkeys(_many(v, "invited_orgs") + _lines(v.get("other_invited")))),
        "invited_people": _blank(v.get("invited_people")), "child_invited": _ticked(v, "child_invited"),
        "guardians_invited": _ticked(v, "guardians_invited"), "not_invited_why": _blank(v.get("not_invited_why")),
        "questions": v.get("questions", "")}),
    "answer": (models.AnswerInvitation, lambda v: {
        "answer": _blank(v.get("answer")), "sends": _blank(v.get("sends")), "comment": _blank(v.get("comment"))}),
    "participants": (models.RecordParticipant, lambda v: {
        "organisation_id": v.get("organisation_id", ""), "role": _blank(v.get("role")),
        "responsibilities": _blank(v.get("responsibilities")), "contact": _blank(v.get("contact")),
        "active": _ticked(v, "active")}),
    "status": (models.ChangeActionStatus, lambda v: {
        "status": _blank(v.get("status")), "changed_on": _blank(v.get("changed_on")), "reason": _blank(v.get("reason"))}),
    "reviews": (models.HoldFollowUp, lambda v: {
        "follow_up_id": _blank(v.get("follow_up_id")), "held_on": _blank(v.get("held_on")),
        "outcome": _blank(v.get("outcome")), "summary": v.get("summary", ""), "evaluations": _evaluations(v)}),
    "complete": (models.CompleteAction, lambda v: {"completed_on": _blank(v.get("completed_on"))}),
    "follow-ups": (models.ScheduleFollowUp, lambda v: {
        "due_on": _blank(v.get("due_on")), "area": _blank(v.get("area")), "what": _blank(v.get("what"))}),
    "transfer": (models.TransferNamedPerson, lambda v: {"to_org": v.get("to_org", ""),
                                                        "reason_code": v.get("reason_code", "")}),
    "close": (models.ClosePlan, lambda v: {"reason_code": v.get("reason_code", "")}),
    "consents": (models.RegisterConsent, lambda v: {
        "grantors": _grantors(v), "obtained": _blank(v.get("obtained")), "categories": _many(v, "categories"),
        "recipients": list(dict.fromkeys(_many(v, "recipients") + _lines(v.get("other_recipients")))),
        "valid_from": _valid_from(v.get("valid_from")), "valid_to": _end_of(v.get("valid_to")),
        "source_organisations": _lines(v.get("source_organisations")) or None, "areas": _many(v, "areas") or None}),
    "emergency-access": (models.OpenEmergencyAccessFor, lambda v: {
        "personnummer": str(v.get("personnummer") or ""), "reason_code": v.get("reason_code", ""),
        "days": _whole(v.get("days"))}),
    "withdraw": (models.WithdrawConsent, lambda v: dict(zip(("role", "party_id"),
                                                            str(v.get("grantor", "")).partition(":")[::2]))),
}

FIELD_LABELS = {"held_on": "Mötesdatum", "participant_orgs": "Deltagande organisationer", "lead_org": "Ansvarig",
                "decisions": "Beslut", "notes": "Anteckningar", "area": "Område", "rating": "Bedömning",
                "comment": "Kommentar", "child_view": "Barnets egen syn", "guardians_view": "Vårdnadshavarnas syn",
                "need": "Behov", "what": "Insats", "responsible_org": "Ansvarig organisation", "due_on": "Datum",
                "completed_on": "Slutförd den", "to_org": "Ny barnensbästa-ansvarig", "reason_code": "Skäl",
                "consent_ids": "Samtycken", "grantors": "Vem lämnar samtycket", "obtained": "Hur samtycket lämnades",
                "categories": "Vilka uppgifter",
                "recipients": "Mottagare", "valid_from": "Gäller från", "valid_to": "Gäller till och med",
                "source_organisations": "Från vilka organisationer", "areas": "Områden", "days": "Hur länge",
                "party_id": "Vem återkallar", "role": "Vem återkallar", "personnummer": "Barnets personnummer",
                "child_id": "Barnet", "observation": "Vad har du sett eller fått veta", "observed_on": "När",
                "guardians_informed": "Har vårdnadshavarna informerats",
                "guardians_not_informed_why": "Varför har vårdnadshavarna inte informerats",
                "reporter_role": "Din roll", "reporter_contact": "Hur socialtjänsten når dig", "acute": "Brådskande",
                "report_id": "Anmälans id",
                "meeting_id": "Kallat möte", "child_took_part": "Deltog barnet", "guardians_took_part":
                "Deltog vårdnadshavarna", "child_voice": "Barnets röst", "others_present": "Andra närvarande",
                "start_on": "Startar", "by_others": "Utförs av andra", "performer": "Vem utför insatsen",
                "responsible_person": "Ansvarig person", "starts_at": "Datum och klockslag", "place": "Plats",
                "invited_orgs": "Kallade organisationer", "invited_people": "Kallade personer",
                "child_invited": "Barnet kallas", "guardians_invited": "Vårdnadshavarna kallas",
                "not_invited_why": "Varför kallas inte barnet eller vårdnadshavarna", "questions": "Frågor till mötet",
                "answer": "Svar", "sends": "Vem skickar ni", "organisation_id": "Organisation",
                "responsibilities": "Ansvarar för", "contact": "Kontaktuppgifter", "active": "Deltar",
                "status": "Ny status", "changed_on": "Från och med", "reason": "Skäl", "follow_up_id": "Uppföljning",
                "outcome": "Beslut om planen", "summary": "Sammanfattning", "evaluations": "Utvärdering av insatserna"}


def parse(slug: str, values: Mapping[str, Any]) -> BaseModel:
    """The request body a posted form stands for; ``InvalidForm`` with Swedish reasons if not."""
    model, build = BODIES[slug]
    try:
        return model.model_validate(build(values))
    except ValidationError as exc:
        raise InvalidForm(_swedish(exc)) from None


def _swedish(exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
        label = FIELD_LABELS.get(loc[0], loc[0]) if loc else "Formuläret"
        kind = error.get("type", "")
        blank = error.get("input") in (None, "")
        if kind in ("missing", "too_short") or ((kind.endswith("_type") or kind == "enum") and blank):
            out.append(f"{label}: måste fyllas i")
        elif kind == "string_too_long" or kind == "too_long":
            out.append(f"{label}: för långt")
        else:
            out.append(f"{label}: ogiltigt värde")
    return list(dict.fromkeys(out))


class InvalidForm(ValueError):
    def __init__(self, reasons: Iterable[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))
