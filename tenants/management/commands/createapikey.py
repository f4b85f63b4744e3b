from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tenants.models import Tenant, all_scopes, default_scopes
from tenants.services import api_key_create


class Command(BaseCommand):
    help = "Issue an API key for a tenant. The key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--name", default="", help="A label for the key")
        parser.add_argument(
            "--scopes",
            default=",".join(default_scopes()),
            help=(
                f"Comma-separated, of {', '.join(all_scopes())} (default: all but admin, which manages "
                "API keys and reads the webhook signing secret)"
            ),
        )
        parser.add_argument("--expires-days", type=int, default=None, help="Expire after this many days")

    def handle(self, *args, tenant, name, scopes, expires_days, **options):
        wanted = [s.strip() for s in scopes.split(",") if s.strip()]
        unknown = set(wanted) - set(all_scopes())
        if unknown or not wanted:
            raise CommandError(f"Unknown or no scopes: {sorted(unknown)}; choose from {all_scopes()}")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        try:
            owner = Tenant.objects.get(slug=tenant)
        except Tenant.DoesNotExist as exc:
            raise CommandError(f"No tenant {tenant!r}") from exc
        issued = api_key_create(tenant=owner, name=name, scopes=wanted, expires_at=expires_at)
        self.stdout.write(
            f"API key {issued.api_key.prefix}… for tenant {tenant!r} with scopes {', '.join(issued.api_key.scopes)}; "
            "store it now, it is not shown again:"
        )
        self.stdout.write(issued.secret)
