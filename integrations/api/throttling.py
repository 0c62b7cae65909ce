from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key (each key its own budget), counted in Redis."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        key = getattr(request, "auth", None)
        if key is None or not hasattr(key, "prefix"):
            return None
        return self.cache_format % {"scope": self.scope, "ident": key.prefix}


class ApiKeyBulkRateThrottle(ApiKeyRateThrottle):
    scope = "api_key_bulk"
