from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from tenants.services import api_key_create


class Command(BaseCommand):
    help = "Issue an API key for a tenant. The key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--name", default="", help="A label for the key")

    def handle(self, *args, tenant, name, **options):
        try:
            owner = Tenant.objects.get(slug=tenant)
        except Tenant.DoesNotExist as exc:
            raise CommandError(f"No tenant {tenant!r}") from exc
        issued = api_key_create(tenant=owner, name=name)
        self.stdout.write(
            f"API key {issued.api_key.prefix}… for tenant {tenant!r}; store it now, it is not shown again:"
        )
        self.stdout.write(issued.secret)
