"""Published DeepSEA, DanQ and Beluga weights -> self-contained dnaseq checkpoints.

Recognised PyTorch state dicts (names looked up under any wrapper prefix: ``module.``
(DataParallel), ``model.`` (Selene's ``NonStrandSpecific``), Kipoi's ``1.`` / ``2.``; a
``{"state_dict": ...}`` container is opened):

* ``selene-deepsea``: ``conv_net.{0,4,8}``, ``classifier.{0,2}``; (N, 4, L) in A,C,G,T; 1000 bp.
* ``selene-danq``: ``nnet.0``, ``bdlstm.0.*``, ``classifier.{1,3}``; (N, 4, L) in A,C,G,T; 1000 bp.
* ``kipoi-deepsea``: Conv2d ``{0,4,8}``, ``12.1``, ``14.1``; (N, 4, 1, L) in A,G,C,T; 1000 bp. The
  DeepSEA 0.94 Torch7 model as Kipoi converted it: ``deepsea_cpu.pth``, ``deepsea_variant_effects.pth``
  (prefix ``1.``), ``deepsea_predict.pth`` (prefix ``2.``, run on both strands by Kipoi).
* ``kipoi-beluga``: Conv2d ``model.0.{0,2,6,8,12,14}``, ``model.1.{2,4}.1``; (N, 4, 1, L) in
  A,G,C,T; 2000 bp. Kipoi's ``DeepSEA/beluga`` = ExPecto's ``deepsea.beluga.pth``.

The first layer's input channels are permuted from the peer's base order to dnaseq's A,C,G,T.
N gets 0.25 in every channel, as Selene's and Kipoi's encoders feed it (the original DeepSEA /
ExPecto scripts used 0: ``fill=0``). Where dnaseq's network differs from the peer's code a note
says so: DeepSEA 0.94 uses ``Threshold(0, 1e-6)`` where dnaseq uses ReLU (a tiny difference);
Selene's ``DanQ.forward`` runs its LSTM over the *batch* axis (it feeds (L, N, C) to a
``batch_first`` LSTM), dnaseq along the sequence as DanQ was published.

Feature names: the published 919 DeepSEA / DanQ and 2002 Beluga names ship in
``dnaseq/resources`` (README there); other counts take ``features=`` (one name per line,
optionally ``name<TAB>group``). Repeated names get ``#2``, ``#3`` ... so outputs stay unique.
"""
from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch

from ..models import count_parameters
from ..outputs import prepare_output_prefix
from ..sequence.encoding import ALPHABET
from ..sequence.textio import unique_labels
from ..settings import DEFAULT_FILL, resolve_strand
from .task import SequenceModel
from .weight_formats import _BOTH_PREFIXES, BY_NAME, FORMATS, Format

RESOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources")
FEATURE_LISTS = {919: "deepsea_919_features.txt", 2002: "beluga_2002_features.txt"}


@dataclass
class ImportResult:
    format: str
    title: str
    source: str
    prefix: str
    arch: str
    arch_args: Dict
    seq_len: int
    n_features: int
    features_from: str
    strand: str
    fill: float
    peer_base_order: str
    n_parameters: int = 0
    out: Optional[str] = None
    sha256: str = ""
    md5: str = ""
    notes: List[str] = field(default_factory=list)


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The tensors of a ``.pth`` state dict (or of its ``state_dict`` entry), read safely."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder; give the .pth file")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # torch.save: zip, or legacy pickle
        what = "is empty" if not head else f"starts with {head!r}"
        raise ValueError(f"{path} is not a PyTorch file (it {what}; torch.save writes a zip archive or a pickle)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is one line for the user
        if "weights only" in str(exc).lower():
            raise ValueError(f"{path} holds pickled Python objects, not only tensors (a whole model?); "
                             f"re-save it with torch.save(model.state_dict(), ...)") from exc
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path} cannot be read by torch.load ({type(exc).__name__}: {first[:200]})") from exc
    for key in ("state_dict", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not any(torch.is_tensor(v) for v in obj.values()):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors")
    return {str(k): v for k, v in obj.items() if torch.is_tensor(v)}


def _candidates(fmt: Format, keys) -> List[Tuple[int, str, set, set]]:
    """(score, prefix, missing, unexpected) for every prefix under which ``fmt`` could sit."""
    anchor = next(iter(fmt.keys))
    prefixes = {k[:-len(anchor)] for k in keys if k == anchor or k.endswith("." + anchor)}
    out = []
    for p in prefixes or {""}:
        found = {k[len(p):] for k in keys if k.startswith(p)}
        missing = set(fmt.keys) - found
        unexpected = {k for k in keys if not (k.startswith(p) and k[len(p):] in fmt.keys)}
        out.append((len(fmt.keys) - len(missing) - len(unexpected), p, missing, unexpected))
    return out


def recognise(sd: Dict[str, torch.Tensor], label: str = "state dict", model: str = "auto") -> Tuple[Format, str]:
    """(format, wrapper prefix) of a state dict, or a one-line error naming the closest guess."""
    if model != "auto" and model not in BY_NAME:
        raise ValueError(f"unknown --model {model!r}; choose auto or one of {', '.join(BY_NAME)}")
    fmts = FORMATS if model == "auto" else [BY_NAME[model]]
    scored = [(c, f) for f in fmts for c in _candidates(f, sd.keys())]
    (score, prefix, missing, unexpected), fmt = max(scored, key=lambda cf: cf[0][0])
    if not missing and not unexpected:
        return fmt, prefix
    if score <= 0 and model == "auto":
        first = ", ".join(list(sd)[:4])
        raise ValueError(f"{label}: matches none of the published layouts ({', '.join(BY_NAME)}); its first "
                         f"parameters are {first}")

    def show(ks):
        ks = sorted(ks)
        return ", ".join(ks[:4]) + (" ..." if len(ks) > 4 else "")
    parts = [f"missing {len(missing)}: {show(prefix + k for k in missing)}"] if missing else []
    parts += [f"unexpected {len(unexpected)}: {show(unexpected)}"] if unexpected else []
    raise ValueError(f"{label}: not a {fmt.name} state dict ({fmt.title}) as published; " + "; ".join(parts))


def _positions(family: str, L: int, width: int, pool: int) -> int:
    """Length of the conv tower's output for ``L`` bp inputs."""
    if family == "danq":
        return (L - width + 1) // pool
    n_conv = 1 if family == "deepsea" else 2
    for i in range(3):
        L -= n_conv * (width - 1)
        if i < 2:
            L //= pool
    return L


def _window(fmt: Format, label: str, positions: int, width: int, seq_len: Optional[int]) -> int:
    pool = 13 if fmt.family == "danq" else 4
    scale = pool ** (1 if fmt.family == "danq" else 2)
    top = (positions + 1) * scale + 8 * width * scale
    fits = [L for L in range(1, top) if _positions(fmt.family, L, width, pool) == positions]
    if not fits:
        raise ValueError(f"{label}: its dense layer reads {positions} positions, which no window length gives")
    span = f"{fits[0]}-{fits[-1]} bp" if len(fits) > 1 else f"{fits[0]} bp"
    if seq_len is not None:
        if seq_len not in fits:
            raise ValueError(f"{label}: --seq-len {seq_len} does not fit; its dense layer reads {positions} "
                             f"positions, i.e. windows of {span}")
        return seq_len
    if fmt.published_len in fits or len(fits) == 1:
        return fmt.published_len if fmt.published_len in fits else fits[0]
    raise ValueError(f"{label}: windows of {span} fit its dense layer ({positions} positions); pass --seq-len")


def _architecture(fmt: Format, sd: Dict[str, torch.Tensor], label: str, seq_len: Optional[int]):
    """(arch, arch_args, seq_len, n_features) implied by the tensors' shapes."""
    convs = [sd[k] for k in fmt.convs]
    width = int(convs[0].shape[-1])
    head = [sd[k] for k, d in fmt.keys.items() if d.startswith("head.") and k.endswith("weight")]
    first, last = head[0], head[-1]
    n_features = int(last.shape[0])
    if fmt.family == "danq":
        hidden_rnn = int(sd["bdlstm.0.weight_hh_l0"].shape[1])
        per_pos = 2 * hidden_rnn
    else:
        per_pos = int(convs[-1].shape[0])
    if first.shape[1] % per_pos:
        raise ValueError(f"{label}: the first dense layer reads {first.shape[1]} inputs, not a multiple of "
                         f"the {per_pos} channels before it")
    L = _window(fmt, label, int(first.shape[1]) // per_pos, width, seq_len)
    hidden = int(first.shape[0])
    if fmt.family == "danq":
        filters = int(convs[0].shape[0])
        if (filters, width, hidden_rnn, hidden) == (320, 26, 320, 925):
            return "danq", {}, L, n_features
        return "conv_recurrent", {"conv_filters": [filters], "conv_widths": width, "pool_sizes": 13,
                                  "conv_dropout": 0.2, "rnn_type": "lstm", "rnn_hidden": hidden_rnn,
                                  "bidirectional": True, "readout": "flatten", "readout_dropout": 0.5,
                                  "head_hidden": [hidden]}, L, n_features
    filters = [int(c.shape[0]) for c in convs][::1 if fmt.family == "deepsea" else 2]
    defaults = {"deepsea": ([320, 480, 960], 925), "beluga": ([320, 480, 640], 2003)}[fmt.family]
    args = {k: v for k, v, d in (("conv_width", width, 8), ("filters", filters, defaults[0]),
                                 ("hidden", hidden, defaults[1])) if v != d}
    return fmt.family, args, L, n_features


def _convert(fmt: Format, sd: Dict[str, torch.Tensor], base_order: str) -> Dict[str, torch.Tensor]:
    order = [base_order.index(b) for b in ALPHABET]
    out = {}
    for peer, ours in fmt.keys.items():
        t = sd[peer].detach().to(torch.float32)
        if fmt.conv2d and peer in fmt.convs:
            t = t[:, :, 0, :]
        if peer == fmt.convs[0]:
            t = t[:, order, ...]
        out[ours] = t.contiguous()
    return out


_HISTONE = re.compile(r"^H(2A|2B|3|4)[KT.Z]")


def feature_group(name: str) -> str:
    """DNase, Histone or TF from a DeepSEA-style name (``cell_assay_treatment``)."""
    tokens = name.split("_")
    if any(t == "DNase" or t.startswith("DNase.") for t in tokens):
        return "DNase"
    return "Histone" if any(_HISTONE.match(t) for t in tokens) else "TF"


def read_features(path: str) -> Tuple[List[str], List[Optional[str]]]:
    """Names (and groups, when a second tab-separated column gives them) from a text file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"features file not found: {path}")
    with open(path, encoding="utf-8") as fh:
        rows = [line.rstrip("\r\n").split("\t") for line in fh if line.strip() and not line.startswith("#")]
    return [r[0] for r in rows], [r[1] if len(r) > 1 and r[1] else None for r in rows]


def published_features(n_features: int) -> Optional[Tuple[List[str], List[str]]]:
    """The shipped names and groups for 919 (DeepSEA / DanQ) or 2002 (Beluga) features."""
    if n_features not in FEATURE_LISTS:
        return None
    names, _ = read_features(os.path.join(RESOURCES, FEATURE_LISTS[n_features]))
    return names, [feature_group(n) for n in names]


def _features(n: int, features: Optional[str], notes: List[str]):
    if features:
        names, groups = read_features(features)
        if len(names) != n:
            raise ValueError(f"{features} names {len(names)} features but the weights predict {n}")
        return names, [g or "unknown" for g in groups], features
    shipped = published_features(n)
    if shipped:
        return shipped[0], shipped[1], f"published names, dnaseq/resources/{FEATURE_LISTS[n]}"
    notes.append(f"no published names for {n} features: named feature_0 ... feature_{n - 1}; "
                 f"pass --features FILE (one name per line) to name them")
    return [f"feature_{i}" for i in range(n)], ["unknown"] * n, "placeholder names"


@contextmanager
def _weights_loaded_next():
    """Skip the random initialisation of Conv / Linear / LSTM layers (seconds for DeepSEA and
    Beluga's dense layers) while building a network whose every weight is loaded right after."""
    init = torch.nn.init
    saved = init.kaiming_uniform_, init.uniform_
    init.kaiming_uniform_ = init.uniform_ = lambda tensor, *a, **k: tensor
    try:
        yield
    finally:
        init.kaiming_uniform_, init.uniform_ = saved


def convert_state_dict(sd: Dict[str, torch.Tensor], label: str = "state dict", *, model: str = "auto",
                       features: Optional[str] = None, seq_len: Optional[int] = None,
                       strand: Optional[str] = None, fill: Optional[float] = None,
                       base_order: Optional[str] = None):
    """(dnaseq ``SequenceModel`` in eval mode, :class:`ImportResult`) from a peer's state dict."""

    fmt, prefix = recognise(sd, label, model)
    sd = {k[len(prefix):]: v for k, v in sd.items()}
    for k in fmt.keys:  # what the shape arithmetic below relies on
        dims = 1 if k.rsplit(".", 1)[-1].startswith("bias") else (4 if fmt.conv2d else 3) if k in fmt.convs else 2
        if (not torch.is_floating_point(sd[k]) or sd[k].dim() != dims
                or (dims == 4 and sd[k].shape[2] != 1) or (k == fmt.convs[0] and sd[k].shape[1] != 4)):
            raise ValueError(f"{label}: {prefix + k} is a {sd[k].dtype} tensor of shape {tuple(sd[k].shape)}; "
                             f"the {fmt.name} layout needs a {dims}-D float one" +
                             (" with 4 input channels" if k == fmt.convs[0] else ""))
    order = (base_order or fmt.base_order).upper()
    if sorted(order) != sorted(ALPHABET):
        raise ValueError(f"base order {order!r} is not a permutation of {ALPHABET}")
    # as-trained: as the peer's distributed model runs (its publishers "trained" it so)
    strand = resolve_strand(strand, prefix in _BOTH_PREFIXES.get(fmt.name, ()))
    fill = DEFAULT_FILL if fill is None else float(fill)
    arch, arch_args, L, n = _architecture(fmt, sd, label, seq_len)
    notes = [fmt.note] if fmt.note and not (fmt.family == "beluga" and strand == "both") else []
    names, groups, source = _features(n, features, notes)
    tensors = _convert(fmt, sd, order)
    with _weights_loaded_next():
        net = SequenceModel(arch, arch_args, seq_len=L, n_features=n, feature_names=unique_labels(names),
                            feature_groups=groups, strand=strand, fill=fill)
    want = net.model.state_dict()
    peer_of = {v: k for k, v in fmt.keys.items()}
    for key, t in tensors.items():
        if tuple(want[key].shape) != tuple(t.shape):
            raise ValueError(f"{label}: {prefix + peer_of[key]} has shape {tuple(sd[peer_of[key]].shape)}; the "
                             f"{fmt.name} layout needs {tuple(want[key].shape)} after conversion")
    net.model.load_state_dict(tensors, strict=True)
    net.eval()
    result = ImportResult(fmt.name, fmt.title, label, prefix, arch, arch_args, L, n, source, strand, fill,
                          order, count_parameters(net.model), notes=notes)
    return net, result


def save_checkpoint(net, result: ImportResult, path: str) -> None:
    """A checkpoint ``dnaseq.load_model`` reads, with what was imported and from where."""
    import pytorch_lightning as pl  # start-up: converting weights needs no Lightning until the checkpoint is written
    ckpt = {"epoch": 0, "global_step": 0, "pytorch-lightning_version": pl.__version__,
            "state_dict": net.state_dict(), "hyper_parameters": dict(net.hparams)}
    net.on_save_checkpoint(ckpt)
    ckpt["dnaseq"]["imported"] = {k: getattr(result, k) for k in
                                  ("format", "title", "source", "sha256", "md5", "prefix", "peer_base_order",
                                   "features_from")}
    tmp = path + ".partial"
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def import_weights(weights: str, out: str, *, model: str = "auto", features: Optional[str] = None,
                   seq_len: Optional[int] = None, strand: Optional[str] = None, fill: Optional[float] = None,
                   base_order: Optional[str] = None, overwrite: bool = False) -> ImportResult:
    """Convert the published weights file ``weights`` into the dnaseq checkpoint ``out``
    (nothing is downloaded). ``model``: ``auto`` or a format name (:data:`FORMATS`); ``strand``:
    ``forward`` / ``both`` / ``as-trained`` (default: as the peer's distributed model runs); ``fill``: N's one-hot
    value (default 0.25); ``base_order``: the weights' input channel order (default: the
    format's); ``features``: names file (default: the published 919 / 2002 names)."""
    if out.endswith(("/", os.sep)) or os.path.isdir(out):
        raise ValueError(f"output {out!r} is a folder; give a file name such as "
                         f"{os.path.join(out, 'deepsea.ckpt')!r}")
    if os.path.exists(out) and not overwrite:
        raise ValueError(f"{out} exists from an earlier run: pass --overwrite to replace it")
    prepare_output_prefix(out)
    sd = load_state_dict(weights)
    net, result = convert_state_dict(sd, weights, model=model, features=features, seq_len=seq_len,
                                     strand=strand, fill=fill, base_order=base_order)
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            sha.update(block)
            md5.update(block)
    result.source, result.sha256, result.md5 = weights, sha.hexdigest(), md5.hexdigest()
    save_checkpoint(net, result, out)
    result.out = out
    return result
