"""The shared files every GPT-SoVITS worker needs, under ``GPT_SOVITS_ASSETS_DIR``.

Laid out like upstream's ``GPT_SoVITS/pretrained_models`` plus the text frontend's
data. gsv-tts-lite downloads whatever is missing from its folder; this service
never lets it: ``missing`` names every absent file and what it is for, the worker
refuses to start the engine without them, and ``manage.py check`` reports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SV_CHECKPOINT = Path("sv") / "pretrained_eres2netv2w24s4ep4.ckpt"
BERT_FOLDER = Path("chinese-roberta-wwm-ext-large")


@dataclass(frozen=True)
class Asset:
    path: Path
    purpose: str
    source: str


REQUIRED = (
    Asset(Path("chinese-hubert-base/config.json"), "HuBERT content encoder (reference → semantic tokens)",
          "upstream pretrained_models/chinese-hubert-base/"),
    Asset(Path("chinese-hubert-base/preprocessor_config.json"), "HuBERT feature extractor settings",
          "upstream pretrained_models/chinese-hubert-base/"),
    Asset(SV_CHECKPOINT, "speaker-verification model (the voice's timbre, v2Pro/v2ProPlus)",
          "upstream pretrained_models/sv/"),
    Asset(Path("g2p/zh/opencpop-strict.txt"), "Chinese pinyin → phoneme table", "upstream GPT_SoVITS/text/"),
    Asset(Path("g2p/en/cmudict.rep"), "English pronunciation dictionary", "upstream GPT_SoVITS/text/"),
    Asset(Path("g2p/en/cmudict-fast.rep"), "English pronunciation dictionary (additions)", "upstream GPT_SoVITS/text/"),
    Asset(Path("g2p/en/engdict-hot.rep"), "English pronunciation overrides", "upstream GPT_SoVITS/text/"),
    Asset(Path("g2p/en/namedict_cache.pickle"), "English names dictionary", "upstream GPT_SoVITS/text/"),
    Asset(Path("g2p/en/g2p_en/checkpoint20.npz"), "English out-of-dictionary word model", "the g2p_en 2.1.0 wheel"),
    Asset(Path("g2p/en/g2p_en/homographs.en"), "English homographs", "the g2p_en 2.1.0 wheel"),
    Asset(Path("g2p/en/nltk/taggers/averaged_perceptron_tagger_eng/averaged_perceptron_tagger_eng.weights.json"),
          "English part-of-speech tagger (NLTK data)", "python -m nltk.downloader averaged_perceptron_tagger_eng"),
)  # fmt: skip
HUBERT_WEIGHTS = ("chinese-hubert-base/model.safetensors", "chinese-hubert-base/pytorch_model.bin")


@dataclass(frozen=True)
class Problem:
    path: Path
    purpose: str
    source: str

    def __str__(self) -> str:
        if not self.source:
            return f"{self.path}: {self.purpose}"
        return f"{self.path} is missing or empty: {self.purpose} (from {self.source})"


def _present(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def missing(folder: str | Path | None) -> list[Problem]:
    """Every required file absent from ``folder`` (empty list: all there)."""
    if not folder:
        return [Problem(Path("GPT_SOVITS_ASSETS_DIR"), "unset; it names the folder of shared GPT-SoVITS files", "")]
    root = Path(folder)
    if not root.is_dir():
        return [Problem(root, "not a folder (GPT_SOVITS_ASSETS_DIR)", "")]
    problems = [Problem(root / a.path, a.purpose, a.source) for a in REQUIRED if not _present(root / a.path)]
    if not any(_present(root / name) for name in HUBERT_WEIGHTS):
        problems.append(Problem(root / HUBERT_WEIGHTS[0], "HuBERT content encoder weights",
                                "upstream pretrained_models/chinese-hubert-base/"))  # fmt: skip
    return problems


class AssetsMissing(RuntimeError):
    def __init__(self, problems: list[Problem]):
        super().__init__("GPT-SoVITS assets are missing: " + "; ".join(str(p) for p in problems))
        self.problems = problems


def require(folder: str | Path | None) -> Path:
    problems = missing(folder)
    if problems:
        raise AssetsMissing(problems)
    return Path(folder)
