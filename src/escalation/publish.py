"""Publishing a folder all at once: readers see one complete build or the one before it, never a mix.

A published folder D reads like a plain folder (D/index.html, D/<report>/...), but each of its
top-level entries is a link through one link, D/.published, into a complete copy under D/.versions/:

    D/index.html   ->  .published/index.html
    D/.published   ->  .versions/000012
    D/.versions/000012/index.html, <report>/..., figures/...

A publish prepares the next version beside the current one (unchanged files are hard links, so it
copies nothing and never leaves D's filesystem), then renames a fresh link over D/.published: that
one atomic rename switches every report, figure and the index together. A run killed before it
leaves the previous version visible; `recover` (run under the build lock) removes what it left.
Entries an older build wrote straight into D are carried into the first version. Other entries of D
(`_failed/`, hidden files, nested output folders) are not part of the publication.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from escalation.index import is_current, write_index

VERSIONS = ".versions"
CURRENT = ".published"
NOT_PUBLISHED = {"_failed"}
#: Tests set this to a moment of the publish ("after-first-report") to be killed exactly there.
KILL_FOR_TESTS = "ESCALATION_TEST_KILL_DURING_PUBLISH"


class Publication:
    """One published folder and its versions."""

    def __init__(self, root: Path):
        self.root = root

    def current(self) -> Path | None:
        """The version readers see now, if any."""
        link = self.root / CURRENT
        if not link.is_symlink():
            return None
        version = self.root / VERSIONS / Path(os.readlink(link)).name
        return version if version.is_dir() else None

    def lock(self):
        """Held while a version is prepared or recovered: two builds may share a figures folder."""
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".publish.lock"))

    def recover(self) -> None:
        """Remove the versions and links a killed publish left; every entry of the current version is linked."""
        with self.lock():
            self._recover()

    def _recover(self) -> None:
        current = self.current()
        (self.root / f"{CURRENT}.new").unlink(missing_ok=True)
        versions = self.root / VERSIONS
        if versions.is_dir():
            for version in versions.iterdir():
                if version != current:
                    shutil.rmtree(version, ignore_errors=True)
        if current:
            self._link_entries(current)

    @contextmanager
    def next_version(self) -> Iterator[Path]:
        """A new version to fill, starting as a copy of the current one; published at the end of the block,
        deleted if the block raises."""
        with self.lock():
            yield from self._next_version()

    def _next_version(self) -> Iterator[Path]:
        versions = self.root / VERSIONS
        versions.mkdir(parents=True, exist_ok=True)
        current = self.current()
        number = max((int(p.name) for p in versions.iterdir() if p.name.isdigit()), default=0) + 1
        new = versions / f"{number:06d}"
        try:
            if current:
                _link_tree(current, new)
            else:
                new.mkdir()
            for entry in self._legacy_entries():
                if not (new / entry.name).exists():
                    _link_tree(entry, new / entry.name)
            yield new
            for name in _names(new):  # links for new entries first: dangling, like an absent entry, until the flip
                link = self.root / name
                if not link.exists() and not link.is_symlink():
                    os.symlink(f"{CURRENT}/{name}", link)
            flip = self.root / f"{CURRENT}.new"
            flip.unlink(missing_ok=True)
            os.symlink(f"{VERSIONS}/{new.name}", flip)
            os.replace(flip, self.root / CURRENT)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        self._link_entries(new)
        for old in versions.iterdir():
            if old != new:
                shutil.rmtree(old, ignore_errors=True)

    def _legacy_entries(self) -> list[Path]:
        """Entries an older build wrote straight into the folder (not links, not hidden, not output folders)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir()
                      if not p.is_symlink() and not p.name.startswith(".") and p.name not in NOT_PUBLISHED
                      and not (p / ".build.lock").exists() and not (p / CURRENT).is_symlink())

    def _link_entries(self, version: Path) -> None:
        """Point a link at every entry of `version`, replacing entries an older build wrote in place, and drop
        links to entries that are gone."""
        names = _names(version)
        for legacy in self._legacy_entries():
            if legacy.name in names:
                aside = legacy.with_name(f".legacy-{legacy.name}")
                legacy.rename(aside)
                os.symlink(f"{CURRENT}/{legacy.name}", legacy)
                _remove(aside)
        for name in names:
            link = self.root / name
            if not link.is_symlink():
                os.symlink(f"{CURRENT}/{name}", link)
        for link in self.root.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(f"{CURRENT}/") and link.name not in names:
                link.unlink()
        for aside in self.root.glob(".legacy-*"):
            _remove(aside)


class Destination:
    """Where a build publishes: its reports folder and its figures folder, each a `Publication`; figures inside
    the reports folder are published with the reports in one step."""

    def __init__(self, out_dir: Path, figures_dir: Path):
        self.out_dir = out_dir
        self.reports = Publication(out_dir)
        self.figures_in_reports = inside(figures_dir, out_dir)
        self.figures = None if self.figures_in_reports is not None else Publication(figures_dir)

    def recover(self) -> None:
        for publication in filter(None, (self.reports, self.figures)):
            publication.recover()
        for staging in self.out_dir.glob(".staging-*"):
            shutil.rmtree(staging, ignore_errors=True)

    @contextmanager
    def next_version(self) -> Iterator[tuple[Path, Path]]:
        """(reports version, figures version) to fill; the figures are published first, the reports (the
        moment the build counts as done) last."""
        with self.reports.next_version() as reports:
            if self.figures is None:
                yield reports, reports / self.figures_in_reports
            else:
                with self.figures.next_version() as figures:
                    yield reports, figures

    def refresh_index(self) -> None:
        """Publish a new index when what it shows changed, e.g. failures after a build that published no report."""
        current = self.reports.current()
        failed_dir = self.out_dir / "_failed"
        if current and is_current(current, failed_dir):
            return
        with self.reports.next_version() as reports:
            write_index(reports, failed_dir)


def inside(folder: Path, root: Path) -> Path | None:
    """`folder` relative to `root` when it lies inside it, else None. Paths are compared as written, not
    resolved: inside a publication, resolving would lead into the version behind the links."""
    folder, root = Path(os.path.abspath(folder)), Path(os.path.abspath(root))
    return folder.relative_to(root) if folder.is_relative_to(root) else None


def replace_entry(version: Path, name: str, new: Path) -> None:
    """Put `new` (a file or folder, from any filesystem) at `name` inside a version being prepared."""
    target = version / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        _remove(target)
    shutil.move(new, target)


def kill_here_for_tests(moment: str) -> None:
    """Die at once at this moment of a publish when a test asks for it (see KILL_FOR_TESTS)."""
    if os.environ.get(KILL_FOR_TESTS) == moment:
        os.kill(os.getpid(), signal.SIGKILL)


def _names(version: Path) -> set[str]:
    """The entries a version publishes; hidden ones are the folder's own machinery and never linked."""
    return {p.name for p in version.iterdir() if not p.name.startswith(".")}


def _link_tree(source: Path, target: Path) -> None:
    """Copy a file or folder as hard links (a plain copy where the filesystem has none)."""
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True, copy_function=_hard_link)
    else:
        _hard_link(source, target)


def _hard_link(source: str | Path, target: str | Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
