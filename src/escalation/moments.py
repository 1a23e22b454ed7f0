"""When a row became known: the one rule for reading `published_at` and `first_reported_at`.

A date-time must carry its UTC offset; a bare date means "some time that day", read as 23:59 of
that day in the case's time zone (`timezone` in case.yaml), so a claim is never counted before it
could have been known, and a report as of 23:59 on that day includes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: The usual form of a moment (minutes, perhaps seconds, and an offset), which `parse_moments` reads in one go.
USUAL_MOMENT = r"^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?[+-]\d\d:\d\d$"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """23:59 of `day` in `zone`: the moment a bare date counts from, and a day's report describes."""
    return datetime.combine(day, time(23, 59), zone)


def microseconds(moment: datetime) -> int:
    """An aware moment as microseconds since 1970 in UTC: how known orders and `parse_moments` keep moments."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def parse_moment(text: str | None, zone: tzinfo) -> tuple[datetime, str] | None:
    """(aware datetime, precision 'minute' or 'day'), or None when the text is not such a moment."""
    if not text:
        return None
    try:
        if "T" in text:
            moment = datetime.fromisoformat(text)
            return (moment, "minute") if moment.tzinfo is not None else None
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None
    return end_of_day(day, zone), "day"


@dataclass
class Moments:
    """`parse_moment` of many texts, as arrays: `utc_microseconds` since 1970 (0 where not a moment), `precision`
    ('minute', 'day' or None where not a moment) and `written_day`, the day the text names (as the range of
    accepted dates is judged)."""

    utc_microseconds: np.ndarray
    precision: np.ndarray
    written_day: np.ndarray

    @property
    def parsed(self) -> np.ndarray:
        return self.precision != None  # noqa: E711 - numpy compares element by element


def parse_moments(texts, zone: tzinfo) -> Moments:
    """`parse_moment` of each text (an Arrow string array, or a list where None or anything but text is not a
    moment): the usual form read in one go; any other form, and a batch holding an impossible date, one by one.
    A million rows share far fewer moments: call it once per distinct text."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    count = len(texts)
    result = Moments(np.zeros(count, dtype=np.int64), np.full(count, None, dtype=object),
                     np.zeros(count, dtype="datetime64[D]"))
    if not isinstance(texts, pa.Array):
        texts = pa.array([text if isinstance(text, str) else None for text in texts], pa.string())
    is_usual = pc.match_substring_regex(texts, USUAL_MOMENT).fill_null(False)
    usual = np.flatnonzero(is_usual.to_numpy(zero_copy_only=False))
    done = np.zeros(count, dtype=bool)
    if len(usual):
        given = texts.filter(is_usual)
        offsets = pc.utf8_slice_codeunits(given, -6)
        hours = pc.cast(pc.utf8_slice_codeunits(offsets, 1, 3), pa.int64()).to_numpy()
        minutes = pc.cast(pc.utf8_slice_codeunits(offsets, 4, 6), pa.int64()).to_numpy()
        sign = np.where(pc.starts_with(offsets, "-").to_numpy(zero_copy_only=False), -1, 1)
        try:  # numpy refuses a 30 February or a 25th hour, as Python does
            local = np.array(pc.utf8_slice_codeunits(given, 0, -6).to_pylist(), dtype="datetime64[us]")
        except ValueError:
            local = None
        if local is not None:
            readable = (hours < 24) & (minutes < 60)
            rows = usual[readable]
            result.utc_microseconds[rows] = (local.astype(np.int64) - sign * (hours * 60 + minutes) * 60_000_000)[
                readable]
            result.precision[rows] = "minute"
            result.written_day[rows] = local[readable].astype("datetime64[D]")
            done[rows] = True
    for i in np.flatnonzero(~done):
        parsed = parse_moment(texts[int(i)].as_py(), zone)
        if parsed:
            result.utc_microseconds[i] = microseconds(parsed[0])
            result.precision[i] = parsed[1]
            result.written_day[i] = np.datetime64(parsed[0].date(), "D")
    return result


def utc_offset(moment: datetime) -> str:
    """'UTC+3', 'UTC-4:30', 'UTC': the offset of an aware moment, as printed beside local times."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if not minutes:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
