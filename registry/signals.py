"""Signal receivers for site-wide concerns: failed logins are counted for lockout and audited.

Every authentication path (API token, admin, browser login) calls ``authenticate``, which sends
``user_login_failed``. The audit trail is aggregated per lockout window so that a flood of failures
cannot flood the append-only table: the first failure of a (username, client IP) window writes one
``auth.login_failed`` event, the failure that engages a lock writes one ``auth.login_locked`` event
carrying the count, and the failures in between (or while locked) are only counted.
"""
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from registry.audit import audit_record
from registry.lockout import login_failure_record


@receiver(user_login_failed, dispatch_uid="registry.login_failed")
def on_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in ``credentials``; only the username is kept.
    username = str(credentials.get("username", "") or "")[:150]
    counted = login_failure_record(username=username, request=request)
    if counted.first_in_window:
        audit_record(actor=None, action="auth.login_failed", target_type="auth.user", target_repr=username)
    if counted.locks_user:
        audit_record(actor=None, action="auth.login_locked", target_type="auth.user", target_repr=username,
                     after={"scope": "username+ip", "failures": counted.user_failures,
                            "window_seconds": counted.window})
    if counted.locks_ip:
        audit_record(actor=None, action="auth.login_locked", target_type="auth.user", target_repr=username,
                     after={"scope": "ip", "failures": counted.ip_failures, "window_seconds": counted.window})
