from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

from rest_framework.test import APIClient

from tenants.models import AuditEvent

ROOT = Path(__file__).resolve().parent.parent


def test_production_settings_pass_check_deploy(tmp_path):
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "ALLOWED_HOSTS": "voice.example.com",
        "PUBLIC_BASE_URL": "https://voice.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "sovits_site.settings.base",
        "VAR_DIR": str(tmp_path),
    }
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # Without the public address, webhooks' result_url would name this machine: check says so.
    del env["PUBLIC_BASE_URL"]
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert "synthesis.W002" in done.stdout + done.stderr


def test_production_refuses_to_start_without_its_secrets(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "MASTER_KEY")}
    env.update(DJANGO_ENV="production", DJANGO_SETTINGS_MODULE="sovits_site.settings.base", VAR_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr


def test_security_headers_and_no_cross_origin_access(db):
    response = APIClient().get("/healthz", HTTP_ORIGIN="https://evil.example")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "Access-Control-Allow-Origin" not in response


def test_deleting_a_voice_is_audited(tenant_a):
    voice = tenant_a.upload_voice().json()["id"]
    tenant_a.client.delete(f"/api/v1/speakers/{voice}", REMOTE_ADDR="198.51.100.4")
    event = AuditEvent.objects.get(action="voice.deleted")
    assert (event.tenant, event.target, event.ip) == (tenant_a.tenant, voice, "198.51.100.4")
    assert event.actor_label.startswith("api-key:sk_live_")
