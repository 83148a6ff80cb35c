"""The `udev-rules-translate` command as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from udev_rules_helpers import STOCK_DIR

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(os.path.dirname(sys.executable), "udev-rules-translate")


def run(*args: str, cwd: str = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run(
        [sys.executable, "-m", "udev_rules_translator.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


def rules_file(tmp_path: str | os.PathLike[str], text: str, name: str = "10-test.rules") -> str:
    path = os.path.join(tmp_path, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_help_has_examples() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    assert "examples:" in proc.stdout and "udev-rules-translate check" in proc.stdout
    for sub in ("check", "dump", "translate"):
        assert run(sub, "--help").returncode == 0


@pytest.mark.skipif(not os.path.exists(SCRIPT), reason="console script not installed (pip install -e .)")
def test_console_script_is_installed() -> None:
    proc = subprocess.run([SCRIPT, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "udev-rules-translate" in proc.stdout


def test_check_clean_file_exits_0(tmp_path: os.PathLike[str]) -> None:
    path = rules_file(tmp_path, 'KERNEL=="sda", SYMLINK+="mydisk"\n')
    proc = run("check", path)
    assert (proc.returncode, proc.stdout) == (0, "")
    assert "1 rules files checked: 0 errors, 0 warnings, 0 notices; 1 lines, 2 tokens" in proc.stderr


def test_check_reports_file_line_severity_and_exits_1(tmp_path: os.PathLike[str]) -> None:
    path = rules_file(tmp_path, '# ok\nACTION="add", RUN+="x"\nNAME+="eth9"\n')
    proc = run("check", path)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"{path}:2: error: Invalid operator for ACTION.",
        f"{path}:3: warning: NAME key takes '==', '!=', '=', or ':=' operator, assuming '='.",
    ]


def test_check_debug_messages_alone_do_not_fail(tmp_path: os.PathLike[str]) -> None:
    path = rules_file(tmp_path, 'OWNER="root", TAG+="x"\n')
    proc = run("check", "--resolve-names=never", path)
    # udevd's own words and level (log_token_debug)
    assert proc.returncode == 0 and ": debug: User name resolution is disabled, ignoring OWNER=root" in proc.stdout


def test_check_directory(tmp_path: os.PathLike[str]) -> None:
    rules_file(tmp_path, 'TAG+="a"\n', "10-a.rules")
    rules_file(tmp_path, 'FOO="b"\n', "20-b.rules")
    rules_file(tmp_path, 'FOO="c"\n', "30-c.txt")
    proc = run("check", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stdout == f"{os.path.join(tmp_path, '20-b.rules')}:1: error: Invalid key 'FOO'\n"


@pytest.mark.skipif(not os.path.isdir(STOCK_DIR), reason="Debian's udev rules not installed")
def test_check_stock_rules_is_clean() -> None:
    proc = run("check", STOCK_DIR)
    assert proc.returncode == 0, proc.stdout
    assert "41 rules files checked: 0 errors" in proc.stderr or "rules files checked: 0 errors" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [("check", "/nonexistent/x.rules"), ("dump", "/nonexistent"), ("translate", "/nonexistent", "/tmp/x")],
)
def test_bad_paths_exit_2(args: tuple[str, ...]) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert "udev-rules-translate: error: /nonexistent" in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("args", [(), ("frobnicate",), ("--bogus",), ("check", "--bogus"), ("translate", "only-one")])
def test_bad_usage_exits_2(args: tuple[str, ...]) -> None:
    proc = run(*args)
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_dump_shows_the_program_in_evaluation_order(tmp_path: os.PathLike[str]) -> None:
    path = rules_file(tmp_path, 'RUN+="/bin/x %k", KERNEL=="sd*|hd?", GOTO="end"\nTAG+="t"\nLABEL="end"\n')
    proc = run("dump", path)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == f"# {path}"
    assert lines[1] == '[0] line 1 HAS_GOTO|UPDATE_SOMETHING GOTO="end" -> [2]'
    assert lines[2] == '    M_KERNEL == glob "sd*|hd?"'
    assert lines[3] == '    A_RUN_PROGRAM += "/bin/x " + $kernel'
    assert lines[-1] == "# 3 lines, 3 tokens, 1 files"


def test_dump_json_is_the_whole_program(tmp_path: os.PathLike[str]) -> None:
    path = rules_file(tmp_path, 'KERNEL=="sda", OWNER="root", GOTO="x"\nLABEL="x"\n')
    proc = run("dump", "--json", path)
    assert proc.returncode == 0
    program = json.loads(proc.stdout)
    first = program["lines"][0]
    assert first["goto"] == 1 and first["flags"] == ["HAS_DEVLINK", "HAS_GOTO"]
    assert [t["type"] for t in first["tokens"]] == ["M_KERNEL", "A_OWNER_ID"]
    assert first["tokens"][0]["pattern"] == {"kind": "PLAIN", "alternatives": ["sda"]}
    assert first["tokens"][1]["number"] == 0
    assert program["sources"][0]["path"] == path


def test_translate_writes_normalized_rules_that_compile_clean(tmp_path: os.PathLike[str]) -> None:
    src = os.path.join(tmp_path, "src")
    os.makedirs(src)
    rules_file(src, 'RUN+="x", KERNEL=="a"  ,ATTR{x}+="1"\nBOGUS="1"\nENV{A}=e"tab\\there"\n', "10-a.rules")
    dest = os.path.join(tmp_path, "dest")
    proc = run("translate", src, dest)
    assert proc.returncode == 1  # problems were reported
    assert f"{src}/10-a.rules:2: error: Invalid key 'BOGUS'" in proc.stderr
    with open(os.path.join(dest, "10-a.rules")) as f:
        out = f.read().splitlines()
    assert out[1:] == [
        "# warning: ATTR key takes '==', '!=', or '=' operator, assuming '='.",
        'KERNEL=="a", ATTR{x}="1", RUN+="x"',
        "# error: Invalid key 'BOGUS'",
        '# dropped: BOGUS="1"',
        'ENV{A}=e"tab\\x09here"',
    ]
    again = run("check", dest)
    assert again.returncode == 0, again.stdout


def test_translate_refuses_a_file_as_destination(tmp_path: os.PathLike[str]) -> None:
    src = rules_file(tmp_path, 'TAG+="a"\n')
    proc = run("translate", src, src)
    assert proc.returncode == 2 and "not a directory" in proc.stderr


def test_dump_into_a_closed_pipe_is_quiet() -> None:
    if not shutil.which("head"):
        pytest.skip("no head")
    proc = subprocess.run(
        f"{sys.executable} -m udev_rules_translator.cli dump | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert "Traceback" not in proc.stderr


def test_non_utf8_bytes_are_reported_as_they_are(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "10-bytes.rules")
    with open(path, "wb") as f:
        f.write(b'K\xffEY=="a"\nRUN+="\xff\xfe"\n')
    env = {**os.environ, "PYTHONPATH": REPO, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    for command in ("check", "dump"):
        proc = subprocess.run(
            [sys.executable, "-m", "udev_rules_translator.cli", command, path], capture_output=True, env=env
        )
        assert b"Traceback" not in proc.stderr
        assert proc.returncode == (1 if command == "check" else 0)
    check = subprocess.run(
        [sys.executable, "-m", "udev_rules_translator.cli", "check", path], capture_output=True, env=env
    )
    assert check.stdout == path.encode() + b":1: error: Invalid key 'K\xffEY'\n"
