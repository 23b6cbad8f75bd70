"""The flask commands of SPEC §5."""
from models import AuditEvent, User
from services.audit import audit_log
from services.people import accounts
from tests.conftest import PASSWORD


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_init_db_is_idempotent(app, library):
    result = run(app, "init-db")
    assert result.exit_code == 0 and "0 migration(s) applied" in result.output


def test_create_user_reads_the_password_from_stdin(app, library):
    result = run(app, "create-user", "--email", "Risk@Bank.example", "--role", "risk_reviewer", "--org", "Bank Z",
                 input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    user = User.get(User.email == "risk@bank.example")
    assert user.organisation.kind == "client" and accounts.password_matches(user, PASSWORD)
    assert AuditEvent.select().where(AuditEvent.action == "user.create", AuditEvent.object_id == str(user.id)).exists()


def test_create_user_refuses_weak_password_and_duplicates(app, library):
    assert run(app, "create-user", "--email", "x@bank.example", "--role", "risk_reviewer", "--org", "Bank Z",
               input="short\n").exit_code == 1
    assert not User.select().where(User.email == "x@bank.example").exists()
    run(app, "create-user", "--email", "y@bank.example", "--role", "risk_reviewer", "--org", "Bank Z",
        input=PASSWORD + "\n")
    duplicate = run(app, "create-user", "--email", "y@bank.example", "--role", "risk_reviewer", "--org", "Bank Z",
                    input=PASSWORD + "\n")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output


def test_create_token_prints_a_working_token_last(app, client, make_user):
    user = make_user("risk_reviewer")
    result = run(app, "create-token", "--email", user.email)
    token = result.output.strip().splitlines()[-1]
    assert client.get("/api/v1/frameworks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert AuditEvent.select().where(AuditEvent.action == "token.create").count() == 1
    assert token not in "".join(e.details for e in AuditEvent.select())
    assert run(app, "create-token", "--email", "nobody@x.example").exit_code == 1


def test_verify_audit_log_detects_tampering(app, library, tamper):
    audit_log.record("auth.login", actor_email="a@x.example")
    event = audit_log.record("grant.create", actor_email="a@x.example")
    intact = run(app, "verify-audit-log")
    assert intact.exit_code == 0 and f"head {event.hash}" in intact.output
    with tamper():
        AuditEvent.update(actor_email="someone-else@x.example").where(AuditEvent.id == event.id).execute()
    result = run(app, "verify-audit-log")
    assert result.exit_code == 1 and "BROKEN" in result.output


def test_load_controls_refuses_a_broken_library_with_file_and_line(app, library, tmp_path):
    import shutil

    from models import Control
    from services.register.library_sync import DEFAULT_DIRECTORY
    broken = tmp_path / "lib"
    shutil.copytree(DEFAULT_DIRECTORY, broken)
    path = broken / "common" / "access.yaml"
    path.write_text(path.read_text().replace("frequency: P3M", "frequency: quarterly", 1))
    before = [(c.code, c.frequency) for c in Control.select().order_by(Control.code)]
    result = run(app, "load-controls", "--path", str(broken))
    assert result.exit_code == 1
    assert "common/access.yaml:" in result.output and "quarterly" in result.output
    assert "NOT loaded" in result.output
    assert [(c.code, c.frequency) for c in Control.select().order_by(Control.code)] == before


def test_load_controls_twice_is_idempotent(app, library):
    result = run(app, "load-controls")
    assert result.exit_code == 0 and "unchanged" in result.output
