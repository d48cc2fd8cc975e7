"""Stub of TensorRT-LLM's tests/integration/defs/conftest.py: only what perf-sanity runs use.

Options (registered defensively: a ValueError means a plugin already added them):
  --output-dir/-O  directory for per-test output (fixture `output_dir`; default: a temp dir)
  --test-prefix/-P prefix every test node id with "<prefix>/" (so JUnit names carry it, as upstream)
  --csv FILE       write a small CSV report of test outcomes (pytest-csv's default columns)
--timeout/--timeout-method come from pytest-timeout (Debian: python3-pytest-timeout).
"""

import csv
import os

import pytest


def _add(parser, *names, **kwargs):
    try:
        parser.addoption(*names, **kwargs)
    except ValueError:  # already added by another plugin or conftest
        pass


def pytest_addoption(parser):
    _add(parser, "--output-dir", "-O", action="store", default=None,
         help="Directory to store test output.")
    _add(parser, "--test-prefix", "-P", action="store", default=None,
         help="Prefix added to every test node id ('<prefix>/<nodeid>').")
    _add(parser, "--csv", action="store", default=None, help="Write a CSV report of test outcomes.")


def get_llm_root():
    root = os.environ.get("LLM_ROOT")
    if not root:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return root


@pytest.fixture(scope="session")
def llm_root():
    return get_llm_root()


@pytest.fixture(scope="session")
def output_dir(request, tmp_path_factory):
    path = request.config.getoption("--output-dir")
    if not path:
        return str(tmp_path_factory.mktemp("output"))
    os.makedirs(path, exist_ok=True)
    return os.path.abspath(path)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    prefix = config.getoption("--test-prefix")
    if prefix:
        for item in items:
            item._nodeid = f"{prefix}/{item._nodeid}"


_CSV_COLUMNS = ["id", "module", "name", "file", "doc", "markers", "status", "message", "duration"]
_outcomes = {}


def pytest_runtest_logreport(report):
    row = _outcomes.setdefault(report.nodeid, {
        "id": report.nodeid, "module": "", "name": report.nodeid.split("::")[-1],
        "file": report.location[0], "doc": "", "markers": "", "status": "passed", "message": "",
        "duration": 0.0})
    row["duration"] += report.duration
    if report.failed:
        row["status"] = "error" if report.when != "call" else "failed"
        lines = [l for l in report.longreprtext.splitlines() if l.strip()]
        row["message"] = lines[-1] if lines else ""
    elif report.skipped and row["status"] == "passed":
        row["status"] = "skipped"
    row["module"] = os.path.splitext(os.path.basename(report.location[0]))[0]


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--csv")
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_CSV_COLUMNS)
        writer.writeheader()
        for row in _outcomes.values():
            writer.writerow(dict(row, duration=f"{row['duration']:.3f}"))
