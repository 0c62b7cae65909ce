from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from . import access


def permission_required(permission: str):
    """Log in first, then the permission from `access`; a logged-in user without it gets 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not access.can(request.user, permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator
