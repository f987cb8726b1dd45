"""Cache entries and checkpoints as data: nothing in them can run code when they are loaded.

An entry is one ``.npz`` file (uncompressed zip of ``.npy`` arrays), built in memory by
:func:`dumps` and read back by :func:`load`:

* member ``__psbook__``: a JSON record (as bytes) -- format version, the result's type name,
  the SHA-256 of every array, and a **tree** describing the result;
* members ``a0``, ``a1``, ...: the arrays the tree refers to (numpy arrays, torch tensors as
  numpy arrays, the parts of scipy sparse matrices). An array that occurs twice in a result
  (a tied model's ``W_E is W_U``) is stored once and comes back as one object.

The tree holds JSON values and tagged objects ``{"$": tag, ...}`` for what JSON lacks:
tuples, lists, dicts with any keys, sets, non-finite floats, complex numbers, paths, arrays,
numpy scalars, tensors, sparse matrices, and psbook's **result types** -- each registered in
:data:`RESULT_TYPES` under a stable name (not an import path) with an explicit pair of
functions: ``to_data(obj) -> dict`` and ``from_data(dict) -> obj``. Nothing else is stored
(:func:`dumps` raises ``TypeError`` naming where an unsupported object sits) and nothing else
is rebuilt: loading parses JSON and reads arrays with ``np.load(allow_pickle=False)`` after
checking, from the zip directory and each array's header, that every array's size matches the
bytes on disk (a crafted header cannot make it allocate more than the file holds). There is
no pickle anywhere on this path.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from pathlib import Path, PurePath
from typing import Any, Callable

import numpy as np

__all__ = ["dumps", "load", "loads", "RESULT_TYPES", "register", "type_name", "EntryError"]

FORMAT = "psbook-cache-entry"
VERSION = 2                     # 1 was the header + pickle layout (never read any more)
_META = "__psbook__"
_MAX_DEPTH = 200
# dtypes an array may have: no objects, no structured records
_KINDS = set("biufcSU")


class EntryError(ValueError):
    """An entry or checkpoint that is not a well-formed psbook data file (damaged, truncated,
    of another format, or crafted): it is refused, and the caller recomputes."""


# ---- result types ---------------------------------------------------------------------

RESULT_TYPES: dict[str, tuple[str, str, Callable, Callable]] = {}
_BY_CLASS: dict[tuple[str, str], str] = {}


def register(name: str, module: str, qualname: str, to_data: Callable[[Any], dict],
             from_data: Callable[[dict], Any]) -> None:
    """Allow results of class ``module.qualname`` in the cache under the stable ``name``:
    ``to_data(obj)`` gives a dict of data (what :func:`dumps` stores), ``from_data(dict)``
    rebuilds the object. Entries record ``name`` only; the class is found from this
    registration, never from the entry."""
    RESULT_TYPES[name] = (module, qualname, to_data, from_data)
    _BY_CLASS[(module, qualname)] = name


def _cls(name: str) -> type:
    import importlib
    module, qualname = RESULT_TYPES[name][:2]
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _fields(d: dict, names: tuple, what: str) -> dict:
    if not isinstance(d, dict) or set(d) != set(names):
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise EntryError(f"{what}: expected fields {sorted(names)}, got {got}")
    return d


def _plain(name: str, fields: tuple) -> None:
    """Register a dataclass-like result stored field by field (``cls(**fields)``)."""
    def to_data(obj):
        return {k: getattr(obj, k) for k in fields}

    def from_data(d):
        return _cls(name)(**_fields(d, fields, name))
    module, qualname = _PLACES[name]
    register(name, module, qualname, to_data, from_data)


_PLACES = {"synthetic.History": ("psbook.synthetic.fitting", "History"),
           "synthetic.TrainResult": ("psbook.synthetic.fitting", "TrainResult"),
           "lm.TrainResult": ("psbook.lm.train", "TrainResult"),
           "corpus.WordTokenizer": ("psbook.corpus.tokenizer", "WordTokenizer"),
           "signatures.NextTokenSignatures": ("psbook.signatures", "NextTokenSignatures"),
           "cooccurrence.WindowSignatures": ("psbook.cooccurrence", "WindowSignatures"),
           "align.CorpusCounts": ("psbook.align.counting", "CorpusCounts")}

_plain("synthetic.History", ("steps", "loss", "train_acc", "test_acc", "curves", "snapshots"))
_plain("synthetic.TrainResult", ("history", "W_E", "W_U", "config", "W_1"))
_plain("lm.TrainResult", ("model_cfg", "train_cfg", "history", "W_E", "W_U", "W_E0", "W_U0",
                          "seconds", "tokens_per_second", "state_dict"))
_plain("signatures.NextTokenSignatures", ("counts",))
_plain("cooccurrence.WindowSignatures", ("forward", "unigram", "window"))
_plain("align.CorpusCounts", ("corpus", "tokenizer", "unigram", "next", "window", "n_docs"))


def _word_tokenizer_from(d: dict):
    words = _fields(d, ("words",), "corpus.WordTokenizer")["words"]
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise EntryError("corpus.WordTokenizer: words must be a list of strings")
    return _cls("corpus.WordTokenizer")(words)


register("corpus.WordTokenizer", *_PLACES["corpus.WordTokenizer"],
         lambda t: {"words": list(t.id_to_token[1:])}, _word_tokenizer_from)


def _registered_name(obj) -> str | None:
    import sys
    t = type(obj)
    name = _BY_CLASS.get((t.__module__, t.__qualname__))
    if name is None:
        return None
    mod = sys.modules.get(t.__module__)
    obj_ = mod
    for part in t.__qualname__.split("."):
        obj_ = getattr(obj_, part, None)
    return name if obj_ is t else None


_SIMPLE = {dict: "dict", list: "list", tuple: "tuple", set: "set", frozenset: "frozenset",
           str: "str", int: "int", float: "float", bool: "bool", type(None): "None",
           complex: "complex"}


def type_name(obj) -> str:
    """The name an entry records for ``obj``'s type: a builtin's name, ``ndarray``,
    ``tensor``, ``sparse`` or a registered result type's stable name."""
    t = type(obj)
    if t in _SIMPLE:
        return _SIMPLE[t]
    if isinstance(obj, np.ndarray):
        return "ndarray"
    if isinstance(obj, np.generic):
        return "scalar"
    name = _registered_name(obj)
    if name is not None:
        return name
    if _is_tensor(obj):
        return "tensor"
    if _is_sparse(obj):
        return "sparse"
    if isinstance(obj, PurePath):
        return "path"
    return f"unregistered {t.__module__}.{t.__qualname__}"


def _is_tensor(obj) -> bool:
    t = type(obj)
    return t.__module__.startswith("torch") and hasattr(obj, "detach") and hasattr(obj, "cpu")


def _is_sparse(obj) -> bool:
    return type(obj).__module__.startswith("scipy.sparse") and hasattr(obj, "tocsr")


# ---- encoding ---------------------------------------------------------------------------

class _Encoder:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self._ids: dict[int, str] = {}
        self._keep: list = []                  # keeps encoded objects alive (stable ids)

    def _array(self, obj, a: np.ndarray) -> str:
        k = self._ids.get(id(obj))
        if k is not None:
            return k
        if a.dtype.kind not in _KINDS:
            raise TypeError(f"arrays of dtype {a.dtype} are not stored (data only: numbers, "
                            f"booleans, strings)")
        k = f"a{len(self.arrays)}"
        self.arrays[k] = a
        self._ids[id(obj)] = k
        self._keep.append(obj)
        return k

    def enc(self, obj, where: str, depth: int = 0):
        if depth > _MAX_DEPTH:
            raise TypeError(f"{where} is nested more than {_MAX_DEPTH} levels deep")
        t = type(obj)
        if obj is None or t in (bool, str):
            return obj
        if t is int:
            return obj
        if t is float:
            return obj if math.isfinite(obj) else {"$": "float", "v": repr(obj)}
        if t is complex:
            return {"$": "complex", "v": [self.enc(obj.real, where), self.enc(obj.imag, where)]}
        if t in (list, tuple, set, frozenset):
            items = list(obj)
            if t in (set, frozenset):
                items.sort(key=lambda v: json.dumps(self.enc(v, where, depth + 1),
                                                    sort_keys=True))
            return {"$": _SIMPLE[t], "v": [self.enc(v, f"{where}[{i}]", depth + 1)
                                           for i, v in enumerate(items)]}
        if t is dict or (isinstance(obj, dict) and t.__module__ == "collections"):
            return {"$": "dict", "k": [self.enc(k, f"{where} key", depth + 1) for k in obj],
                    "v": [self.enc(v, f"{where}[{k!r}]", depth + 1) for k, v in obj.items()]}
        if isinstance(obj, np.ndarray):
            return {"$": "ndarray", "a": self._array(obj, obj)}
        if isinstance(obj, np.generic):
            return {"$": "scalar", "a": self._array(obj, np.asarray(obj))}
        if isinstance(obj, PurePath):
            return {"$": "path", "v": str(obj)}
        name = _registered_name(obj)
        if name is not None:
            data = RESULT_TYPES[name][2](obj)
            return {"$": "obj", "type": name, "v": self.enc(data, f"{where}({name})", depth + 1)}
        if _is_tensor(obj):
            return self._tensor(obj, where)
        if _is_sparse(obj):
            return self._sparse(obj, where)
        raise TypeError(
            f"{where} holds a {t.__module__}.{t.__qualname__}, which psbook's cache does not "
            f"store: results are kept as data only (numbers, strings, lists, tuples, dicts, "
            f"sets, numpy arrays, torch tensors, scipy sparse matrices and the result types "
            f"registered in psbook.cache_format.RESULT_TYPES: {sorted(RESULT_TYPES)})")

    def _tensor(self, t, where):
        import torch
        if t.is_sparse or t.layout != torch.strided:
            raise TypeError(f"{where}: only dense tensors are stored; got layout {t.layout}")
        c = t.detach().cpu().contiguous()
        dtype = str(c.dtype).removeprefix("torch.")
        if c.dtype == torch.bfloat16:
            a = c.view(torch.int16).numpy()
        else:
            a = c.numpy()
        k = self._ids.get(id(t)) or self._array(t, a)
        return {"$": "tensor", "a": k, "dtype": dtype}

    def _sparse(self, m, where):
        fmt = m.format
        kind = "array" if type(m).__name__.endswith("_array") else "matrix"
        if fmt in ("csr", "csc"):
            parts = [m.data, m.indices, m.indptr]
        elif fmt == "coo":
            parts = [m.data, m.row, m.col]
        else:
            raise TypeError(f"{where}: sparse matrices are stored as csr, csc or coo; got {fmt} "
                            f"(convert it with .tocsr())")
        return {"$": "sparse", "format": fmt, "kind": kind, "shape": [int(s) for s in m.shape],
                "a": [self._array(p, np.asarray(p)) for p in parts]}


def dumps(obj) -> memoryview:
    """``obj`` as the bytes of an entry (see the module docstring; a view of one in-memory
    buffer, not a second copy). Raises ``TypeError`` for anything that is not data or a
    registered result type."""
    enc = _Encoder()
    tree = enc.enc(obj, "the result")
    arrays = enc.arrays
    record = {"format": FORMAT, "version": VERSION, "type": type_name(obj), "tree": tree,
              "sha256": {k: hashlib.sha256(np.ascontiguousarray(a).data).hexdigest()
                         if a.size else hashlib.sha256(b"").hexdigest()
                         for k, a in arrays.items()}}
    meta = np.frombuffer(json.dumps(record, allow_nan=False, sort_keys=True).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **{_META: meta}, **arrays)    # object arrays never get here (_KINDS)
    return buf.getbuffer()


# ---- decoding ---------------------------------------------------------------------------

def _reject_constant(name):
    raise EntryError(f"non-standard JSON constant {name}")


def _check_zip(zf: zipfile.ZipFile, size: int) -> list:
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise EntryError("duplicate members")
    if f"{_META}.npy" not in names:
        raise EntryError("no psbook record (not a psbook entry)")
    total = 0
    for i in infos:
        stem = i.filename[:-4] if i.filename.endswith(".npy") else None
        if stem is None or not (stem == _META or (stem[:1] == "a" and stem[1:].isdigit())):
            raise EntryError(f"unexpected member {i.filename!r}")
        if i.compress_type != zipfile.ZIP_STORED or i.compress_size != i.file_size:
            raise EntryError(f"member {i.filename!r} is compressed (psbook stores arrays as is)")
        total += i.file_size
    if total > size:
        raise EntryError("members larger than the file (a crafted zip)")
    for i in infos:                       # each array's header must match its stored bytes
        with zf.open(i) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise EntryError(f"unknown .npy version {version}")
            header = f.tell()
        if dtype.hasobject or dtype.kind not in _KINDS:
            raise EntryError(f"member {i.filename!r} has dtype {dtype} (data only)")
        n = math.prod(shape) * dtype.itemsize
        if header + n != i.file_size:
            raise EntryError(f"member {i.filename!r}: header says {n} bytes, "
                             f"{i.file_size - header} stored")
    return names


def loads(data: bytes):
    """:func:`load` from bytes in memory."""
    return _load(io.BytesIO(data), len(data))


def load(path):
    """The object stored in the entry at ``path``; raises :class:`EntryError` (or
    ``OSError``) for anything but a well-formed entry whose arrays match their checksums."""
    path = Path(path)
    with open(path, "rb") as f:
        return _load(f, path.stat().st_size)


def _load(f, size: int):
    try:
        zf = zipfile.ZipFile(f)
    except zipfile.BadZipFile as exc:
        raise EntryError(f"not a psbook entry ({exc})") from None
    with zf:
        _check_zip(zf, size)
    f.seek(0)
    try:
        npz = np.load(f, allow_pickle=False)
    except Exception as exc:
        raise EntryError(f"unreadable arrays ({type(exc).__name__}: {exc})") from None
    with npz:
        meta = npz[_META]
        if meta.dtype != np.uint8 or meta.ndim != 1:
            raise EntryError("malformed record")
        record = json.loads(meta.tobytes().decode("utf-8"), parse_constant=_reject_constant)
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise EntryError("not a psbook entry (no format record)")
        if record.get("version") != VERSION:
            raise EntryError(f"entry format version {record.get('version')!r}, this psbook "
                             f"reads {VERSION}")
        sums = record.get("sha256")
        if not isinstance(sums, dict):
            raise EntryError("malformed record (no checksums)")
        names = set(npz.files) - {_META}
        if set(sums) != names:
            raise EntryError("checksums do not list the stored arrays")
        arrays = {}
        for k in sorted(names):
            a = npz[k]
            if hashlib.sha256(np.ascontiguousarray(a).data if a.size else b""
                              ).hexdigest() != sums[k]:
                raise EntryError(f"checksum mismatch in {k} (a damaged or replaced entry)")
            arrays[k] = a
    dec = _Decoder(arrays)
    out = dec.dec(record.get("tree"), 0)
    if type_name(out) != record.get("type"):
        raise EntryError(f"holds a {type_name(out)}, its record says {record.get('type')!r}")
    return out


class _Decoder:
    def __init__(self, arrays: dict):
        self.arrays = arrays
        self._tensors: dict = {}

    def _a(self, k) -> np.ndarray:
        if not isinstance(k, str) or k not in self.arrays:
            raise EntryError(f"reference to a missing array {k!r}")
        return self.arrays[k]

    def dec(self, node, depth: int):
        if depth > _MAX_DEPTH:
            raise EntryError("nested too deeply")
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list):
            raise EntryError("a bare JSON list (psbook tags every container)")
        if not isinstance(node, dict) or not isinstance(node.get("$"), str):
            raise EntryError("malformed tree")
        tag = node["$"]
        keys = set(node)
        d = depth + 1

        def need(*ks):
            if keys != {"$", *ks}:
                raise EntryError(f"malformed {tag!r} node: keys {sorted(keys)}")

        if tag in ("list", "tuple", "set", "frozenset"):
            need("v")
            if not isinstance(node["v"], list):
                raise EntryError(f"malformed {tag!r} node")
            items = [self.dec(v, d) for v in node["v"]]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        if tag == "dict":
            need("k", "v")
            ks, vs = node["k"], node["v"]
            if not (isinstance(ks, list) and isinstance(vs, list) and len(ks) == len(vs)):
                raise EntryError("malformed 'dict' node")
            return {self.dec(k, d): self.dec(v, d) for k, v in zip(ks, vs)}
        if tag == "float":
            need("v")
            if node["v"] not in ("nan", "inf", "-inf"):
                raise EntryError("malformed 'float' node")
            return float(node["v"])
        if tag == "complex":
            need("v")
            re_, im = (self.dec(x, d) for x in node["v"])
            if not all(isinstance(x, (int, float)) for x in (re_, im)):
                raise EntryError("malformed 'complex' node")
            return complex(re_, im)
        if tag == "path":
            need("v")
            if not isinstance(node["v"], str):
                raise EntryError("malformed 'path' node")
            return Path(node["v"])
        if tag == "ndarray":
            need("a")
            return self._a(node["a"])
        if tag == "scalar":
            need("a")
            a = self._a(node["a"])
            if a.ndim != 0:
                raise EntryError("a scalar that is not 0-d")
            return a[()]
        if tag == "tensor":
            need("a", "dtype")
            return self._tensor(node["a"], node["dtype"])
        if tag == "sparse":
            need("format", "kind", "shape", "a")
            return self._sparse(node)
        if tag == "obj":
            need("type", "v")
            entry = RESULT_TYPES.get(node["type"]) if isinstance(node["type"], str) else None
            if entry is None:
                raise EntryError(f"unknown result type {node['type']!r} (psbook rebuilds only "
                                 f"{sorted(RESULT_TYPES)})")
            data = self.dec(node["v"], d)
            try:
                return entry[3](data)
            except EntryError:
                raise
            except Exception as exc:
                raise EntryError(f"{node['type']}: {type(exc).__name__}: {exc}") from None
        raise EntryError(f"unknown node {tag!r}")

    def _tensor(self, k, dtype):
        import torch
        if k in self._tensors:
            return self._tensors[k]
        dt = getattr(torch, dtype, None) if isinstance(dtype, str) and dtype.isidentifier() \
            else None
        if not isinstance(dt, torch.dtype):
            raise EntryError(f"unknown tensor dtype {dtype!r}")
        a = self._a(k)
        if dt == torch.bfloat16:
            if a.dtype != np.int16:
                raise EntryError("a bfloat16 tensor not stored as int16")
            t = torch.from_numpy(np.array(a)).view(torch.bfloat16)
        else:
            t = torch.from_numpy(np.array(a))
            if t.dtype != dt:
                raise EntryError(f"tensor dtype {t.dtype} does not match its record {dtype}")
        self._tensors[k] = t
        return t

    def _sparse(self, node):
        import scipy.sparse as sp
        fmt, kind, shape, refs = node["format"], node["kind"], node["shape"], node["a"]
        if (fmt not in ("csr", "csc", "coo") or kind not in ("matrix", "array")
                or not (isinstance(shape, list) and len(shape) == 2
                        and all(isinstance(s, int) and s >= 0 for s in shape))
                or not (isinstance(refs, list) and len(refs) == 3)):
            raise EntryError("malformed 'sparse' node")
        data, i1, i2 = (self._a(r) for r in refs)
        cls = getattr(sp, f"{fmt}_{kind}")
        try:
            if fmt == "coo":
                m = cls((data, (i1, i2)), shape=tuple(shape))
            else:
                m = cls((data, i1, i2), shape=tuple(shape))
            m.check_format() if fmt != "coo" else None
        except Exception as exc:
            raise EntryError(f"malformed sparse matrix ({exc})") from None
        return m
