"""The ledger on a real PostgreSQL server: what several nodes sharing it rely on.

The contract every backend keeps is in test_ledger.py (run on SQLite and PostgreSQL alike);
here is what only a shared database has: its schema set up by `notifier ledger migrate`, the
password kept out of the config, claims that skip a row another node holds, a server that goes
away and comes back, a single server's SQLite ledger moved in, and feeds every node renders the
same.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from ledgers import BACKENDS, database_settings, opener
from postgres_server import Database, PostgresServer
from test_ledger import KEY, LEASE, MID, NOW, POLISEN, SKOLAN, TO_POLISEN, TO_SKOLAN, outgoing

from notifier.cli import main
from notifier.config import load_settings
from notifier.due import Delivery
from notifier.errors import ConfigError
from notifier.feedstate import FeedStore, feed_state, publish
from notifier.ledger import LedgerError, SqliteLedger, open_ledger, open_reader
from notifier.ledger_pg import PostgresLedger, migrate
from notifier.records import DueMove, StatusEntry

pytestmark = pytest.mark.slow


def write_config(
    project: Path, database: Database, *, password_file: bool = True, extra: str = ""
) -> Path:
    """The shipped config with the ledger in ``database``, its password in a file (or, with
    ``password_file`` False, from wherever the test puts it)."""
    keys = {"url": database.url}
    if password_file:
        secret = project / "ledger-password"
        secret.write_text(database.password + "\n", encoding="utf-8")
        secret.chmod(0o600)
        keys["password_file"] = str(secret)
    config = project / "config.toml"
    shipped = Path(__file__).resolve().parents[2] / "config.toml"
    lines = [
        line
        for line in shipped.read_text(encoding="utf-8").splitlines()
        if not line.startswith("url = ")
    ]
    at = lines.index("[ledger]") + 1
    lines[at:at] = [f"{key} = {json.dumps(value)}" for key, value in keys.items()] + [extra]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def run_cli(config: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--config", str(config), *args], stdout=out)
    return code, out.getvalue()


# --- Schema: set up and upgraded by the operator, never by a starting node ----------------


def test_a_node_refuses_an_empty_database_until_ledger_migrate_has_run(
    project: Path, postgres_database: Database
) -> None:
    config = write_config(project, postgres_database)
    settings = load_settings(config)
    with pytest.raises(LedgerError, match="holds no notifier ledger yet") as refused:
        open_ledger(settings.ledger)
    assert "notifier ledger migrate" in refused.value.message

    assert run_cli(config, "ledger", "migrate") == (
        0,
        f"{postgres_database.url}: ledger schema migrated from version 0 to 1\n",
    )
    assert run_cli(config, "ledger", "migrate")[1].endswith("version 1, up to date\n")
    with open_ledger(settings.ledger) as ledger:
        assert isinstance(ledger, PostgresLedger)
        assert ledger.snapshot() == {}
        assert ledger.identity()


def test_migrations_from_several_nodes_at_once_migrate_once(postgres_database: Database) -> None:
    settings = database_settings(postgres_database)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(migrate(settings))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted((m.before, m.after) for m in results) == [(0, 1), (1, 1), (1, 1), (1, 1)]  # type: ignore[attr-defined]


def test_a_newer_schema_and_a_database_of_something_else_are_refused(
    postgres_server: PostgresServer,
) -> None:
    newer = postgres_server.new_database()
    other = postgres_server.new_database()
    try:
        migrate(database_settings(newer))
        with newer.connect() as db:
            db.execute("UPDATE notifier_schema SET version = 99")
        with pytest.raises(LedgerError, match="version 99 is newer") as refused:
            PostgresLedger(database_settings(newer))
        assert "Upgrade notifier" in refused.value.message
        with pytest.raises(LedgerError, match="version 99 is newer"):
            migrate(database_settings(newer))

        with other.connect() as db:
            db.execute("CREATE TABLE customers (id integer)")
        with pytest.raises(LedgerError, match=r"not a notifier ledger \(tables: customers\)"):
            migrate(database_settings(other))
    finally:
        postgres_server.drop_database(newer.name)
        postgres_server.drop_database(other.name)


def test_commands_that_only_read_see_an_unmigrated_database_as_an_empty_ledger(
    postgres_database: Database,
) -> None:
    reader = open_reader(database_settings(postgres_database))
    assert reader is not None
    with reader:
        assert (reader.snapshot(), reader.statuses(), reader.identity()) == ({}, {}, None)
    with psycopg.connect(postgres_database.url, password=postgres_database.password) as db:
        tables = db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables == (0,)


# --- The password stays out of the config file and the URL ---------------------------------


def test_the_database_password_comes_from_a_file_or_a_credential_only(
    project: Path, postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(project, postgres_database)
    assert load_settings(config).ledger.password is not None
    assert postgres_database.password not in repr(load_settings(config))

    credentials = project / "credentials"
    credentials.mkdir()
    (credentials / "ledger-password").write_text(postgres_database.password, encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    config = write_config(project, postgres_database, password_file=False)
    migrate(load_settings(config).ledger)  # connects with the credential's password

    in_url = postgres_database.url.replace("@", f":{postgres_database.password}@", 1)
    config = project / "in-url.toml"
    config.write_text(f'[ledger]\nurl = "{in_url}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="a password does not belong in the URL") as refused:
        load_settings(config)
    assert postgres_database.password not in refused.value.message
    config = write_config(project, postgres_database, extra='password = "x"')
    with pytest.raises(ConfigError, match=r"ledger\.password: secrets do not belong"):
        load_settings(config)


def test_a_wrong_password_is_an_error_that_says_what_to_check(
    postgres_database: Database,
) -> None:
    settings = database_settings(postgres_database).model_copy(
        update={"password": None, "connect_timeout": 2.0}
    )
    with pytest.raises(LedgerError, match="password") as refused:
        PostgresLedger(settings)
    assert "ledger.password_file" in refused.value.message


# --- Several nodes ----------------------------------------------------------------------------


def test_a_row_another_node_is_claiming_is_skipped_not_waited_for(
    postgres_database: Database,
) -> None:
    settings = database_settings(postgres_database)
    migrate(settings)
    with PostgresLedger(settings) as ledger, postgres_database.connect() as other:
        ledger.record_due([TO_POLISEN], NOW)
        with other.transaction():
            other.execute(
                "SELECT 1 FROM deliveries WHERE key = %s AND recipient = %s FOR UPDATE",
                (KEY, POLISEN),
            )
            assert ledger.claim(KEY, POLISEN, MID, NOW, LEASE) is None  # at once, no wait
        claim = ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
        assert claim is not None
        assert ledger.entry(KEY, POLISEN).claimed_at == NOW  # type: ignore[union-attr]


def test_two_nodes_claiming_the_same_thousand_messages_at_once_claim_each_once(
    postgres_database: Database,
) -> None:
    settings = database_settings(postgres_database)
    migrate(settings)
    item = outgoing()
    rows = [
        Delivery(replace(item, key=f"burst/{n:04d}"), recipient)
        for n in range(500)
        for recipient in item.recipients
    ]
    with PostgresLedger(settings) as first:
        first.record_due(rows, NOW)
    claimed: dict[str, list[tuple[str, str]]] = {"a": [], "b": []}
    together = threading.Barrier(2)

    def node(name: str) -> None:
        with PostgresLedger(settings) as ledger:
            together.wait()
            # Opposite orders: both claim, and they contend for every row where they meet.
            for row in rows if name == "a" else reversed(rows):
                if ledger.claim(row.key, row.address, f"<{row.key}@x>", NOW, LEASE):
                    claimed[name].append((row.key, row.address))

    threads = [threading.Thread(target=node, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    both = claimed["a"] + claimed["b"]
    assert len(both) == len(set(both)) == len(rows) == 1000
    assert claimed["a"] and claimed["b"]  # both took part


def test_a_moved_due_date_is_reported_by_one_node_only(postgres_database: Database) -> None:
    settings = database_settings(postgres_database)
    migrate(settings)
    moved = {f"p/a/{n}": date(2024, 6, 30) for n in range(200)}
    with PostgresLedger(settings) as ledger:
        ledger.record_due_dates({key: date(2024, 5, 31) for key in moved}, NOW)
    reported: list[int] = []

    def node() -> None:
        with PostgresLedger(settings) as ledger:
            reported.append(len(ledger.record_due_dates(moved, NOW)))

    threads = [threading.Thread(target=node) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reported) == [0, 0, 200]


def test_a_server_gone_away_is_an_error_and_the_same_ledger_works_once_it_is_back(
    postgres_server: PostgresServer, postgres_database: Database
) -> None:
    settings = database_settings(postgres_database, connect_timeout=2.0)
    migrate(settings)
    with PostgresLedger(settings) as ledger:
        ledger.record_due([TO_POLISEN, TO_SKOLAN], NOW)
        postgres_server.stop()
        for _ in range(2):  # the lost connection, then a refused new one
            with pytest.raises(LedgerError) as away:
                ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
            assert "Check that the PostgreSQL server named in ledger.url" in away.value.message
            assert "what is not recorded as sent goes out once" in away.value.message
        postgres_server.start()
        claim = ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
        assert claim is not None and claim.attempts == 1  # nothing was recorded meanwhile
        assert ledger.mark_sent(KEY, POLISEN, NOW)
        assert ledger.snapshot()[(KEY, SKOLAN)].state == "due"


# --- Statuses: the same on every backend -------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_status_history_and_current_status_are_the_same_on_every_backend(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with opener(backend, request, tmp_path) as open_one:
        ledger = open_one()
        assert (ledger.statuses(), ledger.status_mark()) == ({}, 0)
        at = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
        first = ledger.record_status(
            StatusEntry(
                "p/a/1",
                "needs-new-date",
                "Polisen",
                at,
                "link",
                POLISEN,
                "Sent",
                proposed_due=date(2024, 7, 15),
            )
        )
        moved = ledger.record_status(
            StatusEntry(
                "p/a/1",
                "open",
                "the coordinator",
                at + timedelta(hours=1),
                "link",
                moved=DueMove(date(2024, 6, 30), date(2024, 7, 15)),
            )
        )
        done = ledger.record_status(
            StatusEntry("p/a/1", "done", "Polisen", at + timedelta(days=3), "cli")
        )
        assert [first.seq, moved.seq, done.seq] == [1, 2, 3]
        assert ledger.status_mark() == 3
        assert [e.state for e in ledger.status_history("p/a/1")] == [
            "needs-new-date",
            "open",
            "done",
        ]
        assert ledger.status_history("p/a/1")[0].proposed_due == date(2024, 7, 15)
        current = ledger.statuses()["p/a/1"]
        assert (current.state, current.at, current.moved) == (
            "done",
            at + timedelta(days=3),
            DueMove(date(2024, 6, 30), date(2024, 7, 15)),
        )
        with pytest.raises(LedgerError, match="proposed date goes with"):
            ledger.record_status(
                StatusEntry("p/a/1", "done", "Polisen", at, "cli", proposed_due=date(2024, 8, 1))
            )


# --- One server's SQLite ledger moved into the shared database ------------------------------


def test_a_single_servers_sqlite_ledger_is_copied_in_whole_and_only_into_an_empty_one(
    project: Path, postgres_database: Database
) -> None:
    state = project / "state"
    path = state / "ledger.sqlite3"
    with SqliteLedger(path) as old:
        old.record_due([TO_POLISEN, TO_SKOLAN], NOW)
        old.claim(KEY, POLISEN, MID, NOW, LEASE)
        old.mark_sent(KEY, POLISEN, NOW + timedelta(seconds=2))
        old.record_due_dates({"p/a/1": date(2024, 6, 30)}, NOW)
        old.record_problem("problem/x", ["rad 3: okänt datum"], NOW)
        old.record_status(StatusEntry("p/a/1", "done", "Polisen", NOW, "link", POLISEN))
        expected = (old.snapshot(), old.known_due_dates(), old.problems(), old.statuses())
        ledger_id = old.identity()
    (state / "feed-tokens.json").write_text(
        json.dumps({"version": 1, "tokens": {"polisen": "A" * 32}}), encoding="utf-8"
    )
    config = write_config(project, postgres_database)
    code, out = run_cli(config, "ledger", "migrate", "--from-sqlite", str(path))
    assert code == 0
    assert "copied from" in out and "2 deliveries" in out and "1 status entries" in out
    settings = load_settings(config)
    with PostgresLedger(settings.ledger) as shared:
        assert (
            shared.snapshot(),
            shared.known_due_dates(),
            shared.problems(),
            shared.statuses(),
        ) == expected
        assert shared.identity() == ledger_id  # the node's marker still names it
        assert shared.claim(KEY, POLISEN, "<new@x>", NOW, LEASE) is None  # sent stays sent
    assert feed_state(settings)[1].current() == {"polisen": "A" * 32}

    code, _ = run_cli(config, "ledger", "migrate", "--from-sqlite", str(path))
    assert code == 1  # not twice: rows already there


# --- Feeds: every node renders the same bytes ----------------------------------------------------


def test_two_nodes_publish_the_same_feed_bytes_and_stamps_from_the_shared_history(
    project: Path, postgres_database: Database
) -> None:
    from notifier.catalog import load_catalog

    config = write_config(project, postgres_database)
    settings = load_settings(config)
    migrate(settings.ledger)
    catalog = load_catalog(settings.plans.dir)
    nodes = []
    for _ in range(2):
        history, tokens = feed_state(settings)
        nodes.append((FeedStore(settings, history.load(), tokens), history, tokens))
    first_moment = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    for n, (store, history, tokens) in enumerate(nodes):
        publish(store, catalog, first_moment + timedelta(minutes=n), settings, tokens, {}, history)
    a, b = (store.feeds.get("calendar") or next(iter(store.feeds)) for store, _, _ in nodes)
    assert (a.body, a.etag, a.last_modified) == (b.body, b.etag, b.last_modified)

    with PostgresLedger(settings.ledger) as ledger:
        milestone = catalog.milestones[0].key
        ledger.record_status(StatusEntry(milestone, "done", "Polisen", first_moment, "cli"))
        statuses = ledger.statuses()
    later = first_moment + timedelta(days=2)
    for n, (store, history, tokens) in enumerate(nodes):  # B republishes an hour after A
        publish(store, None, later + timedelta(hours=n), settings, tokens, statuses, history)
    a2, b2 = (store.feeds.get(a.name) for store, _, _ in nodes)
    assert a2 is not None and b2 is not None
    assert a2.body != a.body and b"SEQUENCE:1" in a2.body
    assert (a2.body, a2.etag, a2.last_modified) == (b2.body, b2.etag, b2.last_modified)


def test_a_node_pointed_at_another_ledger_database_refuses_to_send_again(
    tmp_path: Path, postgres_server: PostgresServer, postgres_database: Database
) -> None:
    from notifier.ledger_identity import DatabaseIdentity, LedgerMissing

    first = database_settings(postgres_database)
    migrate(first)
    other = postgres_server.new_database()
    try:
        migrate(database_settings(other))
        with PostgresLedger(first) as ledger:
            taken = DatabaseIdentity.taken(tmp_path, ledger)
            taken.check()
        with PostgresLedger(database_settings(other)) as elsewhere:
            with pytest.raises(LedgerMissing, match="is another ledger") as refused:
                DatabaseIdentity.taken(tmp_path, elsewhere)
            assert "notifier run --new-ledger" in refused.value.message
            DatabaseIdentity.taken(tmp_path, elsewhere, new_ledger=True)  # on purpose
        with PostgresLedger(first) as ledger, pytest.raises(LedgerMissing):
            DatabaseIdentity.taken(tmp_path, ledger)  # the marker names the other one now
    finally:
        postgres_server.drop_database(other.name)
