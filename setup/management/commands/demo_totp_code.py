import time

from django.core.management.base import BaseCommand
from django_otp.oath import totp

from setup.people import DEMO_TOTP_SECRET, demo_totp_key

STEP = 30


class Command(BaseCommand):
    requires_system_checks = []  # computes from the key alone: no database, no checks
    help = (
        "Print the second-factor code of the demo logins (head, supervisor, finance, admin) now and the next one: what "
        f"an authenticator app with the demo key {DEMO_TOTP_SECRET} shows. The demo data set only."
    )

    def handle(self, *args, **options):
        left = STEP - int(time.time()) % STEP
        now, following = totp(demo_totp_key(), step=STEP), totp(demo_totp_key(), step=STEP, drift=1)
        self.stdout.write(f"{now:06d}")
        self.stdout.write(
            f"(valid for {left} s more; then {following:06d}. Each code signs a login in once: a second sign-in of the "
            "same login within the same 30 s takes the next one.)"
        )
