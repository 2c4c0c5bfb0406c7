"""The compliance gate every outbound call passes before it is dialled.

Two checks, both failing closed:

1. **Do-not-call list**: a text file, one number per line, ``#`` starts a
   comment. Numbers are normalised before comparison (``+1 (415) 555-0100``,
   ``415-555-0100``, ``1.415.555.0100`` and ``+14155550100`` are the same
   number; ten digits without a country code are read as North American;
   ``00`` is read as ``+``). A missing list refuses every call: create an
   empty file to say "no entries". Lines that are not numbers are reported
   (by line number) and skipped.
2. **Calling hours** in the callee's local time, ``start <= local < end``
   (default 09:00-20:00). The callee's time zone comes from the number alone:

   - North American (+1) numbers: the area code, from :data:`NANP_ZONES`.
     Area codes that span time zones (e.g. 850 Florida, 270 Kentucky, 605
     South Dakota) list every zone they touch, and the local time must be
     inside the window in *all* of them. An area code not in the table (toll
     free 8XX, new overlays, Caribbean codes not listed) gets the most
     restrictive reading: inside the window in every zone of
     :data:`NANP_UNKNOWN_ZONES` (Atlantic, Eastern, Central, Mountain,
     Arizona, Pacific), which narrows the default window to about seven
     hours. Alaska and Hawaii are only assumed for their own area codes
     (907, 808).
   - Other countries: the country code, from :data:`COUNTRY_ZONES`; only
     the few countries listed are allowed at all, and countries spanning
     zones (Australia) need every zone inside the window. Any other country
     is refused: its time zone is unknown.

   Limits: ported numbers and mobiles keep their original area code, so a
   mobile number shows where it was issued, not where its owner is; the table
   is hand-made and small (add codes as they are needed, with every zone they
   touch). The gate proves the calling window by the number, which is what
   the rules for telemarketing hours (e.g. the US TCPA's 8 am-9 pm) ask of a
   caller who does not know the callee's location.

The module does no network I/O; the clock is injected (``now``), so every
rule is testable at any instant, including daylight-saving changes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = [
    "COUNTRY_ZONES",
    "DEFAULT_CALLING_HOURS",
    "NANP_UNKNOWN_ZONES",
    "NANP_ZONES",
    "ComplianceDecision",
    "ComplianceGate",
    "DoNotCallList",
    "callee_zones",
    "check_calling_hours",
    "mask_number",
    "normalise_number",
    "parse_calling_hours",
]

logger = logging.getLogger("dialgraph.compliance")

DEFAULT_CALLING_HOURS = (9, 20)  # 09:00-20:00 local: inside the TCPA's 8 am-9 pm, with margin

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_NANP = re.compile(r"^\+1[2-9]\d{2}[2-9]\d{6}$")  # +1 NPA NXX XXXX
_SEPARATORS = re.compile(r"[\s().\-/]")

# -- time zone tables ----------------------------------------------------------
# Area codes wholly inside one zone, by zone. IANA names, so DST follows tzdata.
_NANP_SINGLE: dict[str, str] = {
    "America/New_York": (
        # NY NJ PA
        "212 315 332 347 363 516 518 585 607 631 646 680 716 718 838 845 914 917 929 934 "
        "201 551 609 640 732 848 856 862 908 973 "
        "215 223 267 272 412 445 484 570 582 610 717 724 814 878 "
        # New England, DC MD DE VA WV
        "339 351 413 508 617 774 781 857 978 203 475 860 959 401 603 802 207 "
        "202 771 227 240 301 410 443 667 302 276 434 540 571 703 757 804 826 948 304 681 "
        # NC SC GA, Florida east of the Apalachicola, OH, Lower Michigan
        "252 336 472 704 743 828 910 919 980 984 803 839 843 854 864 "
        "229 404 470 478 678 706 762 770 912 943 "
        "239 305 321 324 352 386 407 561 656 689 727 754 772 786 813 863 904 941 954 "
        "216 220 234 326 330 380 419 436 440 513 567 614 740 937 "
        "231 248 269 313 517 586 616 679 734 810 947 989 "
        # Kentucky (Louisville, Lexington), Tennessee (Knoxville)
        "502 859 865"
    ),
    "America/Indiana/Indianapolis": "260 317 463 765",
    "America/Chicago": (
        "205 251 256 659 938 228 601 662 769 225 318 337 504 985 327 479 501 870 "
        "314 417 557 573 636 660 816 975 319 515 563 641 712 218 320 507 612 651 763 952 "
        "262 274 353 414 534 608 715 920 "
        "217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 861 872 "
        "405 539 572 918 316 913 402 531 615 629 731 901 "
        "210 214 254 281 325 346 361 409 430 469 512 682 713 726 737 806 817 830 832 "
        "903 936 940 945 956 972 979"
    ),
    "America/Denver": "303 720 719 970 983 385 435 801 505 575 307 406 915",
    "America/Phoenix": "480 520 602 623",  # Arizona keeps standard time all year
    "America/Los_Angeles": (
        "209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650 "
        "657 661 669 707 714 747 760 805 818 820 831 840 858 909 916 925 949 951 "
        "206 253 360 425 509 564 503 971 702 725"
    ),
    "Pacific/Honolulu": "808",
    "America/Puerto_Rico": "787 939 340",  # St Thomas (340) shares Puerto Rico's time
    "Pacific/Guam": "671",
    "America/Jamaica": "876 658",
    # Canada
    "America/Toronto": (
        "416 437 647 905 289 365 742 613 343 753 519 226 548 705 249 "
        "514 438 450 579"  # Montreal: Quebec's IANA zone is America/Toronto
    ),
    "America/Winnipeg": "204 431 584",
    "America/Edmonton": "403 587 825 780 368",
    "America/Vancouver": "604",
    "America/Halifax": "902 782",
    "America/Moncton": "506 428",
}

# Area codes whose territory crosses a zone line: every zone it touches.
_NANP_SPANNING: dict[str, tuple[str, ...]] = {
    "850": ("America/New_York", "America/Chicago"),  # Florida panhandle
    "448": ("America/New_York", "America/Chicago"),  # overlay of 850
    "906": ("America/Detroit", "America/Menominee"),  # Upper Peninsula
    "219": ("America/Chicago", "America/Indiana/Indianapolis"),  # northwest Indiana
    "574": ("America/Indiana/Indianapolis", "America/Indiana/Knox"),
    "812": ("America/Indiana/Indianapolis", "America/Chicago"),
    "930": ("America/Indiana/Indianapolis", "America/Chicago"),
    "270": ("America/Chicago", "America/New_York"),  # western Kentucky
    "364": ("America/Chicago", "America/New_York"),
    "606": ("America/New_York", "America/Chicago"),  # eastern Kentucky (Clinton County)
    "423": ("America/New_York", "America/Chicago"),  # east Tennessee
    "931": ("America/Chicago", "America/New_York"),  # middle Tennessee
    "308": ("America/Chicago", "America/Denver"),  # western Nebraska
    "620": ("America/Chicago", "America/Denver"),  # southern Kansas
    "785": ("America/Chicago", "America/Denver"),  # northern Kansas
    "701": ("America/Chicago", "America/Denver"),  # North Dakota
    "605": ("America/Chicago", "America/Denver"),  # South Dakota
    "432": ("America/Chicago", "America/Denver"),  # west Texas
    "208": ("America/Boise", "America/Los_Angeles"),  # Idaho
    "986": ("America/Boise", "America/Los_Angeles"),
    "541": ("America/Los_Angeles", "America/Boise"),  # Oregon (Malheur County)
    "458": ("America/Los_Angeles", "America/Boise"),  # overlay of 541
    "334": ("America/Chicago", "America/New_York"),  # Alabama; Phenix City keeps Eastern
    "580": ("America/Chicago", "America/Denver"),  # Oklahoma; Kenton keeps Mountain
    "775": ("America/Los_Angeles", "America/Denver"),  # Nevada (West Wendover)
    "928": ("America/Phoenix", "America/Denver"),  # Navajo Nation keeps DST
    "907": ("America/Anchorage", "America/Adak"),
    # Canada
    "250": ("America/Vancouver", "America/Edmonton", "America/Dawson_Creek"),
    "778": ("America/Vancouver", "America/Edmonton", "America/Dawson_Creek"),
    "236": ("America/Vancouver", "America/Edmonton", "America/Dawson_Creek"),
    "672": ("America/Vancouver", "America/Edmonton", "America/Dawson_Creek"),
    "306": ("America/Regina", "America/Edmonton"),  # Saskatchewan (Lloydminster)
    "639": ("America/Regina", "America/Edmonton"),
    "807": ("America/Toronto", "America/Winnipeg"),  # northwestern Ontario
    "418": ("America/Toronto", "America/Halifax"),  # Quebec (Magdalen Islands)
    "581": ("America/Toronto", "America/Halifax"),
    "709": ("America/St_Johns", "America/Goose_Bay"),  # Newfoundland and Labrador
    "867": (  # the territories
        "America/Whitehorse",
        "America/Yellowknife",
        "America/Rankin_Inlet",
        "America/Iqaluit",
    ),
}

NANP_ZONES: dict[str, tuple[str, ...]] = {
    **{code: (zone,) for zone, codes in _NANP_SINGLE.items() for code in codes.split()},
    **_NANP_SPANNING,
}
"""North American area code -> every IANA zone it covers."""

NANP_UNKNOWN_ZONES: tuple[str, ...] = (
    "America/Halifax",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
)
"""Zones assumed for a +1 number whose area code is not in :data:`NANP_ZONES`."""

COUNTRY_ZONES: dict[str, tuple[str, ...]] = {
    "44": ("Europe/London",),
    "353": ("Europe/Dublin",),
    "33": ("Europe/Paris",),
    "49": ("Europe/Berlin",),
    "31": ("Europe/Amsterdam",),
    "39": ("Europe/Rome",),
    "91": ("Asia/Kolkata",),
    "65": ("Asia/Singapore",),
    "81": ("Asia/Tokyo",),
    "64": ("Pacific/Auckland",),  # not the Chatham Islands (+64 3 305)
    # Australia, all mainland states and Tasmania (not Lord Howe or Eucla).
    "61": (
        "Australia/Perth",
        "Australia/Darwin",
        "Australia/Adelaide",
        "Australia/Brisbane",
        "Australia/Sydney",
        "Australia/Hobart",
    ),
}
"""Country calling code (without ``+``) -> every IANA zone the country spans."""


# -- numbers -------------------------------------------------------------------
def normalise_number(raw: str) -> str | None:
    """``raw`` as E.164 (``+14155550100``), or ``None`` if it is not a phone number.

    Spaces, dots, dashes, slashes and parentheses are ignored; ``00`` is read
    as ``+``; ten digits, or eleven starting with 1, are read as North
    American. A ``+1`` number must have a valid area code and exchange.
    """
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        if len(text) == 10 and text.isdigit():
            text = "+1" + text
        elif len(text) == 11 and text.startswith("1") and text.isdigit():
            text = "+" + text
        else:
            return None
    if not _E164.match(text):
        return None
    if text.startswith("+1") and not _NANP.match(text):
        return None
    return text


def mask_number(number: str) -> str:
    """A loggable form of a number: country code and last two digits (``+1...00``)."""
    if number.startswith("+1") and len(number) > 4:
        return "+1..." + number[-2:]
    return (number[:3] + "..." + number[-2:]) if len(number) > 5 else "..."


def callee_zones(number: str) -> tuple[tuple[str, ...], str]:
    """Every time zone the callee of ``number`` (E.164) may be in, and how it was found.

    Returns:
        ``(zones, basis)``; ``zones`` is empty when the country is unknown.
        ``basis`` is a short phrase for the decision's reason.
    """
    if number.startswith("+1"):
        area = number[2:5]
        if area in NANP_ZONES:
            return NANP_ZONES[area], f"area code {area}"
        return NANP_UNKNOWN_ZONES, f"area code {area} (not in the table: every North American zone)"
    digits = number[1:]
    for length in (3, 2, 1):
        if digits[:length] in COUNTRY_ZONES:
            return COUNTRY_ZONES[digits[:length]], f"country code +{digits[:length]}"
    return (), "no time zone is known for its country code"


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# -- hours ---------------------------------------------------------------------
def parse_calling_hours(raw: str) -> tuple[int, int]:
    """``"9-20"`` -> ``(9, 20)``: allowed from 09:00 up to (not including) 20:00.

    Raises:
        ValueError: Not ``START-END`` whole hours with ``0 <= START < END <= 24``.
    """
    match = re.fullmatch(r"\s*(\d{1,2})\s*-\s*(\d{1,2})\s*", raw)
    if match is None:
        raise ValueError(f"expected calling hours as START-END, e.g. 9-20, got {raw!r}")
    hours = (int(match[1]), int(match[2]))
    _check_hours(hours)
    return hours


def _check_hours(hours: tuple[int, int]) -> None:
    start, end = hours
    if not 0 <= start < end <= 24:
        raise ValueError(f"calling hours must satisfy 0 <= start < end <= 24, got {start}-{end}")


def check_calling_hours(
    zones: Iterable[str], at: datetime, hours: tuple[int, int] = DEFAULT_CALLING_HOURS
) -> tuple[bool, str]:
    """Whether ``at`` is inside ``hours`` local time in every one of ``zones``.

    Returns:
        ``(allowed, detail)``: the local time that decided it, e.g.
        ``"it is 08:30 in America/Chicago"``.

    Raises:
        ValueError: ``at`` has no time zone, or ``hours`` is not a valid window.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("calling hours need an aware datetime (e.g. datetime.now(UTC))")
    _check_hours(hours)
    start, end = hours
    shown = ""
    for name in zones:
        local = at.astimezone(_zone(name))
        minute = local.hour * 60 + local.minute
        detail = f"it is {local:%H:%M} in {name}"
        if not start * 60 <= minute < end * 60:
            return False, detail
        shown = shown or detail
    return True, shown


# -- do-not-call list ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DoNotCallList:
    """Parsed do-not-call numbers.

    Attributes:
        numbers: Each listed number in E.164, with the line it came from.
        invalid_lines: Line numbers whose text is not a phone number.
    """

    numbers: dict[str, int]
    invalid_lines: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> DoNotCallList:
        """Read the file format: one number per line, ``#`` comments, blanks ignored."""
        numbers: dict[str, int] = {}
        invalid: list[int] = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            number = normalise_number(entry)
            if number is None:
                invalid.append(lineno)
            else:
                numbers.setdefault(number, lineno)
        return cls(numbers, tuple(invalid))

    def line_of(self, number: str) -> int | None:
        """The line listing ``number`` (E.164), or ``None`` if it is not listed."""
        return self.numbers.get(number)


# -- the gate ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ComplianceDecision:
    """Whether a number may be called now, and why (for the operator).

    Attributes:
        allowed: ``True`` only if every check passed.
        reason: A sentence a person can act on.
        number: The callee in E.164 (``""`` if it was not a valid number).
        zones: The time zones assumed for the callee.
    """

    allowed: bool
    reason: str
    number: str = ""
    zones: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.allowed


class ComplianceGate:
    """Refuses outbound calls to do-not-call numbers and outside calling hours.

    Args:
        dnc_path: The do-not-call list file. Re-read when it changes, so
            additions apply to the next call. A missing file refuses all calls.
        allowed_hours: ``(start, end)`` whole hours, local to the callee.
        now: The clock: returns an aware ``datetime`` (default: UTC now).
    """

    def __init__(
        self,
        dnc_path: str | Path,
        *,
        allowed_hours: tuple[int, int] = DEFAULT_CALLING_HOURS,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        _check_hours(allowed_hours)
        self.dnc_path = Path(dnc_path)
        self.allowed_hours = allowed_hours
        self._now = now or (lambda: datetime.now(UTC))
        self._cached: tuple[tuple[int, int], DoNotCallList] | None = None

    def check(self, number: str, *, at: datetime | None = None) -> ComplianceDecision:
        """Decide whether ``number`` may be called at ``at`` (default: the clock's now)."""
        e164 = normalise_number(number)
        if e164 is None:
            return ComplianceDecision(False, "refused: not a valid phone number in E.164 form")
        listed = self._load()
        if isinstance(listed, str):
            return ComplianceDecision(False, listed, e164)
        line = listed.line_of(e164)
        if line is not None:
            return ComplianceDecision(
                False,
                f"refused: {mask_number(e164)} is on the do-not-call list "
                f"({self.dnc_path}, line {line})",
                e164,
            )
        zones, basis = callee_zones(e164)
        if not zones:
            return ComplianceDecision(
                False,
                f"refused: {basis} ({mask_number(e164)}), so its calling hours cannot be "
                "checked; add it to COUNTRY_ZONES in telephony/admission/compliance.py",
                e164,
            )
        start, end = self.allowed_hours
        ok, detail = check_calling_hours(zones, at or self._now(), self.allowed_hours)
        window = f"{start:02d}:00-{end:02d}:00 callee's local time"
        if not ok:
            return ComplianceDecision(
                False,
                f"refused: outside calling hours ({window}): {detail}, by {basis}",
                e164,
                zones,
            )
        return ComplianceDecision(
            True,
            f"allowed: not on the do-not-call list; {detail} ({window}, by {basis})",
            e164,
            zones,
        )

    def _load(self) -> DoNotCallList | str:
        """The list, re-read if the file changed; a refusal reason if it cannot be read."""
        try:
            stat = self.dnc_path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
            listed = DoNotCallList.parse(self.dnc_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return (
                f"refused: the do-not-call list {self.dnc_path} does not exist "
                "(create it, empty if nobody has opted out)"
            )
        except (OSError, UnicodeDecodeError) as exc:
            return f"refused: cannot read the do-not-call list {self.dnc_path}: {exc}"
        if listed.invalid_lines:
            logger.warning(
                "do-not-call list %s: line(s) %s are not phone numbers and were skipped",
                self.dnc_path,
                ", ".join(map(str, listed.invalid_lines)),
            )
        self._cached = (key, listed)
        return listed
