"""A tiny, randomly initialised GPT-SoVITS model set in the exact upstream file formats.

For trying the engine end to end and for tests, where no real weights exist: the
shared assets (HuBERT, speaker verification, text-frontend data) and GPT/SoVITS
pairs, built from gsv-tts-lite's own model classes and written as upstream writes
them. The weights are random: the audio is noise. Some sizes are fixed by the model
code (HuBERT hidden 768, SoVITS hidden 192, the speaker-verification network at full
size, about 100 MB), so a set takes a few hundred MB and ~10 s to build.
"""

from __future__ import annotations

import json
import pickle
import random
import sys
import types
from pathlib import Path

from synthesis.engines.gpt_sovits import assets
from synthesis.engines.gpt_sovits.formats import HParams
from synthesis.engines.gpt_sovits.loading import GPT_LAYER_KEYS  # (also makes gsv_tts importable)

_VERSION_MARKS = {"v2Pro": b"05", "v2ProPlus": b"06"}
_S2_MODEL = {
    "inter_channels": 192, "hidden_channels": 192, "filter_channels": 256, "n_heads": 2, "n_layers": 1,
    "kernel_size": 3, "p_dropout": 0.0, "resblock": "1", "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3, 5]], "upsample_rates": [10, 8, 2, 2, 2],
    "upsample_kernel_sizes": [20, 16, 8, 2, 2],
    "n_layers_q": 3, "use_spectral_norm": False, "semantic_frame_rate": "25hz", "freeze_quantizer": True,
}  # fmt: skip
_S2_GIN = {"v2": (512, 512), "v2Pro": (512, 1024), "v2ProPlus": (768, 1024)}  # upsample_initial_channel, gin
_S2_DATA = {
    "max_wav_value": 32768.0, "sampling_rate": 32000, "filter_length": 2048, "hop_length": 640, "win_length": 2048,
    "n_mel_channels": 128, "mel_fmin": 0.0, "mel_fmax": None, "add_blank": True, "n_speakers": 300,
    "cleaned_text": True,
}  # fmt: skip
_S1_MODEL = {
    "vocab_size": 1025, "phoneme_vocab_size": 732, "embedding_dim": 64, "hidden_dim": 64, "head": 2,
    "linear_units": 128, "n_layer": 2, "dropout": 0, "EOS": 1024, "random_bert": 0,
}  # fmt: skip
# A few words so that English text goes through the dictionary rather than the (random) neural fallback.
_WORDS = {
    "hello": "HH AH0 L OW1", "world": "W ER1 L D", "this": "DH IH1 S", "is": "IH1 Z",
    "test": "T EH1 S T", "of": "AH1 V", "the": "DH AH0", "voice": "V OY1 S", "my": "M AY1",
    "speak": "S P IY1 K", "today": "T AH0 D EY1", "good": "G UH1 D", "morning": "M AO1 R N IH0 NG",
    "one": "W AH1 N", "two": "T UW1", "three": "TH R IY1", "and": "AH0 N D", "it": "IH1 T", "in": "IH0 N",
    # the library deletes these six from the dictionary it loads: they must be there
    "ae": "EY1 IY1", "ai": "EY1 AY1", "ar": "AA1 R", "ios": "AY1 OW1 EH1 S", "hud": "HH AH1 D", "os": "OW1 EH1 S",
    # short unknown words are spelled out letter by letter
    "a": "EY1", "b": "B IY1", "c": "S IY1", "d": "D IY1", "e": "IY1", "f": "EH1 F", "g": "JH IY1", "h": "EY1 CH",
    "i": "AY1", "j": "JH EY1", "k": "K EY1", "l": "EH1 L", "m": "EH1 M", "n": "EH1 N", "o": "OW1", "p": "P IY1",
    "q": "K Y UW1", "r": "AA1 R", "s": "EH1 S", "t": "T IY1", "u": "Y UW1", "v": "V IY1", "w": "D AH1 B AH0 L Y UW0",
    "x": "EH1 K S", "y": "W AY1", "z": "Z IY1",
}  # fmt: skip


def _upstream_hparams(config: dict) -> HParams:
    """Upstream pickles its config as ``utils.HParams``; so do we, under that name."""

    def build(value):
        if isinstance(value, dict):
            params = HParams()
            params.__dict__.update({key: build(item) for key, item in value.items()})
            return params
        return value

    return build(config)


def _save_as_upstream(obj, path: Path, *, mark: bytes | None = None) -> None:
    import torch

    module = types.ModuleType("utils")
    module.HParams = HParams
    saved_module, saved_qualname = HParams.__module__, HParams.__qualname__
    previous = sys.modules.get("utils")
    sys.modules["utils"] = module
    HParams.__module__ = "utils"
    try:
        torch.save(obj, path)
    finally:
        HParams.__module__, HParams.__qualname__ = saved_module, saved_qualname
        if previous is None:
            del sys.modules["utils"]
        else:
            sys.modules["utils"] = previous
    if mark is not None:
        data = path.read_bytes()
        path.write_bytes(mark + data[2:])


def write_sovits(
    path: Path, version: str = "v2", *, seed: int = 0, mark: bytes | None = None, decoder_channels: int | None = None
) -> Path:
    """``decoder_channels``: the vocoder's first width (``upsample_initial_channel``, a multiple
    of 32) instead of upstream's; the vocoder is most of the model's work, so a narrow one runs
    many times faster. The file is the same format, its config says the width."""
    import torch
    from gsv_tts.GPT_SoVITS.SoVITS.models import SynthesizerTrn

    torch.manual_seed(seed)
    upsample, gin = _S2_GIN[version]
    upsample = decoder_channels or upsample
    model_config = {**_S2_MODEL, "upsample_initial_channel": upsample, "gin_channels": gin, "version": version}
    config = {
        "train": {"segment_size": 20480, "seed": 1234, "fp16_run": True},
        "data": _S2_DATA,
        "model": model_config,
        "content_module": "cnhubert",
    }
    model = SynthesizerTrn(
        _S2_DATA["filter_length"] // 2 + 1, 20480 // _S2_DATA["hop_length"], n_speakers=300,
        **{key: value for key, value in model_config.items()},
    )  # fmt: skip
    with torch.no_grad():
        # A random codebook marked as trained (else the first use runs k-means for a minute),
        # and a louder last layer so the output is not trimmed away as silence.
        codebook = model.quantizer.vq.layers[0]._codebook
        codebook.embed.copy_(torch.randn_like(codebook.embed))
        codebook.inited.fill_(1)
        model.dec.conv_post.weight.mul_(50)
    weights = {key: value.half() for key, value in model.state_dict().items() if not key.startswith("enc_q.")}
    ckpt = {"weight": weights, "config": _upstream_hparams(config), "info": f"tiny random {version}"}
    _save_as_upstream(ckpt, path, mark=mark if mark is not None else _VERSION_MARKS.get(version))
    return path


def write_gpt(path: Path, *, seed: int = 0, quick_stop: bool = False) -> Path:
    """``quick_stop``: the model says end-of-sequence as soon as the library lets it (after its
    first ten steps), for benchmarks of many short tasks; it also crashes batched calls, as an
    item that ends at once does (gsv-tts-lite guards only single calls against it)."""
    import torch
    from gsv_tts.GPT_SoVITS.GPT.t2s_model import Text2SemanticDecoder

    torch.manual_seed(seed)
    config = {"model": dict(_S1_MODEL), "data": {"max_sec": 54, "pad_val": 1024}, "inference": {"top_k": 15}}
    model = Text2SemanticDecoder(config)
    if quick_stop:
        with torch.no_grad():  # a constant lift on the last layer's output that only EOS's row reads
            model.t2s_transformer.blocks[-1].norm2.bias.fill_(4.0)
            model.ar_predict_layer.weight[config["model"]["EOS"]].fill_(0.5)
    ours_to_upstream = {ours: upstream for upstream, ours in GPT_LAYER_KEYS}
    weights = {}
    for key, value in model.state_dict().items():
        if key.startswith("t2s_transformer.blocks."):
            _, _, layer, rest = key.split(".", 3)
            key = f"h.layers.{layer}.{ours_to_upstream[rest]}"
        weights[f"model.{key}"] = value.half()
    torch.save({"weight": weights, "config": config, "info": "tiny random s1"}, path)
    return path


def _write_hubert(folder: Path) -> None:
    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    config = HubertConfig(hidden_size=768, num_hidden_layers=1, num_attention_heads=12, intermediate_size=256,
                          num_conv_pos_embedding_groups=16)  # fmt: skip
    HubertModel(config).half().save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=False).save_pretrained(folder)  # fmt: skip


def _write_sv(path: Path) -> None:
    import torch
    from gsv_tts.GPT_SoVITS.SV.ERes2NetV2 import ERes2NetV2

    torch.manual_seed(0)
    model = ERes2NetV2(baseWidth=24, scale=4, expansion=4)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({key: value.half() for key, value in model.state_dict().items()}, path)


def _write_g2p(folder: Path) -> None:
    import numpy as np
    from nltk.tag.perceptron import PerceptronTagger
    from pypinyin.contrib.tone_convert import to_finals, to_initials, to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    zh = folder / "zh"
    zh.mkdir(parents=True, exist_ok=True)
    syllables = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            syllables.add(to_normal(reading))
    lines = []
    for syllable in sorted(s for s in syllables if s.isascii() and s.isalpha()):
        initial, final = to_initials(syllable, strict=True), to_finals(syllable, strict=True)
        if not final:
            continue
        if syllable in ("zi", "ci", "si"):
            final = "i0"
        elif syllable in ("zhi", "chi", "shi", "ri"):
            final = "ir"
        lines.append(f"{syllable}\t{initial} {final}" if initial else f"{syllable}\tAA {final}")
    (zh / "opencpop-strict.txt").write_text("\n".join(lines) + "\n")

    en = folder / "en"
    (en / "g2p_en").mkdir(parents=True, exist_ok=True)
    header = [";;; tiny dictionary for the random test model set"] * 56
    (en / "cmudict.rep").write_text("\n".join(header + [f"{w.upper()}  {p}" for w, p in _WORDS.items()]) + "\n")
    (en / "cmudict-fast.rep").write_text("\n".join(f"{w.upper()} {p}" for w, p in _WORDS.items()) + "\n")
    (en / "engdict-hot.rep").write_text("SOVITS S OW1 V IH0 T S\n")
    with open(en / "namedict_cache.pickle", "wb") as file:
        pickle.dump({}, file)
    with open(en / "engdict_cache.pickle", "wb") as file:
        pickle.dump({w: [p.split()] for w, p in _WORDS.items()}, file)
    rng = np.random.default_rng(0)
    shapes = {
        "enc_emb": (29, 64), "enc_w_ih": (384, 64), "enc_w_hh": (384, 128), "enc_b_ih": (384,), "enc_b_hh": (384,),
        "dec_emb": (74, 64), "dec_w_ih": (384, 64), "dec_w_hh": (384, 128), "dec_b_ih": (384,), "dec_b_hh": (384,),
        "fc_w": (74, 128), "fc_b": (74,),
    }  # fmt: skip
    variables = {name: rng.normal(0, 0.1, shape).astype(np.float32) for name, shape in shapes.items()}
    np.savez(en / "g2p_en" / "checkpoint20.npz", **variables)
    (en / "g2p_en" / "homographs.en").write_text("READ|R IY1 D|R EH1 D|VBP\n")

    # NLTK's English part-of-speech tagger, in its own format, trained on a few sentences.
    tagged = [
        [("this", "DT"), ("is", "VBZ"), ("a", "DT"), ("test", "NN"), (".", ".")],
        [("i", "PRP"), ("speak", "VBP"), ("good", "JJ"), ("words", "NNS"), ("today", "NN"), (".", ".")],
        [("hello", "UH"), ("world", "NN"), ("!", ".")],
    ]
    tagger = PerceptronTagger(load=False)
    random.seed(0)
    tagger.train(tagged, nr_iter=2)
    target = en / "nltk" / "taggers" / "averaged_perceptron_tagger_eng"
    target.mkdir(parents=True, exist_ok=True)
    for param, name in zip(tagger.encode_json_obj(), tagger.param_files("eng"), strict=True):
        (target / name).write_text(json.dumps(param))


def write_assets(folder: Path) -> Path:
    """The shared assets, laid out as ``GPT_SOVITS_ASSETS_DIR`` expects (no BERT: it is optional)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_hubert(folder / "chinese-hubert-base")
    _write_sv(folder / assets.SV_CHECKPOINT)
    _write_g2p(folder / "g2p")
    return folder


def write_model_set(folder: Path, versions: tuple[str, ...] = ("v2",), *, decoder_channels: int | None = None) -> dict:
    """Assets under ``folder/assets`` and one pair per version under ``folder/models``
    (``decoder_channels``: see ``write_sovits``)."""
    folder = Path(folder)
    write_assets(folder / "assets")
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    pairs = {}
    for version in versions:
        pairs[version] = {
            "gpt": write_gpt(models / f"tiny-{version}-e1.ckpt"),
            "sovits": write_sovits(models / f"tiny-{version}_e1_s1.pth", version, decoder_channels=decoder_channels),
        }
    return {"assets": folder / "assets", "pairs": pairs}
