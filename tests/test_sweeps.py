"""Tests for memprop.sweeps: specs, the SQLite store, and real Dask runs on loopback.

The Dask tests use the built-in ``selftest`` study (deterministic metrics from settings and seed,
a sleep, a failure at ``fail_x``) so that processes can be killed mid-task. Every process these
tests start is bound to 127.0.0.1, waited for with a timeout and killed in a finalizer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from memprop import cli
from memprop.errors import ConfigError, DataError
from memprop.experiments.registry import Study
from memprop.plotting import save
from memprop.plotting.sweeps import plot_sweep
from memprop.sweeps import (
    ResultStore,
    TaskResult,
    export_csv,
    export_json,
    load_spec,
    parse_spec,
    run_sweep,
    settings_hash,
    status,
)
from memprop.sweeps import tasks as sweep_tasks

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]

# 3 x 2 points x 2 seeds = 12 tasks; x = 2 fails (4 failed rows). 0.4 s per task leaves time to
# kill a worker or the driver mid-sweep on 2 cores (12 x 0.4 s / 2 workers = 2.4 s of work).
SPEC_TOML = """
study = "selftest"
name = "loopback"
seeds = [0, 1]
[fixed]
sleep = 0.4
fail_x = 2
[grid]
x = [0, 1, 2]
k = [1, 2]
"""
N_TASKS, N_FAILED = 12, 4
RUN_TIMEOUT = 60.0  # s: one sweep here takes 5-10 s on 2 cores; a hang fails the test instead


def sweep_main(argv: list[str]) -> int:
    """``memprop sweep ARGV...`` through the one command line."""
    return cli.main(["sweep", *argv])


def _essence(rows: list[TaskResult]) -> list[tuple]:
    """What must be identical between runs (not timings, host or worker)."""
    return sorted((r.study, r.hash, r.seed, json.dumps(r.settings, sort_keys=True), r.status,
                   json.dumps(r.metrics, sort_keys=True)) for r in rows)


def _rows(path: Path) -> list[TaskResult]:
    with ResultStore(path, readonly=True) as s:
        return s.rows()


def _bounded(fn, timeout: float = RUN_TIMEOUT):
    """Run ``fn()`` in a thread; fail the test (instead of hanging) if it takes over ``timeout``."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised in the test's thread
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"did not finish within {timeout} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _wait_for(cond, timeout: float, what: str, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, *, group: bool = False) -> None:
    """Terminate a process we started (its own process group with ``group``), then kill it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if group:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group we created
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def spec_path(tmp_path) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(SPEC_TOML)
    return p


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of SPEC_TOML on a LocalCluster: (summary, store path, progress)."""
    import io

    from memprop.progress import Progress

    d = tmp_path_factory.mktemp("reference")
    (d / "spec.toml").write_text(SPEC_TOML)
    stream = io.StringIO()
    summary = _bounded(lambda: run_sweep(d / "spec.toml", d / "ref.db", workers=2,
                                         progress=Progress(stream=stream)))
    return summary, d / "ref.db", stream.getvalue()


# --------------------------------------------------------------------------------------------
# Specs


def test_spec_grid_points_and_tasks():
    spec = parse_spec({"study": "selftest", "seeds": 3, "fixed": {"sleep": 0},
                       "grid": {"x": [0, 1.5], "k": [1, 2, 3]}})
    assert spec.seeds == (0, 1, 2)
    points = spec.points()
    assert len(points) == 6 and len(spec.tasks()) == 18
    assert points[0] == {"sleep": 0.0, "x": 0.0, "k": 1}  # ints coerced for float settings
    assert isinstance(points[0]["x"], float) and isinstance(points[0]["k"], int)
    assert len({t.key for t in spec.tasks()}) == 18


def test_spec_random_samples_are_seeded():
    data = {"study": "selftest", "grid": {"k": [1, 2]},
            "random": {"samples": 5, "seed": 7, "settings": {
                "x": {"dist": "loguniform", "low": 1e-3, "high": 1.0},
                "sleep": {"dist": "uniform", "low": 0.0, "high": 0.5},
                "label": {"dist": "choice", "values": ["a", "b", "c", "d", "e", "f"]}}}}
    a, b = parse_spec(data).points(), parse_spec(data).points()
    assert a == b and len(a) == 10
    assert all(1e-3 <= p["x"] < 1.0 and 0 <= p["sleep"] < 0.5 for p in a)
    assert [p["x"] for p in a[:5]] == [p["x"] for p in a[5:]]  # same samples for each grid point
    other = parse_spec({**data, "random": {**data["random"], "seed": 8}}).points()
    assert other != a


def test_settings_hash_is_pinned():
    # Changing the hash orphans every existing store's rows: this must never change silently.
    assert settings_hash("selftest", {"x": 1.0, "k": 2}) == settings_hash("selftest",
                                                                          {"k": 2, "x": 1.0})
    assert settings_hash("selftest", {"x": 1.0, "k": 2}) == "a2e0c05cf40bebea"
    assert settings_hash("gradcheck", {"x": 1.0, "k": 2}) != "a2e0c05cf40bebea"


@pytest.mark.parametrize("data, match", [
    ({"study": "nope"}, r"study: unknown study 'nope'; allowed: .*selftest"),
    ({"study": "selftest", "grid": {"y": [1]}}, r"grid\.y: unknown setting 'y' .*allowed: .*x"),
    ({"study": "selftest", "fixed": {"zz": 1}}, r"fixed\.zz: unknown setting 'zz'"),
    ({"study": "selftest", "grid": {"x": []}}, r"grid\.x: empty grid list \[\]"),
    ({"study": "selftest", "grid": {}}, r"grid: empty grid table"),
    ({"study": "selftest", "grid": {"x": 3}}, r"grid\.x must be a list of values, got 3"),
    ({"study": "selftest", "grid": {"k": [1, "2"]}},
     r"grid\.k\[1\] must be an integer, got '2' \(str\)"),
    ({"study": "selftest", "fixed": {"fail": 1}}, r"fixed\.fail must be true or false, got 1"),
    ({"study": "selftest", "grid": {"x": [1, 1.0]}}, r"grid\.x\[1\]: duplicate value"),
    ({"study": "selftest", "fixed": {"x": 1}, "grid": {"x": [2]}},
     r"grid\.x: setting already given in \[fixed\]"),
    ({"study": "selftest", "seeds": []}, r"seeds must be a non-empty list"),
    ({"study": "selftest", "seeds": [0, 0]}, r"seeds\[1\]: duplicate seed 0"),
    ({"study": "selftest", "seeds": [0.5]}, r"seeds\[0\] must be an integer, got 0\.5"),
    ({"study": "selftest", "grids": {}}, r"unknown key 'grids'; allowed: study, name"),
    ({"study": "selftest", "random": {"samples": 2, "settings": {
        "x": {"dist": "normal", "low": 0, "high": 1}}}},
     r"random\.settings\.x\.dist: unknown distribution 'normal'; allowed: uniform"),
    ({"study": "selftest", "random": {"samples": 2, "settings": {
        "x": {"dist": "uniform", "low": 1, "high": 0}}}}, r"random\.settings\.x: low must be <"),
    ({"study": "selftest", "random": {"samples": 0, "settings": {
        "x": {"dist": "uniform", "low": 0, "high": 1}}}}, r"random\.samples must be an integer"),
    ({"study": "selftest", "random": {"samples": 2, "settings": {
        "k": {"dist": "uniform", "low": 0, "high": 1}}}},
     r"random\.settings\.k: uniform draws floats but setting 'k' must be an integer"),
])
def test_spec_errors_name_key_value_and_allowed(data, match):
    with pytest.raises(ConfigError, match=match):
        parse_spec(data, source="s.toml")


def test_spec_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("study = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_spec(bad)
    with pytest.raises(ConfigError, match=r"missing\.toml: no such sweep specification"):
        load_spec(tmp_path / "missing.toml")


def test_study_without_sweep_task(monkeypatch):
    # A registry study that provides no sweep task is not a sweep study: a spec naming it is
    # refused on the driver, and a task for it that reaches a worker is a failed row, not a crash.
    later = Study(name="later", title="a study without a sweep task")
    monkeypatch.setattr(sweep_tasks, "REGISTRY", {**sweep_tasks.REGISTRY, "later": later})
    with pytest.raises(ConfigError, match=r"study: unknown study 'later'; allowed: .*classification.*selftest"):
        parse_spec({"study": "later", "grid": {"a": [1, 2]}}, check=False)
    row = sweep_tasks.execute("later", {"a": 1}, 0)  # on a worker: a failed row, not a crash
    assert row["status"] == "failed" and "unknown study 'later'" in row["traceback"]
    assert row["hash"] == settings_hash("later", {"a": 1}) and row["metrics"] == {}
    # every study of the registry with a sweep task resolves, with its settings table
    for name, entry in sweep_tasks.REGISTRY.items():
        if entry.sweep_task is not None:
            assert sweep_tasks.resolve_task(name) is entry.sweep_task
            assert sweep_tasks.resolve_settings(name) is entry.sweep_settings


@pytest.mark.parametrize("name, n_tasks", [("fig2_sweep.toml", 10 * 4 * 4 * 1),
                                           ("device_sweep.toml", 10 * 2 * 2 * 3)])
def test_examples_parse(name, n_tasks):
    spec = load_spec(ROOT / "examples" / name, check=False)
    assert len(spec.tasks()) == n_tasks
    checked = load_spec(ROOT / "examples" / name)  # settings checked against the study's table
    assert [t.key for t in checked.tasks()] == [t.key for t in spec.tasks()]


def test_builtin_tasks_are_deterministic():
    s = {"x": 1.5, "k": 2}
    assert sweep_tasks.selftest_task(s, 3) == sweep_tasks.selftest_task(dict(s), 3)
    assert sweep_tasks.selftest_task(s, 3) != sweep_tasks.selftest_task(s, 4)
    row = sweep_tasks.execute("gradcheck", {"model": "additive", "n": 6}, 0)
    assert row["status"] == "done", row["traceback"]
    assert row["metrics"]["rbp/cosine"] == pytest.approx(1.0, abs=1e-9)  # float64, tol 1e-12
    assert row["hash"] == settings_hash("gradcheck", {"model": "additive", "n": 6})


# --------------------------------------------------------------------------------------------
# Store


def _result(seed: int, status: str = "done", y: float = 1.0) -> TaskResult:
    settings = {"x": 1.0}
    return TaskResult(study="selftest", hash=settings_hash("selftest", settings), seed=seed,
                      settings=settings, status=status, metrics={"y": y} if status == "done" else {},
                      traceback=None if status == "done" else "Traceback ...\nRuntimeError: boom")


def test_store_upsert_never_duplicates(tmp_path):
    path = tmp_path / "r.db"
    with ResultStore(path) as s:
        s.put(_result(0, "failed"))
        s.put(_result(0, "done", y=2.0))  # a retried failure becomes done
        s.put(_result(0, "failed"))  # ... and is never turned back into a failure
        s.put(_result(1, "done"))
        assert len(s) == 2
        assert s.statuses() == {(_result(0).hash, 0): "done", (_result(0).hash, 1): "done"}
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = _rows(path)
    assert rows[0].metrics == {"y": 2.0} and rows[0].traceback is None


def _sqlite_file(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as c:
        c.executescript(sql)
    c.close()


def _bad_store(kind: str, path: Path) -> None:
    if kind == "text":
        path.write_text("K,p,accuracy\n0,0.1,0.99\n")
    elif kind == "foreign":
        _sqlite_file(path, "CREATE TABLE results (a, b); INSERT INTO results VALUES (1, 2);")
    elif kind == "no-schema":
        _sqlite_file(path, "PRAGMA user_version = 0; VACUUM;")
    elif kind in ("version", "truncated", "corrupt"):
        with ResultStore(path) as s:
            for seed in range(200):
                s.put(_result(seed))
        if kind == "version":
            _sqlite_file(path, "PRAGMA user_version = 99;")
        else:
            data = bytearray(path.read_bytes())
            if kind == "truncated":
                data = data[: len(data) // 2 + 100]
            else:  # scribble over the second page (a b-tree page of the results table)
                data[4096:8192] = bytes((i * 37) % 256 for i in range(4096))
            path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind, match", [
    ("text", "not an SQLite file"),
    ("foreign", r"not a memprop results store \(application_id 0x0, tables: results\)"),
    ("no-schema", r"not a memprop results store \(application_id 0x0, no tables\)"),
    ("version", "schema version 99; this memprop reads version 1"),
    ("truncated", "corrupt"),
    ("corrupt", "corrupt"),
])
def test_bad_store_file_gets_clear_error_and_is_not_modified(tmp_path, spec_path, kind, match):
    path = tmp_path / "results.db"
    _bad_store(kind, path)
    before = path.read_bytes()
    with pytest.raises(DataError, match=match):
        ResultStore(path)
    with pytest.raises(DataError, match=match):
        run_sweep(spec_path, path, workers=1)  # fails before any cluster starts
    with pytest.raises(DataError, match=match):
        status(path)
    assert sweep_main(["status", str(path)]) == 2
    assert path.read_bytes() == before
    assert not path.with_name(path.name + "-journal").exists()


# --------------------------------------------------------------------------------------------
# Dask on loopback


def test_local_cluster_sweep(reference, monkeypatch):
    summary, db, progress_text = reference
    monkeypatch.setattr(sweep_tasks.time, "sleep", lambda seconds: None)  # recompute quickly
    assert (summary.total, summary.skipped, summary.submitted) == (N_TASKS, 0, N_TASKS)
    assert (summary.done, summary.failed, summary.lost) == (N_TASKS - N_FAILED, N_FAILED, 0)
    rows = _rows(db)
    assert len(rows) == N_TASKS
    for r in rows:
        assert r.version and r.host and r.started <= r.finished
        if r.settings["x"] == 2.0:
            assert r.status == "failed" and r.metrics == {}
            assert "RuntimeError: selftest failure requested" in r.traceback
        else:
            assert r.status == "done" and r.traceback is None
            assert r.metrics == sweep_tasks.selftest_task(r.settings, r.seed)
            assert r.seconds >= 0.4  # the task's sleep, measured on the worker
    assert len({r.worker for r in rows}) == 2  # both worker processes took tasks
    assert "sweep loopback" in progress_text and f"{N_FAILED} failed" in progress_text
    st = status(db)  # no spec given: the spec recorded in the store
    assert (st.done, st.failed, st.pending, st.total) == (8, 4, 0, 12)


def test_inspect_export_and_plot(reference, tmp_path, capsys):
    _, db, _ = reference
    csv_text = export_csv(db)
    header = csv_text.splitlines()[0].split(",")
    assert header[:4] == ["study", "hash", "seed", "status"]
    assert {"x", "k", "sleep", "fail_x", "y", "label", "seconds", "traceback"} <= set(header)
    assert len(json.loads(export_json(db))) == N_TASKS
    assert sweep_main(["export", str(db), "--json", "--out", str(tmp_path / "r.json")]) == 0
    assert len(json.loads((tmp_path / "r.json").read_text())) == N_TASKS
    assert sweep_main(["export", str(db), "--csv"]) == 0
    assert capsys.readouterr().out == csv_text
    fig = plot_sweep(db, "x", "y", hue="k")
    save(fig, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert len(fig.axes[0].lines) == 2  # one line per k
    assert sweep_main(["plot", str(db), "--x", "x", "--y", "y", "--facet", "k",
                       "--where", "k=1", "--out", str(tmp_path / "q.png")]) == 0
    with pytest.raises(ConfigError, match=r"y: unknown column 'accuracy'; available: .*y"):
        plot_sweep(db, "x", "accuracy")
    spec = load_spec(ROOT / "examples" / "fig2_sweep.toml", check=False)
    st = status(db, spec)  # another spec: nothing of it done
    assert (st.done, st.failed, st.pending) == (0, 0, len(spec.tasks()))
    assert sweep_main(["status", str(db)]) == 0
    assert "12 tasks: 8 done, 4 failed, 0 pending" in capsys.readouterr().out


def test_worker_killed_mid_task(reference, spec_path, tmp_path, monkeypatch):
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv(sweep_tasks.MARKERS_ENV, str(markers))  # inherited by the workers
    killed: dict = {}

    def kill_first_started_worker():
        first = _wait_for(lambda: sorted(markers.iterdir()), 40, "a task to start")[0]
        digest, seed, pid, _ = first.name.split("-")
        os.kill(int(pid), signal.SIGKILL)  # a LocalCluster worker process of this test
        killed.update(key=(digest, int(seed)), pid=int(pid))

    killer = threading.Thread(target=kill_first_started_worker, daemon=True)
    killer.start()
    summary = _bounded(lambda: run_sweep(spec_path, tmp_path / "r.db", workers=2))
    killer.join(5)
    assert killed, "no worker was killed"
    attempts = [m for m in markers.iterdir() if m.name.startswith(f"{killed['key'][0]}-"
                                                                   f"{killed['key'][1]}-")]
    assert len(attempts) == 2  # killed mid-task, then rerun by Dask on a live worker
    with sqlite3.connect(f"file:{tmp_path / 'r.db'}?mode=ro", uri=True) as c:
        counts = c.execute("SELECT COUNT(*) FROM results GROUP BY hash, seed").fetchall()
    assert len(counts) == N_TASKS and {n for (n,) in counts} == {1}  # every row exactly once
    assert (summary.done, summary.failed) == (N_TASKS - N_FAILED, N_FAILED)
    assert _essence(_rows(tmp_path / "r.db")) == _essence(_rows(reference[1]))


def test_driver_killed_then_resumed(reference, spec_path, tmp_path):
    db = tmp_path / "r.db"
    cmd = [sys.executable, "-m", "memprop", "sweep", "run", str(spec_path), "--store", str(db),
           "--workers", "2", "--quiet"]
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen(cmd, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # its own group: driver + its workers

    def rows_written() -> int:
        try:
            with ResultStore(db, readonly=True) as s:
                return len(s)
        except DataError:  # not created yet
            return 0

    try:
        _wait_for(lambda: rows_written() >= 3, 60, "the driver to write 3 rows", interval=0.05)
        os.killpg(driver.pid, signal.SIGKILL)  # kill -9 the driver and its worker processes
        driver.wait(timeout=10)
    finally:
        _stop(driver, group=True)
        log.close()
    before = _rows(db)
    assert 3 <= len(before) < N_TASKS, "the driver was not killed mid-sweep"
    summary = _bounded(lambda: run_sweep(spec_path, db, workers=2))
    done_before = sum(r.status == "done" for r in before)
    assert summary.skipped == done_before and summary.submitted == N_TASKS - done_before
    after = _rows(db)
    assert len(after) == N_TASKS
    assert _essence(after) == _essence(_rows(reference[1]))
    kept = {r.key: r for r in after}
    assert all(kept[r.key].started == r.started for r in before if r.status == "done")


def _dask_cli(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("dask")
    if script.exists():
        return [str(script), *args]
    module = {"scheduler": "distributed.cli.dask_scheduler",
              "worker": "distributed.cli.dask_worker"}[args[0]]
    return [sys.executable, "-m", module, *args[1:]]


@pytest.fixture
def external_cluster(tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1; yields the address."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    log = open(tmp_path / "dask.log", "w")
    common = dict(cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        procs.append(subprocess.Popen(_dask_cli("scheduler", "--host", "127.0.0.1", "--port",
                                                str(port), "--no-dashboard"),
                                      **common))
        for i in range(2):
            procs.append(subprocess.Popen(_dask_cli(
                "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                "--name", f"w{i}", "--local-directory", str(tmp_path / f"w{i}")), **common))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):  # workers first, then the scheduler
            _stop(p, group=True)
        log.close()


def test_external_scheduler_by_address(reference, external_cluster, spec_path, tmp_path):
    db = tmp_path / "r.db"
    summary = _bounded(lambda: run_sweep(spec_path, db, scheduler=external_cluster))
    assert (summary.done, summary.failed) == (N_TASKS - N_FAILED, N_FAILED)
    rows = _rows(db)
    assert _essence(rows) == _essence(_rows(reference[1]))
    assert len({r.worker for r in rows}) == 2  # both external workers ran tasks


def test_scheduler_argument_errors(spec_path, tmp_path):
    with pytest.raises(ConfigError, match=r"scheduler must be 'local' or a Dask scheduler "
                                          r"address such as 'tcp://HOST:PORT', got 'remote'"):
        run_sweep(spec_path, tmp_path / "r.db", scheduler="remote")
    with pytest.raises(ConfigError, match=r"workers must be an integer >= 1, got 0"):
        run_sweep(spec_path, tmp_path / "r.db", workers=0)
    port = _free_port()  # nobody listens there
    with pytest.raises(ConfigError, match=r"cannot reach the Dask scheduler at 'tcp://127"):
        run_sweep(spec_path, tmp_path / "r.db", scheduler=f"tcp://127.0.0.1:{port}", timeout=2)


def test_cli_is_runnable_without_importing_dask():
    out = subprocess.run([sys.executable, "-m", "memprop", "sweep", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "run" in out.stdout and "plot" in out.stdout
    code = ("import sys, memprop.cli; memprop.cli.build_parser(); "
            "assert 'distributed' not in sys.modules and 'dask' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
