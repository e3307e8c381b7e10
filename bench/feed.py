"""Feed benchmark: build time, and serving throughput against a static file server.

    .venv/bin/python bench/feed.py [--requests 2000] [--clients 4]

1. Builds every feed for the seed plan (plan/) and for a synthetic plan 1,000 times its size
   (the seed's actions copied 1,000 times with new ids, 9,000 actions), and prints the time of
   loading the plan and of building the feeds (first build, and an unchanged rebuild).
2. Serves the whole feed (/calendar.ics) with the built-in server and, as the reference, with
   Python's http.server serving the same bytes from a file, both on loopback in this process,
   and measures requests per second with the same client: fresh connections, a fixed number
   of requests, a few client threads. Full responses (200) and revalidations (304: If-None-Match
   for ours, If-Modified-Since for http.server, which knows no ETags) are measured separately.
   The ratio is ours / reference: above 1 means the built-in server is faster.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import COPIES, synthetic_plan  # noqa: E402
from notifier.catalog import Catalog, load_catalog  # noqa: E402
from notifier.feed import WHOLE, History, refresh  # noqa: E402
from notifier.feedstate import FeedStore  # noqa: E402
from notifier.server import FeedServer  # noqa: E402
from notifier.settings import Settings  # noqa: E402
from notifier.wsgi import FeedApp  # noqa: E402

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)


def timed(label: str, work: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    print(f"  {label:<34} {seconds * 1000:10.1f} ms")
    return result, seconds


def bench_build(name: str, folder: Path, settings: Settings) -> FeedStore:
    print(f"\n{name}")
    catalog, _ = timed("load plan + read 'När?'", lambda: load_catalog(folder))
    assert isinstance(catalog, Catalog)
    result, _ = timed("build all feeds (first)", lambda: refresh(catalog, settings, History(), NOW))
    later = NOW + timedelta(days=1)
    again, _ = timed(
        "rebuild, nothing changed", lambda: refresh(catalog, settings, result.history, later)
    )
    feeds = result.feeds  # type: ignore[attr-defined]
    assert feeds[WHOLE].body == again.feeds[WHOLE].body  # type: ignore[attr-defined]
    total = sum(len(feed.body) for feed in feeds)
    print(
        f"  {len(catalog.milestones)} events, {len(feeds)} feeds, whole feed "
        f"{len(feeds[WHOLE].body) / 1e6:.2f} MB, all feeds {total / 1e6:.1f} MB"
    )
    store = FeedStore(settings)
    store.update(catalog, NOW)
    return store


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def reference_server(folder: Path) -> tuple[http.server.ThreadingHTTPServer, threading.Thread]:
    handler = partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def fetch(port: int, path: str, headers: dict[str, str], expect: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != expect:
            raise RuntimeError(f"expected {expect}, got {response.status}")
        return len(body)
    finally:
        connection.close()


def rate(
    port: int, path: str, headers: dict[str, str], expect: int, requests: int, clients: int
) -> float:
    fetch(port, path, headers, expect)  # warm up, and check the answer once
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: fetch(port, path, headers, expect), range(requests)))
    return requests / (time.perf_counter() - start)


def bench_serving(name: str, store: FeedStore, requests: int, clients: int) -> None:
    feed = store.feeds[WHOLE]
    print(
        f"\nServing /calendar.ics of {name} ({len(feed.body) / 1e3:.1f} kB), "
        f"{requests} requests, {clients} client threads, fresh connection each"
    )
    with tempfile.TemporaryDirectory() as tmp:
        static = Path(tmp)
        (static / "calendar.ics").write_bytes(feed.body)
        reference, thread = reference_server(static)
        since = format_datetime(datetime.now(UTC) + timedelta(minutes=1), usegmt=True)
        try:
            with FeedServer(FeedApp(store), "127.0.0.1", 0) as ours:
                print(
                    f"  {'response':<10} {'built-in req/s':>15} {'http.server req/s':>18} "
                    f"{'ratio':>7}"
                )
                for label, mine, theirs, status in (
                    ("200", {}, {}, 200),
                    ("304", {"If-None-Match": feed.etag}, {"If-Modified-Since": since}, 304),
                ):
                    a = rate(ours.port, "/calendar.ics", mine, status, requests, clients)
                    b = rate(
                        reference.server_address[1],
                        "/calendar.ics",
                        theirs,
                        status,
                        requests,
                        clients,
                    )
                    print(f"  {label:<10} {a:15.0f} {b:18.0f} {a / b:7.2f}")
        finally:
            reference.shutdown()
            reference.server_close()
            thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--large-requests", type=int, default=40)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    settings = Settings()
    started = time.perf_counter()
    seed = bench_build("Seed plan (plan/)", ROOT / "plan", settings)
    with tempfile.TemporaryDirectory() as tmp:
        folder = synthetic_plan(Path(tmp) / "plan")
        large = bench_build(f"Synthetic plan ({COPIES} x the seed's actions)", folder, settings)
    bench_serving("the seed plan", seed, args.requests, args.clients)
    bench_serving("the synthetic plan", large, args.large_requests, args.clients)
    print(f"\nTotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
