from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from django.utils.text import slugify

from tenants import dpa
from tenants.models import Role, Tenant
from tenants.services import member_create, tenant_create


class Command(BaseCommand):
    help = "Create a tenant and its owner account."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Short unique name, e.g. acme")
        parser.add_argument("--owner", required=True, help="Username of the owner account to create")
        parser.add_argument("--password", required=True, help="Password of the owner account")
        parser.add_argument("--name", help="Display name (defaults to the slug)")
        parser.add_argument(
            "--region",
            choices=settings.REGIONS,
            default=settings.DEFAULT_REGION,
            help="Data region for the tenant's files and jobs, fixed for good (default: %(default)s)",
        )
        parser.add_argument(
            "--accept-dpa",
            action="store_true",
            help="Record the owner's acceptance of the current DPA (scripts)",
        )

    def handle(self, *args, slug, owner, password, name=None, region=None, accept_dpa=False, **options):
        if slugify(slug) != slug:
            raise CommandError(f"{slug!r} is not a valid slug (lowercase letters, digits, '-' and '_')")
        if Tenant.objects.filter(slug=slug).exists():
            raise CommandError(f"Tenant {slug!r} already exists")
        if get_user_model().objects.filter(username=owner).exists():
            raise CommandError(f"User {owner!r} already exists")
        try:
            tenant = tenant_create(slug=slug, name=name, region=region)
            membership = member_create(tenant=tenant, username=owner, password=password, role=Role.OWNER)
            if accept_dpa:
                dpa.accept(tenant=tenant, user=membership.user)
        except IntegrityError as exc:
            raise CommandError(f"Could not create tenant: {exc}") from exc
        created = f"Created tenant {slug!r} ({tenant.id}) in region {tenant.region} with owner {owner!r}"
        self.stdout.write(self.style.SUCCESS(created))
        if not accept_dpa:
            self.stdout.write(
                f"Before voices can be uploaded or speech made, {owner!r} must accept the Data Processing "
                "Agreement: sign in to the app and open /dpa/ (a banner leads there), or create the tenant "
                "with --accept-dpa to record the acceptance now."
            )
        self.stdout.write(f"Next: .venv/bin/python manage.py createapikey --tenant {slug}")
