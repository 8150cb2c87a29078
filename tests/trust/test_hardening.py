"""Hardening: production settings pass check --deploy, CSP on pages, no inline scripts, no
secrets in logs, STS AssumeRole for institution accounts."""
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_is_clean_with_production_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="registry.settings.base", DJANGO_DEBUG="0",
               DJANGO_SECRET_KEY=secrets.token_urlsafe(64), DJANGO_ALLOWED_HOSTS="example.org")
    proc = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "System check identified no issues (0 silenced)." in proc.stdout
    assert "WARNINGS" not in proc.stdout + proc.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="registry.settings.base", DJANGO_DEBUG="0")
    proc = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "DJANGO_SECRET_KEY" in proc.stderr


@pytest.mark.django_db
def test_pages_carry_a_strict_csp():
    resp = Client().get("/admin/login/")
    policy = resp["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in policy


def test_no_inline_scripts_or_event_handlers_in_templates():
    """The CSP allows only same-origin script files: every page template must comply."""
    offenders = []
    for path in (ROOT / "registry" / "templates").rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text, flags=re.I):
            if "src=" not in match.group(1) and "application/json" not in match.group(1):
                offenders.append(f"{path.relative_to(ROOT)}: inline <script>")
        if re.search(r"\son[a-z]+\s*=\s*[\"']", text, flags=re.I):
            offenders.append(f"{path.relative_to(ROOT)}: inline event handler")
        if re.search(r"javascript:", text, flags=re.I):
            offenders.append(f"{path.relative_to(ROOT)}: javascript: URL")
    assert offenders == []


@pytest.mark.django_db
def test_no_passwords_in_logs(caplog, user):
    from tests.conftest import client_for

    secret = "Sup3r-Secret-Passw0rd!"
    with caplog.at_level(logging.DEBUG):
        client_for(None).post("/api/v1/auth/token", {"username": "alice", "password": secret})
        client_for(None).post("/api/v1/auth/token", {"username": secret, "password": secret})
    assert caplog.records  # the failed requests were logged...
    assert all(secret not in r.getMessage() for r in caplog.records)  # ...without the password


def test_secrets_only_from_the_environment():
    # No AWS credentials in settings; boto3 takes them from the environment / instance role.
    assert not any(name.startswith("AWS_SECRET") or name == "AWS_ACCESS_KEY_ID" for name in dir(settings))


def test_assume_role_client_for_institution_account(aws):
    import boto3

    from registry.aws import client_for_role

    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="RegistryCopy", AssumeRolePolicyDocument="{}")["Role"]
    ec2 = client_for_role("ec2", "eu-west-1", role_arn=role["Arn"], session_name="copy-into-uni")
    assert ec2.meta.region_name == "eu-west-1"
    sts = client_for_role("sts", "us-east-1", role_arn=role["Arn"], session_name="copy-into-uni")
    arn = sts.get_caller_identity()["Arn"]
    assert ":assumed-role/RegistryCopy/copy-into-uni" in arn
