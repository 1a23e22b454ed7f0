"""A period far wider than the data is refused before any kernel starts, unless asked for.

Every daily chart spans the whole period: a 20-year period over 5 weeks of data drew thousands of
empty days and took over six minutes per report, with no word of why.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from escalation.incremental import known_span

#: Days a period may reach beyond the first and last day of the data.
MARGIN_DAYS = 366


def too_wide(start: str, end: str, data_dir: Path) -> str | None:
    """Why the period start–end is far wider than the data in `data_dir`, or None when it is not."""
    span = known_span(data_dir)
    if span is None or not start or not end:
        return None
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    before, after = (span[0] - first).days, (last - span[1]).days
    if max(before, after) <= MARGIN_DAYS:
        return None
    return (f"the period {first} – {last} ({(last - first).days + 1} days) reaches {max(before, 0)} days before "
            f"and {max(after, 0)} days after the data in {data_dir} (known {span[0]} – {span[1]}); every chart "
            f"would draw those empty days (a 20-year period took minutes per report). Narrow start and end, or "
            f"pass --wide-period to build it anyway")
