from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from integrations.api_keys import ApiKeyActor, authenticate_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`."""

    keyword = "Api-Key"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        keyword, _sep, value = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        key = authenticate_key(value)
        if key is None:
            raise exceptions.AuthenticationFailed(_("The API key is not valid or has been revoked."))
        return ApiKeyActor(key), key

    def authenticate_header(self, request):
        return self.keyword
