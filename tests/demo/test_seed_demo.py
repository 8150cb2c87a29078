"""``manage.py seed_demo`` is for the demo only: it refuses in production mode (DEBUG off) unless
told ``--i-know-this-is-a-demo``, and even then no account ever gets a documented password."""
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from registry.management.commands.seed_demo import DEMO_ACCOUNTS

pytestmark = pytest.mark.django_db
User = get_user_model()


def seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def printed_passwords(output: str) -> dict[str, str]:
    return dict(re.findall(r"^account: (\S+) / (\S+)", output, flags=re.MULTILINE))


def test_refuses_in_production_mode_without_the_flag(settings, aws):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="runs only in the demo.*--i-know-this-is-a-demo"):
        seed()
    assert not User.objects.filter(username__in=[name for name, _pw, _role in DEMO_ACCOUNTS]).exists()


def test_production_mode_with_the_flag_gives_random_passwords_printed_once(settings, aws):
    settings.DEBUG = False
    output = seed("--i-know-this-is-a-demo")
    passwords = printed_passwords(output)
    assert set(passwords) == {"admin", "researcher", "moderator"}
    for name, documented, _role in DEMO_ACCOUNTS:
        user = User.objects.get(username=name)
        assert not user.check_password(documented)
        assert passwords[name] != documented and len(passwords[name]) >= 20
        assert user.check_password(passwords[name])
    # Run again: nothing new to print, and the passwords stay.
    again = seed("--i-know-this-is-a-demo")
    assert printed_passwords(again) == {}
    assert "account: researcher (researcher; password not shown" in again
    assert User.objects.get(username="researcher").check_password(passwords["researcher"])


def test_production_mode_replaces_a_documented_password_left_from_the_demo(settings, aws):
    settings.DEBUG = True
    seed()
    assert User.objects.get(username="researcher").check_password("researcher-demo-password")
    settings.DEBUG = False
    output = seed("--i-know-this-is-a-demo")
    for name, documented, _role in DEMO_ACCOUNTS:
        assert not User.objects.get(username=name).check_password(documented)
    assert set(printed_passwords(output)) == {"admin", "researcher", "moderator"}
    assert "the documented one is never kept in production mode" in output


def test_demo_mode_uses_and_prints_the_documented_passwords(settings, aws):
    settings.DEBUG = True
    output = seed()
    assert printed_passwords(output) == {name: password for name, password, _role in DEMO_ACCOUNTS}
    for name, documented, _role in DEMO_ACCOUNTS:
        assert User.objects.get(username=name).check_password(documented)
    assert User.objects.get(username="moderator").groups.filter(name="moderators").exists()
    # A password the user changed is neither reset nor shown.
    researcher = User.objects.get(username="researcher")
    researcher.set_password("my-own-secret-password")
    researcher.save()
    again = seed()
    assert "account: researcher (researcher; password changed since the demo set it)" in again
    assert User.objects.get(username="researcher").check_password("my-own-secret-password")
