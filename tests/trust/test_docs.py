"""The signing script in docs/trust-and-compliance.md works as documented (PEM and OpenSSH keys)."""
import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from amis.signatures import manifest_canonical_bytes

DOC = Path(__file__).resolve().parents[2] / "docs" / "trust-and-compliance.md"


def _script() -> str:
    match = re.search(r"```python sign-manifest\n(.*?)```", DOC.read_text(), flags=re.S)
    assert match, "the signing script block is missing from the docs"
    return match.group(1)


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.OpenSSH, serialization.PrivateFormat.PKCS8])
def test_documented_signing_script(tmp_path, fmt):
    script = _script()
    assert len([line for line in script.splitlines() if line.strip()]) <= 10
    key = Ed25519PrivateKey.generate()
    manifest = {"ami_id": "ami-0123456789abcdef0", "region": "us-east-1", "owner_id": "123456789012",
                "architecture": "x86_64", "creation_date": "2026-11-26T05:56:31.000Z",
                "root_snapshot_ids": ["snap-0123456789abcdef0"], "name": "ml-é-workstation"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (tmp_path / "key").write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()))
    (tmp_path / "sign.py").write_text(script)
    out = subprocess.run([sys.executable, "sign.py", "manifest.json", "key"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip()
    key.public_key().verify(base64.b64decode(out), manifest_canonical_bytes(manifest))  # raises if wrong
