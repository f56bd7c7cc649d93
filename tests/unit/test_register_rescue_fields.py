"""The register's rescue fields in a file: 救援识别码, area, place, position and duty contacts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.due import default_table
from registry.io_rows import COLUMNS, Cell, PartyRef, Problem, RegisterRow, Rejected, SourceRow, read_rows, row_cells
from registry.model import Area, Place, Role

TODAY = date(2025, 6, 1)
BASE = ("registration_code", "category", "district_code")


def outcomes(*records: Sequence[Cell], header: Sequence[str]) -> list[RegisterRow | Rejected]:
    source = [SourceRow(1, list(header))] + [SourceRow(n, list(r)) for n, r in enumerate(records, 2)]
    return [o for o in read_rows(source, table=default_table(), today=TODAY) if not isinstance(o, Problem)]


def one(*cells: Cell, columns: Sequence[str]) -> RegisterRow | Rejected:
    [outcome] = outcomes(cells, header=(*BASE, *columns))
    return outcome


def test_the_fields_are_read() -> None:
    row = one("E1", "电梯", "630121", "１２３４５６", "县城", "医院", "36.93", 101.68,
              columns=("rescue_code", "area", "place", "latitude", "longitude"))
    assert isinstance(row, RegisterRow), row
    unit = row.equipment
    assert (unit.rescue_code, unit.area, unit.place) == ("123456", Area.URBAN, Place.HOSPITAL)
    assert (unit.latitude, unit.longitude) == (36.93, 101.68)


@pytest.mark.parametrize(("column", "text", "reason"), [
    ("rescue_code", "12", "rescue_code '12' is not a rescue code: 3–20 digits, letters or '-'"),
    ("rescue_code", "12 34 56", "rescue_code '12 34 56' is not a rescue code: 3–20 digits, letters or '-'"),
    ("area", "downtown", "area 'downtown' is not one of urban, other"),
    ("place", "zoo", "place 'zoo' is not one of residential"),
    ("latitude", "91", "latitude '91' is not a number of degrees from -90 to 90"),
    ("latitude", "nan", "latitude 'nan' is not a number of degrees from -90 to 90"),
])
def test_bad_values_are_refused_with_the_reason(column: str, text: str, reason: str) -> None:
    other = {"latitude": ("longitude", "101.7")}.get(column)
    columns = (column, *([other[0]] if other else []))
    outcome = one("E1", "elevator", "630102", text, *([other[1]] if other else []), columns=columns)
    assert isinstance(outcome, Rejected)
    assert any(reason in str(p) for p in outcome.problems), [str(p) for p in outcome.problems]


def test_latitude_without_longitude_is_refused() -> None:
    outcome = one("E1", "elevator", "630102", "36.6", None, columns=("latitude", "longitude"))
    assert isinstance(outcome, Rejected)
    assert [p.reason for p in outcome.problems] == ["latitude and longitude go together: give both or neither"]


def test_a_rescue_code_given_twice_in_a_file_is_refused_the_second_time() -> None:
    first, second = outcomes(("E1", "elevator", "630102", "654321"), ("E2", "elevator", "630102", "654321"),
                             header=(*BASE, "rescue_code"))
    assert isinstance(first, RegisterRow) and isinstance(second, Rejected)
    assert [p.reason for p in second.problems] == ["rescue_code '654321' is the unit's on line 2"]


def test_duty_contacts_are_name_and_phone_pairs() -> None:
    row = one("E1", "elevator", "630102", "WB1", "维保公司", "王工 13800000001；值班室：0971-6100001",
              columns=("maintenance_code", "maintenance_name", "maintenance_contacts"))
    assert isinstance(row, RegisterRow), row
    assert row.parties == (PartyRef(Role.MAINTENANCE, "WB1", "维保公司",
                                    contacts=(("王工", "13800000001"), ("值班室", "0971-6100001"))),)
    bad = one("E1", "elevator", "630102", "WB1", "王工", columns=("maintenance_code", "maintenance_contacts"))
    assert isinstance(bad, Rejected)
    assert [p.reason for p in bad.problems] == ["maintenance_contacts: '王工' is not `name phone`"]


@given(st.lists(st.tuples(st.text(st.characters(categories=("Lo", "Lu")), min_size=1, max_size=6),
                          st.from_regex(r"1[3-9]\d{9}", fullmatch=True)), max_size=5),
       st.sampled_from(list(Place)), st.sampled_from(list(Area)),
       st.floats(-90, 90), st.floats(-180, 180))
def test_a_written_row_reads_back_the_same(contacts: list[tuple[str, str]], place: Place, area: Area,
                                          latitude: float, longitude: float) -> None:
    names = [c.name for c in COLUMNS if not c.read_only]
    first = one("E1", "elevator", "630102", "W1", "Maint", "; ".join(f"{n} {p}" for n, p in contacts), str(place),
                str(area), latitude, longitude, "778899",
                columns=("maintenance_code", "maintenance_name", "maintenance_contacts", "place", "area", "latitude",
                         "longitude", "rescue_code"))
    assert isinstance(first, RegisterRow), first
    cells = row_cells(first.equipment, first.parties, {})
    header = [c.name for c in COLUMNS]
    again = outcomes([cells[header.index(n)] for n in names], header=names)[0]
    assert isinstance(again, RegisterRow), again
    assert again.equipment.rescue_code == "778899" and again.equipment.place == place
    assert (again.equipment.latitude, again.equipment.longitude) == (latitude, longitude)
    # An empty cell gives no contacts: the stored ones stay, as with every party detail.
    assert (again.parties[0].contacts or ()) == tuple(contacts)
