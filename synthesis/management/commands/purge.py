from django.core.management.base import BaseCommand

from synthesis.services.retention import purge


class Command(BaseCommand):
    help = "Purge what the tenants' retention policies say must go (the scheduler runs this hourly)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would go, delete nothing")

    def handle(self, *args, dry_run, **options):
        report = purge(dry_run=dry_run)
        verb = "Would purge" if dry_run else "Purged"
        for kind, items in (("task", report.tasks), ("voice", report.voices), ("orphan file", report.orphan_files)):
            for item in items:
                self.stdout.write(f"{verb} {kind} {item}")
        self.stdout.write(f"{verb}: {report.counts()}")
