from django.core.management.base import BaseCommand, CommandError

from integrations.api_keys import api_key_create
from ketlogistic.core.models import Partner


class Command(BaseCommand):
    help = "Create an API key for a partner (by name or id) and print it. The key is shown only here."

    def add_arguments(self, parser):
        parser.add_argument("partner", help="The partner's name or id")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--test", action="store_true", help="A sandbox key (test orders only)")
        parser.add_argument("--read-only", action="store_true")

    def handle(self, *args, partner, name, test, read_only, **options):
        found = (
            Partner.objects.filter(pk=int(partner))
            if partner.isdigit()
            else Partner.objects.filter(name__iexact=partner)
        )
        target = found.first()
        if target is None:
            raise CommandError(f"No partner {partner!r}")
        issued = api_key_create(partner=target, name=name, is_test=test, read_only=read_only)
        self.stdout.write(issued.key)
