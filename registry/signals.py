"""Signal receivers for site-wide concerns: failed logins are audited and counted for lockout.

Every authentication path (API token, admin, browser login) calls ``authenticate``, which sends
``user_login_failed``; recording here writes exactly one ``auth.login_failed`` event per failure.
"""
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from registry.audit import audit_record
from registry.lockout import login_failure_record


@receiver(user_login_failed, dispatch_uid="registry.login_failed")
def on_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in ``credentials``; only the username is kept.
    username = str(credentials.get("username", "") or "")[:150]
    login_failure_record(username=username, request=request)
    audit_record(actor=None, action="auth.login_failed", target_type="auth.user", target_repr=username)

