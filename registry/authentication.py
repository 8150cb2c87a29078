"""``X-API-Key: <token>``: the only credential the real CloudWorkstation ``cws`` client sends
(it reads ``config.api_key`` from ``~/.cloudworkstation/state.json``). The same DRF token as
``Authorization: Token <key>``; a key that matches no token is a 401, never an anonymous caller."""
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

API_KEY_HEADER = "X-API-Key"


class ApiKeyAuthentication(TokenAuthentication):
    """Token authentication read from the ``X-API-Key`` header."""

    def authenticate(self, request):
        key = request.headers.get(API_KEY_HEADER, "")
        if not key:
            return None
        key = key.strip()
        if not key or " " in key or len(key) > 128:
            raise AuthenticationFailed("Invalid API key.")
        return self.authenticate_credentials(key)
