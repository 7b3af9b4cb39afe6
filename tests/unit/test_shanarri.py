from schemas.events import Area
from schemas.shanarri import INDICATORS, SHANARRI


def test_every_area_maps_and_every_indicator_is_reached() -> None:
    assert set(SHANARRI) == set(Area)
    reached = {i for indicators in SHANARRI.values() for i in indicators}
    assert reached == set(INDICATORS)
