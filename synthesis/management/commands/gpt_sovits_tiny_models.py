from pathlib import Path

from django.core.management.base import BaseCommand

from synthesis.engines.gpt_sovits.formats import SUPPORTED_VERSIONS


class Command(BaseCommand):
    help = (
        "Write a tiny, randomly initialised GPT-SoVITS model set (shared assets and a base pair) in the exact "
        "upstream file formats, to try the engine end to end without real weights. Its audio is noise."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        parser.add_argument("--model-version", choices=SUPPORTED_VERSIONS, default="v2ProPlus")

    def handle(self, *args, folder, model_version, **options):
        version = model_version
        from synthesis.engines.gpt_sovits import tiny

        made = tiny.write_model_set(folder, versions=(version,))
        pair = made["pairs"][version]
        assets = made["assets"].resolve()
        self.stdout.write(
            f"Wrote a tiny random GPT-SoVITS {version} set under {folder.resolve()}.\n"
            "The weights are random: voices made on it speak noise. It proves loading, the text frontend\n"
            "and the whole path through the service, nothing about quality or speed.\n\n"
            "Try it:\n"
            f"  export SYNTHESIS_ENGINES=embedded,gpt-sovits GPT_SOVITS_ASSETS_DIR={assets}\n"
            f"  .venv/bin/python manage.py addmodel tiny-{version} --gpt {pair['gpt'].resolve()} "
            f"--sovits {pair['sovits'].resolve()} --default\n"
            "  make run   # then upload a 3-10 s voice with engine=gpt-sovits and its transcript\n"
        )
