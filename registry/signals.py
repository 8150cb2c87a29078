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


def on_ami_registered(sender, ami, user, signature=None, **kwargs):
    """Verify a publisher signature supplied at registration (``amis.signals.ami_registered``).

    Runs inside ``ami_register``'s transaction; an invalid signature refuses the registration
    with 422 and the precise failure code (nothing is stored), so a client never ends up with an
    entry it believes is signed but is not.
    """
    if not signature:
        return
    from amis.signatures import ami_signature_verify, signature_failure

    row = ami_signature_verify(ami=ami, signature=signature, user=user)
    if not row.valid:
        raise signature_failure(row)


def _connect_catalogue_signals():
    from amis.signals import ami_registered

    ami_registered.connect(on_ami_registered, dispatch_uid="registry.trust.ami_registered")


_connect_catalogue_signals()
