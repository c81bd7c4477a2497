"""Regenerate the messy inputs of tests/test_messy_variants.py (run from the repository root:
``python tests/data/messy/make_messy.py``). Deterministic; see README.md for what each file is."""
import gzip
import random
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(7)
L = 4000
seq = [rng.choice("ACGT") for _ in range(L)]
for p in range(1401, 1411):  # 1-based gap 1401-1410
    seq[p - 1] = "N"
for p in list(range(2001, 2481)) + list(range(2521, 3001)):  # two gaps around a 40 bp island 2481-2520
    seq[p - 1] = "N"
for p in range(500, 601):  # soft-masked stretch
    seq[p - 1] = seq[p - 1].lower()
seq = "".join(seq)
(HERE / "messy.fa").write_text(">chr1\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, L, 60)))


def g(p, n=1):
    return seq[p - 1:p - 1 + n].upper()


def other(b, k=1):
    return "ACGT"[("ACGT".index(b) + k) % 4]


HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=4000>\n"
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
rows = [
    ("chr1", 1000, "ok", g(1000), other(g(1000))),
    ("chr1", 1001, "alt_is_genome", other(g(1001)), g(1001)),
    ("chr1", 1002, "iupac_alt", g(1002), "Y"),
    ("chr1", 1003, "iupac_multi", g(1003), f"{other(g(1003))},R,."),
    ("chr1", 1405, "ref_n", "N", "A"),
    ("chr1", 1406, "ref_n_mismatch", "A", "C"),
    ("chr1", 1398, "del_half_n", g(1398, 6), g(1398)),
    ("chr1", 1380, "del_clips_gap", g(1380, 22), g(1380)),
    ("chr1", 2500, "mostly_n", g(2500), other(g(2500))),
    ("chr1", 1010, "alt_n", g(1010), "N"),
    ("chr1", 1020, "nul\x00id\x01", g(1020), other(g(1020))),
    ("chr1", 1030, "var#1", g(1030), other(g(1030))),
    ("chr1", 1031, '"quoted" id', g(1031), other(g(1031))),
    ("chr1", 1032, 'it\'s a "mix";é,µ\\back', g(1032), other(g(1032))),
    ("chr1", 1040, "multi_empty", g(1040), f"{other(g(1040))},,{other(g(1040), 2)}"),
    ("chr1", "12x", "bad_pos", "A", "C"),
    ("chr1", "-4", "neg_pos", "A", "C"),
    ("chr1", "99999999999999999999999", "huge_pos", "A", "C"),
]
body = b"".join(("\t".join(map(str, r)) + "\t.\tPASS\tNOTE=a#b;Q=\"x y\"\n").encode() for r in rows)
body += b"chr1\t1033\tcaf\xe9\t" + g(1033).encode() + b"\t" + other(g(1033)).encode() + b"\t.\tPASS\t.\n"
body += b"chr1\t1050\tcrlf\t" + g(1050).encode() + b"\t" + other(g(1050)).encode() + b"\t.\tPASS\t.\r\n"
body += b"chr1\t77\tshort\n"
body += b"chr1 78 spaced A C . PASS .\n"
(HERE / "messy.vcf").write_bytes(HEADER.encode() + body)

(HERE / "empty.vcf").write_bytes(b"")
(HERE / "empty.vcf.gz").write_bytes(b"")
(HERE / "header_only.vcf").write_text(HEADER)
(HERE / "no_header.vcf").write_text(f"chr1\t1000\ta\t{g(1000)}\t{other(g(1000))}\t.\tPASS\t.\n"
                                    f"chr1\t1100\tb\t{g(1100)}\t{other(g(1100))}\t.\tPASS\t.\n")
raw = bytes(rng.randrange(256) for _ in range(1500))
(HERE / "random_bytes.vcf.gz").write_bytes(gzip.compress(raw, mtime=0))


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))
(HERE / "not_a_vcf.png").write_bytes(png)
records = "".join(f"chr1\t{p}\tv{p}\t{g(p)}\t{other(g(p), 1 + p % 3)}\t{rng.randrange(99)}\tPASS\t"
                  f"DP={rng.randrange(999)}\n" for p in range(100, 1300, 3) if g(p) != "N")
blob = gzip.compress((HEADER + records).encode(), mtime=0)
(HERE / "truncated.vcf.gz").write_bytes(blob[: len(blob) // 2])
