import os
import stat

import pytest

from keras_fer.files import atomic_path, atomic_write, locked


def test_atomic_write_replaces_the_file_whole_or_not_at_all(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as file:
            file.write("half of the new")
            raise RuntimeError("killed")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    with atomic_write(path) as file:
        file.write("new")
        assert path.read_text() == "old"  # not replaced before the block ends
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_held_lock_is_refused_without_waiting_and_free_after_the_block(tmp_path):
    path = tmp_path / "locks" / "cell.lock"
    with locked(path) as first:
        assert first is not None
        with locked(path, wait=False) as second:  # flock: a second open file conflicts, even in one process
            assert second is None
    with locked(path, wait=False) as third:
        assert third is not None
    assert path.is_file()
    with locked(path, remove=True):
        pass
    assert not path.exists()


def test_atomic_write_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "results" / "report.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "report.json"
    link.symlink_to(target)
    with atomic_write(link) as file:
        file.write("new")
    assert link.is_symlink() and link.resolve() == target and target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_a_link_to_a_blob_without_suffix_is_written_with_the_link_s_suffix(tmp_path):
    blob = tmp_path / "blobs" / "3f2a9c"  # as DVC's and Hugging Face's caches link model files
    blob.parent.mkdir()
    blob.write_text("old")
    (tmp_path / "model.keras").symlink_to(blob)
    with atomic_path(tmp_path / "model.keras") as temporary:
        assert temporary.suffix == ".keras" and temporary.parent == blob.parent  # Keras' save refuses another suffix
        temporary.write_text("new")
    assert blob.read_text() == "new" and (tmp_path / "model.keras").is_symlink()


def test_atomic_write_to_a_fifo_or_a_device_writes_into_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with atomic_write(fifo) as file:
            file.write("through the pipe")
        assert os.read(reader, 100) == b"through the pipe"
    finally:
        os.close(reader)
    null = tmp_path / "null"
    null.symlink_to(os.devnull)
    with atomic_write(null) as file:
        file.write("discarded")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and null.is_symlink() and stat.S_ISCHR(null.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "pipe"]
