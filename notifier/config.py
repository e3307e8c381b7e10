"""Settings: config.toml, then NOTIFIER_* environment, then secrets from files.

Precedence, highest first: environment (``NOTIFIER_SMTP__HOST``), config file, defaults.
The SMTP password never comes from config.toml: it is read from ``NOTIFIER_SMTP__PASSWORD``,
from the file named by ``NOTIFIER_SMTP__PASSWORD_FILE``, or from the systemd credential
``$CREDENTIALS_DIRECTORY/smtp-password``.
Relative paths are taken relative to the config file's folder, so the service behaves the same
whatever its working directory.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, get_origin

import tomli as tomllib
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsError,
)

# The checks live in notifier.checks, which the core imports without the configuration;
# kinds/reminder.py still takes parse_duration from here.
from notifier.checks import (
    UNENCRYPTED_HINT,
    unencrypted_smtp_problems,
)
from notifier.errors import ConfigError
from notifier.links import with_secret
from notifier.settings import (  # re-exported: callers import the sections from here
    Settings,
)

ENV_CONFIG = "NOTIFIER_CONFIG"
ENV_PREFIX = "NOTIFIER_"
PASSWORD_FILE_ENV = "NOTIFIER_SMTP__PASSWORD_FILE"
CREDENTIAL_NAME = "smtp-password"
LEDGER_CREDENTIAL = "ledger-password"
DEFAULT_CONFIG = Path("config.toml")

# Fields of Settings that neither the file nor the environment may set.
_INTERNAL = frozenset({"source"})
UNKNOWN_KEY = "unknown key; check its spelling against the shipped config.toml"

# Paths a relative value of which is taken from the config file's folder.
_PATH_KEYS = (
    ("plans", "dir"),
    ("mail", "outbox"),
    ("ledger", "path"),
    ("templates", "dir"),
    ("feeds", "dir"),
    ("smtp", "ca_file"),
)


class _Environment(EnvSettingsSource):
    """The NOTIFIER_* variables, less those that load_settings refuses by name itself.

    Which ones those are follows from the environment alone (``_check_environment``), so
    the source works it out from what it reads, rather than being told by its caller.
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        refused = _check_environment()[1]
        if refused:
            self.env_vars = {k: v for k, v in self.env_vars.items() if k.lower() not in refused}


class _BelowEnvironment(Settings):
    """Settings whose keyword arguments are config.toml's sections, outranked by NOTIFIER_*.

    The file's values come in explicitly, through pydantic-settings' own init source, which
    ``settings_customise_sources`` ranks below the environment. Only known section names are
    passed as keywords: BaseSettings takes its own ``_env_file``, ``_secrets_dir`` and other
    ``_*`` options as keywords too, and a file must not be able to set those.
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (_Environment(settings_cls), init_settings)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--config wins, then $NOTIFIER_CONFIG, then ./config.toml."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG)


def load_settings(path: Path | None = None, *, required: bool = False) -> Settings:
    """Read, validate and resolve the configuration; raise ConfigError naming every bad key."""
    path = path or config_path()
    data = _read_file(path, required=required)
    smtp = data.get("smtp")
    if isinstance(smtp, dict) and "password" in smtp:
        raise ConfigError(
            [f"{path}: smtp.password: secrets do not belong in the config file"],
            hint=f"Remove it and set ${PASSWORD_FILE_ENV} to a file only the service can read, "
            f"or a systemd credential named '{CREDENTIAL_NAME}'.",
        )
    ledger = data.get("ledger")
    if isinstance(ledger, dict) and "password" in ledger:
        raise ConfigError(
            [f"{path}: ledger.password: secrets do not belong in the config file"],
            hint="Remove it and set ledger.password_file to a file only the service can read, "
            f"or a systemd credential named '{LEDGER_CREDENTIAL}'.",
        )
    problems = [f"{path}: {key}: {UNKNOWN_KEY}" for key in sorted(_INTERNAL & data.keys())]
    env_problems, refused = _check_environment()
    problems += env_problems
    sections = _sections()
    settings: Settings | None = None
    try:
        loaded = _BelowEnvironment(
            **{key: value for key, value in data.items() if key in sections},
            source=path if path.exists() else None,
        )
        # Validated already; handed on as the class every caller knows.
        settings = Settings.model_construct(loaded.model_fields_set, **dict(loaded))
    except ValidationError as error:
        problems += _describe(error, path, refused)
    except SettingsError as error:
        # Not expected: _check_environment refuses what pydantic-settings cannot decode.
        problems.append(_undecodable(error, refused))
    # Where pydantic would list them: after the errors of the known sections, in file order.
    problems += [
        f"{path}: {key}: {UNKNOWN_KEY}{_got(value)}"
        for key, value in data.items()
        if key not in sections and key not in _INTERNAL
    ]
    if problems or settings is None:
        raise ConfigError(problems)
    settings = _with_password(settings, path)
    _refuse_unencrypted(settings, path, refused)
    return with_secret(_resolved(settings, path, refused))


def _refuse_unencrypted(settings: Settings, path: Path, refused: frozenset[str]) -> None:
    smtp = settings.smtp
    origin = password_origin(settings) if smtp.password is not None else None
    problems = unencrypted_smtp_problems(smtp.host, smtp.security, smtp.username, origin)
    if problems:
        where = _origin(("smtp", "security"), path, refused)
        raise ConfigError([f"{where}: {problem}" for problem in problems], hint=UNENCRYPTED_HINT)


def _read_file(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise ConfigError(
                [f"{path}: no such config file"], hint="Check --config or $NOTIFIER_CONFIG."
            )
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{path}: cannot read: {error}"]) from None
    except RecursionError:
        raise ConfigError(
            [f"{path}: not valid TOML: arrays or inline tables nested too deeply to read"]
        ) from None
    except ValueError as error:
        # An integer of more than 4300 digits; drop Python's advice to raise the limit.
        reason = str(error).split(";", 1)[0]
        raise ConfigError(
            [f"{path}: not valid TOML: a number too long to read ({reason}); shorten it"]
        ) from None


def _sections() -> dict[str, type[BaseModel]]:
    """The sections of the configuration by name, without internal fields."""
    sections: dict[str, type[BaseModel]] = {}
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if name not in _INTERNAL and isinstance(model, type) and issubclass(model, BaseModel):
            sections[name] = model
    return sections


def _is_container(annotation: Any) -> bool:
    """Whether pydantic-settings decodes a variable for this type as JSON."""
    origin = get_origin(annotation) or annotation
    if origin in (list, tuple, set, frozenset, dict):
        return True
    return isinstance(origin, type) and issubclass(origin, BaseModel)


def _check_environment() -> tuple[list[str], frozenset[str]]:
    """Problems with the NOTIFIER_* variables, and the (lower-case) names of those refused.

    Left to pydantic-settings, a variable for an unknown section is ignored, one for a whole
    section or a list that is not JSON raises an error naming neither variable nor key, and one
    that is not UTF-8 reaches the validators as surrogates. Refused variables are kept from
    pydantic-settings, so that the other keys are still checked and every problem is reported.
    """
    sections = _sections()
    problems: list[str] = []
    refused: set[str] = set()
    for name, value in sorted(os.environ.items()):
        lower = name.lower()
        if not lower.startswith(ENV_PREFIX.lower()) or lower == ENV_CONFIG.lower():
            continue
        parts = lower[len(ENV_PREFIX) :].split("__")
        shown = f"${_shown(name)}: {_shown('.'.join(parts)) or '(no key)'}"
        if not (_is_utf8(name) and _is_utf8(value)):
            problems.append(
                f"{shown}: not valid UTF-8 (bytes of another encoding, such as Latin-1); "
                "write the variable in UTF-8, e.g. save the unit or environment file as UTF-8"
            )
        elif parts[0] not in sections:
            problems.append(f"${_shown(name)}: {_shown(parts[0]) or '(no key)'}: {UNKNOWN_KEY}")
        elif (reason := _json_problem(parts, sections[parts[0]], value)) is not None:
            problems.append(f"{shown}: {reason}")
        else:
            continue
        refused.add(lower)
    return problems, frozenset(refused)


def _json_problem(parts: list[str], section: type[BaseModel], value: str) -> str | None:
    """Why pydantic-settings cannot decode a section or list variable; None if it can."""
    variable = ENV_PREFIX + "__".join(parts).upper()
    rest = parts[1:]
    if not rest:
        default = section().model_dump(mode="json")
        key = next((k for k, v in default.items() if v and not isinstance(v, list | dict)), None)
        key = key or next(iter(default))
        example = (
            f"a whole section must be a JSON object, e.g. {variable}="
            f"'{json.dumps({key: default[key]}, ensure_ascii=False)}', "
            f"or set one key, e.g. {variable}__{key.upper()}"
        )
    else:
        field = section.model_fields.get(rest[0])
        if len(rest) != 1 or field is None or not _is_container(field.annotation):
            return None
        sample = field.default if isinstance(field.default, list | tuple) else ["…"]
        example = (
            f"a list must be a JSON array, e.g. {variable}="
            f"'{json.dumps(list(sample), ensure_ascii=False)}'"
        )
    try:
        json.loads(value)
    except RecursionError:
        return f"not JSON (nested too deeply); {example}"
    except ValueError as error:
        return f"not JSON ({error}); {example}"
    return None


def _undecodable(error: SettingsError, refused: frozenset[str]) -> str:
    """A line for a SettingsError, naming the variables of the field it is about."""
    match = re.search(r'field "([^"]+)"', str(error))
    field = match.group(1).lower() if match else ""
    names = [
        name
        for lower, name in _variables(refused).items()
        if field and (lower == f"notifier_{field}" or lower.startswith(f"notifier_{field}__"))
    ]
    origin = ", ".join(f"${_shown(name)}" for name in sorted(names)) or f"${ENV_PREFIX}*"
    return (
        f"{origin}: {field or 'environment'}: cannot be read ({error}); a list or section "
        'variable must be JSON, e.g. NOTIFIER_REMINDERS__LEADS=\'["30d", "7d"]\''
    )


def _is_utf8(text: str) -> bool:
    """False for text os.environ decoded with surrogate escapes (bytes that are not UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(text: str) -> str:
    """Text fit for a terminal or a log: control characters and undecodable bytes escaped."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


def _describe(error: ValidationError, path: Path, refused: frozenset[str]) -> list[str]:
    """One line per problem: 'config.toml: smtp.port: Input should be ... (got 'abc')'."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        origin = _origin(item["loc"], path, refused)
        got = _got(item.get("input")) if item["type"] != "missing" else ""
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = UNKNOWN_KEY
        lines.append(f"{origin}: {key}: {message}{got}")
    return lines


def _got(value: object) -> str:
    """The value in a problem line, when it is short enough to quote; never a password
    written into a URL."""
    if isinstance(value, str):
        value = _URL_PASSWORD.sub(r"\1***@", value)
    return f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def _variables(refused: frozenset[str]) -> dict[str, str]:
    """The NOTIFIER_* variables pydantic-settings reads, by lower-case name (it ignores case).

    ``refused`` are the (lower-case) names of those kept from it (``_check_environment``).
    """
    return {
        name.lower(): name
        for name in os.environ
        if name.lower().startswith(ENV_PREFIX.lower()) and name.lower() not in refused
    }


def _origin(loc: tuple[Any, ...], path: Path, refused: frozenset[str]) -> str:
    """Where a bad value came from: a variable, in any case, overrides the file.

    The variable may be the key's own (NOTIFIER_SMTP__PORT), a section or list holding it as
    JSON (NOTIFIER_SMTP='{"port": "x"}'), or one too deep (NOTIFIER_SMTP__HOST__X).
    """
    names = _variables(refused)
    for length in range(len(loc), 0, -1):
        env = ENV_PREFIX.lower() + "__".join(str(part).lower() for part in loc[:length])
        if env in names and _holds(os.environ[names[env]], loc[length:]):
            return f"${_shown(names[env])}"
        if length == len(loc):
            deeper = sorted(lower for lower in names if lower.startswith(env + "__"))
            if deeper:
                return f"${_shown(names[deeper[0]])}"
    return str(path)


def _holds(value: str, rest: tuple[Any, ...]) -> bool:
    """Whether a variable's value reaches down to the rest of a key (always, for its own)."""
    if not rest:
        return True
    try:
        node = json.loads(value)
    except (ValueError, RecursionError):
        return False
    for part in rest:
        if isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return False
    return True


def _with_password(settings: Settings, path: Path) -> Settings:
    """The SMTP and database passwords, from their files or systemd credentials."""
    smtp, ledger = settings.smtp, settings.ledger
    if smtp.password is None:
        secret = _secret_from_file("smtp", smtp.password_file, CREDENTIAL_NAME, path)
        if secret is not None:
            smtp = smtp.model_copy(update={"password": SecretStr(secret)})
    if ledger.password is None and ledger.url:
        secret = _secret_from_file("ledger", ledger.password_file, LEDGER_CREDENTIAL, path)
        if secret is not None:
            ledger = ledger.model_copy(update={"password": SecretStr(secret)})
    return settings.model_copy(update={"smtp": smtp, "ledger": ledger})


def _secret_from_file(
    section: str, configured: Path | None, credential_name: str, path: Path
) -> str | None:
    """The password in ``<section>.password_file``, else in the systemd credential; None if
    neither is there. What it is for is named in every error, never the value."""
    what = "SMTP password" if section == "smtp" else "database password"
    candidates: list[tuple[str, Path]] = []
    if configured:
        secret_path = configured if configured.is_absolute() else path.resolve().parent / configured
        candidates.append((f"{section}.password_file", secret_path))
    if os.environ.get("CREDENTIALS_DIRECTORY"):
        credential = Path(os.environ["CREDENTIALS_DIRECTORY"]) / credential_name
        if credential.exists():
            candidates.append(("systemd credential", credential))
    for origin, secret_file in candidates[:1]:
        shown = _shown(str(secret_file))
        try:
            return secret_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                [f"{origin} {shown}: cannot read the {what}: {error.strerror}"],
                hint="Make the file readable by the service user, or unset the variable.",
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(
                [f"{origin} {shown}: the {what} is not UTF-8 text"],
                hint="Save the file as UTF-8 text holding only the password.",
            ) from None
        except ValueError:
            raise ConfigError(
                [f"{origin} {shown}: not a usable file name: it holds a NUL character"],
                hint="Write the path of the password file without control characters.",
            ) from None
    return None


def _resolved(settings: Settings, path: Path, refused: frozenset[str]) -> Settings:
    """Paths with '~' expanded, and relative ones taken from the config file's folder."""
    base = path.resolve().parent if path.exists() else Path.cwd()
    problems: list[str] = []

    def absolute(section: str, key: str, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            value = value.expanduser()
        except RuntimeError:
            problems.append(
                f"{_origin((section, key), path, refused)}: {section}.{key}: cannot expand "
                f"'{_shown(value.parts[0])}' in '{_shown(str(value))}': no such user or no "
                "home folder; write the full path"
            )
            return value
        return value if value.is_absolute() else (base / value)

    update: dict[str, Any] = {}
    for section, key in _PATH_KEYS:
        part = getattr(settings, section)
        update[section] = part.model_copy(update={key: absolute(section, key, getattr(part, key))})
    if problems:
        raise ConfigError(problems)
    return settings.model_copy(update=update)


def password_origin(settings: Settings) -> str:
    """Where the SMTP password came from, for the start-up log (never the value)."""
    if settings.smtp.password is None:
        return "none"
    variable = _variables(frozenset()).get("notifier_smtp__password")
    if variable is not None:
        return f"${_shown(variable)}"
    if settings.smtp.password_file:
        return str(settings.smtp.password_file)
    return f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}"
