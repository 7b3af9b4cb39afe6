"""The code systems, extensions and care programme the health stand-in speaks.

Standard systems (personnummer OID, SNOMED CT, LOINC, ATC, UCUM, HL7 terminology) are the real
ones. Three facts have no standard FHIR R4 element, so this Cosmic-style server carries them in
extensions, under the reserved ``.example`` domain: the home municipality (SCB kommunkod), the
expected delivery date of a pregnancy, the unit that recorded a Condition, and -- on a newborn's
Patient -- the pregnancy Condition the child was born from. The adapter declares the same URLs
on its own side (an adapter never imports a stand-in); a unit test keeps the two in step.
"""

from __future__ import annotations

PNR_SYSTEM = "urn:oid:1.2.752.129.2.1.3.1"  # Swedish personnummer
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"  # HSA-id, the Swedish health-care directory
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

EXT = "http://kronobarn.example/fhir/StructureDefinition/"
EXT_MUNICIPALITY = EXT + "municipality-code"  # valueCoding, system KOMMUNKOD
EXT_EXPECTED_DELIVERY = EXT + "expected-delivery-date"  # valueDate, on a pregnancy Condition
EXT_RECORDING_UNIT = EXT + "recording-unit"  # valueReference(Organization), on a Condition
EXT_PREGNANCY = EXT + "pregnancy"  # valueReference(Condition), on a newborn's Patient
BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
KOMMUNKOD = "http://kronobarn.example/fhir/CodeSystem/kommunkod"  # SCB municipality codes
CARE_TYPE = "http://kronobarn.example/fhir/CodeSystem/care-type"  # EpisodeOfCare.type: BHV, MHV
VISIT_TYPE = "http://kronobarn.example/fhir/CodeSystem/visit-type"  # Encounter.type

# Every resource is tagged: HL7's code for test data, and the hub's own "synthetic" marker.
SYNTHETIC_TAGS = (
    {"system": ACT_REASON, "code": "HTEST", "display": "test health data"},
    {"system": "http://kronobarn.example/fhir/CodeSystem/data-origin", "code": "synthetic"},
)

PREGNANCY = ("118185001", "Finding related to pregnancy")

# The Swedish child health programme (Rikshandboken barnhälsovård), simplified: age in days at
# the visit, visit type, and the vaccines given then (ATC code, display, dose number).
BHV_VISITS: tuple[tuple[int, str, str, tuple[tuple[str, str, int], ...]], ...] = (
    (7, "bhv-home-visit", "Hembesök nyfödd", ()),
    (28, "bhv-4w", "BVC 4 veckor", ()),
    (42, "bhv-6w", "BVC 6 veckor", (("J07BH01", "Rotavirus, live attenuated", 1),)),
    (90, "bhv-3m", "BVC 3 månader", (("J07CA09", "DTaP-IPV-Hib-HepB", 1), ("J07AL02", "Pneumococcal conjugate", 1),
                                      ("J07BH01", "Rotavirus, live attenuated", 2))),
    (150, "bhv-5m", "BVC 5 månader", (("J07CA09", "DTaP-IPV-Hib-HepB", 2), ("J07AL02", "Pneumococcal conjugate", 2))),
    (180, "bhv-6m", "BVC 6 månader", ()),
    (240, "bhv-8m", "BVC 8 månader", ()),
    (300, "bhv-10m", "BVC 10 månader", ()),
    (365, "bhv-12m", "BVC 12 månader", (("J07CA09", "DTaP-IPV-Hib-HepB", 3), ("J07AL02", "Pneumococcal conjugate", 3))),
    (548, "bhv-18m", "BVC 18 månader", (("J07BD52", "Measles, mumps, rubella", 1),)),
    (913, "bhv-30m", "BVC 2,5 år", ()),
    (1095, "bhv-3y", "BVC 3 år", ()),
    (1460, "bhv-4y", "BVC 4 år", ()),
    (1825, "bhv-5y", "BVC 5 år", (("J07CA02", "DTaP-IPV", 4),)),
)
BHV_UNTIL_DAYS = 6 * 365  # BHV until förskoleklass, the year the child turns six
OTHER_VISITS = (("outpatient", "Mottagningsbesök", "AMB"), ("emergency", "Akutbesök", "EMER"))

# Growth reference (months -> weight kg, length cm, head circumference cm), roughly the
# Swedish growth charts' medians; each child gets its own factor around it.
GROWTH: tuple[tuple[int, float, float, float], ...] = (
    (0, 3.5, 50.5, 35.0), (1, 4.5, 54.5, 37.5), (2, 5.6, 58.0, 39.5), (3, 6.4, 61.0, 40.8),
    (5, 7.5, 65.5, 42.5), (6, 7.9, 67.5, 43.2), (8, 8.6, 70.5, 44.3), (10, 9.2, 73.5, 45.2),
    (12, 9.7, 76.0, 46.0), (18, 11.0, 82.5, 47.4), (30, 13.3, 92.0, 48.9), (36, 14.4, 96.5, 49.4),
    (48, 16.4, 104.0, 50.1), (60, 18.5, 111.0, 50.7), (72, 20.7, 117.5, 51.1),
)
WEIGHT = ("29463-7", "Body weight", "kg")
HEIGHT = ("8302-2", "Body height", "cm")
HEAD = ("9843-4", "Head Occipital-frontal circumference", "cm")
HEAD_UNTIL_MONTHS = 18

# Conditions a child may have noted: (SNOMED code, display, youngest age in years).
CONDITIONS: tuple[tuple[str, str, int], ...] = (
    ("24079001", "Atopic dermatitis", 0),
    ("65363002", "Otitis media", 0),
    ("195967001", "Asthma", 2),
    ("414916001", "Obesity", 4),
    ("406506008", "Attention deficit hyperactivity disorder", 6),
    ("46635009", "Diabetes mellitus type 1", 1),
    ("197480006", "Anxiety disorder", 10),
    ("35489007", "Depressive disorder", 12),
)
