"""The README's commands work as written from a fresh clone.

Every management command it shows runs as ``make manage ARGS="..."`` (the settings of ``make
run``), never as a bare ``python manage.py`` (no Django outside the venv; no secret key without
debug); each names a command that exists and only options that command has. Every benchmark
it shows exists and has the options shown. The production section, which exports its
settings first, may call the venv's Python directly.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

README = Path(__file__).resolve().parents[2] / "README.md"
MANAGE = re.compile(r'make (?:-s )?manage ARGS="((?:[^"$]|\$\([^)]*\))*)"')
BENCHMARK = re.compile(r"\.venv/bin/python (benchmarks/[\w]+\.py)([^`\n]*)")


def readme() -> str:
    return README.read_text()


def production_section(text: str) -> str:
    start = text.index("## Running production-like")
    return text[start : text.index("\n## ", start + 5)]


def manage_invocations() -> list[str]:
    text = readme().replace("\\\n", " ")
    return [m.group(1) for m in MANAGE.finditer(text) if m.group(1) != "..."]  # "...": any


def options_of(words: list[str]) -> list[str]:
    return [w.split("=")[0] for w in words if w.startswith("--")]


def test_no_bare_python_manage_py_outside_the_production_section():
    text = readme()
    rest = text.replace(production_section(text), "")
    assert not re.findall(r"(?<!\.venv/bin/)python manage\.py", rest)
    assert ".venv/bin/python manage.py" not in rest


def test_documented_management_commands_exist_with_their_options():
    invocations = manage_invocations()
    assert len(invocations) >= 15, invocations
    commands = get_commands()
    for invocation in invocations:
        cleaned = re.sub(r"\$\([^)]*\)", "VALUE", invocation).replace("[", " ").replace("]", " ")
        words = shlex.split(cleaned.replace("|", " "))
        name = words[0]
        assert name in commands, f"README: unknown management command {name!r}"
        parser = load_command_class(commands[name], name).create_parser("manage.py", name)
        known = set(parser._option_string_actions)
        for option in options_of(words[1:]):
            assert option in known, f"README: {name} has no option {option}"


@pytest.mark.parametrize(
    "match", list(BENCHMARK.finditer(README.read_text())), ids=lambda m: m.group(1)
)
def test_documented_benchmarks_exist_with_their_options(match):
    script = README.parent / match.group(1)
    assert script.exists(), match.group(1)
    source = script.read_text()
    for option in options_of(match.group(2).replace("[", " ").replace("]", " ").split()):
        assert f'"{option}"' in source, f"{match.group(1)} has no option {option}"


def test_quick_start_has_exactly_the_two_commands():
    text = readme()
    block = text[text.index("## Quick start") :].split("```")[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]


# The README's commands that need no server, data file or worker, run as written (its
# arguments, through Django's command-line parsing) in order: the API-client block and the
# rollups.
RUNNABLE = ("create_api_client", "rotate_api_key", "revoke_api_client", "rollup")


@pytest.mark.django_db
def test_documented_commands_that_need_nothing_else_run_as_written(capsys):
    from django.core.management import call_command

    ran = []
    for invocation in manage_invocations():
        words = shlex.split(invocation)
        if words[0] not in RUNNABLE or words[1:2] == ["NAME"]:  # NAME: a placeholder
            continue
        call_command(*words)
        ran.append(invocation)
        out = capsys.readouterr().out
        if words[0] in ("create_api_client", "rotate_api_key"):
            assert re.search(r"^[0-9a-f]{40}$", out, re.M), (invocation, out)  # the key, once
    assert {shlex.split(r)[0] for r in ran} == set(RUNNABLE), ran
