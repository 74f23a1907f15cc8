"""Local JSON-lines files: private modes, no redirection, an absolute default, no torn records."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from otel_errors._internal.export.local import JsonLinesFile
from otel_errors._internal.tooling.report import build_report


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_created_0600_in_a_0700_directory(tmp_path):
    """A new directory is private to the user, and so is each file in it."""
    directory = tmp_path / "data"
    JsonLinesFile(directory / "spans.jsonl", 1 << 20).append([{"n": 1}])
    assert _mode(directory) == 0o700
    assert _mode(directory / "spans.jsonl") == 0o600


def test_a_file_left_readable_by_an_older_version_is_tightened(tmp_path):
    """Our own file found with mode 0644 is made 0600 at the next write."""
    path = tmp_path / "spans.jsonl"
    path.write_text('{"old":1}\n')
    path.chmod(0o644)
    JsonLinesFile(path, 1 << 20).append([{"n": 1}])
    assert _mode(path) == 0o600


def test_a_planted_symlink_is_refused(tmp_path):
    """A symlink named like our file is not followed: its target stays untouched."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "spans.jsonl").symlink_to(victim)
    with pytest.raises(OSError, match="symlink"):
        JsonLinesFile(data / "spans.jsonl", 1 << 20).append([{"secret": "stack trace"}])
    assert victim.read_text() == "precious\n"


def test_a_hard_link_to_another_file_is_refused(tmp_path):
    """A second name for some other file is not appended to."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.link(victim, data / "spans.jsonl")
    with pytest.raises(OSError, match="single link"):
        JsonLinesFile(data / "spans.jsonl", 1 << 20).append([{"secret": "stack trace"}])
    assert victim.read_text() == "precious\n"


def test_a_directory_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    """Records never go into a directory that another user owns."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setattr(os, "geteuid", lambda: data.stat().st_uid + 1)
    with pytest.raises(OSError, match="owned by uid"):
        JsonLinesFile(data / "spans.jsonl", 1 << 20).append([{"n": 1}])
    assert not (data / "spans.jsonl").exists()


def test_after_a_torn_last_line_the_next_record_starts_a_fresh_line(tmp_path):
    """A partial line left by a killed writer costs no complete record: ours still parses."""
    path = tmp_path / "spans.jsonl"
    whole = json.dumps({"name": "complete", "events": []})
    path.write_text(whole + "\n" + whole[: len(whole) // 2])
    JsonLinesFile(path, 1 << 20).append([{"name": "next", "events": []}])
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["name"] == "complete"
    assert json.loads(lines[-1])["name"] == "next"
    report = build_report(tmp_path)
    assert (report.spans, report.skipped_lines) == (2, 1)


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from otel_errors._internal.export.local import JsonLinesFile
    writer = JsonLinesFile(Path(sys.argv[1]), 1 << 40)
    print("ready", flush=True)
    while True:
        writer.append([{"name": "bulk", "pad": "x" * 8_000_000}])
    """
)


def _kill_a_writer_mid_write(script: Path, path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            not path.exists() or path.stat().st_size < 20_000_000
        ):
            time.sleep(0.01)
        writer.send_signal(signal.SIGKILL)


def test_a_writer_killed_mid_write_loses_no_complete_record_of_the_next(tmp_path):
    """After kill -9 tore a write of a large batch, the next process's record parses whole."""
    path = tmp_path / "spans.jsonl"
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    for _ in range(60):  # one kill in two to ten lands inside an 8 MB write
        path.unlink(missing_ok=True)
        _kill_a_writer_mid_write(script, path)
        if not path.read_bytes().endswith(b"\n"):
            break
    else:
        pytest.skip("no kill tore a write on this filesystem")
    JsonLinesFile(path, 1 << 40).append([{"name": "next", "events": []}])
    last = path.read_bytes().rsplit(b"\n", 2)[-2]
    assert json.loads(last)["name"] == "next"


DEFAULT_DIR_SCRIPT = textwrap.dedent(
    """
    import otel_errors
    otel_errors.configure(service_name="svc", instrument=False)
    otel_errors.record_error(TimeoutError("slow"))
    """
)


def test_the_default_directory_is_absolute_and_announced(tmp_path):
    """Unset OTEL_ERRORS_LOCAL_DIR: the user's state directory (not the cwd), printed at start."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "XDG_"))}
    env["HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-c", DEFAULT_DIR_SCRIPT],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = home / ".local" / "state" / "otel-errors"
    assert "TimeoutError" in (expected / "spans.jsonl").read_text()
    assert list(cwd.iterdir()) == []
    assert str(expected) in result.stderr


def test_a_service_user_without_a_home_writes_to_the_temp_directory(tmp_path):
    """With HOME=/ (a typical service account) the files go to <temp>/otel-errors-<uid>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "XDG_"))}
    env.update(HOME="/", TMPDIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", DEFAULT_DIR_SCRIPT],
        cwd="/", env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = tmp_path / f"otel-errors-{os.geteuid()}"
    assert "TimeoutError" in (expected / "spans.jsonl").read_text()
    assert _mode(expected) == 0o700
