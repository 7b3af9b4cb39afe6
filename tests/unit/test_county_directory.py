"""The county directory file (KRONOBARN_COUNTY_DIRECTORY): the synthetic county's shape, the
refusals with their lines, production without a file, and what the hub builds from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.standins import directory as standin_directory
from connectors.standins.county import County
from projections.named_person import DEFAULT_PLACEMENT_GRACE_DAYS, NamedPersonConfig
from schemas.county import KINDS, CountyDirectory, Municipality, Organisation, Region
from schemas.events import SchoolType
from services.api.orgs import OrgDirectory
from services.county import (
    SYNTHETIC_COUNTY,
    DirectoryError,
    county_directory,
    county_directory_path,
    load_county_directory,
    read_county_directory,
)
from services.readmodel.engine import named_person_config, named_person_config_of
from services.settings import Settings

REGION = "SE2321000065"
CODES = ("0760", "0761", "0763", "0764", "0765", "0767", "0780", "0781")
NAMES = ("Uppvidinge", "Lessebo", "Tingsryd", "Alvesta", "Älmhult", "Markaryd", "Växjö", "Ljungby")

SMALL = '''\
[region]
id = "SE0000000001"
name = "Region Test"

[named_person]
school_stage_starts_with = "PRESCHOOL"
placement_grace_days = 10

[[municipalities]]
code = "0780"
name = "Växjö"

[[municipalities]]
code = "0764"
name = "Alvesta"

[[organisations]]
id = "bvc-0780"
kind = "BHV"
name = "BVC Växjö"
municipality_code = "0780"

[[organisations]]
id = "bvc-0764"  # BHV-0764
kind = "BHV"
name = "BVC Alvesta"
municipality_code = "0764"  # MUNICIPALITY-0764

[[organisations]]
id = "kaa-0780"
kind = "KAA"
name = "KAA Växjö"
municipality_code = "0780"

[[organisations]]
id = "skola-0780-1"
kind = "SCHOOL"
name = "Skola 1"
municipality_code = "0780"
principal_id = "rektor-1"
'''


def _write(tmp_path: Path, text: str, name: str = "county.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _line(text: str, marker: str) -> int:
    """The 1-based line on which ``marker`` stands (once) in ``text``."""
    [number] = [n for n, line in enumerate(text.splitlines(), start=1) if marker in line]
    return number


def _first_id_line(text: str, org: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if line == f'id = "{org}"')


def _refusal(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(DirectoryError) as caught:
        read_county_directory(path)
    message = str(caught.value)
    assert str(path) in message
    return message


@pytest.fixture(autouse=True)
def _no_directory_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRONOBARN_COUNTY_DIRECTORY", raising=False)
    monkeypatch.delenv("KRONOBARN_ENV", raising=False)


# -- the synthetic county -------------------------------------------------------------------

def test_the_synthetic_county_loads_with_its_expected_shape() -> None:
    county = load_county_directory(SYNTHETIC_COUNTY)
    assert county.region == Region(REGION, "Region Kronoberg")
    assert county.municipalities == tuple(Municipality(c, n) for c, n in zip(CODES, NAMES, strict=True))
    for code in CODES:
        for kind in ("MHV", "BHV", "SOCIAL", "KAA"):
            assert len(county.units_of(kind, code)) == 1, (kind, code)
        assert county.units_of("PRESCHOOL", code) and county.units_of("SCHOOL", code)
    assert county.unit("BHV", "0780") == Organisation(f"{REGION}-BHV0780", "BHV", "Barnavårdscentralen Växjö", "0780",
                                                      reminder_email="bvc.0780@kronoberg.example")
    assert county.unit("KAA", "0764").id == "kommun-0764-kaa"
    assert {u.municipality_code for u in county.units_of("UPPER_SECONDARY")} == {"0764", "0765", "0780", "0781"}
    assert {u.kind for u in county.organisations} == set(KINDS)
    schools = [u for u in county.organisations if u.kind in ("PRESCHOOL", "SCHOOL", "UPPER_SECONDARY")]
    assert all(u.principal_id == f"rektor-{u.id}" for u in schools)
    assert county.school_stage_starts_with is SchoolType.PRESCHOOL_CLASS
    assert county.placement_grace_days is None  # the named person's default


def test_the_stand_ins_read_the_same_file_as_the_hub() -> None:
    assert standin_directory.SYNTHETIC_COUNTY == SYNTHETIC_COUNTY
    assert standin_directory.synthetic_directory() == load_county_directory(SYNTHETIC_COUNTY)
    assert County().units == load_county_directory(SYNTHETIC_COUNTY).organisations


def test_loading_is_cached_per_path(tmp_path: Path) -> None:
    assert load_county_directory(SYNTHETIC_COUNTY) is load_county_directory(SYNTHETIC_COUNTY)
    assert county_directory(Settings()) is load_county_directory(SYNTHETIC_COUNTY)
    other = _write(tmp_path, SMALL)
    assert load_county_directory(other) is not load_county_directory(SYNTHETIC_COUNTY)


# -- where the file comes from ------------------------------------------------------------

def test_dev_defaults_to_the_synthetic_county_and_the_variable_overrides(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert county_directory_path(Settings()) == SYNTHETIC_COUNTY
    path = _write(tmp_path, SMALL)
    monkeypatch.setenv("KRONOBARN_COUNTY_DIRECTORY", str(path))
    assert Settings().county_directory == path
    assert county_directory(Settings()).region.id == "SE0000000001"


def test_production_without_a_directory_refuses_to_start(tmp_path: Path) -> None:
    production = Settings(env="production")
    for start in (county_directory, OrgDirectory.from_settings, named_person_config):
        with pytest.raises(DirectoryError, match="KRONOBARN_COUNTY_DIRECTORY is not set"):
            start(production)
    path = _write(tmp_path, SMALL)
    assert county_directory(Settings(env="production", county_directory=path)).codes == ("0780", "0764")


# -- refusals, with the line ---------------------------------------------------------------

def test_an_unknown_municipality_code_is_refused_at_its_line(tmp_path: Path) -> None:
    text = SMALL.replace('municipality_code = "0764"  # MUNICIPALITY-0764', 'municipality_code = "0999"  # HERE')
    message = _refusal(tmp_path, text)
    assert f"county.toml:{_line(text, '# HERE')}:" in message
    assert "'bvc-0764'" in message and "'0999'" in message


def test_a_duplicate_organisation_id_is_refused_at_its_second_line(tmp_path: Path) -> None:
    text = SMALL.replace('id = "kaa-0780"', 'id = "bvc-0780"  # HERE')
    message = _refusal(tmp_path, text)
    first = _first_id_line(text, "bvc-0780")
    assert f"county.toml:{_line(text, '# HERE')}:" in message
    assert f"'bvc-0780' is declared twice (first on line {first})" in message


def test_a_municipality_without_a_bhv_unit_is_refused_at_its_line(tmp_path: Path) -> None:
    text = SMALL.replace('kind = "BHV"\nname = "BVC Alvesta"', 'kind = "MHV"\nname = "MVC Alvesta"')
    message = _refusal(tmp_path, text)
    line = text.splitlines().index('code = "0764"') + 1  # the municipality's own line
    assert f"county.toml:{line}:" in message
    assert "municipality 0764 (Alvesta) has no BHV unit" in message


def test_a_second_bhv_unit_in_a_municipality_is_refused(tmp_path: Path) -> None:
    text = SMALL.replace('id = "kaa-0780"\nkind = "KAA"', 'id = "kaa-0780"  # HERE\nkind = "BHV"')
    message = _refusal(tmp_path, text)
    assert f"county.toml:{_line(text, '# HERE')}:" in message
    assert "second BHV unit" in message


def test_a_duplicate_municipality_code_is_refused(tmp_path: Path) -> None:
    text = SMALL.replace('code = "0764"\nname = "Alvesta"', 'code = "0780"  # HERE\nname = "Alvesta"')
    assert f"county.toml:{_line(text, '# HERE')}:" in _refusal(tmp_path, text)


@pytest.mark.parametrize(("change", "expected"), [
    (('kind = "SCHOOL"', 'kind = "GYMNASIUM"  # HERE'), r"organisations\[3\]\.kind: Input should be"),
    (('name = "Skola 1"\n', ''), r"organisations\[3\]\.name: Field required"),
    (('code = "0764"\nname', 'code = 764  # HERE\nname'), r"municipalities\[1\]\.code: Input should be a valid string"),
    (('school_stage_starts_with = "PRESCHOOL"', 'school_stage_starts_with = "COMPULSORY"  # HERE'),
     r"named_person\.school_stage_starts_with"),
    (('placement_grace_days = 10', 'placement_grace_days = -1  # HERE'), r"named_person\.placement_grace_days"),
    (('id = "SE0000000001"', 'id = "SE0000000001"\norg_number = 1  # HERE'), r"region\.org_number: Extra inputs"),
])
def test_malformed_entries_name_the_file_the_line_and_the_field(
        tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = SMALL.replace(*change)
    assert text != SMALL
    message = _refusal(tmp_path, text)
    assert re.search(expected, message), message
    if "# HERE" in text:
        assert f"county.toml:{_line(text, '# HERE')}:" in message


def test_a_missing_table_names_the_file(tmp_path: Path) -> None:
    message = _refusal(tmp_path, SMALL.split("[[municipalities]]")[0].replace("[region]", "[regio]"))
    assert "region: Field required" in message


def test_toml_syntax_errors_name_the_file_and_tomllibs_line(tmp_path: Path) -> None:
    message = _refusal(tmp_path, SMALL.replace('name = "Skola 1"', 'name = "Skola 1'))
    assert "is not valid TOML" in message and "line" in message


def test_a_missing_file_is_named() -> None:
    with pytest.raises(DirectoryError, match="nowhere.toml does not exist"):
        read_county_directory(Path("/nonexistent/nowhere.toml"))


def test_the_type_itself_refuses_what_the_loader_refuses() -> None:
    region, m = Region("R", "Region"), (Municipality("0780", "Växjö"),)
    bhv = Organisation("b", "BHV", "BVC", "0780")
    with pytest.raises(ValueError, match="not among the municipalities"):
        CountyDirectory(region, m, (bhv, Organisation("x", "SCHOOL", "S", "0999")))
    with pytest.raises(ValueError, match="declared twice"):
        CountyDirectory(region, m, (bhv, Organisation("b", "SCHOOL", "S", "0780")))
    with pytest.raises(ValueError, match="no BHV unit"):
        CountyDirectory(region, m, ())
    with pytest.raises(ValueError, match="kind 'REGION'"):
        CountyDirectory(region, m, (bhv, Organisation("r", "REGION", "Region", "0780")))


# -- what the hub builds from it -------------------------------------------------------------

def test_the_named_person_config_comes_from_the_synthetic_directory() -> None:
    reference = NamedPersonConfig(
        bhv_by_municipality={code: f"{REGION}-BHV{code}" for code in CODES},
        kaa_by_municipality={code: f"kommun-{code}-kaa" for code in CODES},
        school_stage_starts_with=SchoolType.PRESCHOOL_CLASS,
        placement_grace_days=DEFAULT_PLACEMENT_GRACE_DAYS,
    )
    assert named_person_config(Settings()) == reference
    assert named_person_config(Settings()) is named_person_config(Settings())  # cached per file


def test_the_named_person_config_follows_a_county_of_its_own(tmp_path: Path) -> None:
    county = load_county_directory(_write(tmp_path, SMALL))
    assert named_person_config_of(county) == NamedPersonConfig(
        bhv_by_municipality={"0780": "bvc-0780", "0764": "bvc-0764"},
        kaa_by_municipality={"0780": "kaa-0780"},  # Alvesta declares no KAA unit
        school_stage_starts_with=SchoolType.PRESCHOOL,
        placement_grace_days=10,
    )


def test_the_web_services_org_directory_comes_from_the_county_directory(tmp_path: Path) -> None:
    orgs = OrgDirectory.from_settings(Settings(county_directory=_write(tmp_path, SMALL)))
    assert orgs.name("bvc-0764") == "BVC Alvesta"
    assert orgs.name("unknown") is None and orgs.municipality_of("unknown") is None
    assert orgs.municipality_of("skola-0780-1") == "0780"
    assert orgs.municipality_name("0764") == "Alvesta"
    assert orgs.in_municipality("0780") == ["bvc-0780", "kaa-0780", "skola-0780-1"]


def test_the_synthetic_county_simulates_the_directory_it_is_given(tmp_path: Path) -> None:
    small = load_county_directory(_write(tmp_path, SMALL))
    with pytest.raises(ValueError, match="needs a MHV unit in municipality 0780"):
        County(directory=small)
    units = [*small.organisations]
    for code in small.codes:
        units += [Organisation(f"mvc-{code}", "MHV", "MVC", code), Organisation(f"fsk-{code}", "PRESCHOOL", "F", code),
                  Organisation(f"gr-{code}", "SCHOOL", "G", code)]
    units.append(Organisation("gy-0764", "UPPER_SECONDARY", "GY", "0764"))
    county = County(children=200, directory=CountyDirectory(small.region, small.municipalities, tuple(units)))
    ids = {u.id for u in units}
    for child in county:
        assert child.municipality_code in small.codes
        assert all(p.unit_id in ids for p in child.placements)
    assert county.upper_secondary_fallback == "0764"
