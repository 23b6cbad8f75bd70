"""The evidence API's own suite (tests/test_evidence.py) once more, with the app's store on S3 (a real
SeaweedFS server): uploads, versions, reviews, downloads and crash safety do not depend on the backend."""
from __future__ import annotations

import inspect

import pytest

import tests.test_evidence as suite

LOCAL_ONLY = ("tmp_dir", "path_for")  # tests that look at the local store's directories


def _portable(fn) -> bool:
    return (list(inspect.signature(fn).parameters) == ["evidence_world"]
            and not any(word in inspect.getsource(fn) for word in LOCAL_ONLY))


ON_THE_WORLD_ONLY = sorted(name for name, fn in vars(suite).items()
                           if name.startswith("test_") and callable(fn) and _portable(fn))


@pytest.mark.parametrize("name", ON_THE_WORLD_ONLY)
def test_evidence_suite_on_s3(name, s3_evidence, evidence_world):
    getattr(suite, name)(evidence_world)


def test_the_suite_is_not_empty():
    assert len(ON_THE_WORLD_ONLY) >= 5
