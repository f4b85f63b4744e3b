from django.core.management.base import BaseCommand, CommandError

from synthesis.services.usage import recount
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Rebuild tenants' usage counters from their rows: stored bytes, and the days inside the retention "
        "window. Only needed after changing rows by hand (SQL, the admin's edit forms); the service keeps them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="The tenant's slug (default: every tenant)")

    def handle(self, *args, tenant=None, **options):
        tenants = Tenant.objects.order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with the slug {tenant!r}")
        for each in tenants:
            changed = recount(each)
            for what, (was, now) in changed.items():
                self.stdout.write(f"{each.slug}: {what}: {was} -> {now}")
            self.stdout.write(f"{each.slug}: {'recounted' if changed else 'counters match the rows'}")
