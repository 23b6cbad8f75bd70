"""A library schedule must run for ever in whole days: the loader refuses anything else."""
import pytest

from domain.recurrence import parse_frequency


@pytest.mark.parametrize("text", ["FREQ=MONTHLY;COUNT=2", "RRULE:FREQ=MONTHLY;UNTIL=20270101T000000Z",
                                  "RRULE:FREQ=HOURLY", "RRULE:FREQ=MINUTELY;INTERVAL=30", "RRULE:INTERVAL=2"])
def test_schedules_that_end_or_repeat_within_a_day_are_refused(text):
    with pytest.raises(ValueError):
        parse_frequency(text)


def test_ordinary_rrules_are_accepted():
    assert parse_frequency("RRULE:FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=-1").rrule
    assert parse_frequency("FREQ=WEEKLY;BYDAY=MO").rrule
