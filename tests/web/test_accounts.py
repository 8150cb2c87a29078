"""Account pages: sign up, log in/out, password change, API token."""
import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from registry.models import AuditEvent
from tests.web.conftest import text

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_signup_creates_account_logs_in_and_follows_next(login):
    client = login()
    assert client.get("/accounts/signup/").status_code == 200
    r = client.post("/accounts/signup/?next=/me/amis/", {
        "username": "newbie", "email": "newbie@example.org", "password": "a-long-pass-phrase",
        "password_confirm": "a-long-pass-phrase", "next": "/me/amis/"})
    assert r.status_code == 302 and r.url == "/me/amis/"
    user = User.objects.get(username="newbie")
    assert Token.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="user.register", target_id=str(user.pk)).count() == 1
    body = text(client.get("/"))
    assert "Log out" in body and "newbie" in body, body[body.find("<header"):body.find("</header>")]


def test_signup_ignores_offsite_next(login):
    r = login().post("/accounts/signup/", {"username": "n2", "email": "n2@example.org",
                                           "password": "a-long-pass-phrase", "password_confirm": "a-long-pass-phrase",
                                           "next": "https://evil.example/"})
    assert r.status_code == 302 and r.url == "/"


@pytest.mark.parametrize("data, field, message", [
    ({"username": "alice", "password": "a-long-pass-phrase", "password_confirm": "a-long-pass-phrase"},
     "username", "A user with that username already exists."),
    ({"username": "zed", "password": "12345678", "password_confirm": "12345678"},
     "password", "This password is entirely numeric."),
    ({"username": "zed", "password": "a-long-pass-phrase", "password_confirm": "other-pass-phrase"},
     "password_confirm", "The two passwords do not match."),
    ({"username": "bad name!", "password": "a-long-pass-phrase", "password_confirm": "a-long-pass-phrase"},
     "username", "Letters, digits and @/./+/-/_ only."),
])
def test_signup_errors_are_next_to_their_field(login, user, data, field, message):
    r = login().post("/accounts/signup/", {"email": "x@example.org", **data})
    assert r.status_code == 200
    body = text(r)
    # Django's field group puts the error list right before the field's input and points to it.
    error_at = body.index(message)
    assert body.index(f'id="id_{field}"', error_at) - error_at < 400
    assert User.objects.count() == 1


def test_login_logout(login, user):
    client = login()
    r = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert r.status_code == 200 and "Please enter a correct username and password" in text(r)
    r = client.post("/accounts/login/", {"username": "alice", "password": "correct-horse-battery", "next": "/me/amis/"})
    assert r.status_code == 302 and r.url == "/me/amis/"
    assert client.get("/accounts/logout/").status_code == 405  # logging out is a POST (CSRF-protected)
    r = client.post("/accounts/logout/")
    assert r.status_code == 302
    assert client.get("/me/amis/").status_code == 302


def test_password_change(login, user):
    client = login(user)
    r = client.post("/accounts/password/", {"old_password": "nope", "new_password1": "x", "new_password2": "x"})
    assert r.status_code == 200 and "Your old password was entered incorrectly" in text(r)
    r = client.post("/accounts/password/", {"old_password": "correct-horse-battery",
                                            "new_password1": "another-long-phrase",
                                            "new_password2": "another-long-phrase"})
    assert r.status_code == 302 and r.url == "/accounts/password/done/"
    user.refresh_from_db()
    assert user.check_password("another-long-phrase")


def test_token_page_shows_and_regenerates(login, user):
    client = login(user)
    body = text(client.get("/accounts/token/"))
    token = Token.objects.get(user=user)
    assert token.key in body and "Regenerate token" in body
    r = client.post("/accounts/token/regenerate/")
    assert r.status_code == 302 and r.url == "/accounts/token/"
    new = Token.objects.get(user=user)
    assert new.key != token.key
    assert new.key in text(client.get("/accounts/token/"))
    assert AuditEvent.objects.filter(action="user.token_regenerate").count() == 1


def test_token_pages_need_login_and_post_needs_csrf(login, user):
    assert login().get("/accounts/token/").url.startswith("/accounts/login/")
    token = Token.objects.create(user=user)
    r = login(user, csrf_checks=True).post("/accounts/token/regenerate/")
    assert r.status_code == 403
    assert Token.objects.get(user=user).key == token.key
    assert login(user).get("/accounts/token/regenerate/").status_code == 405


def test_forms_carry_csrf_tokens(login):
    assert 'name="csrfmiddlewaretoken"' in text(login().get("/accounts/signup/"))
    assert 'name="csrfmiddlewaretoken"' in text(login().get("/accounts/login/"))
