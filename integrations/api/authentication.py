from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from integrations.api_keys import ApiKeyActor, authenticate_key

# The header's schemes, each taking the same key by the same rules: `Api-Key` (ours) and `Bearer` (what generated
# clients and most HTTP libraries send). Any other scheme, or none, is not a key: the answer is 401.
KEYWORDS = ("Api-Key", "Bearer")


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>` or `Authorization: Bearer <key>`."""

    keywords = KEYWORDS

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        keyword, _sep, value = header.partition(" ")
        if keyword.lower() not in {known.lower() for known in self.keywords}:
            return None
        key = authenticate_key(value)
        if key is None:
            raise exceptions.AuthenticationFailed(_("The API key is not valid or has been revoked."))
        return ApiKeyActor(key), key

    def authenticate_header(self, request):
        return ", ".join(self.keywords)  # WWW-Authenticate: both challenges
