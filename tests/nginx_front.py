"""A real nginx with the shipped front configuration, for tests and benchmarks.

The shipped file (deploy/nginx/notifier.conf) is used as it is but for its addresses, ports
and paths; each replacement asserts that the text it replaces is there, so the shipped file
cannot drift from what is tested and measured.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import trustme

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "deploy" / "nginx" / "notifier.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Certificate:
    chain: Path
    key: Path
    client: ssl.SSLContext  # trusts the throw-away CA and nothing else


def issue_certificate(folder: Path) -> Certificate:
    authority = trustme.CA()
    issued = authority.issue_cert("localhost", "127.0.0.1")
    chain, key = folder / "site.pem", folder / "site.key"
    chain.write_bytes(b"".join(pem.bytes() for pem in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key))
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return Certificate(chain, key, client)


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"{SHIPPED} no longer has {old!r}: update tests/nginx_front.py"
    return text.replace(old, new)


def site_config(
    *, https_port: int, http_port: int, app_port: int, feeds: Path, certificate: Certificate
) -> str:
    """The shipped site, listening on loopback ports, with these files."""
    site = SHIPPED.read_text(encoding="utf-8")
    site = _replace(site, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = _replace(site, "listen [::]:443 ssl;\n", "")
    site = _replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = _replace(site, "listen [::]:80;\n", "")
    site = _replace(site, "/etc/ssl/certs/plan.example.se.pem", str(certificate.chain))
    site = _replace(site, "/etc/ssl/private/plan.example.se.key", str(certificate.key))
    site = _replace(site, "root /var/lib/notifier/feeds;", f"root {feeds};")
    return _replace(site, "server 127.0.0.1:8080;", f"server 127.0.0.1:{app_port};")


def main_config(folder: Path, site: str, *, workers: int = 1) -> Path:
    """nginx.conf in ``folder`` around ``site``, as Debian's is: gzip on for text (the site
    must still never compress a calendar), logs and temporary files inside ``folder``."""
    (folder / "site.conf").write_text(site, encoding="utf-8")
    # Workers of a root master run as nobody, who cannot read a test's private temp folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"  {name}_temp_path {folder / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = f"""{user}worker_processes {workers};
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temp}
  gzip on;
  gzip_types text/plain text/calendar application/json;
  include {folder / "site.conf"};
}}
"""
    path = folder / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


def start(binary: str, config: Path) -> subprocess.Popen[bytes]:
    """nginx in the foreground with ``config``, after `nginx -t` has accepted it."""
    folder = config.parent
    checked = subprocess.run(
        [binary, "-t", "-c", str(config), "-p", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    return subprocess.Popen(
        [binary, "-c", str(config), "-p", str(folder), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
