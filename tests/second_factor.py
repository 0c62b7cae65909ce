"""Signed-in test sessions that gave their second factor, as a person's would after the code page.

Finance directors, administrators, supervisors and heads of department reach nothing before their second factor
(`ketlogistic/core/second_factor.py`). A test about something else signs in with `sign_in(user)`: the user gets an
authenticator when it must have one and has none (`enrol`), and the session is marked verified now, exactly as the code
page marks it (`second_factor.remember_verified`). The tests of the second factor itself use a bare `force_login`.

A browser journey types the code (`code_for`), computed from the device's key as the phone's app would.
"""

from __future__ import annotations

import time

from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketlogistic.core import second_factor

STEP = 30


def enrol(user) -> TOTPDevice:
    """The user's confirmed authenticator: the one it has, else a new one with a random key."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name="test authenticator", confirmed=True)


def needs_code(user) -> bool:
    return second_factor.required_for(user) or TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def verify_session(client: Client, user) -> None:
    """The client's session gave `user`'s second factor now (the user enrolled first if it must and has not)."""
    if not needs_code(user):
        return
    session = client.session
    second_factor.remember_verified(session, enrol(user))
    session.save()


def sign_in(user, client: Client | None = None) -> Client:
    """A test client logged in as `user`, past the second factor where the user has or needs one."""
    client = client or Client()
    client.force_login(user)
    verify_session(client, user)
    return client


def code_for(device: TOTPDevice) -> str:
    """A code the device takes now: this step's, or the next one's when this step's was used (a second sign-in within
    30 s), as a person would wait for the app's next code."""
    device.refresh_from_db()
    now = time.time()
    step = int(now) // STEP
    if device.last_t > step + 1:
        # the test's clock went back (time-machine): the device's last step is from the test's own future
        TOTPDevice.objects.filter(pk=device.pk).update(last_t=step - 2)
        device.refresh_from_db()
    for offset in (0, 1):
        if step + offset > device.last_t:
            return f"{totp(device.bin_key, step=STEP, drift=offset):06d}"
    time.sleep(STEP - now % STEP + 0.2)
    if int(time.time()) // STEP == step:
        raise AssertionError(
            "the clock stands still (time-machine, tick=False): a third code in one step never comes"
        )
    return code_for(device)
