"""The signature-verification snippet in docs/notifications.md works on a real signed delivery body."""
import re
from pathlib import Path

from django.utils import timezone

from notifications.models import Event
from notifications.payloads import cloudevent_body, signature_header

DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


def _verify():
    match = re.search(r"```python verify-webhook\n(.*?)```", DOC.read_text(), flags=re.S)
    assert match, "the verification snippet is missing from docs/notifications.md"
    namespace: dict = {}
    exec(compile(match.group(1), "verify-webhook", "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify"]


def test_documented_verification_accepts_ours_and_refuses_tampering():
    verify = _verify()
    body = cloudevent_body(Event(type="ami.revoked", occurred_at=timezone.now(), data={"reason": "x"}))
    header = signature_header("whsec_doc", body)
    assert verify("whsec_doc", body, header)
    assert not verify("whsec_other", body, header)
    assert not verify("whsec_doc", body.replace(b"revoked", b"approved"), header)
    old = signature_header("whsec_doc", body, timestamp=int(timezone.now().timestamp()) - 3600)
    assert not verify("whsec_doc", body, old)
