"""The step that predicts reference / alternative window pairs (variant scoring).

A unit holds ``n`` reference windows (``ref``, uint8 codes (n, L)) and, for each, how its
alternative differs:

* substitutions (SNVs, MNVs; ``sub_rows``): the ALT is the REF with columns
  ``[sub_start, sub_start + k)`` replaced by ``sub_alt`` codes (``sub_len`` = k). These are
  computed by local recomputation (:func:`dnaseq.models.fast_ism.edited_logits`): the REF windows get
  a full pass whose activations are cached, each ALT recomputes only what its edit reaches.
  On the reverse-complement strand the edit sits at ``L - start - k`` with complemented bases.
  Optional ``ref_key`` / ``ref_start`` (n,) place each REF window on the genome (a chromosome's number
  in the unit, column 0's coordinate), so that overlapping windows share their first layers
  (:mod:`dnaseq.models.overlap`).
* everything else (indels; ``full_rows``): a full ALT window (``full_alt``, codes (q, L)) and
  full forward passes of both.

The step returns probabilities ``ref`` and ``alt`` (n, F), averaged over the strand mode's
views. Nothing here knows about VCF files: rows are arrays.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import torch

from ..models.fast_ism import edited_logits
from ..models.state import n_outputs
from ..models.strand import StrandWrapper, strand_mean
from ..sequence.onehot import one_hot

MAX_LOCAL_EDIT = 16  # wider differences between REF and ALT windows get full passes


def pair_unit(ref_codes: Sequence[np.ndarray], alt_codes: Sequence[np.ndarray], chroms: Sequence[str],
              ref_start: Sequence[int], L: int, meta=None) -> Dict:
    """A unit for :func:`pair_step` from ``n`` REF and ALT windows (uint8 codes of length L), the
    chromosome each REF window lies on and its column 0's 0-based coordinate. An ALT window that
    differs from its REF window only within ``MAX_LOCAL_EDIT`` columns (SNVs, MNVs) becomes an
    edit of it; any other (indels: shifted flanks) a full window. ``meta`` rides along."""
    n = len(ref_codes)
    ref = np.stack(ref_codes) if n else np.zeros((0, L), np.uint8)
    alt = np.stack(alt_codes) if n else np.zeros((0, L), np.uint8)
    differ = ref != alt
    sub_rows, starts, widths, full_rows = [], [], [], []
    for i in range(n):
        cols = np.flatnonzero(differ[i])
        if len(cols) == 0:
            sub_rows.append(i), starts.append(L // 2), widths.append(1)
        elif cols[-1] - cols[0] < MAX_LOCAL_EDIT:
            sub_rows.append(i), starts.append(int(cols[0])), widths.append(int(cols[-1] - cols[0] + 1))
        else:
            full_rows.append(i)
    sub_alt = np.zeros((len(sub_rows), MAX_LOCAL_EDIT), np.uint8)
    for j, (i, s0, k) in enumerate(zip(sub_rows, starts, widths)):
        sub_alt[j, :k] = alt[i, s0:s0 + k]
    numbers = {c: i for i, c in enumerate(dict.fromkeys(chroms))}
    return {"ref": torch.from_numpy(ref), "ref_key": torch.tensor([numbers[c] for c in chroms], dtype=torch.long),
            "ref_start": torch.tensor(list(ref_start), dtype=torch.long),
            "sub_rows": torch.tensor(sub_rows, dtype=torch.long),
            "sub_start": torch.tensor(starts, dtype=torch.long), "sub_len": torch.tensor(widths, dtype=torch.long),
            "sub_alt": torch.from_numpy(sub_alt), "full_rows": torch.tensor(full_rows, dtype=torch.long),
            "full_alt": torch.from_numpy(np.ascontiguousarray(alt[full_rows])), "meta": meta}


def pair_step(fill: float, strand: str, batch_size: int, local: bool = True):
    """A step for :func:`dnaseq.inference.engine.run` over REF/ALT pair units (module docstring)."""

    def step(net, unit):
        ref_codes = unit["ref"]
        L = ref_codes.shape[1]
        dev = ref_codes.device
        parts_ref, parts_alt, parts_idx = [], [], []
        sub_rows, full_rows = unit["sub_rows"], unit["full_rows"]
        # substitutions, grouped by edit width, in batches
        for k in torch.unique(unit["sub_len"]).tolist() if len(sub_rows) else []:
            sel = torch.nonzero(unit["sub_len"] == k).flatten()
            for lo in range(0, len(sel), batch_size):
                s = sel[lo:lo + batch_size]
                rows = sub_rows[s]
                x = one_hot(ref_codes[rows], fill=fill)
                alt = one_hot(unit["sub_alt"][s, :k], fill=fill)  # (b, 4, k)
                start = unit["sub_start"][s]
                fwd = rev = None  # where the windows lie on the genome, per strand
                if "ref_key" in unit:
                    keys, pos = unit["ref_key"][rows], unit["ref_start"][rows]
                    fwd, rev = (keys, pos), (keys, -(pos + L))  # reverse strand: column 0 is the last base

                def one_strand(view, is_rc):
                    if is_rc:
                        rl, al = edited_logits(net, view, L - start - k, torch.flip(alt, dims=(-2, -1)),
                                               fast=local, where=rev)
                    else:
                        rl, al = edited_logits(net, view, start, alt, fast=local, where=fwd)
                    return torch.sigmoid(rl.float()), torch.sigmoid(al.float())

                r, a = strand_mean(x, strand, one_strand)
                parts_idx.append(rows)
                parts_ref.append(r)
                parts_alt.append(a)
        # indels and the rest: full passes of both windows (every row is in one of the two lists)
        for lo in range(0, len(full_rows), batch_size):
            rows = full_rows[lo:lo + batch_size]
            xr = one_hot(ref_codes[rows], fill=fill)
            xa = one_hot(unit["full_alt"][lo:lo + batch_size], fill=fill)
            p = StrandWrapper(net, strand)(torch.cat([xr, xa]))
            parts_idx.append(rows)
            parts_ref.append(p[:len(rows)])
            parts_alt.append(p[len(rows):])
        if not parts_idx:
            F = n_outputs(net, L)
            return {"ref": torch.zeros(0, F, device=dev), "alt": torch.zeros(0, F, device=dev)}
        idx = torch.cat(parts_idx)
        order = torch.argsort(idx)
        return {"ref": torch.cat(parts_ref)[order], "alt": torch.cat(parts_alt)[order]}

    return step


def lm_pair_step(fill: float, batch_size: int):
    """A step over the same REF/ALT pair units for a DNA language model (zero-shot variant scores):
    ``ref`` and ``alt`` (n, 2) log2-likelihoods, column 0 the whole window's (sum over its known
    bases of log2 P(base | context)), column 1 the edited site's (substitutions: the sum over the
    edited columns of log2 P of the REF and of the ALT bases, both read from the REF window's
    pass, as GPN scores variants; NaN for indels, whose windows differ in their flanks). Full
    passes of both windows: a recurrence carries every edit to the end of the window."""
    log2e = 1.0 / float(np.log(2.0))

    def window_ll(net, codes):
        logp = torch.log_softmax(net(one_hot(codes, fill=fill)).float(), dim=1)  # (b, 4, L)
        known = codes < 4
        ll = logp.gather(1, codes.long().clamp(max=3)[:, None, :])[:, 0] * known
        return ll.sum(dim=1) * log2e, logp

    def step(net, unit):
        ref_codes = unit["ref"]
        n, L = ref_codes.shape
        dev = ref_codes.device
        alt_codes = ref_codes.clone()
        subs = unit["sub_rows"]
        for j in range(len(subs)):  # substitutions: the ALT window is the REF one with its edit
            s, k = int(unit["sub_start"][j]), int(unit["sub_len"][j])
            alt_codes[subs[j], s:s + k] = unit["sub_alt"][j, :k]
        full = unit["full_rows"]
        if len(full):
            alt_codes[full] = unit["full_alt"]
        ref = torch.full((n, 2), float("nan"), device=dev)
        alt = torch.full((n, 2), float("nan"), device=dev)
        site_of = {int(r): j for j, r in enumerate(subs.tolist())}
        for lo in range(0, n, batch_size):
            rows = torch.arange(lo, min(lo + batch_size, n), device=dev)
            r_ll, logp = window_ll(net, ref_codes[rows])
            a_ll, _ = window_ll(net, alt_codes[rows])
            ref[rows, 0], alt[rows, 0] = r_ll, a_ll
            for b, row in enumerate(rows.tolist()):
                j = site_of.get(row)
                if j is None:
                    continue
                s, k = int(unit["sub_start"][j]), int(unit["sub_len"][j])
                cols = torch.arange(s, s + k, device=dev)
                r_base, a_base = ref_codes[row, s:s + k].long(), alt_codes[row, s:s + k].long()
                ok = (r_base < 4) & (a_base < 4)
                ref[row, 1] = (logp[b, r_base.clamp(max=3), cols] * ok).sum() * log2e
                alt[row, 1] = (logp[b, a_base.clamp(max=3), cols] * ok).sum() * log2e
        return {"ref": ref, "alt": alt}

    return step
