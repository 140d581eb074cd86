"""Finding PostgreSQL's server binaries, the one thing a fresh machine must provide."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from include.devstack.postgres import INSTALL_HINT, PostgresUnavailable, find_pg_bin


def _fake_bin(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in ("initdb", "pg_ctl"):
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return folder


def test_newest_versioned_folder_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PG_BIN", raising=False)
    _fake_bin(tmp_path / "9.6" / "bin")
    newest = _fake_bin(tmp_path / "16" / "bin")
    _fake_bin(tmp_path / "15" / "bin")

    assert find_pg_bin(versioned_root=tmp_path, search_path="") == newest


def test_pg_bin_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = _fake_bin(tmp_path / "custom")
    _fake_bin(tmp_path / "root" / "16" / "bin")
    monkeypatch.setenv("PG_BIN", str(chosen))

    assert find_pg_bin(versioned_root=tmp_path / "root", search_path="") == chosen


def test_falls_back_to_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PG_BIN", raising=False)
    on_path = _fake_bin(tmp_path / "bin")

    assert find_pg_bin(versioned_root=tmp_path / "none", search_path=str(on_path)) == on_path


def test_missing_binaries_say_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PG_BIN", raising=False)

    with pytest.raises(PostgresUnavailable) as caught:
        find_pg_bin(versioned_root=tmp_path, search_path=str(tmp_path))

    assert str(caught.value) == INSTALL_HINT
    assert "\n" not in INSTALL_HINT
    assert "apt-get install postgresql" in INSTALL_HINT


def test_this_machine_has_them() -> None:
    found = find_pg_bin()

    assert (found / "initdb").is_file() and os.access(found / "pg_ctl", os.X_OK)
