"""Durations: the forms `--time-budget` reads, and seconds written back in the same form."""

import pytest

from cifarctl.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2m30s", 150),
                                               ("1.5h", 5400), (" 1H 30M ", 5400)])
def test_the_documented_forms_are_read(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("seconds", "text"), [(42, "42s"), (59.6, "1m00s"), (303, "5m03s"), (3903, "1h05m03s"),
                                               (30 * 24 * 3600, "720h00m00s")])
def test_seconds_are_written_in_the_form_that_is_read(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == round(seconds)
