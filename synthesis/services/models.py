"""Model pairs (GPT-SoVITS): registering base models, checking them, finding their files.

A pair is checked before any voice may use it: both files are read as checkpoints
(never unpickled beyond plain weights), the version is read from the SoVITS file,
and the weights are fitted to the model they claim to be, key for key. v1, v3, v4
and unreadable files are refused with the reason. Operators' ``addmodel`` runs the
check in its own process (on a machine that has the files); a model added in the
admin console is checked by a worker of its engine, which is where the files must
be readable anyway.
"""

from __future__ import annotations

import io
import logging
import uuid
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sovits_site.errors import ApiError
from synthesis import dispatch, storage
from synthesis.models import CompatModelChoice, ModelStatus, SynthesisModel
from synthesis.selectors import model_list
from synthesis.services import quotas, usage
from tenants import dpa
from tenants.models import Tenant
from tenants.services import audit_record

logger = logging.getLogger(__name__)


def model_source(model_id: str):
    """Where the engine reads the pair ``model_id`` from (called on workers): the operator's
    paths, or a tenant's files decrypted into memory."""
    from synthesis.engines.gpt_sovits.engine import ModelSource

    model = SynthesisModel.objects.select_related("tenant").get(id=model_id)
    if model.tenant_id is None:
        return ModelSource(gpt=Path(model.gpt_path), sovits=Path(model.sovits_path))
    return ModelSource(  # decrypted a chunk at a time: each file is held once, never with its ciphertext
        gpt=storage.get(tenant=model.tenant, object_key=model.gpt_key),
        sovits=storage.get(tenant=model.tenant, object_key=model.sovits_key),
    )


def check_files(*, gpt_path: str | Path | bytes, sovits_path: str | Path | bytes) -> str:
    """Read and fit both files (paths, or their bytes); the SoVITS version, or
    ApiError(MODEL_INVALID / UNSUPPORTED_MODEL_VERSION)."""
    from synthesis.engines.gpt_sovits import formats, loading

    for what, path in (("gpt", gpt_path), ("sovits", sovits_path)):
        if not isinstance(path, bytes) and not Path(path).is_file():
            raise ApiError("MODEL_INVALID", f"The {what} file {path} does not exist or is not a file",
                           details={"file": what})  # fmt: skip
    try:
        sovits = formats.read_sovits(sovits_path)
        version = sovits.version
        loading.sovits_model(sovits, check_only=True)
        gpt = formats.read_gpt(gpt_path)
        loading.gpt_model(gpt, check_only=True)
        _check_fits_budget(gpt, sovits)
    except formats.CheckpointError as exc:
        raise ApiError(exc.code, str(exc), details=exc.details) from exc
    except OSError as exc:
        raise ApiError("MODEL_INVALID", f"A model file cannot be read ({type(exc).__name__})") from exc
    return version


def _check_fits_budget(gpt, sovits) -> None:
    """A pair larger than a worker's whole model budget could never be loaded: refuse it now."""
    import torch

    from synthesis.engines.gpt_sovits import loading

    budget = settings.GPT_SOVITS_MEMORY_BUDGET_MB * 2**20
    dtype = torch.float16 if settings.GPT_SOVITS_HALF else torch.float32
    needed = loading.estimated_bytes(gpt, sovits, dtype=dtype, gpt_caches=loading.GPT_CACHE_BUCKETS)
    if budget and needed > budget:
        raise ApiError(
            "MODEL_TOO_LARGE", "The model needs more memory than a worker's whole model budget",
            details={"needed_mb": round(needed / 2**20), "budget_mb": round(budget / 2**20)},
        )  # fmt: skip


def model_register(
    *, name: str, gpt_path: str, sovits_path: str, default: bool = False, engine: str = "gpt-sovits", check: bool = True
) -> SynthesisModel:
    """Register a base model. With ``check`` the files are checked here and now (``addmodel``);
    without, a worker of the engine checks them (the model stays PROCESSING until then)."""
    gpt_path, sovits_path = str(Path(gpt_path).resolve()), str(Path(sovits_path).resolve())
    if SynthesisModel.objects.filter(tenant__isnull=True, engine=engine, name=name).exists():
        raise ApiError("CONFLICT", f"A base model named {name!r} exists already", details={"name": name})
    version = check_files(gpt_path=gpt_path, sovits_path=sovits_path) if check else ""
    with transaction.atomic():
        model = SynthesisModel.objects.create(
            name=name, engine=engine, gpt_path=gpt_path, sovits_path=sovits_path, version=version,
            status=ModelStatus.READY if check else ModelStatus.PROCESSING,
            checked_at=timezone.now() if check else None,
        )  # fmt: skip
        if default:
            model_make_default(model)
        if not check:
            transaction.on_commit(lambda: model_enqueue_check(model))
    return model


def model_enqueue_check(model: SynthesisModel) -> None:
    region = model.tenant.region if model.tenant_id else settings.DEFAULT_REGION
    dispatch.send(dispatch.engine_job("model_check", model.engine), region, str(model.id))


def model_make_default(model: SynthesisModel) -> None:
    with transaction.atomic():
        SynthesisModel.objects.filter(tenant__isnull=True, engine=model.engine, is_default=True).exclude(
            id=model.id
        ).update(is_default=False)
        SynthesisModel.objects.filter(id=model.id).update(is_default=True)
    model.is_default = True


def model_check(*, model_id) -> None:
    """The worker-side check of a registered pair: PROCESSING → READY or FAILED (idempotent)."""
    model = SynthesisModel.objects.filter(id=model_id, status=ModelStatus.PROCESSING).first()
    if model is None:
        return
    try:
        source = model_source(model.id)
        version = check_files(gpt_path=source.gpt, sovits_path=source.sovits)
    except ApiError as exc:
        SynthesisModel.objects.filter(id=model.id, status=ModelStatus.PROCESSING).update(
            status=ModelStatus.FAILED, error=exc.as_dict(), checked_at=timezone.now()
        )
        return
    SynthesisModel.objects.filter(id=model.id, status=ModelStatus.PROCESSING).update(
        status=ModelStatus.READY, version=version, error=None, checked_at=timezone.now()
    )


def model_for_voice(*, tenant: Tenant, engine: str, model_id=None) -> SynthesisModel:
    """The model a new voice of ``engine`` speaks through: the one named (if ``tenant`` may use
    it, and it is READY), else the engine's default base model."""
    if model_id is None:
        model = SynthesisModel.objects.filter(tenant__isnull=True, engine=engine, is_default=True).first()
        if model is None:
            raise ApiError(
                "VALIDATION_ERROR", f"No default {engine} model is registered: name one with model_id",
                details={"fields": {"model_id": ["Required: this deployment has no default model."]}},
            )  # fmt: skip
    else:
        model = model_list(tenant=tenant, engine=engine).filter(id=model_id).first()
        if model is None:
            raise ApiError("NOT_FOUND", "No such model", details={"fields": {"model_id": ["No such model."]}})
    if model.status != ModelStatus.READY:
        raise ApiError(
            "MODEL_NOT_READY", f"The model is {model.status}",
            details={"model_id": str(model.id), "status": model.status, "error": model.error},
        )  # fmt: skip
    return model


def model_load_failed(exc) -> ApiError:
    """The error for a model a worker could not load: its id and the exception's class, never a path."""
    return ApiError(
        "MODEL_LOAD_FAILED", "A worker could not load the voice's model",
        details={"model_id": str(exc.model_id), "exception": type(exc.cause).__name__},
    )  # fmt: skip


def model_upload(*, tenant: Tenant, name: str, gpt: bytes | BinaryIO, sovits: bytes | BinaryIO, actor=None,
                 ip=None) -> SynthesisModel:  # fmt: skip
    """A tenant's own fine-tuned pair (bytes, or files read from their start): refused at once if
    its headers show it is no usable checkpoint, else stored encrypted (streamed, a chunk at a
    time) and checked by a worker (PROCESSING → READY or FAILED)."""
    from synthesis.engines.gpt_sovits import formats

    dpa.require_accepted(tenant)  # a fine-tuned model is a person's voice, like a reference
    if "gpt-sovits" not in settings.SYNTHESIS_ENGINES:
        raise ApiError("UNSUPPORTED_ENGINE", "This deployment does not serve GPT-SoVITS",
                       details={"engine": "gpt-sovits", "supported": list(settings.SYNTHESIS_ENGINES)})  # fmt: skip
    gpt, sovits = (io.BytesIO(f) if isinstance(f, bytes) else f for f in (gpt, sovits))
    sizes = [f.seek(0, io.SEEK_END) for f in (gpt, sovits)]
    try:
        for file, what in ((gpt, "gpt"), (sovits, "sovits")):
            file.seek(0)
            formats.sniff(file.read(2), what)
    except formats.CheckpointError as exc:
        raise ApiError(exc.code, str(exc), details=exc.details) from exc
    if SynthesisModel.objects.filter(tenant=tenant, engine="gpt-sovits", name=name).exists():
        raise ApiError("CONFLICT", f"You have a model named {name!r} already",
                       details={"fields": {"name": ["A model of yours has this name."]}})  # fmt: skip
    keys = [storage.put_file(tenant=tenant, kind="models", file=file) for file in (gpt, sovits)]
    try:
        with transaction.atomic():
            quotas.reserve_model(tenant, size=sum(sizes))
            model = SynthesisModel.objects.create(
                tenant=tenant, name=name, engine="gpt-sovits", gpt_key=keys[0], sovits_key=keys[1],
                stored_bytes=sum(sizes), status=ModelStatus.PROCESSING,
            )  # fmt: skip
            audit_record(tenant=tenant, actor=actor, action="model.uploaded", target=str(model.id), ip=ip,
                         details={"name": name, "bytes": model.stored_bytes})  # fmt: skip
            transaction.on_commit(lambda: model_enqueue_check(model))
    except Exception:
        for key in keys:
            storage.delete(object_key=key)
        raise
    return model


def model_delete(*, model: SynthesisModel, actor=None, ip=None) -> None:
    """Delete a tenant's own model and its files; refused while a live voice speaks through it."""
    if model.tenant_id is None:
        raise ApiError("PERMISSION_DENIED", "Base models belong to the operator", details={"model_id": str(model.id)})
    in_use = model.speakers.filter(deleted_at__isnull=True).count()
    if in_use:
        raise ApiError("CONFLICT", f"{in_use} voice(s) speak through this model: delete them first",
                       details={"model_id": str(model.id), "voices": in_use})  # fmt: skip
    keys = [key for key in (model.gpt_key, model.sovits_key) if key]
    with transaction.atomic():
        audit_record(tenant=model.tenant, actor=actor, action="model.deleted", target=str(model.id), ip=ip,
                     details={"name": model.name})  # fmt: skip
        if SynthesisModel.objects.filter(id=model.id).delete()[0]:
            usage.stored_bytes_changed(model.tenant_id, -model.stored_bytes)
        transaction.on_commit(lambda: [storage.delete(object_key=key) for key in keys])


def model_too_large(exc) -> ApiError:
    return ApiError(
        "MODEL_TOO_LARGE", "The voice's model does not fit the workers' model memory",
        details={"model_id": str(exc.model_id), "needed_mb": round(exc.needed / 2**20),
                 "budget_mb": round(exc.budget / 2**20)},
    )  # fmt: skip


def compat_choose(*, tenant: Tenant, principal: str, part: str, reference: str) -> SynthesisModel:
    """Record an api_v2 client's ``set_gpt_weights`` / ``set_sovits_weights``: ``reference`` is a
    model's id or name, or an upstream weights path whose file name is the model's name."""
    stem = Path(reference.replace("\\", "/")).stem
    usable = model_list(tenant=tenant, engine="gpt-sovits")
    try:
        model = usable.filter(id=uuid.UUID(reference)).first()
    except ValueError:
        model = usable.filter(name__iexact=reference.strip()).first() or usable.filter(name__iexact=stem).first()
    if model is None:
        raise ApiError("NOT_FOUND", "No model of yours (or base model) has this name",
                       details={"weights_path": reference})  # fmt: skip
    if model.status != ModelStatus.READY:
        raise ApiError("MODEL_NOT_READY", f"The model is {model.status}",
                       details={"model_id": str(model.id), "status": model.status})  # fmt: skip
    CompatModelChoice.objects.update_or_create(tenant=tenant, principal=principal, defaults={f"{part}_model": model})
    return model


def compat_model_for(*, tenant: Tenant, principal: str) -> SynthesisModel | None:
    """The model an api_v2 client chose, if any. GPT and SoVITS are loaded as a pair here: a client
    that chose the two halves from different models is told so."""
    choice = CompatModelChoice.objects.filter(tenant=tenant, principal=principal).first()
    if choice is None:
        return None
    chosen = {model for model in (choice.gpt_model, choice.sovits_model) if model is not None}
    if len(chosen) > 1:
        raise ApiError(
            "VALIDATION_ERROR", "The GPT and SoVITS weights chosen belong to different models; "
            "this service loads a model's two files together: choose both from one model",
            details={"gpt_model": choice.gpt_model.name, "sovits_model": choice.sovits_model.name},
        )  # fmt: skip
    return chosen.pop() if chosen else None
