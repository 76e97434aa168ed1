import pytest

from keras_fer.files import atomic_write, locked


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
