from django.core.management.base import BaseCommand

from setup.volume import generate, verify


class Command(BaseCommand):
    help = (
        "Add realistic volume for benchmarks: N orders of 50 partners over 26 weeks with items, phones, history, "
        "calls, stock ledger, collections, accruals and approved weekly runs (set-based SQL; run again to add more)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--orders", type=int, default=100_000, help="how many orders to add (default 100 000)"
        )
        parser.add_argument("--partners", type=int, default=50)
        parser.add_argument("--weeks", type=int, default=26)
        parser.add_argument("--products", type=int, default=100, help="products per partner")
        parser.add_argument("--seed", type=float, default=0.42, help="the same seed makes the same data")
        parser.add_argument(
            "--check",
            action="store_true",
            help="afterwards prove the stock and billing ledgers (exit 1 if not)",
        )

    def handle(self, *args, orders, partners, weeks, products, seed, check, **options):
        if orders < 1 or not 1 <= partners <= 999 or not 1 <= weeks <= 260 or not 1 <= products <= 999:
            self.stderr.write("orders ≥ 1, partners 1–999, weeks 1–260, products 1–999")
            raise SystemExit(2)
        self.stdout.write(f"Generating {orders} orders for {partners} partners over {weeks} weeks…")
        report = generate(
            orders=orders, partners=partners, weeks=weeks, products=products, seed=seed, out=self.stdout
        )
        total = sum(seconds for _name, seconds, _rows in report.steps)
        self.stdout.write(f"Done in {total:.1f} s ({orders / total:,.0f} orders/s)")
        if check:
            problems = verify()
            for problem in problems[:50]:
                self.stderr.write(problem)
            if problems:
                raise SystemExit(1)
            self.stdout.write("Stock and billing ledgers consistent")
