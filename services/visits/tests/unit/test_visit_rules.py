"""Visit rules with no I/O: distances, fraud signals, planning, detail schemas."""
from datetime import UTC, datetime, timedelta

import pytest

from crmkit.context import Caller
from crmkit.directory import Person
from crmkit.errors import ValidationFailed
from crmkit.validation import load
from visits import domain
from visits.details import FieldDefinitionSchema, details_schema
from visits.geo import distance_m, speed_kmh

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_distances_and_speeds():
    assert distance_m(31.2304, 121.4737, 31.2304, 121.4737) == 0
    assert 1_060_000 < distance_m(31.2304, 121.4737, 39.9042, 116.4074) < 1_075_000
    assert 110 < distance_m(0, 0, 0.001, 0) < 112
    assert speed_kmh(1000, T0, T0 + timedelta(minutes=1)) == pytest.approx(60)
    assert speed_kmh(0, T0, T0) is None and speed_kmh(5000, T0, T0) == float("inf")


def test_checkin_signals():
    quiet = domain.checkin_signals(within_radius=True, distance=50, radius=300, at=T0,
                                   lat=31.23, lon=121.47, previous=None, max_speed_kmh=300)
    assert quiet == []
    jump = domain.checkin_signals(
        within_radius=False, distance=900, radius=300, at=T0 + timedelta(minutes=10),
        lat=39.9, lon=116.4, previous=(T0, 31.23, 121.47, 7), max_speed_kmh=300)
    assert [kind for kind, _ in jump] == ["outside_radius", "impossible_speed"]
    assert jump[1][1]["previous_visit_id"] == 7


def test_planning_is_for_oneself_or_direct_reports():
    manager = Caller(user_id=5, roles=frozenset({"region_manager"}), org_path="/1/2/")

    def person(user_id, manager_id):
        return Person(user_id=user_id, display_name="x", org_unit_id=2, org_path="/1/2/",
                      manager_id=manager_id, roles=frozenset(), active=True)
    assert domain.planning_problem(manager, person(5, 1)) is None
    assert domain.planning_problem(manager, person(6, 5)) is None
    assert domain.planning_problem(manager, person(7, 6))  # skip level


def test_photo_signals():
    assert domain.photo_signals(sha_seen_on=3, exif_taken_at=None, check_in_at=T0,
                                max_skew_s=3600)[0][0] == "photo_reused"
    old = domain.photo_signals(sha_seen_on=None, exif_taken_at=T0 - timedelta(days=2),
                               check_in_at=T0, max_skew_s=3600)
    assert old[0][0] == "photo_time_skew"


def test_detail_schema_from_a_definition():
    definitions = [load(FieldDefinitionSchema(), d) for d in (
        {"name": "stock", "label": "库存", "type": "integer", "required": True, "min": 0},
        {"name": "brand", "label": "竞品", "type": "choice", "choices": ["A", "B"]})]
    schema = details_schema(definitions)
    assert load(schema, {"stock": 3, "brand": "A"}) == {"stock": 3, "brand": "A"}
    with pytest.raises(ValidationFailed) as bad:
        load(schema, {"stock": "3", "brand": "C", "extra": 1})
    assert set(bad.value.fields) == {"stock", "brand", "extra"}
    with pytest.raises(ValidationFailed):
        load(FieldDefinitionSchema(), {"name": "x", "label": "x", "type": "choice"})
