"""The Swedish the UI shows: labels, and the domain's reasons translated.

The command modules give their reasons in English, from message templates (module constants).
``translate`` turns a reason back into its template and fields and formats the Swedish
template instead; a reason it does not know is shown as it is.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable

from connectors import personnummer
from projections import access, consent_rules
from projections import named_person as np
from projections.read_model import PLAN_CLOSED_BY_DEATH
from schemas.events import (
    ActionEffect,
    Area,
    Category,
    ConsentObtained,
    FollowUpOutcome,
    GrantorRole,
    InvitationAnswer,
    ParticipantRole,
    SchoolType,
    SupportType,
)
from services.api import errors
from services.api.auth import form_tokens
from services.commands import consent as consent_registry
from services.commands import organisations
from services.commands import plan as plan_service
from services.commands import sip as sip_service
from services.erasure.erase import REASONS

AREA = {
    Area.CARE: "omsorg", Area.HEALTH: "hälsa", Area.LEARNING: "lärande", Area.SAFETY: "trygghet",
    Area.RELATIONSHIPS: "relationer", Area.HOME: "hem", Area.DEVELOPMENT: "utveckling",
}
RATING = {1: "1 – stor oro", 2: "2 – oro", 3: "3 – varken eller", 4: "4 – bra", 5: "5 – mycket bra"}
CATEGORY = {Category.HEALTH: "hälso- och sjukvård", Category.SCHOOL: "skola", Category.SOCIAL: "socialtjänst",
            Category.POPULATION: "folkbokföring", Category.PLAN: "planen", Category.CONSENT: "samtycke",
            Category.ACCESS: "åtkomst"}
GRANTOR = {GrantorRole.GUARDIAN: "vårdnadshavare", GrantorRole.CHILD: "barnet",
           GrantorRole.YOUNG_PERSON: "den unga (18 år eller äldre)",
           GrantorRole.EXPECTANT_PARENT: "blivande förälder"}
RULE = {
    np.RULE_NONE: "okänt", np.RULE_UNBORN: "mödrahälsovården (ofött barn)", np.RULE_BHV_LISTED: "BVC där barnet är listat",
    np.RULE_BHV_HOME: "BVC i hemkommunen", np.RULE_PRINCIPAL: "rektor för skolenheten",
    np.RULE_KAA: "kommunens aktivitetsansvar (KAA)", np.RULE_TRANSFERRED: "flyttad genom beslut",
    np.RULE_ENDED_18: "upphört vid 18 år", np.RULE_GAP_BHV: "saknas (ingen BVC)",
    np.RULE_GAP_SCHOOL: "saknas (ingen skolplacering)", np.RULE_GAP_KAA: "saknas (ingen KAA-funktion)",
    np.RULE_ENDED_DEATH: "upphört (barnet har avlidit)", np.RULE_ENDED_EMIGRATED: "upphört (barnet har utvandrat)",
    np.RULE_ENDED_MOVED_OUT: "upphört (barnet har flyttat från länet)",
}
PLAN_CLOSED = {PLAN_CLOSED_BY_DEATH: "barnet har avlidit"}  # reasons the hub itself gives; others are shown as given
OBTAINED = {ConsentObtained.WRITTEN: "skriftligt", ConsentObtained.ORAL_MEETING: "muntligt vid möte",
            ConsentObtained.DIGITAL: "digitalt"}
LAPSE = {
    consent_rules.Lapse.CHILD_AGE: "upphörde när barnet fyllde {age} år",
    consent_rules.Lapse.ADULTHOOD: "upphörde vid 18-årsdagen",
    consent_rules.Lapse.CUSTODY: "upphörde när vårdnaden ändrades",
    consent_rules.Lapse.BIRTH: "upphörde vid födseln",
    consent_rules.Lapse.REGISTER: "folkbokföringen stödde inte samtycket när det lämnades",
    consent_rules.Lapse.DEATH: "upphörde när barnet avled",
    consent_rules.Lapse.EMIGRATION: "upphörde när barnet utvandrade",
}
CONSENT_PENDING = "väntar på behandling"
PLAN_STATUS = {"open": "öppen", "closed": "avslutad", None: "ingen plan"}
ACTION_STATUS = {"agreed": "planerad", "ongoing": "pågår", "completed": "genomförd", "cancelled": "avbruten"}
ANSWER = {InvitationAnswer.COMING: "kommer", InvitationAnswer.NOT_COMING: "kommer inte",
          InvitationAnswer.SENDS_SOMEONE: "skickar någon annan", None: "har inte svarat"}
PARTICIPANT_ROLE = {ParticipantRole.RESPONSIBLE: "ansvarar för insatser", ParticipantRole.SUPPORTING: "stödjer",
                    ParticipantRole.CONSULTED: "bidrar med kunskap"}
EFFECT = {ActionEffect.HELPED: "har hjälpt", ActionEffect.PARTLY: "har hjälpt delvis",
          ActionEffect.NOT_HELPED: "har inte hjälpt", ActionEffect.TOO_EARLY: "för tidigt att säga"}
FOLLOW_UP_OUTCOME = {FollowUpOutcome.CONTINUED: "planen fortsätter", FollowUpOutcome.REVISED: "planen revideras",
                     FollowUpOutcome.CLOSED: "planen avslutas"}
GROUND = {access.Ground.NAMED_PERSON: "barnensbästa-ansvarig", access.Ground.LEAD: "ansvarig för planen",
          access.Ground.PARTICIPANT: "deltagare i planen", access.Ground.EMERGENCY: "nödöppning",
          access.Ground.YOUNG_PERSON: "barnensbästa-ansvarig till 18 år (den ungas eget samtycke till 19 år)"}
FACT = {
    "HealthVisitRecorded": "Besök i hälso- och sjukvården", "ImmunizationRecorded": "Vaccination",
    "ObservationRecorded": "Observation", "ConditionNoted": "Tillstånd noterat",
    "AbsenceSummarised": "Frånvaro", "SchoolSupportDecided": "Beslut om stöd i skolan",
    "ReportOfConcernReceived": "Orosanmälan", "InvestigationOpened": "Utredning inledd",
    "InvestigationClosed": "Utredning avslutad", "InterventionStarted": "Insats påbörjad",
    "InterventionEnded": "Insats avslutad", "SchoolPlacementStarted": "Skolplacering påbörjad",
    "SchoolPlacementEnded": "Skolplacering avslutad", "KaaRegistered": "Registrerad i aktivitetsansvaret",
    "HealthUnitListed": "Listad på BVC", "PregnancyRegistered": "Graviditet registrerad", "ChildBorn": "Född",
    "ReportOfConcernFiled": "Orosanmälan gjord via tjänsten",
}
FIELD = {
    "unit_id": "enhet", "visit_type": "besökstyp", "visited_on": "datum", "vaccine_code": "vaccin",
    "dose_number": "dos", "given_on": "datum", "code": "kod", "value": "värde", "unit": "enhet",
    "observed_on": "datum", "clinical_status": "status", "noted_on": "datum", "school_unit_id": "skolenhet",
    "period_start": "från", "period_end": "till", "absence_percent": "frånvaro",
    "unexcused_percent": "ogiltig frånvaro", "support_type": "stöd", "decided_on": "beslutsdatum",
    "case_id": "ärende", "municipality_code": "kommun", "reporter_category": "anmälare",
    "received_on": "mottagen", "opened_on": "inledd", "outcome": "utfall", "closed_on": "avslutad",
    "intervention_id": "insats", "intervention_type": "insatstyp", "started_on": "påbörjad", "ended_on": "avslutad",
    "placement_id": "placering", "school_type": "skolform", "start_date": "från", "end_date": "till",
    "registered_on": "registrerad", "listed_on": "listad", "expected_birth_date": "beräknad förlossning",
    "birth_date": "född",
    "reporter_municipality_code": "anmälarens kommun", "acute": "akut", "guardians_informed": "vårdnadshavarna informerade",
}
# Codes in released facts, in Swedish (``readable``); a code not listed is shown as it is.
SCHOOL_TYPE = {SchoolType.PRESCHOOL: "förskola", SchoolType.PRESCHOOL_CLASS: "förskoleklass",
               SchoolType.COMPULSORY: "grundskola", SchoolType.UPPER_SECONDARY: "gymnasieskola"}
SUPPORT_TYPE = {SupportType.EXTRA_ADAPTATIONS: "extra anpassningar", SupportType.SPECIAL_SUPPORT: "särskilt stöd",
                SupportType.ACTION_PROGRAMME: "åtgärdsprogram"}
VISIT_TYPE = {  # the health stand-in's visit types (the child health programme, simplified)
    "bhv-home-visit": "hembesök, nyfödd", "bhv-4w": "BVC 4 veckor", "bhv-6w": "BVC 6 veckor",
    "bhv-3m": "BVC 3 månader", "bhv-5m": "BVC 5 månader", "bhv-6m": "BVC 6 månader", "bhv-8m": "BVC 8 månader",
    "bhv-10m": "BVC 10 månader", "bhv-12m": "BVC 12 månader", "bhv-18m": "BVC 18 månader",
    "bhv-30m": "BVC 2,5 år", "bhv-3y": "BVC 3 år", "bhv-4y": "BVC 4 år", "bhv-5y": "BVC 5 år",
    "bhv-extra": "extra BVC-besök", "outpatient": "mottagningsbesök", "emergency": "akutbesök",
}
VACCINE = {  # ATC codes
    "J07BH01": "rotavirus", "J07CA09": "difteri, stelkramp, kikhosta, polio, Hib, hepatit B",
    "J07AL02": "pneumokocker", "J07BD52": "mässling, påssjuka, röda hund (MPR)",
    "J07CA02": "difteri, stelkramp, kikhosta, polio", "J07BB02": "influensa",
}
OBSERVATION = {"29463-7": "vikt", "8302-2": "längd", "9843-4": "huvudomfång"}  # LOINC codes
CONDITION = {  # SNOMED CT codes
    "24079001": "atopiskt eksem", "65363002": "öroninflammation", "195967001": "astma", "414916001": "fetma",
    "406506008": "adhd", "46635009": "typ 1-diabetes", "197480006": "ångestsyndrom",
    "35489007": "depression", "118185001": "graviditet",
}
CLINICAL_STATUS = {"active": "aktivt", "recurrence": "återkommande", "relapse": "återfall", "inactive": "inaktivt",
                   "remission": "i remission", "resolved": "läkt"}
REPORTER = {"SCHOOL": "skola", "PRESCHOOL": "förskola", "HEALTH": "hälso- och sjukvård", "POLICE": "polis",
            "PRIVATE": "privatperson", "SOCIAL_SERVICES": "socialtjänst", "MUNICIPALITY": "kommunen (KAA)",
            "UNKNOWN": "okänd"}
OUTCOME = {"INTERVENTION": "insats", "NO_ACTION": "ingen åtgärd", "REFERRED": "överlämnad"}
INTERVENTION = {"CONTACT_PERSON": "kontaktperson", "FAMILY_SUPPORT": "familjestöd",
                "PARENTING_PROGRAMME": "föräldraskapsprogram", "FAMILY_HOME": "familjehem"}
UNIT = {"kg": "kg", "cm": "cm", "g": "g", "mm": "mm", "%": "%"}  # UCUM units that read as they are
BOOLEAN = {"True": "ja", "False": "nej", "true": "ja", "false": "nej"}
ORG_KIND = {"MHV": "mödrahälsovård", "BHV": "barnhälsovård", "SOCIAL": "socialtjänst",
            "KAA": "kommunens aktivitetsansvar", "PRESCHOOL": "förskola", "SCHOOL": "grundskola",
            "UPPER_SECONDARY": "gymnasieskola"}
USER_ROLE = {"coordinator": "samordnare", "auditor": "granskare", "administrator": "administratör"}
PURPOSE = {"care-planning": "barnets plan", "export": "export", "audit": "granskning", "emergency": "nödöppning",
           "search": "sökning med personnummer", "register-extract": "registerutdrag",
           "report-of-concern": "orosanmälan", "print": "utskrift av planen"}  # why an access was logged
# (services.api.publishing)
# -- the auditors' pages: the log extract's kinds and reasons, the history's events and fields ------------

AUDIT_KIND = {"view": "Läsning", "emergency": "Nödöppning", "review": "Granskning av en nödöppning",
              "erasure": "Radering"}
ERASURE_REASONS = REASONS  # why a child was erased, in Swedish (``services.erasure.erase``)
# Every event of the hub, in Swedish; a kind not listed reads ``EVENT_UNKNOWN``, never as its class name.
EVENT = {
    **FACT,
    "ChildRegistered": "Folkbokförd", "CustodyRecorded": "Vårdnad registrerad", "ChildMoved": "Flyttat",
    "ProtectionRecorded": "Skyddade personuppgifter registrerade", "ChildDied": "Avliden",
    "ChildEmigrated": "Utvandrat", "ChildIdentitiesMerged": "Två id sammanförda till ett barn",
    "ConsentGranted": "Samtycke lämnat", "ConsentWithdrawn": "Samtycke återkallat",
    "FactReleased": "Uppgift släppt till planen", "ReleaseRevoked": "Släppt uppgift återtagen",
    "PlanOpened": "Plan öppnad", "MeetingHeld": "Samverkansmöte", "LeadAssigned": "Ansvarig för planen utsedd",
    "AreaAssessed": "Område bedömt", "ActionAgreed": "Insats beslutad", "ActionCompleted": "Insats slutförd",
    "FollowUpScheduled": "Uppföljning inlagd", "NamedPersonTransferred": "Barnensbästa-ansvar flyttat",
    "MeetingInvited": "Kallelse till samverkansmöte", "InvitationAnswered": "Svar på kallelse",
    "ParticipantRecorded": "Deltagare och ansvar registrerat", "ActionStatusChanged": "Insatsens status ändrad",
    "FollowUpHeld": "Uppföljning genomförd", "ActionEvaluated": "Insats utvärderad",
    "NamedPersonAssigned": "Barnensbästa-ansvarig utsedd", "PlanClosed": "Plan avslutad",
    "ChildDataViewed": "Uppgifter lästa", "EmergencyAccessOpened": "Nödöppning",
    "EmergencyAccessReviewed": "Nödöppning granskad", "ReportOfConcernRouted": "Orosanmälan vidarebefordrad",
    "ChildDataErased": "Radering",
    "ReportOfConcernDelivered": "Orosanmälan levererad till socialtjänstens register",
    "ReportOfConcernUndelivered": "Orosanmälan kunde inte levereras",
    "ReportOfConcernAcknowledged": "Orosanmälan kvitterad av socialtjänsten",
    "ReportOfConcernAssessed": "Socialtjänsten har beslutat om utredning",
}
EVENT_UNKNOWN = "Annan händelse"
AUDIT_KIND_UNKNOWN = "Annan loggpost"
UNKNOWN_PERSON = "okänd användare"
ERASED_IDS = "raderade id"
PURPOSE_GROUPS = {"view": "Läsning", "emergency": "Nödöppning", "erasure": "Radering", "other": "Annat"}
BAD_DAY_FROM = "Från-datumet är inte ett datum. Ange det som ÅÅÅÅ-MM-DD, till exempel 2026-11-01."
BAD_DAY_UNTIL = "Till-datumet är inte ett datum. Ange det som ÅÅÅÅ-MM-DD, till exempel 2026-11-30."
BAD_PERIOD = "Till-datumet ligger före från-datumet."
BAD_MOMENT = "Tidpunkten kunde inte läsas. Ange datum och klockslag i svensk tid, till exempel 2026-11-01 13:00."
NO_MOMENT = "Ange en tidpunkt: datum och klockslag i svensk tid."
TOPIC = {"intake.health": "hälso- och sjukvården", "intake.school": "skolan", "intake.social": "socialtjänsten",
         "intake.population": "folkbokföringen", "consent": "samtycken", "shared": "delade uppgifter",
         "plan": "planen", "access": "åtkomstloggen", "statutory.social": "till socialtjänsten enligt lag"}
BASIS = {"DIRECTORY": "registeruppgift", "CONSENT": "med samtycke", "STATUTORY": "enligt lag"}
SEALED = {"none": "–", "sealed": "förseglat (öppnas inte här)", "opened": "förseglat", "erased": "raderat"}
PROTECTION = {"NONE": "inga", "SEKRETESSMARKERING": "sekretessmarkering",
              "SKYDDAD_FOLKBOKFORING": "skyddad folkbokföring"}
# An event's fields in the history: Swedish labels beside the facts' (``FIELD``).
HISTORY_FIELD = {
    **FIELD,
    "guardian_ids": "vårdnadshavare", "recorded_on": "datum", "from_municipality_code": "från kommun",
    "to_municipality_code": "till kommun", "moved_on": "flyttdatum", "protection": "skydd", "died_on": "avled",
    "emigrated_on": "utvandrade", "surviving_child_id": "barnets id nu", "consent_id": "samtycke",
    "consent_ids": "samtycken", "grantors": "lämnat av", "source_organisations": "från organisationer",
    "categories": "kategorier", "areas": "områden", "recipients": "mottagare", "valid_from": "gäller från",
    "valid_to": "gäller till", "obtained": "inhämtat", "registered_by": "registrerat av", "role": "roll",
    "fact_type": "uppgift", "ended_consent_ids": "upphörda samtycken", "opened_by_org": "öppnad av",
    "held_on": "mötesdatum", "participant_orgs": "deltagare", "lead_org": "ansvarig för planen",
    "rating": "bedömning", "assessed_by_org": "bedömd av", "responsible_org": "ansvarig organisation",
    "due_on": "datum", "completed_on": "slutförd", "to_org": "till", "from_org": "från",
    "reason_code": "skäl", "organisation_id": "organisation", "rule": "regel", "assigned_on": "från",
    "viewer_id": "vem", "purpose": "syfte", "parts": "delar", "expires_at": "gäller till",
    "reviewer_id": "granskare", "withdrawn_by": "återkallat av", "administrator_id": "raderat av",
    "erased_child_ids": "raderade id", "unit_id": "enhet",
    "expected_birth_date": "beräknad förlossning",
    "report_event_id": "orosanmälan", "report": "orosanmälan", "filed_in_hub": "gjord via tjänsten",
    "reported_at": "anmäld", "register_case_id": "ärende hos socialtjänsten", "reason": "skäl",
    "acknowledged_by_org": "kvitterad av", "investigation_opened": "utredning inledd",
}
PART = {"plan": "planen", "facts": "uppgifter", "assessments": "bedömningar", "actions": "insatser",
        "meetings": "möten", "follow-ups": "uppföljningar", "consents": "samtycken",
        "named-person": "barnensbästa-ansvarig", "identity": "identitet", "address": "adress",
        "guardians": "vårdnadshavare", "summary": "översikt", "gaps": "glapplista", "audit-log": "loggutdrag",
        "history": "händelsehistorik", "plan-as-seen": "planen vid en tidpunkt",
        "emergency-access-log": "nödöppningar", "emergency-access-reviews": "granskningar av nödöppningar",
        "reports-of-concern": "orosanmälningar (lista)", "report-of-concern": "orosanmälan",
        "invitations": "kallelser", "participants": "deltagare och ansvar", "todo": "att göra-listan"}
UNKNOWN_ORG = "okänd organisation"
OUTSIDE_COUNTY = "kommun utanför länet"
TREND = {"up": ("↑", "ökar"), "down": ("↓", "minskar"), "flat": ("→", "oförändrad")}

EMERGENCY_REASONS = {
    "AKUT_FARA": "Akut fara för barnets liv eller hälsa",
    "SKYDDSBEDOMNING": "Brådskande skyddsbedömning",
    "AKUT_VARD": "Akut vård där uppgifterna behövs",
}
TRANSFER_REASONS = {
    "BARNET_TRYGGT": "Uppdraget utförs där barnet är och känner sig tryggt",
    "OVERENSKOMMELSE": "Överenskommelse vid samverkansmöte",
    "FLYTT": "Barnet har flyttat",
}
CLOSE_REASONS = {
    "MAL_UPPNADDA": "Målen är uppnådda", "BARNET_FLYTTAT": "Barnet har flyttat från länet",
    "SAMTYCKE_ATERKALLAT": "Samtycket har återkallats", "ANNAT": "Annat skäl",
}

FLASH = {
    "plan": "Planen är öppnad.", "meeting": "Samverkansmötet är registrerat.",
    "assessment": "Bedömningen är registrerad.", "action": "Insatsen är beslutad.",
    "completed": "Insatsen är markerad som slutförd.", "follow-up": "Uppföljningen är inlagd.",
    "transfer": "Barnensbästa-ansvaret är flyttat.", "closed": "Planen är avslutad.",
    "consent": "Samtycket är registrerat.", "withdrawn": "Samtycket är återkallat.",
    "moot": "Återkallelsen är mottagen, men samtycket hade redan upphört.",
    "emergency": "Nödöppningen är mottagen och loggad. Om personnumret tillhör ett barn visas barnet i listan.",
}
PENDING = "Registrerat – visas när det har behandlats."
EMERGENCY_RECEIVED = ("Nödöppningen är mottagen och loggad. Om personnumret tillhör ett barn ser du barnet bland "
                      "dina barn när den har behandlats.")
PROTECTED = "Skyddade personuppgifter"
PROTECTED_HELP = ("Barnet har skyddade personuppgifter. Adress och kommun visas aldrig; namn och personnummer bara "
                  "för barnensbästa-ansvarig och den som är ansvarig för planen. Lämna inte ut uppgifter om barnet.")
IDENTITY = {"protected": "skyddade personuppgifter", "erased": "raderad", "missing": "–", "withheld": "–"}
SEARCH = {  # why a lookup by personnummer showed no child (the list's ?sok=)
    "ingen": "Inget barn i ditt uppdrag har det personnumret.",
    "format": "Personnumret ska ha 10 eller 12 siffror, till exempel ÅÅMMDD-NNNN.",
    "datum": "Personnumrets födelsedatum finns inte.",
    "kontroll": "Personnumrets kontrollsiffra stämmer inte. Kontrollera siffrorna.",
}
AUDIT_SEARCH = {**SEARCH, "ingen": "Inget barn i registret har det personnumret."}  # auditors see every child
FILTER_INVALID = "Sökningen kunde inte tas emot. Kontrollera fälten."
MOOT = "Återkallelsen är mottagen, men den ändrade inget: {why}."

NOT_FOUND = "Hittades inte."
FORBIDDEN = "Din roll har inte behörighet till detta."
UNAUTHORISED = "Du behöver logga in."
INVALID = "Uppgifterna kunde inte tas emot."
UNAVAILABLE = "Tjänsten kan inte nås just nu. Försök igen om en stund."
TOO_LARGE = "Förfrågan är för stor."
TOO_MANY = "För många försök på kort tid. Vänta en stund och försök igen."
REJECTED = "Uppgifterna uppfyller inte reglerna."
NOT_MUNICIPALITY = "Du kan bara se glapplistan för din egen kommun."

# English reason template -> Swedish template, the same fields.
REASONS: dict[str, str] = {
    plan_service.NO_ORG: "{field} måste ange en organisation",
    plan_service.BAD_ORG: "{field} {org!r} är inte ett organisations-id (högst {limit} tecken, inga mellanslag)",
    plan_service.NO_CONSENT: "en plan öppnas under minst ett samtycke",
    plan_service.CHILD_DIED: "folkbokföringen anger att barnet avled den {day}: planen är avslutad och tar inte emot något nytt",
    plan_service.REPEATED_CONSENT: "samtycke {consent_id} anges flera gånger",
    plan_service.NO_PARTICIPANTS: "ett samverkansmöte behöver minst en deltagande organisation",
    plan_service.REPEATED_PARTICIPANT: "deltagaren {org!r} anges flera gånger",
    plan_service.LEAD_NOT_PARTICIPANT: "ansvarig för planen {org!r} är inte bland mötets deltagare",
    plan_service.BAD_AREA: "området {area!r} finns inte i hjulet ({areas})",
    plan_service.BAD_RATING: "bedömningen {rating!r} ligger utanför 1–5",
    plan_service.EMPTY_TEXT: "{field} får inte vara tomt",
    plan_service.TEXT_TOO_LONG: "{field} har {length} tecken; högst {limit} är tillåtna",
    plan_service.NOT_TEXT: "{field} måste vara text",
    plan_service.NOT_A_DATE: "{field} måste vara ett datum",
    plan_service.IN_FUTURE: "{field} {day} ligger i framtiden",
    plan_service.TOO_LONG_AGO: "{field} {day} ligger mer än {days} dagar bakåt",
    plan_service.IN_PAST: "{field} {day} har redan passerat",
    plan_service.TOO_FAR_AHEAD: "{field} {day} ligger mer än {days} dagar fram",
    plan_service.BAD_REASON_CODE: "skälkoden {code!r} ska vara 1–{limit} versaler, siffror eller understreck",
    plan_service.SAME_ORG: "uppdraget kan inte flyttas till den organisation som redan har det",
    consent_registry.UNKNOWN_CHILD: "folkbokföringen känner inte till barnet",
    consent_registry.NO_CATEGORY: "ett samtycke måste gälla minst ett av hälso- och sjukvård, skola och socialtjänst",
    consent_registry.BAD_CATEGORY: "kategorin {category} kan inte omfattas av samtycke",
    consent_registry.NO_RECIPIENT: "ett samtycke behöver minst en mottagande organisation",
    consent_registry.BAD_PERIOD: "slutdatum måste ligga efter startdatum",
    consent_registry.BACKDATED: "startdatum {valid_from} har redan passerat: ett samtycke kan inte antedateras",
    consent_registry.STARTS_TOO_LATE: "startdatum {valid_from} ligger mer än {days} dagar fram",
    consent_registry.TOO_LONG: "perioden från startdatum till slutdatum är längre än {days} dagar",
    consent_registry.NOT_A_GRANTOR: "bara den som måste lämna samtycket kan återkalla det",
    consent_registry.HAD_BEEN_WITHDRAWN: "samtycket var redan återkallat den {day}",
    consent_registry.HAD_EXPIRED: "samtycket hade redan gått ut den {day}",
    consent_registry.HAD_LAPSED[consent_rules.Lapse.CHILD_AGE]:
        "samtycket hade redan upphört den {day}, när barnet fyllde {age} år",
    consent_registry.HAD_LAPSED[consent_rules.Lapse.ADULTHOOD]: "samtycket hade redan upphört vid 18-årsdagen den {day}",
    consent_registry.HAD_LAPSED[consent_rules.Lapse.CUSTODY]:
        "samtycket hade redan upphört den {day}, när vårdnaden ändrades",
    consent_registry.HAD_LAPSED[consent_rules.Lapse.BIRTH]: "samtycket hade redan upphört vid födseln den {day}",
    consent_registry.HAD_LAPSED[consent_rules.Lapse.REGISTER]:
        "samtycket hade redan upphört: folkbokföringen stödde inte samtycket när det lämnades den {day}",
    consent_registry.HAD_LAPSED[consent_rules.Lapse.DEATH]: "samtycket hade redan upphört den {day}, när barnet avled",
    consent_registry.HAD_LAPSED[consent_rules.Lapse.EMIGRATION]:
        "samtycket hade redan upphört den {day}, när barnet utvandrade",
    consent_rules.CHILD_DIED: "folkbokföringen anger att barnet avled den {day}: inget samtycke kan lämnas",
    consent_rules.CHILD_EMIGRATED: ("folkbokföringen anger att barnet utvandrade den {day}: inget samtycke kan lämnas "
                                    "om barnet inte folkbokförs igen"),
    consent_rules.GUARDIAN_MISSING: "vårdnadshavare {party} har inte lämnat samtycke",
    consent_rules.CHILD_MISSING: "barnet ({age} år) har inte lämnat samtycke",
    consent_rules.YOUNG_PERSON_MISSING: "den unga (18 år eller äldre) måste själv lämna samtycke",
    consent_rules.EXPECTANT_MISSING: "den blivande föräldern {party} har inte lämnat samtycke",
    consent_rules.NO_GUARDIANS: "folkbokföringen anger ingen vårdnadshavare för barnet",
    consent_rules.NO_EXPECTANT: "ingen blivande förälder är känd för det ofödda barnet",
    consent_rules.NOT_ENTITLED: "{party} kan inte lämna samtycke som {role}",
    access.NO_REASON: "nödöppning kräver en skälkod (1–{limit} versaler, siffror eller understreck)",
    access.TOO_LONG: "nödöppning gäller högst {days} dagar",
    access.TOO_SHORT: "nödöppning måste gälla en positiv tid",
    errors.NO_PLAN: "barnet har ingen öppen plan",
    errors.PLAN_ALREADY_OPEN: "barnet har redan en öppen plan",
    errors.UNKNOWN_CONSENT: "samtycke {consent_id} hör inte till barnet",
    errors.INACTIVE_CONSENT: "samtycke {consent_id} gäller inte nu",
    errors.NOT_RECIPIENT: "samtycke {consent_id} anger inte din organisation som mottagare",
    errors.ALREADY_WITHDRAWN: "samtycket är redan återkallat",
    errors.PENDING_CONSENT: "samtycke {consent_id} behandlas fortfarande; försök igen om en stund",
    errors.CHILD_ERASED: "barnets uppgifter är raderade; inget nytt kan registreras",
    errors.PNR_REJECTED.format(reason=personnummer.BAD_TYPED):
        "personnumret ska ha 10 eller 12 siffror (ÅÅMMDD-NNNN eller ÅÅÅÅMMDD-NNNN)",
    errors.PNR_REJECTED.format(reason=personnummer.BAD_DATE): "personnumrets födelsedatum finns inte",
    errors.PNR_REJECTED.format(reason=personnummer.BAD_CHECK): "personnumrets kontrollsiffra stämmer inte",
}
FIELD_NAMES = {"by_org": "din organisation", "participant": "deltagare", "lead_org": "ansvarig för planen",
               "decisions": "beslut", "notes": "anteckningar", "comment": "kommentar", "child_view": "barnets syn",
               "guardians_view": "vårdnadshavarnas syn", "need": "behov", "what": "insats", "held_on": "mötesdatum",
               "due_on": "datum", "completed_on": "slutförd", "to_org": "ny barnensbästa-ansvarig",
               "from_org": "nuvarande barnensbästa-ansvarig", "responsible_org": "ansvarig organisation"}
ROLE_NAMES = {r.value: label for r, label in GRANTOR.items()}

# -- issue 17: organisations and strict input
REASONS.update({
    organisations.UNKNOWN_ORG: "{field} {org!r} finns inte bland länets organisationer",
    organisations.NOT_A_UNIT: "{field} {org!r} är ingen organisationsenhet som kan delta i en plan",
    organisations.NOT_NAMED_PERSON: ("{field} {org!r} kan inte vara barnensbästa-ansvarig: det kan bara mödra- eller "
                                     "barnhälsovården, en förskola, en skola eller kommunens aktivitetsansvar (KAA)"),
    organisations.NOT_A_SOURCE: "{field} {org!r} är ingen organisation som uppgifter kommer från",
    form_tokens.NO_ORIGIN: "formuläret skickades inte från en sida i tjänsten",
    form_tokens.FOREIGN_ORIGIN: "formuläret skickades från en annan webbplats",
    form_tokens.NO_FORM_TOKEN: "formuläret saknar giltig formulärnyckel: ladda om sidan och skicka formuläret igen",
})
FIELD_NAMES.update({"participant_orgs": "deltagare", "recipients": "mottagare",
                    "source_organisations": "organisation som uppgifterna kommer från"})
# -- end issue 17

# -- issue 20: the plan as a SIP
REASONS.update({
    plan_service.DUE_BEFORE_START: "slutdatum {due_on} ligger före startdatum {start_on}",
    plan_service.NO_PERFORMER: "en insats som andra utför behöver ange vem som utför den",
    plan_service.NOT_A_FLAG: "{field} måste vara ja eller nej",
    sip_service.NOT_A_MOMENT: "{field} måste vara ett datum och klockslag",
    sip_service.STARTS_IN_PAST: "{field} {moment} ligger mer än ett dygn bakåt",
    sip_service.STARTS_TOO_LATE: "{field} {moment} ligger mer än {days} dagar fram",
    sip_service.NO_INVITEES: "en kallelse går till minst en organisation",
    sip_service.REPEATED_INVITEE: "organisationen {org!r} kallas flera gånger",
    sip_service.NO_NOT_INVITED_WHY: "ange varför barnet eller vårdnadshavarna inte kallas",
    sip_service.NOT_SENT: "organisationen {org!r} har inte fått den här kallelsen",
    sip_service.BAD_ANSWER: "svaret {answer!r} är inte kommer, kommer inte eller skickar någon annan",
    sip_service.NO_SENDS: "ange vem organisationen skickar i stället",
    sip_service.BAD_ROLE: "rollen {role!r} finns inte",
    sip_service.NO_RESPONSIBILITIES: ("ange vad organisationen ansvarar för: det behövs för alla utom den som bara "
                                       "bidrar med kunskap"),
    sip_service.BAD_STATUS: "statusen {status!r} finns inte",
    sip_service.FINAL_STATUS: "insatsen {action_id} är {current} och kan inte få någon ny status",
    sip_service.SAME_STATUS: "insatsen {action_id} är redan {current}",
    sip_service.NO_WAY_BACK: "insatsen {action_id} är {current} och kan inte gå tillbaka till {status}",
    sip_service.NO_CANCEL_REASON: "ange varför insatsen avbryts",
    sip_service.BAD_OUTCOME: "utfallet {outcome!r} finns inte",
    sip_service.BAD_EFFECT: "effekten {effect!r} för insats {action_id} finns inte",
    sip_service.UNKNOWN_ACTION: "insats {action_id} hör inte till planen",
    sip_service.REPEATED_EVALUATION: "insats {action_id} utvärderas flera gånger",
})
FIELD_NAMES.update({
    "starts_at": "mötets start", "place": "plats", "questions": "frågor till mötet", "invited_orgs": "kallade",
    "invited_people": "kallade personer", "not_invited_why": "varför barnet eller vårdnadshavarna inte kallas",
    "child_invited": "barnet kallas", "guardians_invited": "vårdnadshavarna kallas", "sends": "vem som skickas",
    "organisation_id": "organisation", "responsibilities": "ansvar", "contact": "kontaktuppgifter",
    "active": "aktiv", "changed_on": "datum", "reason": "skäl", "summary": "sammanfattning",
    "evaluation": "utvärdering", "child_words": "barnets ord", "guardians_words": "vårdnadshavarnas ord",
    "start_on": "startdatum", "by_others": "utförs av andra", "performer": "utförare",
    "responsible_person": "ansvarig person", "child_voice": "barnets röst", "others_present": "andra närvarande",
    "child_took_part": "barnet deltog", "guardians_took_part": "vårdnadshavarna deltog",
})
# The lifecycle's words inside the reasons above (``current``, ``status``), in Swedish.
STATUS_WORD = {"PLANNED": "planerad", "ONGOING": "pågående", "DONE": "genomförd", "CANCELLED": "avbruten"}
FLASH.update({"invitation": "Kallelsen är skickad.", "answer": "Svaret på kallelsen är registrerat.",
              "participant": "Deltagaren är registrerad.", "status": "Insatsens status är ändrad.",
              "review": "Uppföljningen är registrerad."})
# -- end issue 20


def _pattern(template: str) -> re.Pattern[str]:
    parts = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P<{name}>.+?)")
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


# -- issue 19: reports of concern. Their reasons are ``services.api.reports``' (which shows these
# texts, so it is read here only once both are loaded: ``_patterns``).
REPORT_TO = "Orosanmälan är mottagen och skickas till socialtjänsten i {where}."
REPORT_TO_SOCIAL = "Orosanmälan är mottagen och skickas till socialtjänsten i barnets kommun."
REPORT_ALREADY = "Orosanmälan var redan mottagen; den har inte skickats en gång till."
REPORT_ACKNOWLEDGED_BEFORE = "Orosanmälan var redan kvitterad."
REPORT_STATUS = {"routed": "skickad till socialtjänsten", "delivered": "levererad till socialtjänstens register",
                 "undelivered": "kunde inte levereras", "acknowledged": "kvitterad av socialtjänsten"}
REPORT_UNDELIVERED_HELP = ("Anmälan har inte nått socialtjänsten. Du måste själv kontakta socialtjänsten, till exempel "
                           "per telefon, och göra anmälan där.")
INVESTIGATION = {True: "ja, utredning inledd", False: "nej, ingen utredning", None: "inte beslutat ännu"}
FLASH.update({"report": "Orosanmälan är mottagen.", "acknowledged": "Orosanmälan är kvitterad."})


def _report_reasons() -> dict[str, str]:
    from services.api import reports as r

    return {
        r.NOT_A_COORDINATOR: "bara samordnare gör och läser orosanmälningar",
        r.NOT_PARTICIPATING: "din organisation finns inte bland länets deltagande organisationer",
        r.SOCIAL_FILES: "socialtjänsten gör inte orosanmälningar till sig själv: registrera den i ert eget ärendesystem",
        r.CHILD_AND_PNR: "ange antingen barnet eller personnumret, inte båda",
        r.NO_CHILD_GIVEN: "ange vilket barn anmälan gäller",
        r.UNKNOWN_PNR: "inget barn i tjänsten har det personnumret",
        r.UNKNOWN_CHILD: "inget barn i tjänsten har det id:t",
        r.NO_PNR: "tjänsten har inget personnummer för barnet: gör anmälan med barnets personnummer",
        r.BLANK: "{field} får inte vara tomt",
        r.NO_WHY: "ange varför vårdnadshavarna inte har informerats",
        r.REPORT_ID_TAKEN: "anmälans id används redan av en annan anmälan",
        r.NOT_ROUTE: "bara socialtjänsten i den kommun som anmälan skickades till kan kvittera den",
        r.NOT_FIGURES: "statistiken är för regionens granskare och administratörer",
        r.ADULT: "en orosanmälan gäller ett barn, och personen har fyllt 18 år: kontakta socialtjänsten direkt",
    }


GAVE_UP = "; gave up after "  # services.reports.delivery: "<why>; gave up after N attempts"


def delivery_reason(reason: str | None) -> str:
    """Why a report did not reach the social services, in Swedish (the route's reasons are the
    hub's own English, ``connectors.social_register`` and ``services.reports.delivery``)."""
    if not reason:
        return "okänt skäl"
    why, sep, rest = reason.partition(GAVE_UP)
    said = translate(why)
    return f"{said}; gav upp efter {rest.removesuffix(' attempts')} försök" if sep else said


def _delivery_reasons() -> dict[str, str]:
    from connectors import social_register as register
    from services.reports import delivery

    return {
        register.REFUSED: "socialtjänstens register tog inte emot anmälan ({error})",
        register.NOT_SERVED: "socialtjänstens register har inga ärenden för barnets kommun",
        register.DOWN: "socialtjänstens register svarade inte ({error})",
        delivery.NO_REGISTER: "tjänsten är inte ansluten till något register för barnets kommun",
        delivery.ERASED: "barnets uppgifter raderades innan anmälan hann levereras",
        delivery.NOT_A_REPORT: "det som skickades var ingen orosanmälan gjord i tjänsten",
        delivery.UNREADABLE: "anmälan saknar {field}",
    }


FIELD_NAMES.update({"observed_on": "datum för det du såg", "observation": "vad du har sett", "reporter_role": "din roll", "reporter_contact": "hur du nås"})
# -- end issue 19


@functools.cache
def _patterns() -> list[tuple[re.Pattern[str], str, str]]:
    REASONS.update(_report_reasons())
    REASONS.update(_delivery_reasons())
    return [(_pattern(en), en, sv) for en, sv in REASONS.items()]


def translate(reason: str) -> str:
    """The Swedish for one English reason built from a known template; else the reason itself."""
    for pattern, english, swedish in _patterns():
        match = pattern.match(reason)
        if match is None:
            continue
        values = {k: _swedish_value(k, v) for k, v in match.groupdict().items()}
        template = swedish.replace("!r}", "}")  # the values are already quoted as they were
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            return reason
    return reason


def _swedish_value(name: str, value: str) -> str:
    if name == "field":
        return FIELD_NAMES.get(value, value)
    if name == "role":
        return ROLE_NAMES.get(value, value)
    if name in ("current", "status"):
        return STATUS_WORD.get(value, value)
    return value


def lapse_label(lapse: str | None, child_grants_from: int = consent_rules.CHILD_GRANTS_FROM) -> str | None:
    """Why a consent lapsed, in Swedish; None if it did not (or the code is unknown)."""
    try:
        template = LAPSE[consent_rules.Lapse(lapse)] if lapse is not None else None
    except ValueError:
        return None
    return None if template is None else template.format(age=child_grants_from)


def translate_all(reasons: Iterable[str]) -> list[str]:
    return [translate(r) for r in reasons]
