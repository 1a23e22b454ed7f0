"""When a row became known: the one rule for reading `published_at` and `first_reported_at`.

A date-time must carry its UTC offset; a bare date means "some time that day", read as 23:59 of
that local day (UTC+3, Turkey and Idlib in 2020), so a claim is never counted before it could have
been known, and a report as of 23:59 on that day includes it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

#: Local time in Idlib and Turkey in February 2020.
LOCAL_TZ = timezone(timedelta(hours=3), "UTC+03:00")


def parse_moment(text: str | None) -> tuple[datetime, str] | None:
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
    return datetime.combine(day, time(23, 59), LOCAL_TZ), "day"
