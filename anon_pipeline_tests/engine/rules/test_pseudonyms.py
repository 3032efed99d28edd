import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from anon_pipeline.engine.rules.pseudonyms import (
    date_offset_days,
    pseudonymize,
    shift_da,
    shift_dt,
)

KEY = b"k" * 32


def test_pseudonym_is_stable_short_and_keyed():
    first = pseudonymize("Kowalski^Jan", KEY)
    assert first == pseudonymize("Kowalski^Jan", KEY)
    assert len(first) == 16 and first.isalnum()
    assert first != pseudonymize("Kowalski^Jan", b"x" * 32)
    assert first != pseudonymize("Nowak^Anna", KEY)
    assert "Kowalski" not in first


def test_empty_values_stay_empty():
    assert pseudonymize("", KEY) == ""


def test_date_offset_is_whole_weeks_into_the_past():
    offsets = {date_offset_days(f"PID{i}", KEY) for i in range(200)}
    assert all(offset < 0 and offset % 7 == 0 and offset >= -7 * 520 for offset in offsets)
    assert len(offsets) > 100  # patients get different offsets


@given(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2090, 1, 1)),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2090, 1, 1)),
    st.text(min_size=1, max_size=20),
)
def test_shift_keeps_intervals_and_weekdays_within_a_patient(first, second, patient):
    days = date_offset_days(patient, KEY)
    shifted = [
        dt.datetime.strptime(shift_da(d.strftime("%Y%m%d"), days), "%Y%m%d").date()
        for d in (first, second)
    ]
    assert shifted[1] - shifted[0] == second - first
    assert shifted[0].weekday() == first.weekday()
    assert shifted[0] != first


def test_values_that_are_not_full_dates_cannot_be_shifted():
    for value in ("", "2024", "202403", "20241301", "2024-03-01", "abcdefgh"):
        assert shift_da(value, -7) is None


def test_datetime_keeps_its_time_and_offset():
    assert shift_dt("20240315101500.123+0100", -7) == "20240308101500.123+0100"
    assert shift_dt("2024", -7) is None
