"""Build gsv-tts-lite's model objects from checkpoints read by ``formats`` (never from a path
the library would unpickle itself), checking that the weights fit the model exactly.

The library loads SoVITS weights with ``strict=False``, so a checkpoint of another
architecture would load half-empty and speak noise; here every expected key must be there.
"""

from __future__ import annotations

from synthesis.engines.gpt_sovits.formats import CheckpointError, GptCheckpoint, SovitsCheckpoint
from synthesis.engines.gpt_sovits.library import prepare

prepare()  # before gsv_tts is imported

# The GPT's static KV-cache buckets (batch size, tokens), as gsv-tts-lite defaults them: the
# largest bounds prompt + generated tokens, and is preallocated for every loaded GPT model.
GPT_CACHE_BUCKETS = [(1, 512), (1, 768), (1, 1024), (4, 512), (4, 1024)]

# Upstream s1 layer names → gsv-tts-lite's (the library renames them the same way when it loads).
GPT_LAYER_KEYS = (
    ("self_attn.in_proj_weight", "qkv.weight"),
    ("self_attn.in_proj_bias", "qkv.bias"),
    ("self_attn.out_proj.weight", "out_proj.weight"),
    ("self_attn.out_proj.bias", "out_proj.bias"),
    ("linear1.weight", "mlp.0.weight"),
    ("linear1.bias", "mlp.0.bias"),
    ("linear2.weight", "mlp.2.weight"),
    ("linear2.bias", "mlp.2.bias"),
    ("norm1.weight", "norm1.weight"),
    ("norm1.bias", "norm1.bias"),
    ("norm2.weight", "norm2.weight"),
    ("norm2.bias", "norm2.bias"),
)


def _check_fit(what: str, expected: dict, found: dict) -> None:
    """Every expected tensor is there with its shape, and nothing else is."""
    missing, unexpected = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    misshapen = sorted(key for key in expected.keys() & found.keys()
                       if tuple(getattr(found[key], "shape", ())) != tuple(expected[key].shape))  # fmt: skip
    if missing or unexpected or misshapen:
        raise CheckpointError(
            "MODEL_INVALID",
            f"The {what} weights do not fit the model: {len(missing)} missing, {len(unexpected)} unexpected,"
            f" {len(misshapen)} of the wrong shape",
            file=what, missing=missing[:5], unexpected=unexpected[:5], wrong_shape=misshapen[:5],
        )  # fmt: skip


def _built(build, *, check_only: bool):
    """``build()`` on the meta device when only the shapes matter: no memory, no random init."""
    if not check_only:
        return build()
    import torch

    with torch.device("meta"):
        return build()


def sovits_model(checkpoint: SovitsCheckpoint, *, check_only: bool = False):
    """``SynthesizerTrn`` with the checkpoint's weights (CPU, float32), every key and shape checked;
    with ``check_only`` the check alone (nothing is allocated)."""
    from gsv_tts.GPT_SoVITS import utils as gsv_utils
    from gsv_tts.GPT_SoVITS.SoVITS.models import SynthesizerTrn

    hps = gsv_utils.DictToAttrRecursive(checkpoint.config)
    hps.model.semantic_frame_rate = "25hz"
    hps.model.version = checkpoint.version
    try:
        model = _built(
            lambda: SynthesizerTrn(
                hps.data.filter_length // 2 + 1,
                hps.train.segment_size // hps.data.hop_length,
                n_speakers=hps.data.n_speakers,
                **vars(hps.model),
            ),
            check_only=check_only,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError("MODEL_INVALID", f"The SoVITS config builds no model ({exc})", file="sovits") from exc
    expected = {key: value for key, value in model.state_dict().items() if not key.startswith("enc_q.")}
    _check_fit("sovits", expected, checkpoint.weights)
    if check_only:
        return model, hps
    try:
        model.load_state_dict(checkpoint.weights, strict=False)
    except RuntimeError as exc:
        raise CheckpointError("MODEL_INVALID", "The SoVITS weights have the wrong shapes", file="sovits") from exc
    return model, hps


def gpt_model(checkpoint: GptCheckpoint, *, check_only: bool = False):
    from gsv_tts.GPT_SoVITS.GPT.t2s_model import Text2SemanticDecoder

    weights = dict(checkpoint.weights)
    for layer in range(checkpoint.config["model"]["n_layer"]):
        for upstream, ours in GPT_LAYER_KEYS:
            key = f"model.h.layers.{layer}.{upstream}"
            if key in weights:
                weights[f"t2s_transformer.blocks.{layer}.{ours}"] = weights.pop(key)
    weights = {key.removeprefix("model."): value for key, value in weights.items()}
    try:
        model = _built(lambda: Text2SemanticDecoder(checkpoint.config), check_only=check_only)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError("MODEL_INVALID", f"The GPT config cannot build a model ({exc})", file="gpt") from exc
    _check_fit("gpt", model.state_dict(), weights)
    if check_only:
        return model
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError("MODEL_INVALID", "The GPT weights have the wrong shapes", file="gpt") from exc
    return model


def runtime_sovits(checkpoint: SovitsCheckpoint, *, device, dtype, caches: list[int]):
    """The library's ``Sovits`` wrapper, ready for inference on ``device``."""
    from gsv_tts.Loader import Sovits

    model, hps = sovits_model(checkpoint)
    model.dec.remove_weight_norm()
    model.to(device, dtype)
    model.eval()
    model.initialize_runtime(dtype, device, caches)
    return Sovits(model, hps)


def runtime_gpt(checkpoint: GptCheckpoint, *, device, dtype, caches: list[tuple[int, int]]):
    from gsv_tts.Loader import Gpt

    model = gpt_model(checkpoint).to(device, dtype)
    model.eval()
    model.initialize_runtime(dtype, device, caches)
    return Gpt(model, checkpoint.config)


def estimated_bytes(gpt: GptCheckpoint, sovits: SovitsCheckpoint, *, dtype, gpt_caches: list[tuple[int, int]]) -> int:
    """What the pair will take once loaded, before loading it: every weight at the runtime
    precision, plus the GPT's preallocated key/value cache (the library sizes it from its
    largest bucket of batch size times sequence length)."""
    import torch

    size = torch.tensor([], dtype=dtype).element_size()
    weights = sum(t.numel() for t in (*gpt.weights.values(), *sovits.weights.values()) if hasattr(t, "numel"))
    model = gpt.config["model"]
    largest = max((batch * length for batch, length in gpt_caches), default=0)
    kv_cache = 2 * model["n_layer"] * largest * model["hidden_dim"] * size
    return weights * size + kv_cache


def loaded_bytes(*objects) -> int:
    """Memory held by loaded models: their parameters and buffers and the tensors the library
    keeps beside them (KV-cache buckets), each storage counted once."""
    import torch

    seen: dict[int, int] = {}

    def visit(value, depth=0):
        if isinstance(value, torch.Tensor):
            storage = value.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        elif isinstance(value, torch.nn.Module):
            for tensor in (*value.parameters(), *value.buffers()):
                visit(tensor)
            for attribute in vars(value).values():
                if not isinstance(attribute, torch.nn.Module):
                    visit(attribute, depth + 1)
        elif depth < 4 and isinstance(value, dict | list | tuple):
            for item in value.values() if isinstance(value, dict) else value:
                visit(item, depth + 1)
        elif depth < 4 and hasattr(value, "__dict__") and not isinstance(value, type):
            for attribute in vars(value).values():
                visit(attribute, depth + 1)

    for obj in objects:
        visit(obj)
    return sum(seen.values())
