"""The state file of a running stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.state import ProcessRecord, StackState, load_state, remove_state, save_state


def _state() -> StackState:
    state = StackState(
        project_id="demo-state",
        host="127.0.0.1",
        gateway_port=1,
        firestore_port=2,
        pubsub_port=3,
        functions_base_port=4,
        manifest="m.yaml",
        from_build=False,
    )
    state.put(ProcessRecord("firestore", "emulator", 10, 2, "f.log", ["--port=2 "]))
    state.put(ProcessRecord("gateway", "gateway", 11, 1, "g.log"))
    state.put(ProcessRecord("scheduler", "scheduler", 12, None, "s.log"))
    state.put(ProcessRecord("health", "function", 13, 4, "h.log", ["--port 4 "], "http"))
    return state


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / ".local" / "stack-demo-state.json"
    original = _state()
    save_state(path, original)
    assert load_state(path) == original
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_missing_file_means_no_stack(tmp_path: Path) -> None:
    assert load_state(tmp_path / "none.json") is None
    remove_state(tmp_path / "none.json")


def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="remove it by hand"):
        load_state(path)


def test_stop_order_puts_callers_before_emulators() -> None:
    names = [p.name for p in _state().in_stop_order()]
    assert names == ["health", "gateway", "scheduler", "firestore"]


def test_put_replaces_a_record_of_the_same_name() -> None:
    state = _state()
    state.put(ProcessRecord("health", "function", 99, 4, "h.log"))
    assert [p.pgid for p in state.processes if p.name == "health"] == [99]
    state.drop("health")
    assert state.find("health") is None


def test_a_new_process_group_under_a_recorded_name_counts_as_a_restart(tmp_path: Path) -> None:
    state = _state()
    assert state.find("health").restarts == 0  # type: ignore[union-attr]
    state.put(ProcessRecord("health", "function", 14, 4, "h.log", kind="http"))
    state.put(ProcessRecord("health", "function", 15, 4, "h.log", kind="http"))
    state.put(ProcessRecord("health", "function", 15, 4, "h.log", kind="http"))  # same group
    assert state.find("health").restarts == 2  # type: ignore[union-attr]
    path = tmp_path / "stack.json"
    save_state(path, state)
    assert load_state(path).find("health").restarts == 2  # type: ignore[union-attr]


def test_a_state_file_written_before_restarts_were_counted_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    save_state(path, _state())
    raw = path.read_text().replace('"restarts": 0,', "").replace(', "restarts": 0', "")
    path.write_text(raw)
    loaded = load_state(path)
    assert loaded is not None and all(p.restarts == 0 for p in loaded.processes)
