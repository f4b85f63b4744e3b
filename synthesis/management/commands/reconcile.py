from django.conf import settings
from django.core.management.base import BaseCommand

from synthesis.services.reconciler import reconcile


class Command(BaseCommand):
    help = "Send again the work that should be moving and is not (the scheduler does this every minute)."

    def add_arguments(self, parser):
        parser.add_argument("--region", choices=settings.REGIONS, help="only this region (default: every served one)")

    def handle(self, *args, region=None, **options):
        for name in [region] if region else settings.REGIONS:
            counts = reconcile(region=name)
            self.stdout.write(f"{name}: {counts or 'nothing to send again'}")
