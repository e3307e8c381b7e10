"""Large builds run without the cyclic collector's passes (``notifier.bulk``), and leave the
collector as they found it."""

from __future__ import annotations

import contextlib
import gc
import threading
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.bulk import bulk_build, collector_paused
from notifier.catalog import load_catalog
from notifier.feed import History, refresh
from notifier.kinds import KINDS
from notifier.planner import plan_index
from notifier.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def eager_collector() -> Iterator[list[int]]:
    """The collector on, running at every allocation; yields the generations it passed over."""
    passes: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    was_enabled, thresholds = gc.isenabled(), gc.get_threshold()
    gc.enable()
    gc.set_threshold(1)
    gc.callbacks.append(seen)
    try:
        yield passes
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*thresholds)
        if not was_enabled:
            gc.disable()


def test_the_collector_is_paused_inside_and_resumes_after(eager_collector: list[int]) -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the outer block still holds the pause
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_resumes_the_collector(eager_collector: list[int]) -> None:
    with pytest.raises(ZeroDivisionError), collector_paused():
        _ = 1 / 0
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was_enabled:
            gc.enable()


def test_builds_in_two_threads_share_one_pause(eager_collector: list[int]) -> None:
    # The second build begins while the first runs and ends after it: the collector must stay
    # off until the last one ends, not resume under the second when the first ends.
    first_in, first_out, second_in = threading.Event(), threading.Event(), threading.Event()
    seen_after_first: list[bool] = []

    @bulk_build
    def first() -> None:
        first_in.set()
        second_in.wait(5)

    @bulk_build
    def second() -> None:
        first_in.wait(5)
        second_in.set()
        first_out.wait(5)
        seen_after_first.append(gc.isenabled())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[1].start()
    threads[0].start()
    threads[0].join(5)
    first_out.set()
    threads[1].join(5)
    assert seen_after_first == [False]
    assert gc.isenabled()


def test_loading_listing_and_building_feeds_make_almost_no_collector_pass() -> None:
    # With a collector that runs at every allocation, only the few allocations around each
    # build's pause may start a pass; the builds themselves allocate tens of thousands.
    settings = Settings()
    moment = datetime(2024, 5, 6, 12, tzinfo=UTC)
    passes: dict[str, int] = {}
    with contextlib.contextmanager(eager_collector.__wrapped__)() as seen:
        catalog = load_catalog(ROOT / "plan")
        passes["load"] = len(seen)
        index = plan_index(catalog, settings, KINDS)
        passes["schedule"] = len(seen) - sum(passes.values())
        result = refresh(catalog, settings, History(), moment)
        passes["feeds"] = len(seen) - sum(passes.values())
        load_catalog.__wrapped__(ROOT / "plan")  # type: ignore[attr-defined]
        passes["load without the pause"] = len(seen) - sum(passes.values())
    assert max(passes["load"], passes["schedule"], passes["feeds"]) < 20, passes
    assert passes["load without the pause"] > 100, passes
    # The work was done: the seed plan's messages and feeds, not an empty pass.
    assert sum(len(items) for items in index.by_kind.values()) > 40
    assert len(result.feeds) > 5


@pytest.mark.parametrize("size", [10, 100_000])
def test_what_a_build_made_is_left_unfrozen_and_its_garbage_collected(size: int) -> None:
    # Small builds are left to the usual passes; a large one is counted as old at once.
    class Node:
        pass

    @bulk_build
    def build() -> tuple[list[list[int]], weakref.ref[Node]]:
        kept = [[n] for n in range(size)]
        node = Node()
        node.itself = node  # type: ignore[attr-defined]  # a cycle: only the collector frees it
        return kept, weakref.ref(node)

    kept, dropped = build()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert dropped() is None
    assert len(kept) == size
