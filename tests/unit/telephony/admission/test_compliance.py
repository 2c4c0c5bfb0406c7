"""The outbound compliance gate: number normalising, do-not-call list, calling
hours in the callee's time zone (table tests, daylight-saving edges included)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from telephony.admission.compliance import (
    COUNTRY_ZONES,
    NANP_UNKNOWN_ZONES,
    NANP_ZONES,
    ComplianceGate,
    DoNotCallList,
    callee_zones,
    check_calling_hours,
    mask_number,
    normalise_number,
    parse_calling_hours,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def empty_dnc(tmp_path: Path) -> Path:
    path = tmp_path / "dnc.txt"
    path.write_text("# nobody has opted out yet\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155550100", "+14155550100"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("415-555-0100", "+14155550100"),
        ("1.415.555.0100", "+14155550100"),
        ("  (415) 555 0100  ", "+14155550100"),
        ("+44 20 7946 0018", "+442079460018"),
        ("0044 20 7946 0018", "+442079460018"),
        ("+91 98765 43210", "+919876543210"),
        ("+1 055 555 0100", None),  # no area code starts with 0
        ("+1 415 155 0100", None),  # nor an exchange with 1
        ("+1 415 555 010", None),  # too short for North America
        ("020 7946 0018", None),  # national format without a country: ambiguous
        ("12345", None),
        ("", None),
        ("call me maybe", None),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, expected: str | None) -> None:
    assert normalise_number(raw) == expected


def test_do_not_call_file_format() -> None:
    listed = DoNotCallList.parse(
        "# do-not-call list\n"
        "\n"
        "+1 (415) 555-0199   # asked on 2025-03-02\n"
        "312.555.0123\n"
        "not a number\n"
        "+44 20 7946 0018\n"
        "+14155550199\n"  # a duplicate keeps its first line
    )
    assert listed.numbers == {"+14155550199": 3, "+13125550123": 4, "+442079460018": 6}
    assert listed.invalid_lines == (5,)
    assert listed.line_of("+13125550123") == 4
    assert listed.line_of("+13125550124") is None


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        ("+12125550123", ("America/New_York",)),
        ("+13125550123", ("America/Chicago",)),
        ("+16025550123", ("America/Phoenix",)),
        ("+14155550123", ("America/Los_Angeles",)),
        ("+18085550123", ("Pacific/Honolulu",)),
        ("+14165550123", ("America/Toronto",)),
        ("+18505550123", ("America/New_York", "America/Chicago")),  # Florida panhandle
        ("+18005550123", NANP_UNKNOWN_ZONES),  # toll free: nowhere in particular
        ("+15555550123", NANP_UNKNOWN_ZONES),
        ("+442079460018", ("Europe/London",)),
        ("+35315550123", ("Europe/Dublin",)),
        ("+919876543210", ("Asia/Kolkata",)),
        ("+61412345678", COUNTRY_ZONES["61"]),
        ("+8613800138000", ()),  # no entry: refused by the gate
    ],
)
def test_callee_time_zones_come_from_the_number(number: str, zones: tuple[str, ...]) -> None:
    assert callee_zones(number)[0] == zones


def test_every_zone_in_the_tables_exists_and_area_codes_are_well_formed() -> None:
    names = {z for zones in NANP_ZONES.values() for z in zones}
    names |= set(NANP_UNKNOWN_ZONES) | {z for zones in COUNTRY_ZONES.values() for z in zones}
    for name in names:
        ZoneInfo(name)
    assert all(re.fullmatch(r"[2-9]\d\d", code) for code in NANP_ZONES)
    assert all(zones for zones in NANP_ZONES.values())


# (number, instant in UTC, allowed?, local time and zone the reason must name)
HOURS_CASES = [
    # New York, spring forward on 2025-03-09: the same 13:30Z is 08:30 EST, then 09:30 EDT.
    ("+12125550123", "2025-03-08T13:30", False, "08:30 in America/New_York"),
    ("+12125550123", "2025-03-10T13:30", True, "09:30 in America/New_York"),
    # New York, fall back on 2025-11-02: 00:30Z is 20:30 EDT (closed), then 19:30 EST (open).
    ("+12125550123", "2025-11-01T00:30", False, "20:30 in America/New_York"),
    ("+12125550123", "2025-11-04T00:30", True, "19:30 in America/New_York"),
    # Chicago: 09:00 is inside, 08:59 is not; 19:59 is inside, 20:00 is not.
    ("+13125550123", "2025-07-01T14:00", True, "09:00 in America/Chicago"),
    ("+13125550123", "2025-07-01T13:59", False, "08:59 in America/Chicago"),
    ("+13125550123", "2025-07-02T00:59", True, "19:59 in America/Chicago"),
    ("+13125550123", "2025-07-02T01:00", False, "20:00 in America/Chicago"),
    # Arizona keeps standard time; Denver does not: same instant, different answers.
    ("+16025550123", "2025-07-01T15:30", False, "08:30 in America/Phoenix"),
    ("+13035550123", "2025-07-01T15:30", True, "09:30 in America/Denver"),
    ("+16025550123", "2025-01-15T16:00", True, "09:00 in America/Phoenix"),
    # Los Angeles, spring forward at 10:00Z on 2025-03-09.
    ("+14155550123", "2025-03-08T16:30", False, "08:30 in America/Los_Angeles"),
    ("+14155550123", "2025-03-09T16:30", True, "09:30 in America/Los_Angeles"),
    # Hawaii: no DST, ten hours behind.
    ("+18085550123", "2025-07-01T18:59", False, "08:59 in Pacific/Honolulu"),
    # Florida panhandle spans Eastern and Central: 09:30 EST is still 08:30 CST.
    ("+18505550123", "2025-01-15T14:30", False, "08:30 in America/Chicago"),
    ("+18505550123", "2025-01-15T15:00", True, "10:00 in America/New_York"),
    # Unknown area code: every North American zone must be inside the window.
    ("+15555550123", "2025-07-01T14:00", False, "08:00 in America/Denver"),
    ("+15555550123", "2025-07-01T17:00", True, "14:00 in America/Halifax"),
    ("+15555550123", "2025-07-01T23:30", False, "20:30 in America/Halifax"),
    # London, BST from 2025-03-30: 08:30Z is 08:30 GMT, then 09:30 BST.
    ("+442079460018", "2025-03-29T08:30", False, "08:30 in Europe/London"),
    ("+442079460018", "2025-03-31T08:30", True, "09:30 in Europe/London"),
    # India: +05:30, no DST.
    ("+919876543210", "2025-06-01T03:29", False, "08:59 in Asia/Kolkata"),
    ("+919876543210", "2025-06-01T03:30", True, "09:00 in Asia/Kolkata"),
    # Australia spans Perth to Sydney; Adelaide and Sydney leave DST on 2025-04-06.
    ("+61412345678", "2025-04-04T09:30", False, "20:00 in Australia/Adelaide"),
    ("+61412345678", "2025-04-08T09:30", True, "17:30 in Australia/Perth"),
    ("+61412345678", "2025-04-08T00:30", False, "08:30 in Australia/Perth"),
]


@pytest.mark.parametrize(("number", "at", "allowed", "local"), HOURS_CASES)
def test_calling_hours_in_the_callees_time_zone(
    empty_dnc: Path, number: str, at: str, allowed: bool, local: str
) -> None:
    decision = ComplianceGate(empty_dnc, now=lambda: utc(at)).check(number)
    assert decision.allowed is allowed, decision.reason
    assert f"it is {local}" in decision.reason
    assert decision.reason.startswith("allowed" if allowed else "refused: outside calling hours")
    assert number not in decision.reason, "reasons show masked numbers only"


def test_custom_hours_and_the_time_of_any_offset(empty_dnc: Path) -> None:
    gate = ComplianceGate(empty_dnc, allowed_hours=(8, 21), now=lambda: utc("2025-07-01T13:30"))
    assert gate.check("+13125550123").allowed  # 08:30 CDT
    # "at" may carry any offset; only the instant matters.
    at = datetime(2025, 7, 1, 22, 30, tzinfo=timezone(timedelta(hours=9)))  # 13:30Z
    assert gate.check("+13125550123", at=at).allowed
    assert not ComplianceGate(empty_dnc).check("+13125550123", at=at).allowed


def test_do_not_call_wins_and_names_the_line(tmp_path: Path) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+1 312 555 0100\n(312) 555-0123\n", encoding="utf-8")
    decision = ComplianceGate(dnc, now=lambda: utc("2025-07-01T17:00")).check("+13125550123")
    assert not decision.allowed
    assert decision.reason == f"refused: +1...23 is on the do-not-call list ({dnc}, line 2)"
    assert decision.number == "+13125550123"


def test_additions_to_the_list_apply_to_the_next_call(tmp_path: Path) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("", encoding="utf-8")
    gate = ComplianceGate(dnc, now=lambda: utc("2025-07-01T17:00"))
    assert gate.check("+13125550123").allowed
    dnc.write_text("+13125550123\n", encoding="utf-8")
    assert not gate.check("+13125550123").allowed


def test_a_missing_list_refuses_every_call(tmp_path: Path) -> None:
    gate = ComplianceGate(tmp_path / "nope.txt", now=lambda: utc("2025-07-01T17:00"))
    decision = gate.check("+13125550123")
    assert not decision.allowed
    assert "does not exist" in decision.reason
    assert "create it, empty" in decision.reason


def test_unknown_countries_and_invalid_numbers_are_refused(empty_dnc: Path) -> None:
    gate = ComplianceGate(empty_dnc, now=lambda: utc("2025-07-01T04:00"))  # noon in Beijing
    decision = gate.check("+8613800138000")
    assert not decision.allowed
    assert "no time zone is known" in decision.reason
    assert "COUNTRY_ZONES" in decision.reason
    assert not gate.check("not a number").allowed
    assert not gate.check("not a number").number


def test_unparseable_lines_are_reported_by_line_number(tmp_path: Path, caplog) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+13125550100\nsecret person 12\n", encoding="utf-8")
    ComplianceGate(dnc, now=lambda: utc("2025-07-01T17:00")).check("+13125550123")
    assert "line(s) 2 are not phone numbers" in caplog.text
    assert "secret person" not in caplog.text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("9-20", (9, 20)), (" 8 - 21 ", (8, 21)), ("0-24", (0, 24))],
)
def test_calling_hours_setting_parses(raw: str, expected: tuple[int, int]) -> None:
    assert parse_calling_hours(raw) == expected


@pytest.mark.parametrize("raw", ["20-9", "9", "9-9", "0-25", "nine-five", ""])
def test_calling_hours_setting_rejects_nonsense(raw: str) -> None:
    with pytest.raises(ValueError, match="calling hours"):
        parse_calling_hours(raw)


def test_naive_times_and_bad_windows_are_our_mistake(empty_dnc: Path) -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        check_calling_hours(("Europe/London",), datetime(2025, 7, 1, 12, 0))
    with pytest.raises(ValueError, match="calling hours"):
        ComplianceGate(empty_dnc, allowed_hours=(20, 9))


@pytest.mark.parametrize(
    ("number", "masked"),
    [("+13125550123", "+1...23"), ("+442079460018", "+44...18"), ("+1", "...")],
)
def test_numbers_are_masked_for_logs(number: str, masked: str) -> None:
    assert mask_number(number) == masked
