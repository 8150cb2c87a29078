"""The embedded fallback of `make run`: a fresh SQLite file migrates, and register → submit →
approve → anonymous search → resolve works on it (PostgreSQL-only search degrades, never crashes).

Runs in subprocesses with the base settings, exactly as `make run` would without PostgreSQL;
AWS is in-process moto inside the script."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import json
import boto3
from moto import mock_aws
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient
from amis import services

assert connection.vendor == "sqlite", connection.vendor
with mock_aws():
    ec2 = boto3.client("ec2", region_name="us-east-1")
    base = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]},
                                                           {"Name": "root-device-type", "Values": ["ebs"]}])
    instance = ec2.run_instances(ImageId=base["Images"][0]["ImageId"], MinCount=1, MaxCount=1,
                                 InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    image_id = ec2.create_image(InstanceId=instance, Name="smoke-image")["ImageId"]
    User = get_user_model()
    owner = User.objects.create_user("owner", password="smoke-password-1")
    # The owner publishes from moto's account (AssumeRole + GetCallerIdentity verify the link).
    from registry.aws_accounts import aws_account_link
    aws_account_link(user=owner, role_arn="arn:aws:iam::123456789012:role/cws-registry")
    moderator = User.objects.create_superuser("mod", password="smoke-password-2", email="mod@example.org")
    ami = services.ami_register(user=owner, ami_id=image_id, region="us-east-1", name="PyTorch smoke test",
                                description="GPU box", category="Machine Learning", tags={"gpu": "yes"})
    services.ami_submit(ami=ami, user=owner, public=True)
    services.ami_approve(ami=ami, moderator=moderator)
    client = APIClient()
    found = client.get("/api/v1/amis/", {"q": "pyto"})
    assert found.status_code == 200, found.content
    body = found.json()
    assert body["count"] == 1 and body["results"][0]["ami_id"] == image_id, body
    assert client.get("/api/v1/amis/", {"q": "zzz-nothing"}).json()["count"] == 0
    for q in ["'", "&|!", "a:*", "x" * 900]:
        assert client.get("/api/v1/amis/", {"q": q}).status_code == 200, q
    ordered = client.get("/api/v1/amis/", {"region": "us-east-1"}).json()
    assert ordered["count"] == 1 and ordered["facets"]["region"] == {"us-east-1": 1}, ordered
    download = client.post(f"/api/v1/amis/{image_id}/downloads", {"region": "us-east-1"}, format="json")
    assert download.status_code == 201, download.content
    stats = client.get(f"/api/v1/amis/{image_id}/stats").json()
    assert stats["download_count"] == 1, stats
    # The resolver too (its revoked-id check is a UNION, which SQLite accepts only without ORDER BY).
    from templates.services import template_create

    from django.conf import settings

    example = (settings.BASE_DIR / "templates" / "examples" / "ami-python-ml.yml").read_text()
    template_create(source_yaml=example.replace("ami-0123456789abcdef0", image_id))
    resolved = client.get("/api/v1/ami/resolve/python-ml-ami", {"region": "us-east-1"})
    assert resolved.status_code == 200, resolved.content
    assert resolved.json()["resolution_method"] == "direct_mapping", resolved.json()
    print("SMOKE-OK", json.dumps(body["facets"], sort_keys=True))
'''


@pytest.mark.slow
def test_sqlite_fallback_migrates_and_serves_the_catalogue(tmp_path):
    db = tmp_path / "x.sqlite3"
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "AWS_ENDPOINT_URL", "DJANGO_SECRET_KEY"}}
    env.update({"DATABASE_URL": f"sqlite:///{db}", "DJANGO_SETTINGS_MODULE": "registry.settings.base",
                "DJANGO_DEBUG": "1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "REGISTRY_THROTTLE_ANON": "off", "REGISTRY_THROTTLE_USER": "off",
                "REGISTRY_THROTTLE_WRITE": "off", "DJANGO_LOG_LEVEL": "WARNING"})

    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert db.exists()

    flow = subprocess.run([sys.executable, "manage.py", "shell", "-c", SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert flow.returncode == 0, flow.stdout + flow.stderr
    assert "SMOKE-OK" in flow.stdout
    assert '"Machine Learning": 1' in flow.stdout
