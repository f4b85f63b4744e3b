from django.core.management.base import BaseCommand, CommandError

from sovits_site.errors import ApiError
from synthesis.services.models import model_register


class Command(BaseCommand):
    help = (
        "Register a GPT-SoVITS base model pair that every tenant may use. The files are read and checked here "
        "(version from the file; v1, v3, v4 and broken files refused) and must be at the same path on every "
        "GPU worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="a name tenants see, e.g. 'base-v2ProPlus'")
        parser.add_argument("--gpt", required=True, help="the GPT (s1) checkpoint, .ckpt")
        parser.add_argument("--sovits", required=True, help="the SoVITS (s2) weights, .pth")
        parser.add_argument("--default", action="store_true", help="new GPT-SoVITS voices use it unless they name one")

    def handle(self, *args, name, gpt, sovits, default=False, **options):
        try:
            model = model_register(name=name, gpt_path=gpt, sovits_path=sovits, default=default)
        except ApiError as exc:
            raise CommandError(f"{exc.error.code}: {exc.message} {exc.details or ''}".rstrip()) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Registered {model.name} ({model.version}) as model {model.id}")
            + (" (the default)" if model.is_default else "")
        )
