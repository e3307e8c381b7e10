"""The feeds as published: the snapshot the app serves, and the state kept on disk for it.

``FeedStore`` holds the feeds being served; ``publish`` rebuilds them after each plan
(re)load, saves the history and writes the feed files; ``PublishedFeeds`` does both for a
process that only serves feeds (``notifier serve``, ``wsgi.create_app``).

Both state files live beside the ledger (``settings.ledger.path.parent``):
``feed-history.json`` keeps SEQUENCE/LAST-MODIFIED stable across restarts (without it
every restart would restamp every event); ``feed-tokens.json`` (mode 0600) holds the secret
part of each feed's URL when ``feeds.tokens = true``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from notifier.catalog import Catalog, load_catalog
from notifier.errors import UserError
from notifier.feed import Feed, FeedSet, History, Refresh, feed_path, refresh
from notifier.files import atomic_write, make_folder
from notifier.ledger import open_reader
from notifier.records import Statuses
from notifier.settings import Settings

logger = logging.getLogger(__name__)

HISTORY_FILE = "feed-history.json"
TOKENS_FILE = "feed-tokens.json"
TOKENS_VERSION = 1
TOKEN_BYTES = 24  # 32 URL-safe characters, 192 bits
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def history_path(settings: Settings) -> Path:
    return settings.ledger.path.parent / HISTORY_FILE


def tokens_path(settings: Settings) -> Path:
    return settings.ledger.path.parent / TOKENS_FILE


# --- the feeds being served -------------------------------------------------------------------


class TokenSource(Protocol):
    """Where the per-feed tokens come from (``TokenFile`` on disk)."""

    def current(self) -> Mapping[str, str]: ...

    def ensure(self, names: Iterable[str]) -> Mapping[str, str]: ...

    def rotate(self, names: Iterable[str]) -> Mapping[str, str]: ...


class HistoryKeeper(Protocol):
    """Where the feed history is kept (``FileHistory`` beside the ledger; with a shared
    ledger, ``feedstate_pg.SharedHistory`` in its database)."""

    def load(self) -> History: ...

    def updating(self) -> contextlib.AbstractContextManager[Saving]: ...


class Saving(Protocol):
    """Within ``HistoryKeeper.updating``: the history to build from (None: the store's own),
    and where the built one goes."""

    latest: History | None

    def save(self, history: History) -> bool: ...


class FileHistory:
    """The feed history in ``feed-history.json``: this process is its only writer, so the
    history the store holds is the latest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.latest: History | None = None

    def load(self) -> History:
        return load_history(self.path)

    @contextlib.contextmanager
    def updating(self) -> Iterator[FileHistory]:
        yield self

    def save(self, history: History) -> bool:
        return save_history(self.path, history)


def feed_state(settings: Settings) -> tuple[HistoryKeeper, TokenSource]:
    """Where this node keeps the feed history and tokens: files beside the SQLite ledger, or
    the shared ledger database, which every node must agree on."""
    if settings.ledger.url:
        from notifier.feedstate_pg import SharedHistory, SharedTokens

        return SharedHistory(settings.ledger), SharedTokens(settings.ledger)
    return FileHistory(history_path(settings)), TokenFile(tokens_path(settings))


class FeedStore:
    """The feeds being served: an immutable snapshot, swapped whole on each update.

    Readers (request threads) take ``self.feeds`` once and use that object: a reference
    assignment is atomic, so a request sees either the old or the new set, never a mix.
    """

    def __init__(
        self,
        settings: Settings,
        history: History | None = None,
        tokens: TokenSource | None = None,
    ) -> None:
        self._settings = settings
        self._history = history or History()
        self._tokens = tokens
        self._feeds = FeedSet()
        self._update_lock = threading.Lock()
        self._statuses: Statuses = {}
        self._catalog: Catalog | None = None

    @property
    def feeds(self) -> FeedSet:
        return self._feeds

    @property
    def history(self) -> History:
        """The history matching the served feeds; the caller saves it (``save_history``)."""
        return self._history

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def catalog(self) -> Catalog | None:
        """The catalog the served feeds were built from (None before the first)."""
        return self._catalog

    @property
    def statuses(self) -> Statuses:
        """The milestone statuses the served feeds were built with."""
        return self._statuses

    def keep_statuses(self, statuses: Statuses) -> None:
        """Build the next feeds with ``statuses``: known at start, they restamp nothing."""
        with self._update_lock:
            self._statuses = statuses

    @property
    def tokens_required(self) -> bool:
        return self._settings.feeds.tokens

    def update(
        self,
        catalog: Catalog | None,
        now: datetime,
        settings: Settings | None = None,
        statuses: Statuses | None = None,
        history: History | None = None,
    ) -> Refresh:
        """Rebuild every feed from the catalog and swap it in; return feeds and new history.

        ``statuses`` (None: those of the last update) mark done milestones in the events;
        ``catalog`` None rebuilds the last one, read under the lock, so a status change never
        brings back a catalog a reload has just replaced.
        """
        with self._update_lock:
            catalog = catalog if catalog is not None else self._catalog
            if catalog is None:
                return Refresh(self._feeds, self._history)
            self._catalog = catalog
            settings = settings or self._settings
            statuses = self._statuses if statuses is None else statuses
            # ``history``: the latest another node may have stamped (``HistoryKeeper``).
            base = self._history if history is None else history
            result = refresh(catalog, settings, base, now, statuses)
            self._statuses = statuses
            if settings.feeds.tokens:
                if self._tokens is None:
                    logger.error("feeds.tokens is on but no token file is set; every feed is 404")
                else:
                    self._tokens.ensure(feed.name for feed in result.feeds)
            self._settings = settings
            self._history = result.history
            self._feeds = result.feeds
            for problem in result.feeds.problems:
                logger.warning("feed not published: %s", problem)
            return result

    def find(self, name: str, token: str | None) -> Feed | None:
        """The feed at this name, if the token (or its absence) is right for it."""
        feed = self._feeds.get(name)
        if not self.tokens_required:
            return feed if token is None else None
        if token is None or self._tokens is None:
            return None
        expected = self._tokens.current().get(name)
        # Compare even when the feed is unknown, so timing does not tell feeds apart.
        valid = hmac.compare_digest(token.encode(), (expected or "").encode())
        return feed if valid and expected else None


# --- history --------------------------------------------------------------------------------


def load_history(path: Path) -> History:
    """The saved history, or an empty one when there is none.

    A damaged file is logged and treated as empty: the history is derived state, and losing
    it only restamps events once, while refusing to start would stop feeds and reminders.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return History.from_json(data)
    except FileNotFoundError:
        return History()
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        logger.warning(
            "feed history %s unreadable (%s); starting afresh, events are restamped once",
            path,
            error,
        )
        return History()


def save_history(path: Path, history: History) -> bool:
    """Write atomically; returns False when the file already held exactly this history."""
    text = json.dumps(history.to_json(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    return atomic_write(path, text.encode("utf-8"), mode=0o600)


# --- tokens ---------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class TokenFile:
    """The per-feed secret tokens, shared by the daemon and the command line.

    ``current()`` re-reads the file only when it changed on disk (one stat per call), so a
    rotation made with ``notifier feeds --rotate`` in another process takes effect on the
    running server at its next request, and the old URL stops working at once.
    Writers take an exclusive lock on a sidecar file, so a rotation and a new feed appearing
    at the same moment cannot undo each other.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._tokens: Mapping[str, str] = MappingProxyType({})

    def current(self) -> Mapping[str, str]:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return MappingProxyType({})
        key = (info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            if key != self._seen:
                self._tokens = MappingProxyType(self._read())
                self._seen = key
            return self._tokens

    def ensure(self, names: Iterable[str]) -> Mapping[str, str]:
        """Every named feed has a token afterwards; existing tokens are kept."""
        wanted = list(names)
        with self._exclusive():
            tokens = self._read_if_exists()
            missing = [name for name in wanted if name not in tokens]
            for name in missing:
                tokens[name] = new_token()
            if missing:
                self._write(tokens)
                logger.info("created feed tokens for %s", ", ".join(missing))
        return self.current()

    def rotate(self, names: Iterable[str]) -> Mapping[str, str]:
        """New tokens for the named feeds; their old URLs stop working."""
        chosen = list(names)
        with self._exclusive():
            tokens = self._read_if_exists()
            for name in chosen:
                tokens[name] = new_token()
            self._write(tokens)
        logger.warning("rotated feed tokens for %s", ", ".join(chosen) or "no feed")
        return self.current()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        make_folder(self.path.parent)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read_if_exists(self) -> dict[str, str]:
        return self._read() if self.path.exists() else {}

    def _read(self) -> dict[str, str]:
        # A damaged token file is an error, not a reason to mint new tokens: new tokens would
        # silently break every URL handed out so far.
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            tokens = data["tokens"]
            if data.get("version") != TOKENS_VERSION or not isinstance(tokens, dict):
                raise ValueError("unexpected layout")
            bad = [name for name, token in tokens.items() if not TOKEN_PATTERN.match(str(token))]
            if bad:
                raise ValueError(f"malformed token for {', '.join(bad)}")
            return {str(name): str(token) for name, token in tokens.items()}
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            raise UserError(
                [f"{self.path}: cannot read the feed tokens: {error}"],
                hint="Restore the file from a backup, or delete it and hand out the new URLs "
                "that `notifier feeds` prints.",
            ) from None

    def _write(self, tokens: Mapping[str, str]) -> None:
        data = {"version": TOKENS_VERSION, "tokens": dict(sorted(tokens.items()))}
        text = json.dumps(data, indent=1) + "\n"
        atomic_write(self.path, text.encode("utf-8"), mode=0o600)


# --- feed files -----------------------------------------------------------------------------


def write_feed_files(
    feeds: FeedSet, folder: Path, tokens: Mapping[str, str] | None = None
) -> list[Path]:
    """Write every feed into ``folder`` with the same layout as the URLs, atomically.

    ``calendar.ics`` and ``calendar/<name>.ics``; with tokens ``calendar/<token>/<name>.ics``
    only. Files of feeds that no longer exist (or of rotated tokens) are removed, so a web
    server never keeps serving them. Only ``.ics`` files in that layout are touched. Returns
    the files whose content changed.
    """
    folder = Path(folder)
    wanted: dict[Path, bytes] = {}
    for feed in feeds:
        if tokens is None:
            wanted[folder / feed_path(feed.name)] = feed.body
        elif feed.name in tokens:
            wanted[folder / feed_path(feed.name, tokens[feed.name])] = feed.body
        else:
            logger.warning("feed %s has no token yet; not written", feed.name)
    # World-readable on purpose, unlike every other file notifier writes: nginx serves these
    # straight from disk as another user, and they hold nothing a subscriber does not get.
    changed = [path for path, body in wanted.items() if atomic_write(path, body, mode=0o644)]
    _remove_stale(folder, set(wanted))
    return changed


def _remove_stale(folder: Path, keep: set[Path]) -> None:
    candidates = [folder / "calendar.ics"]
    tree = folder / "calendar"
    if tree.is_dir():
        candidates += list(tree.glob("*.ics")) + list(tree.glob("*/*.ics"))
    for path in candidates:
        if path.is_file() and path not in keep:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                # The name only: the folder above it may be a secret token.
                logger.info("removed stale feed file %s", path.name)
    if tree.is_dir():
        for sub in tree.iterdir():
            if sub.is_dir() and not any(sub.iterdir()):
                with contextlib.suppress(OSError):
                    sub.rmdir()


# --- the whole publishing step --------------------------------------------------------------


def publish(
    store: FeedStore,
    catalog: Catalog | None,
    now: datetime,
    settings: Settings,
    tokens: TokenSource | None = None,
    statuses: Statuses | None = None,
    history: HistoryKeeper | None = None,
) -> Refresh:
    """Rebuild the served feeds, save the history, and write the feed files if configured.

    What the daemon runs after each plan (re)load, and with ``catalog`` None (the last one)
    when a milestone's status changed (``statuses``; None keeps those of the last publish);
    ``PublishedFeeds`` runs it too.
    """
    keeper = history or FileHistory(history_path(settings))
    with keeper.updating() as saving:
        result = store.update(catalog, now, settings, statuses, saving.latest)
        saving.save(result.history)
    if settings.feeds.dir is not None:
        secret = tokens.current() if settings.feeds.tokens and tokens is not None else None
        if settings.feeds.tokens and secret is None:
            logger.error("feeds.tokens is on but no token file is set; feed files not written")
        else:
            changed = write_feed_files(result.feeds, settings.feeds.dir, secret)
            logger.info("feed files written %s", f"dir={settings.feeds.dir} changed={len(changed)}")
    return result


def ledger_statuses(settings: Settings) -> Statuses:
    """The milestone statuses in the daemon's ledger, read as it is, for a process that only
    serves feeds: done milestones say so there too (as of its start or last reload). No
    ledger, or one it cannot read: every milestone open, as before statuses existed."""
    try:
        ledger = open_reader(settings.ledger)
        if ledger is None:
            return {}
        with ledger:
            return ledger.statuses()
    except UserError as error:
        logger.warning("milestone statuses not read, feeds show every milestone open: %s", error)
        return {}


def _file_problems(catalog: Catalog) -> list[str]:
    return [str(p) for p in catalog.problems if p.kind == "file"]


class PublishedFeeds:
    """The feeds of the plans in ``plans.dir``, published at start and again on each reload.

    A reload that finds a plan file unreadable keeps the feeds as they were: publishing
    without that plan would drop its events from every subscriber's calendar.
    """

    def __init__(self, settings: Settings, now: datetime) -> None:
        self.settings = settings
        self.history, self.tokens = feed_state(settings)
        self.store = FeedStore(settings, self.history.load(), self.tokens)
        self.catalog = load_catalog(settings.plans.dir)
        for problem in _file_problems(self.catalog):
            logger.warning("plan not loaded: %s", problem)
        statuses = ledger_statuses(settings)
        publish(self.store, self.catalog, now, settings, self.tokens, statuses, self.history)

    def reload(self, now: datetime) -> bool:
        """Load the plans again and publish them; False, feeds kept, if a file is unreadable."""
        # With the previous catalog, an action broken by this edit keeps its last good milestones.
        catalog = load_catalog(self.settings.plans.dir, self.catalog)
        problems = _file_problems(catalog)
        if problems:
            for problem in problems:
                logger.error("reload refused, feeds kept as they were: %s", problem)
            return False
        statuses = ledger_statuses(self.settings)
        result = publish(
            self.store, catalog, now, self.settings, self.tokens, statuses, self.history
        )
        self.catalog = catalog
        logger.info("reloaded plans; %d feeds", len(result.feeds))
        return True
