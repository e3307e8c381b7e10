"""The ledger's PostgreSQL schema, its versions, and ``notifier ledger migrate``.

Unlike the SQLite file, a shared database is never migrated by a starting daemon: with several
nodes, one of an older notifier version could otherwise be left running against a schema it
does not know. The operator runs ``notifier ledger migrate`` once, before the first start and
after each upgrade; a daemon refuses a database that is older (with that command as the fix)
or newer (upgrade notifier) than the version it knows.

Versions: 1, deliveries, due dates, problems, milestone status, the ledger's id, and the
feeds' history and tokens, and the fingerprints of what every node must hold the same.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from notifier.ledger_schema import LedgerError

SCHEMA_VERSION = 1
# pg_advisory_xact_lock key: migrations of one database never run at once.
MIGRATION_LOCK = 0x6E6F7469
MIGRATE_COMMAND = "notifier ledger migrate"

_VERSION_1 = (
    "CREATE TABLE notifier_schema (version integer NOT NULL)",
    "INSERT INTO notifier_schema (version) VALUES (0)",
    """
    CREATE TABLE deliveries (
        key             text NOT NULL,
        recipient       text NOT NULL,
        kind            text NOT NULL,
        state           text NOT NULL
                        CHECK (state IN ('due', 'sending', 'sent', 'failed', 'skipped')),
        attempts        integer NOT NULL DEFAULT 0,
        last_error      text,
        permanent       boolean NOT NULL DEFAULT false,
        message_id      text,
        milestone_key   text,
        due_date        date,
        send_at         timestamptz NOT NULL,
        note            text,
        created_at      timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL,
        claimed_at      timestamptz,
        claimed_by      text,
        sent_at         timestamptz,
        next_attempt_at timestamptz,
        PRIMARY KEY (key, recipient)
    )
    """,
    "CREATE INDEX deliveries_by_state ON deliveries (state, updated_at)",
    "CREATE INDEX deliveries_by_milestone ON deliveries (milestone_key)",
    """
    CREATE TABLE due_dates (
        milestone_key text PRIMARY KEY,
        due_date      date NOT NULL,
        previous_due  date,
        changed_at    timestamptz,
        seen_at       timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE problems (
        key        text PRIMARY KEY,
        lines      jsonb NOT NULL,
        first_seen timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE milestone_status (
        seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        milestone_key text NOT NULL,
        state         text NOT NULL
                      CHECK (state IN ('open', 'done', 'needs-new-date', 'reopened')),
        organisation  text NOT NULL,
        address       text,
        at            timestamptz NOT NULL,
        how           text NOT NULL CHECK (how IN ('link', 'cli')),
        comment       text,
        proposed_due  date,
        moved_from    date,
        moved_to      date,
        CHECK (proposed_due IS NULL OR state = 'needs-new-date'),
        CHECK ((moved_from IS NULL) = (moved_to IS NULL))
    )
    """,
    "CREATE INDEX milestone_status_by_key ON milestone_status (milestone_key, seq)",
    "CREATE TABLE ledger_identity (id text NOT NULL)",
    # One document: the history is read and written whole, under FEED_LOCK.
    """
    CREATE TABLE feed_history (
        one        boolean PRIMARY KEY DEFAULT true CHECK (one),
        data       jsonb NOT NULL,
        updated_at timestamptz NOT NULL
    )
    """,
    # What every node must hold the same, by fingerprint (the link secret's, say): a node
    # that differs refuses to start rather than send links the others cannot open.
    """
    CREATE TABLE node_agreement (
        name     text PRIMARY KEY,
        value    text NOT NULL,
        set_by   text NOT NULL,
        set_at   timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE feed_tokens (
        name       text PRIMARY KEY,
        token      text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
)


def _identity_row() -> tuple[str, ...]:
    return (f"INSERT INTO ledger_identity (id) VALUES ('{secrets.token_hex(16)}')",)


# Each step takes the database from the version before it to its own.
MIGRATIONS: dict[int, Callable[[], tuple[str, ...]]] = {
    1: lambda: (*_VERSION_1, *_identity_row()),
}


@dataclass(frozen=True)
class Migration:
    before: int
    after: int


def too_new(version: int, where: str) -> LedgerError:
    return LedgerError(
        [
            f"{where}: ledger schema version {version} is newer than this notifier "
            f"understands (version {SCHEMA_VERSION})"
        ],
        hint="Upgrade notifier on this node to the version the other nodes run.",
    )


def too_old(version: int, where: str) -> LedgerError:
    state = "holds no notifier ledger yet" if version == 0 else f"is at version {version}"
    return LedgerError(
        [f"{where}: the database {state}; this notifier needs version {SCHEMA_VERSION}"],
        hint=f"Run `{MIGRATE_COMMAND}` once (with the same config), then start notifier.",
    )


def not_a_ledger(tables: list[str], where: str) -> LedgerError:
    return LedgerError(
        [f"{where}: not a notifier ledger (tables: {', '.join(tables)})"],
        hint="Point ledger.url at a database of its own for notifier (CREATE DATABASE "
        "notifier OWNER notifier), then run `notifier ledger migrate`.",
    )
