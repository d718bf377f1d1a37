"""The owner lock of a node's data (``owner.lock``): taken once, refused naming the holder's
pid, freed on release; ``hold_data_dir`` takes every node's or none. (flock conflicts between
two opens of one file in one process too, so the holder can be this test; the real processes
are in ``tests/server/test_data_dir_owner.py``.)"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pluginmgr.node.data_layout import DataLayoutError
from pluginmgr.node.owner_lock import (
    LOCK_NAME,
    DataDirBusyError,
    hold_data_dir,
    hold_for_serve,
    hold_node,
)


def test_a_held_node_is_refused_naming_the_pid_and_free_once_released(tmp_path: Path) -> None:
    root = tmp_path / "data" / "node0"
    held = hold_node(root, refused="busy", hint="stop pid {pid}")
    lock = root / LOCK_NAME
    assert lock.read_text() == f"{os.getpid()}\n"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    with pytest.raises(DataDirBusyError) as caught:
        hold_node(root, refused="busy", hint="stop pid {pid}")
    assert str(caught.value) == (
        f"{root} is in use by another pluginmgr process (pid {os.getpid()}, holding {lock}): "
        f"busy (hint: stop pid {os.getpid()})"
    )
    held.release()
    with hold_node(root, refused="busy", hint="") as again:
        assert again.path == lock


def test_a_holder_that_wrote_no_pid_is_named_unknown(tmp_path: Path) -> None:
    import fcntl

    root = tmp_path / "node0"
    root.mkdir()
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(DataDirBusyError, match=r"\(pid unknown, holding"):
            hold_node(root, refused="busy", hint="")
    finally:
        os.close(fd)


def test_serve_checks_the_node_id_before_it_locks(tmp_path: Path) -> None:
    with pytest.raises(DataLayoutError, match=r"invalid node id '\.\.'"):
        hold_for_serve(tmp_path, "..")
    assert list(tmp_path.iterdir()) == []


def test_the_data_dir_is_taken_whole_or_not_at_all(tmp_path: Path) -> None:
    for node in ("a", "b", "c"):
        hold_node(tmp_path / node, refused="", hint="").release()
    (tmp_path / "not-a-node").mkdir()
    with hold_data_dir(tmp_path, refused="busy", hint=""):
        with pytest.raises(DataDirBusyError, match="busy"):
            hold_node(tmp_path / "c", refused="busy", hint="")
    b = hold_node(tmp_path / "b", refused="", hint="")
    with pytest.raises(DataDirBusyError, match=f"{tmp_path / 'b'} is in use"):
        hold_data_dir(tmp_path, refused="busy", hint="")
    hold_node(tmp_path / "a", refused="", hint="").release()  # "a" was let go again
    b.release()
    assert not (tmp_path / "not-a-node" / LOCK_NAME).exists()
