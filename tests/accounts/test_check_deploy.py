"""`manage.py check_deploy`, which `make serve` runs before starting: a database with
unapplied migrations or a missing static manifest is refused with one line saying what to do."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.migrations.recorder import MigrationRecorder

ROOT = Path(__file__).resolve().parents[2]
HASHED = {"BACKEND": "webapp.storage.StaticFilesStorage"}


@pytest.fixture
def collected(settings, tmp_path):
    """Hashed static files, as in production, whose manifest exists."""
    settings.STORAGES = {**settings.STORAGES, "staticfiles": HASHED}
    settings.STATIC_ROOT = tmp_path
    (tmp_path / "staticfiles.json").write_text('{"paths": {}, "version": "1.1"}')
    return tmp_path


def refusal() -> str:
    with pytest.raises(CommandError) as refused:
        call_command("check_deploy")
    message = str(refused.value)
    assert "\n" not in message
    return message


@pytest.mark.django_db
def test_a_migrated_database_with_collected_static_files_may_serve(collected, capsys):
    call_command("check_deploy")
    assert "ready to serve" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_missing_static_manifest_is_refused(collected):
    (collected / "staticfiles.json").unlink()
    message = refusal()
    assert message.startswith("refusing to start: no static manifest")
    assert "make deploy" in message


@pytest.mark.django_db(transaction=True)
def test_an_unapplied_migration_is_refused(collected):
    latest = MigrationRecorder.Migration.objects.filter(app="accounts").order_by("-id").first()
    latest.delete()
    try:
        message = refusal()
    finally:
        MigrationRecorder.Migration.objects.create(app=latest.app, name=latest.name)
    assert message.startswith("refusing to start: 1 unapplied migrations")
    assert f"accounts.{latest.name}" in message and "make deploy" in message


def test_make_serve_checks_before_it_starts_and_deploy_prepares_what_it_checks():
    makefile = (ROOT / "Makefile").read_text()
    serve = makefile.split("\nserve:", 1)[1].split("\n\n", 1)[0]
    assert serve.index("check_deploy") < serve.index("uvicorn")
    deploy = makefile.split("\ndeploy:", 1)[1].split("\n\n", 1)[0]
    for step in ("migrate --noinput", "bootstrap --no-demo", "collectstatic --noinput"):
        assert step in deploy
    worker = makefile.split("\nworker:", 1)[1].split("\n\n", 1)[0]
    assert "--schedule var/celerybeat-schedule" in worker
