import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from synthesis.services.storage_copy import FAILED, LEGACY, WOULD_COPY, CopyRefused, objects_copy


class Command(BaseCommand):
    help = (
        "Copy every stored object to another location (a folder, file:///path or s3://bucket/prefix): each "
        "region's store to URL/<region>/, objects stored before regions existed to URL itself, so that "
        "STORAGE_URL=URL then serves them all. Verified and resumable: run it again after an interruption."
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, metavar="URL", help="Where to copy to")
        parser.add_argument(
            "--region", choices=settings.REGIONS, help="Only this region's store (keys without one: whole runs only)"
        )
        parser.add_argument("--dry-run", action="store_true", help="List what would be copied, copy nothing")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the report as JSON")
        parser.add_argument("--jobs", type=int, default=4, help="Objects copied at once (default 4)")

    def handle(self, *args, to, region=None, dry_run=False, as_json=False, jobs=4, verbosity=1, **options):
        def progress(outcome: str, key: str, size: int) -> None:
            if outcome == WOULD_COPY and not as_json:
                self.stdout.write(f"Would copy {key} ({size:,} bytes)")
            elif outcome == FAILED or verbosity >= 2:
                self.stderr.write(f"{outcome.replace('_', ' ')}: {key}")

        try:
            report = objects_copy(to=to, region=region, dry_run=dry_run, jobs=jobs, progress=progress)
        except CopyRefused as exc:
            raise CommandError(f"Refused: {exc}") from exc
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            verb = "Would copy" if dry_run else "Copied"
            for label, part in report.parts.items():
                name = "without a region" if label == LEGACY else label
                self.stdout.write(f"{name}: {part.source} -> {part.destination}: {_counts(verb, part.counts())}")
            self.stdout.write(f"Total: {_counts(verb, report.totals())}")
        if report.failed:
            listed = "\n".join(f"  {key}: {why}" for key, why in report.failed.items())
            raise CommandError(f"{len(report.failed)} object(s) failed to copy (run again to retry):\n{listed}")
        if not dry_run and region is None and not as_json:
            self.stdout.write(f"To serve from the copy: STORAGE_URL={report.destination} "
                              "(and no STORAGE_URL_<REGION> or STORAGE_ROOT_<REGION>)")  # fmt: skip


def _counts(verb: str, counts: dict[str, int]) -> str:
    line = (f"{verb.lower()} {counts['copied']} ({counts['bytes_copied']:,} bytes), "
            f"already there {counts['already_there']}, failed {counts['failed']}")  # fmt: skip
    if counts["vanished"]:
        line += f", gone from the source meanwhile {counts['vanished']}"
    return line
