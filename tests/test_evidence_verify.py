"""verify-evidence: every stored file re-hashed; missing, altered and orphan files reported; exit 1 on any."""
import hashlib
import io
import os

import pytest

import evidence_store
from services.demo import files as demo_files


def run(app, *args):
    return app.test_cli_runner().invoke(args=["verify-evidence", *args])


@pytest.fixture
def store(app, library):
    """The session's evidence store, emptied of the files earlier tests left (their rows are gone)."""
    store = evidence_store.get_store()
    for sha in list(store.all_hashes()):
        os.unlink(store.path_for(sha))
    return store


def upload(world, n: int) -> list[dict]:
    items = []
    for i in range(n):
        response = world.upload(world.request(skip=i), data=demo_files.pdf(f"Access review {i}"))
        assert response.status_code == 201, response.get_json()
        items.append(response.get_json())
    return items


def test_an_intact_store_passes(app, store, evidence_world):
    items = upload(evidence_world, 3)
    result = run(app)
    assert result.exit_code == 0, result.output
    assert "evidence store intact: 3 file(s)" in result.output and "0 missing, 0 altered, 0 orphan" in result.output
    assert "checked 3/3 files (100%)" in result.output
    assert {i["sha256"] for i in items} == set(store.all_hashes())


def test_missing_altered_and_orphan_files_are_each_reported(app, store, evidence_world):
    missing, altered, kept = upload(evidence_world, 3)
    os.unlink(store.path_for(missing["sha256"]))
    with open(store.path_for(altered["sha256"]), "r+b") as handle:  # one byte flipped, size unchanged
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 1]))
    planted = b"not evidence of anything"
    orphan = hashlib.sha256(planted).hexdigest()
    os.makedirs(os.path.dirname(store.path_for(orphan)), exist_ok=True)
    with open(store.path_for(orphan), "wb") as handle:
        handle.write(planted)
    result = run(app)
    assert result.exit_code == 1
    assert f"MISSING {missing['sha256']}: evidence {missing['id']}" in result.output
    assert f"ALTERED {altered['sha256']}: evidence {altered['id']}" in result.output
    assert f"ORPHAN {orphan}" in result.output
    assert kept["sha256"] not in result.output
    assert "PROBLEMS" in result.output and "1 missing, 1 altered, 1 orphan" in result.output


def test_an_orphan_alone_is_a_problem(app, store, library):
    store.put(io.BytesIO(b"left behind"))
    result = run(app, "--quiet")
    assert result.exit_code == 1 and "ORPHAN" in result.output and "checked" not in result.output


def test_progress_is_shown_on_a_larger_store(app, store, evidence_world):
    """One line per tenth of the store (or every few seconds), so a long run shows it is moving."""
    from models import Evidence
    upload(evidence_world, 1)
    template = Evidence.get()
    for i in range(39):  # 40 rows, each with its own stored file
        stored = store.put(io.BytesIO(f"file {i}".encode()))
        row = {k: v for k, v in template.__data__.items() if k != "id"}
        Evidence.insert(**{**row, "sha256": stored.sha256, "size": stored.size,
                           "version": template.version + 1 + i}).execute()
    result = run(app)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("checked ")]
    assert 10 <= len(lines) <= 12 and lines[-1].startswith("checked 40/40 files (100%)")
    assert [int(line.split("(")[1].split("%")[0]) for line in lines] == sorted(
        int(line.split("(")[1].split("%")[0]) for line in lines)
