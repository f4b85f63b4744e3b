from django.conf import settings
from django.core.management.base import BaseCommand

from synthesis.services.retention import purge


class Command(BaseCommand):
    help = "Purge what the tenants' retention policies say must go (the scheduler runs this hourly)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would go, delete nothing")
        parser.add_argument("--region", choices=settings.REGIONS, help="Only this region (default: every region)")

    def handle(self, *args, dry_run, region=None, **options):
        report = purge(dry_run=dry_run, region=region)
        verb = "Would purge" if dry_run else "Purged"
        listed = (
            ("task", report.tasks),
            ("voice", report.voices),
            ("export", report.exports),
            ("orphan file", report.orphan_files),
        )
        for kind, items in listed:
            for item in items:
                self.stdout.write(f"{verb} {kind} {item}")
        counts = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in report.counts().items())
        self.stdout.write(f"{verb}: {counts}")
