"""The front page: latest key figures, how they moved, one line per day with a trend mark by the stated rule.

The reports here are synthetic (generated below, labelled so): only their tables and manifests matter.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from escalation import frontpage
from escalation.index import manifests, write_index
from escalation.publish import Destination

SYNTHETIC = "synthetic test figure"


def publish_day(out: Path, day: str, figures: dict[str, tuple[int, int]], claims: list[str], events: int) -> None:
    """A synthetic daily report folder: manifest, key_figures.csv, new_events.csv, new_claims.csv."""
    folder = out / "daily" / day
    (folder / "tables").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({
        "report": f"daily/{day}", "html": f"situation_report_{day}.html", "status": "ok", "parameters": {},
        "window": SYNTHETIC, "generated_at": ""}))
    (folder / f"situation_report_{day}.html").write_text("<html></html>")
    with (folder / "tables" / "key_figures.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["figure", "value_low", "value_high", "as_of", "source_ids"])
        for figure, (low, high) in figures.items():
            writer.writerow([figure, low, high, f"{day}T23:59:00+03:00", "synthetic"])
    with (folder / "tables" / "new_claims.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["claim_id", "change"])
        writer.writerows([[f"synthetic-{i}", change] for i, change in enumerate(claims)])
    with (folder / "tables" / "new_events.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id"])
        writer.writerows([[f"synthetic-{i}"] for i in range(events)])


def synthetic_site(tmp_path: Path) -> Path:
    out = tmp_path / "reports"
    events = [2, 4, 6, 8, 20, 22, 22]  # new events per day: 2 2 2 2 12 2 0
    deaths = [10, 10, 10, 10, 10, 10, 10]  # no new deaths after the first day
    for index, (total, killed) in enumerate(zip(events, deaths), start=1):
        publish_day(out, f"2031-01-0{index}", {"events": (total, total), "killed.side_a": (killed, killed + index),
                                               "killed.side_a.synthetic-incident": (killed, killed + index)},
                    ["first figure"] * index + ["revision"], events=index % 3)
    return out


def test_each_day_gets_one_line_with_the_trend_by_the_stated_rule(tmp_path):
    out = synthetic_site(tmp_path)
    html = write_index(out, out / "_failed").read_text()
    assert "Previous</th>" not in html and "Next</th>" not in html
    lines = re.findall(r'<tr>\s*<td><a href="(daily/[^"]+)">[^<]+</a>.*?</tr>', html, re.S)
    assert lines == [f"daily/2031-01-0{i}/situation_report_2031-01-0{i}.html" for i in range(1, 8)]
    rows = {href.split("/")[1]: row for href, row in re.findall(
        r'<tr>\s*<td><a href="(daily/[^"]+)">[^<]+</a>(.*?)</tr>', html, re.S)}
    marks = {day: (re.search(r'class="trend-(\w+)"', row) or [None, "not rated"])[1] for day, row in rows.items()}
    # a day's change needs a day before it, so days 1-4 have fewer than 3 previous changes: not rated;
    # day 5: 12 new events against a mean of 2 -> worse; day 6: 2 against 4.5 is under half but only 2.5
    # lower -> unchanged; day 7: 0 against a mean of 4 is under half and 4 lower -> better
    assert {marks[f"2031-01-0{i}"] for i in range(1, 5)} == {"not rated"}
    assert marks["2031-01-05"] == "worse"
    assert marks["2031-01-06"] == "unchanged"
    assert marks["2031-01-07"] == "better"
    assert frontpage.TREND_RULE in html.replace("&#39;", "'").replace("&amp;", "&")
    assert re.search(r"<td class=\"number\">5, 1</td>", rows["2031-01-05"])  # 5 new claims, 1 revised


def test_latest_figures_come_from_the_newest_day_with_a_sparkline_per_main_figure(tmp_path):
    out = synthetic_site(tmp_path)
    html = write_index(out, out / "_failed").read_text()
    section = html[html.index('id="now"'):html.index('id="daily"')]
    assert "2031-01-07T23:59:00+03:00" in section
    assert "<strong>22</strong>" in section and "<strong>10–17</strong>" in section
    assert section.count('<svg class="spark"') == 2  # events and killed.side_a; not the incident
    assert 'aria-label="Killed: side a: 10–11 on 01 Jan, 10–17 on 07 Jan"' in section
    assert "<main>" in html and "<script" not in html


def test_the_biggest_change_names_the_figure_that_moved_most(tmp_path):
    out = synthetic_site(tmp_path)
    daily = [m for m in manifests(out) if m["report"].startswith("daily/")]
    lines = frontpage.day_lines(out, daily)
    by_day = {line["day"].strftime("%Y-%m-%d"): line for line in lines}
    assert by_day["2031-01-05"]["biggest_change"] == "Killed: side a: 10–14 → 10–15"
    assert by_day["2031-01-01"]["biggest_change"] == ""
    assert by_day["2031-01-05"]["new_events"] == 12 and by_day["2031-01-05"]["events_reported"] == 2
    assert by_day["2031-01-01"]["new_events"] is None  # the first report holds stocks, not a day's change


def test_a_long_key_figures_table_lists_its_main_figures_and_the_first_incidents(tmp_path):
    out = tmp_path / "reports"
    incidents = {f"killed.side_a.synthetic-{n:03d}": (n, n + 1) for n in range(frontpage.FRONT_INCIDENTS + 30)}
    publish_day(out, "2031-01-01", {"events": (50, 50), "killed.side_a": (5, 9), **incidents}, [], events=1)
    html = write_index(out, out / "_failed").read_text()
    section = html[html.index('id="now"'):html.index("</section>")]
    assert section.count('class="incident"') == frontpage.FRONT_INCIDENTS
    assert "Killed: side a, synthetic-019" in section and "synthetic-020" not in section
    assert '30 more incident figures are in <a href="daily/2031-01-01/tables/key_figures.csv">' in section


def test_the_index_is_rendered_again_only_when_what_it_shows_changed(tmp_path, monkeypatch):
    out = tmp_path / "reports"
    target = Destination(out, out / "figures")
    with target.next_version() as (version, _):
        publish_day(version, "2031-01-01", {"events": (2, 2)}, ["first figure"], events=2)
        write_index(version, out / "_failed")
    published, rendered, situation = target.reports.current(), [], frontpage.situation
    monkeypatch.setattr(frontpage, "situation", lambda *args: rendered.append(args) or situation(*args))
    target.refresh_index()
    assert not rendered and target.reports.current() == published, "nothing changed: nothing rendered or published"
    (out / "_failed").mkdir()
    (out / "_failed" / "daily_2031-01-02.error.json").write_text(json.dumps(
        {"report": "daily/2031-01-02", "error": "synthetic failure"}))
    target.refresh_index()
    assert len(rendered) == 1 and target.reports.current() != published
    assert "synthetic failure" in (out / "index.html").read_text()
    # a report whose manifest reached the published version without its index (nothing the build does, but the
    # index must follow the manifests, whatever wrote them)
    publish_day(target.reports.current(), "2031-01-03", {"events": (5, 5)}, [], events=3)
    target.refresh_index()
    assert "daily/2031-01-03/situation_report_2031-01-03.html" in (out / "index.html").read_text()
