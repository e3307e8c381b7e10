"""Feed serving against nginx: the built-in server and the shipped nginx front.

    .venv/bin/python bench/front.py [--seconds 5] [--rounds 3] [--connections 32] [--no-front]

Every side serves the same bytes (the whole feed, /calendar.ics, as `notifier feed` writes it)
and is measured with the same client, wrk, on loopback, in this run, rounds alternating:

- built-in: `notifier serve` over http, against raw nginx serving the file over http; as
  shipped (logging.level INFO: one log line per request) and with the request log off
  (NOTIFIER_LOGGING__LEVEL=WARNING), to show what the app's log line costs;
- front: nginx with deploy/nginx/notifier.conf (TLS, the feed file from feeds.dir), against
  raw nginx serving the same file over https with the same certificate.

Full answers (200) and revalidations (304, If-None-Match with each server's own ETag) are
measured apart. Each figure is the best of the rounds; the ratio is ours / nginx. Both nginx
configurations run one worker process, as the built-in server runs in one Python process.
Needs Debian's nginx and wrk (.ci/run installs nginx; `apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from nginx_front import (  # noqa: E402
    free_port,
    issue_certificate,
    main_config,
    nginx_binary,
    site_config,
    start,
)

from bench.synthetic import COPIES, synthetic_plan  # noqa: E402

RAW_SITE = """server {{
    listen 127.0.0.1:{port}{tls};
    {certificate}
    root {feeds};
    location / {{ }}
}}
"""


def _wait_for_port(port: int, what: str) -> None:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start on port {port}")


def _etag(url: str, context: ssl.SSLContext | None) -> str:
    scheme, rest = url.split("://", 1)
    host_port, path = rest.split("/", 1)
    host, port = host_port.split(":")
    if scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, int(port), context=context, timeout=10
        )
    else:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/" + path)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, (url, response.status)
        etag = response.getheader("ETag")
        assert etag, url
        return etag
    finally:
        connection.close()


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> float:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    output = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in output:
        sys.exit(f"wrk saw error answers from {url}:\n{output}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        sys.exit(f"no rate in wrk's output for {url}:\n{output}")
    return float(found.group(1))


@contextmanager
def stack(folder: Path, plan: Path | None, front: bool = True) -> Iterator[dict[str, str]]:
    """Start every server; yield name -> URL of /calendar.ics."""
    binary = nginx_binary()
    if binary is None or shutil.which("wrk") is None:
        sys.exit("needs nginx and wrk: apt-get install nginx wrk")
    for name in ("plan", "templates", "config.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy(source, folder / name)
    if plan is not None:
        shutil.rmtree(folder / "plan")
        shutil.copytree(plan, folder / "plan")
    config = folder / "config.toml"
    app_port, quiet_port = free_port(), free_port()
    config.write_text(
        config.read_text(encoding="utf-8").replace("port = 8080", f"port = {app_port}", 1),
        encoding="utf-8",
    )
    feeds = folder / "feeds"
    feeds.mkdir()
    notifier = [sys.executable, "-m", "notifier", "--config", str(config)]
    subprocess.run([*notifier, "feed", "-o", str(feeds / "calendar.ics")], check=True)
    certificate = issue_certificate(folder)
    ports = {name: free_port() for name in ("raw_http", "raw_https", "front", "front_http")}
    raw = RAW_SITE.format(port=ports["raw_http"], tls="", certificate="", feeds=feeds)
    raw += RAW_SITE.format(
        port=ports["raw_https"],
        tls=" ssl",
        certificate=f"ssl_certificate {certificate.chain}; ssl_certificate_key {certificate.key};",
        feeds=feeds,
    )
    front_site = site_config(
        https_port=ports["front"],
        http_port=ports["front_http"],
        app_port=app_port,
        feeds=feeds,
        certificate=certificate,
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, site in (("raw", raw), ("front", front_site)):
            (folder / name).mkdir()
            processes.append(start(binary, main_config(folder / name, site)))
        quiet = {"NOTIFIER_SERVER__PORT": str(quiet_port), "NOTIFIER_LOGGING__LEVEL": "WARNING"}
        for env in ({}, quiet):
            processes.append(
                subprocess.Popen(
                    [*notifier, "serve"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={**os.environ, **env},
                )
            )
        for name, port in (*ports.items(), ("built-in", app_port), ("quiet", quiet_port)):
            _wait_for_port(port, name)
        urls = {
            "built-in": f"http://127.0.0.1:{app_port}/calendar.ics",
            "built-in, request log off": f"http://127.0.0.1:{quiet_port}/calendar.ics",
            "nginx (http)": f"http://127.0.0.1:{ports['raw_http']}/calendar.ics",
        }
        if front:
            urls["front"] = f"https://127.0.0.1:{ports['front']}/calendar.ics"
            urls["nginx (https)"] = f"https://127.0.0.1:{ports['raw_https']}/calendar.ics"
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def measure(name: str, plan: Path | None, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as temp, stack(Path(temp), plan, args.front) as urls:
        size = (Path(temp) / "feeds" / "calendar.ics").stat().st_size
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        etags = {side: _etag(url, context) for side, url in urls.items()}
        best: dict[tuple[str, int], float] = {}
        for _ in range(args.rounds):
            for side, url in urls.items():
                for status, headers in ((200, {}), (304, {"If-None-Match": etags[side]})):
                    rate = wrk(url, args.seconds, args.connections, headers)
                    best[(side, status)] = max(best.get((side, status), 0.0), rate)
    print(
        f"\n{name}: /calendar.ics, {size:,} bytes; wrk -c{args.connections}, best of "
        f"{args.rounds} x {args.seconds} s"
    )
    print(f"  {'':<48}{'200 req/s':>12}{'304 req/s':>12}")
    for side in urls:
        print(f"  {side:<48}{best[(side, 200)]:>12,.0f}{best[(side, 304)]:>12,.0f}")
    for ours, reference in (
        ("built-in", "nginx (http)"),
        ("built-in, request log off", "nginx (http)"),
        ("front", "nginx (https)"),
    ):
        if ours not in urls:
            continue
        ratios = [best[(ours, s)] / best[(reference, s)] for s in (200, 304)]
        label = f"ratio {ours} / {reference}"
        print(f"  {label:<48}{ratios[0]:>12.2f}{ratios[1]:>12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--large", action="store_true", help=f"also the {COPIES:,}x plan")
    parser.add_argument(
        "--no-front", dest="front", action="store_false", help="the built-in server only"
    )
    args = parser.parse_args()
    measure("seed plan", None, args)
    if args.large:
        with tempfile.TemporaryDirectory() as temp:
            measure(f"{COPIES:,}x plan", synthetic_plan(Path(temp) / "plan"), args)


if __name__ == "__main__":
    main()
