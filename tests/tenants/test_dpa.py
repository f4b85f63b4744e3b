from __future__ import annotations

from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from tenants.models import AuditEvent, DpaAcceptance, Tenant
from tenants.services import api_key_create, member_create, tenant_create


def fresh_tenant(slug="nodpa"):
    tenant = tenant_create(slug=slug)
    owner = member_create(tenant=tenant, username=f"{slug}-owner", password="pw-owner", role="owner").user
    key = api_key_create(tenant=tenant).secret
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return tenant, owner, client


def test_a_tenant_without_dpa_acceptance_gets_a_clear_403_on_synthesis(db):
    tenant, _, client = fresh_tenant()
    for path, body in (("/api/v1/tasks", {"text": "Hi.", "speaker_id": str(tenant.id)}),
                       ("/api/v1/batches", {"requests": [{"text": "Hi.", "speaker_id": str(tenant.id)}]})):  # fmt: skip
        response = client.post(path, body, format="json")
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "DPA_NOT_ACCEPTED"
        assert error["details"]["version"]
    assert client.get("/api/v1/dpa").json()["accepted"] is False


def test_the_owner_accepts_and_the_record_holds_who_when_version_and_ip(db, settings):
    tenant, owner, key_client = fresh_tenant()
    assert key_client.post("/api/v1/dpa/accept").status_code == 403  # a key cannot accept for the tenant
    browser = Client()
    browser.login(username="nodpa-owner", password="pw-owner")
    page = browser.get("/dpa/")
    assert page.status_code == 200
    assert b"Art. 28(3)(h)" in page.content
    assert browser.post("/dpa/", REMOTE_ADDR="192.0.2.10").status_code == 302
    acceptance = DpaAcceptance.objects.get(tenant=tenant)
    assert (acceptance.user, acceptance.version, acceptance.ip) == (owner, settings.DPA_VERSION, "192.0.2.10")
    assert acceptance.accepted_at
    assert AuditEvent.objects.filter(action="dpa.accepted", tenant=tenant).exists()
    assert key_client.get("/api/v1/dpa").json()["accepted"] is True


def test_a_new_version_asks_again(tenant_a, settings):
    voice = tenant_a.ready_voice()
    assert tenant_a.create_task(voice).status_code == 202
    settings.DPA_VERSION = "2027-01"
    settings.DPA_DIR = settings.BASE_DIR / "docs" / "dpa"
    (settings.DPA_DIR / "2027-01.md").write_text("A newer agreement.")
    try:
        assert tenant_a.create_task(voice).json()["error"]["code"] == "DPA_NOT_ACCEPTED"
    finally:
        (settings.DPA_DIR / "2027-01.md").unlink()


def test_members_cannot_accept(db):
    tenant, _, _ = fresh_tenant()
    member_create(tenant=tenant, username="mem", password="pw-mem", role="member")
    browser = Client()
    browser.login(username="mem", password="pw-mem")
    assert browser.post("/dpa/").status_code == 403
    assert not DpaAcceptance.objects.filter(tenant=tenant).exists()


def test_createtenant_can_record_the_owners_acceptance(db):
    call_command("createtenant", "scripted", owner="sam", password="pw-sam", accept_dpa=True)
    assert DpaAcceptance.objects.filter(tenant=Tenant.objects.get(slug="scripted"), user__username="sam").exists()


def test_without_the_dpa_voices_and_models_cannot_be_uploaded_and_the_error_links_the_agreement(db):
    import io

    from synthesis.models import Speaker, SynthesisModel
    from tests.conftest import REFERENCE

    tenant, _, client = fresh_tenant()
    with open(REFERENCE, "rb") as fh:
        response = client.post("/api/v1/speakers", {"name": "v", "language": "en", "audio": fh}, format="multipart")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "DPA_NOT_ACCEPTED"
    assert error["details"]["url"] == "http://testserver/dpa/"
    assert "Traceback" not in error["message"]
    assert "upload" in error["message"]
    gpt, sovits = io.BytesIO(b"PK gpt"), io.BytesIO(b"PK sovits")
    gpt.name, sovits.name = "m.ckpt", "m.pth"
    model = client.post("/api/v1/models", {"name": "m", "gpt": gpt, "sovits": sovits}, format="multipart")
    assert model.json()["error"]["code"] == "DPA_NOT_ACCEPTED"
    assert not Speaker.objects.filter(tenant=tenant).exists()
    assert not SynthesisModel.objects.filter(tenant=tenant).exists()


def test_owners_see_a_banner_leading_to_the_dpa_on_every_page_until_they_accept(db):
    tenant, _, _ = fresh_tenant()
    member_create(tenant=tenant, username="mem", password="pw-mem", role="member")
    owner, member = Client(), Client()
    owner.login(username="nodpa-owner", password="pw-owner")
    member.login(username="mem", password="pw-mem")
    for page in ("/voices/", "/synthesize/", "/history/", "/keys/", "/privacy/"):
        body = owner.get(page).content.decode()
        assert 'id="dpa-banner"' in body, page
        assert 'href="/dpa/">Read and accept it' in body, page
    assert 'id="dpa-banner"' in member.get("/voices/").content.decode()  # told why nothing works, not asked
    assert 'id="dpa-banner"' not in owner.get("/dpa/").content.decode()  # the page itself is the way
    assert owner.post("/dpa/").status_code == 302
    for page in ("/voices/", "/synthesize/"):
        body = owner.get(page).content.decode()
        assert 'id="dpa-banner"' not in body
        assert 'href="/dpa/"' in body  # the footer still leads to the agreement


def test_the_dpa_page_renders_the_agreement_as_a_document(db):
    fresh_tenant()
    browser = Client()
    browser.login(username="nodpa-owner", password="pw-owner")
    body = browser.get("/dpa/").content.decode()
    assert "<pre" not in body
    assert "<h2>1. Subject matter, duration, nature and purpose</h2>" in body
    assert "<strong>controller</strong>" in body
    assert "## " not in body
    assert "**" not in body
    assert body.count("<h1") == 1  # the agreement's own title is the page's
    browser.post("/dpa/")
    accepted = browser.get("/dpa/").content.decode()
    assert "Accepted on" in accepted
    assert ".." not in accepted.split("Accepted on", 1)[1].split("</p>", 1)[0]  # no "p.m.."


def test_the_agreements_markdown_cannot_inject_html(db, settings, tmp_path):
    (tmp_path / "evil.md").write_text("# T\n\nHi <script>alert(1)</script> [x](javascript:alert(1))\n")
    settings.DPA_DIR, settings.DPA_VERSION = tmp_path, "evil"
    fresh_tenant()
    browser = Client()
    browser.login(username="nodpa-owner", password="pw-owner")
    body = browser.get("/dpa/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert" not in body
    assert 'href="javascript:' not in body


def test_createtenant_says_the_dpa_must_be_accepted_and_how(db, capsys):
    call_command("createtenant", "hinted", owner="hal", password="pw-hal")
    out = capsys.readouterr().out
    assert "/dpa/" in out
    assert "--accept-dpa" in out
    assert "Next: .venv/bin/python manage.py createapikey --tenant hinted" in out
    call_command("createtenant", "quiet", owner="quinn", password="pw-quinn", accept_dpa=True)
    out = capsys.readouterr().out
    assert "/dpa/" not in out
    assert ".venv/bin/python manage.py createapikey" in out
