"""When a row became known: the one rule for reading `published_at` and `first_reported_at`.

A date-time must carry its UTC offset; a bare date means "some time that day", read as 23:59 of
that day in the case's time zone (`timezone` in case.yaml), so a claim is never counted before it
could have been known, and a report as of 23:59 on that day includes it.
"""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """23:59 of `day` in `zone`: the moment a bare date counts from, and a day's report describes."""
    return datetime.combine(day, time(23, 59), zone)


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


def utc_offset(moment: datetime) -> str:
    """'UTC+3', 'UTC-4:30', 'UTC': the offset of an aware moment, as printed beside local times."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if not minutes:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
