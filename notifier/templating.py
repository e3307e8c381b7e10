"""The email templates: loaded once, and checked before anything is sent.

Every kind of message (``notifier.kinds``) is a triple of Jinja2 templates in the templates
folder. Loading compiles each and renders it with the kind's sample contexts, so that a
syntax error or a misspelt variable fails at start-up or reload, naming the file and line,
instead of at the moment a reminder is due.
"""

from __future__ import annotations

import contextlib
import functools
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache

from notifier.errors import UserError
from notifier.kinds.base import Kind
from notifier.settings import FeedSettings, Settings


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Templates compiled once per version of their text, as Python keeps .pyc files: in
    Jinja's private folder for this user (0700, its owner checked). Only a saving: a cache
    that cannot be read or written is passed over, and the template compiled."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


@functools.cache
def compiled_templates() -> jinja2.BytecodeCache | None:
    try:
        return _CompiledTemplates()
    except (OSError, RuntimeError):  # no private folder can be had: compile every time
        return None


def environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder, encoding="utf-8"),
        bytecode_cache=compiled_templates(),
        undefined=jinja2.StrictUndefined,
        # HTML escapes all plan text; the text parts and subjects are plain text.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def template_names(kinds: Sequence[Kind[Any]]) -> list[str]:
    return [name for kind in kinds for name in kind.template_names]


def loaded_environment(folder: Path, kinds: Sequence[Kind[Any]]) -> jinja2.Environment:
    """The templates of ``kinds`` in ``folder``, each compiled and rendered with samples;
    raises UserError naming every faulty file."""
    if not folder.is_dir():
        raise UserError(
            [f"{folder}: no such template folder"],
            hint="Set templates.dir in config.toml to the folder with the email templates.",
        )
    loaded = environment(folder)
    problems = _compile_all(loaded, folder, kinds)
    if not problems:
        problems = _render_samples(loaded, folder, kinds)
    if problems:
        raise UserError(problems, hint="Fix the templates; nothing is sent until they load.")
    return loaded


def _compile_all(loaded: jinja2.Environment, folder: Path, kinds: Sequence[Kind[Any]]) -> list[str]:
    problems = []
    for name in template_names(kinds):
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing; every kind needs .subject.txt, .txt and .html")
            continue
        try:
            loaded.get_template(name)
        except jinja2.TemplateSyntaxError as error:
            problems.append(f"{path}:{error.lineno}: {error.message}")
        except UnicodeDecodeError as error:
            problems.append(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})")
    return problems


def _render_samples(
    loaded: jinja2.Environment, folder: Path, kinds: Sequence[Kind[Any]]
) -> list[str]:
    """Render every template with each sample, so undefined names fail now, not at 08:00."""
    problems: dict[str, str] = {}
    # Defaults, with feed tokens off and on (the templates branch on whether a feed
    # address can be given): the check must not depend on the environment it runs in.
    variants = (
        Settings.model_construct(),
        Settings.model_construct(feeds=FeedSettings.model_construct(tokens=True)),
    )
    for settings in variants:
        for kind in kinds:
            for context in kind.sample_contexts(settings):
                for name in kind.template_names:
                    if name in problems:
                        continue
                    try:
                        loaded.get_template(name).render(context)
                    except Exception as error:  # any failure names the template and line
                        problems[name] = _describe(folder / name, error)
    return list(problems.values())


def _describe(path: Path, error: Exception) -> str:
    line = _template_line(error, path)
    where = f"{path}:{line}" if line else str(path)
    if isinstance(error, jinja2.UndefinedError):
        return f"{where}: {error.message} (no such variable or attribute)"
    return f"{where}: {type(error).__name__}: {error}"


def _template_line(error: Exception, path: Path) -> int | None:
    """The template line an error came from; Jinja2 rewrites tracebacks to template frames."""
    line = None
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if Path(frame.f_code.co_filename) == path:
            line = lineno
    return line
