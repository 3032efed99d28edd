from anon_pipeline.engine.arrivals import look_at_incoming, ready_batches


def test_a_batch_with_the_marker_is_ready_at_once(tmp_path):
    (tmp_path / "cd1").mkdir()
    (tmp_path / "cd1" / "IM1").write_bytes(b"x")
    (tmp_path / "cd1" / ".copy_complete").touch()
    ready, _ = ready_batches(look_at_incoming(tmp_path), {}, now=100.0, quiet_seconds=3600)
    assert [state.name for state in ready] == ["cd1"]


def test_a_batch_without_marker_waits_for_the_quiet_period(tmp_path):
    (tmp_path / "cd1").mkdir()
    (tmp_path / "cd1" / "IM1").write_bytes(b"x")
    ready, memory = ready_batches(look_at_incoming(tmp_path), {}, now=100.0, quiet_seconds=60)
    assert ready == []
    ready, memory = ready_batches(look_at_incoming(tmp_path), memory, now=130.0, quiet_seconds=60)
    assert ready == []
    (tmp_path / "cd1" / "IM2").write_bytes(b"still copying")
    ready, memory = ready_batches(look_at_incoming(tmp_path), memory, now=170.0, quiet_seconds=60)
    assert ready == []  # it changed: the clock starts again
    ready, memory = ready_batches(look_at_incoming(tmp_path), memory, now=231.0, quiet_seconds=60)
    assert [state.name for state in ready] == ["cd1"]


def test_empty_and_hidden_folders_never_start(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / ".partial").mkdir()
    (tmp_path / ".partial" / "IM1").write_bytes(b"x")
    states = look_at_incoming(tmp_path)
    assert [state.name for state in states] == ["empty"]
    ready, _ = ready_batches(states, {}, now=0.0, quiet_seconds=0)
    assert ready == []
