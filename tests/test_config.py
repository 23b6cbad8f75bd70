"""Configuration comes from the environment, with the embedded defaults of SPEC §5."""
import os
import stat
from pathlib import Path

import pytest

from web.config import load_config

VARS = ("DATABASE_URL", "EVIDENCE_STORE", "SECRET_KEY", "MAX_UPLOAD_MB", "SMTP_URL", "SCHEDULER", "TRUSTED_PROXIES")


@pytest.fixture
def bare_env(monkeypatch):
    for name in VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults(bare_env, tmp_path):
    config = load_config(str(tmp_path))
    assert config["DATABASE_URL"] == "sqlite:///" + str(tmp_path / "attest.db")
    assert config["EVIDENCE_STORE"] == str(tmp_path / "evidence")
    assert config["MAX_UPLOAD_MB"] == 100 and config["SMTP_URL"] == ""


def test_secret_key_is_generated_once_and_kept_private(bare_env, tmp_path):
    first = load_config(str(tmp_path))["SECRET_KEY"]
    assert len(first) >= 32 and load_config(str(tmp_path))["SECRET_KEY"] == first
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600


def test_an_existing_key_file_is_read_not_replaced(bare_env, tmp_path):
    (tmp_path / "secret_key").write_text("k" * 64 + "\n")
    assert load_config(str(tmp_path))["SECRET_KEY"] == "k" * 64
    assert (tmp_path / "secret_key").read_text() == "k" * 64 + "\n"
    assert os.listdir(tmp_path) == ["secret_key"]


def test_the_key_file_appears_complete_or_not_at_all(bare_env, tmp_path, monkeypatch):
    """Another process starting at the same moment may win the race: its key is then used, and
    the key file never exists half-written (it is linked into place only once written)."""
    real_link = os.link
    seen = []

    def racing_link(src, dst):
        seen.append(Path(src).read_text())  # what would be published is already the whole key
        (tmp_path / "secret_key").write_text("t" * 64)  # ...but the other process got there first
        real_link(src, str(tmp_path / "ignored"))
        os.unlink(tmp_path / "ignored")
        raise FileExistsError(dst)

    monkeypatch.setattr(os, "link", racing_link)
    assert load_config(str(tmp_path))["SECRET_KEY"] == "t" * 64
    assert len(seen) == 1 and len(seen[0].strip()) == 64
    assert os.listdir(tmp_path) == ["secret_key"]  # no temporary file left behind


def test_trusted_proxies(bare_env, tmp_path, monkeypatch):
    assert load_config(str(tmp_path))["TRUSTED_PROXIES"] == 0
    monkeypatch.setenv("TRUSTED_PROXIES", "2")
    assert load_config(str(tmp_path))["TRUSTED_PROXIES"] == 2


@pytest.mark.parametrize("value", ["yes", "-1", "1.5", "\u00b2"])
def test_bad_trusted_proxies_is_a_clear_error(bare_env, tmp_path, monkeypatch, value):
    monkeypatch.setenv("TRUSTED_PROXIES", value)
    with pytest.raises(RuntimeError, match="TRUSTED_PROXIES"):
        load_config(str(tmp_path))


def test_environment_wins(bare_env, tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("MAX_UPLOAD_MB", "5")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    config = load_config(str(tmp_path))
    assert config["SECRET_KEY"] == "from-the-environment" and not (tmp_path / "secret_key").exists()
    assert config["MAX_CONTENT_LENGTH"] > 5 * 1024 * 1024 and config["MAX_UPLOAD_MB"] == 5
    assert config["DATABASE_URL"].startswith("postgresql://")


def test_an_empty_key_file_is_refused(bare_env, tmp_path):
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        load_config(str(tmp_path))


@pytest.mark.parametrize("value", ["lots", "0", "-3"])
def test_bad_upload_limit_is_a_clear_error(bare_env, tmp_path, monkeypatch, value):
    monkeypatch.setenv("MAX_UPLOAD_MB", value)
    with pytest.raises(RuntimeError, match="MAX_UPLOAD_MB"):
        load_config(str(tmp_path))


def test_unsupported_database_url_is_a_clear_error():
    from models.base import make_database
    with pytest.raises(ValueError, match="sqlite:/// or postgresql://"):
        make_database("mysql://root@localhost/x")
