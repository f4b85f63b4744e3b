"""A voice's name is unique among a tenant's live voices (compatible clients pick voices by
name), through the API; and the migration that made it so renames older duplicates."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from synthesis import storage
from synthesis.models import Speaker, Task


def test_a_second_voice_with_a_live_voices_name_is_refused(tenant_a):
    first = tenant_a.upload_voice(name="Narrator").json()
    response = tenant_a.upload_voice(name="narrator")  # names are compared without case, as lookups are
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "VOICE_NAME_TAKEN"
    assert (error["category"], error["retryable"]) == ("CLIENT", False)
    assert error["details"]["speaker_id"] == first["id"]
    assert "Narrator" in error["message"]
    assert Speaker.objects.filter(tenant=tenant_a.tenant).count() == 1


def test_another_tenant_may_use_the_same_name(tenant_a, tenant_b):
    assert tenant_a.upload_voice(name="Narrator").status_code == 201
    assert tenant_b.upload_voice(name="Narrator").status_code == 201


def test_a_deleted_voices_name_can_be_used_again_and_names_the_new_voice(tenant_a, worker):
    old = tenant_a.ready_voice(name="Narrator")
    assert tenant_a.client.delete(f"/api/v1/speakers/{old}").status_code == 204
    new = tenant_a.ready_voice(name="Narrator")
    response = tenant_a.client.post("/v1/audio/speech", {"model": "tts-1", "voice": "narrator", "input": "Hi there."},
                                    format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert str(Task.objects.get(tenant=tenant_a.tenant).speaker_id) == new


def test_two_uploads_racing_for_a_name_get_a_clear_error_not_a_500(tenant_a, monkeypatch):
    """The other upload lands between this one's check and its insert: the unique index
    catches it, and the answer is the same 409."""
    put = storage.put

    def put_while_another_upload_lands(**kwargs):
        Speaker.objects.create(tenant=tenant_a.tenant, name="NARRATOR", language="en", reference_key="k",
                               duration_seconds=3.0, sample_rate=16000)  # fmt: skip
        return put(**kwargs)

    monkeypatch.setattr(storage, "put", put_while_another_upload_lands)
    response = tenant_a.upload_voice(name="Narrator")
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "VOICE_NAME_TAKEN"
    assert Speaker.objects.filter(tenant=tenant_a.tenant).count() == 1


def test_the_database_refuses_a_duplicate_live_name(tenant_a):
    fields = {"tenant": tenant_a.tenant, "language": "en", "reference_key": "k", "duration_seconds": 3.0,
              "sample_rate": 16000}  # fmt: skip
    Speaker.objects.create(name="Narrator", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Speaker.objects.create(name="narrator", **fields)


@pytest.mark.django_db(transaction=True)
def test_the_migration_renames_duplicates_made_before_it(tenant_a):
    before, after = [("synthesis", "0014_batch_completed_event")], [("synthesis", "0015_voice_names_unique")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("synthesis", "Speaker")
    fields = {"tenant_id": tenant_a.tenant.id, "language": "en", "reference_key": "k", "duration_seconds": 3.0,
              "sample_rate": 16000}  # fmt: skip
    ids = [old.objects.create(name=name, **fields).id for name in ("Narrator", "narrator", "Narrator", "Other")]
    for minute, speaker_id in enumerate(ids):  # uploaded one after another
        old.objects.filter(id=speaker_id).update(created_at=f"2026-01-01T00:{minute:02}:00Z")
    deleted = old.objects.create(name="Narrator", deleted_at="2026-01-01T00:00:00Z", **fields).id
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    names = {speaker.id: speaker.name for speaker in Speaker.objects.all()}
    assert [names[i] for i in ids] == ["Narrator", "narrator (2)", "Narrator (3)", "Other"]
    assert names[deleted] == "Narrator"  # deleted voices keep theirs
