"""Who else hears about a call: integrations turn each attempt into `call.attempted` webhooks.

The call center never imports the integrations; they register here (explicitly, in their ready()).
"""

from collections.abc import Callable

_attempt_hooks: list[Callable] = []


def register_attempt_hook(hook: Callable) -> None:
    if hook not in _attempt_hooks:
        _attempt_hooks.append(hook)


def run_attempt_hooks(attempt) -> None:
    for hook in list(_attempt_hooks):
        hook(attempt)
