"""Which text encoding a register's CSV file is in: pure, no I/O.

Offices save CSV from Excel in whatever their system uses: "CSV UTF-8" (UTF-8 with a BOM), plain
"CSV" on a Chinese Windows (the ANSI code page 936, i.e. GBK), or "Unicode Text" (UTF-16 LE with a
BOM, tab-separated). The encoding is told by the BOM when there is one, by a strict UTF-8 decode
when that succeeds, and otherwise by charset-normalizer (a maintained detector, also used by
requests). GB18030 is a superset of GBK and GB2312 (GB 18030-2005, code page 54936), so a file
detected as GBK, GB2312 or CP936 is decoded as GB18030: the characters GBK lacks (some names'
rare characters) still read.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

# The detector's names of the Chinese national encodings, all read as their superset.
_GB_FAMILY = frozenset({"gb2312", "gbk", "cp936", "ms936", "gb18030", "hz", "gb_2312_80", "euc_cn"})
_BOMS = (  # the longest first: UTF-32 LE's BOM begins with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Encodings in which a newline byte is a newline, so the file can be split into lines as bytes.
_LINE_SAFE = frozenset({"utf-8", "gb18030", "ascii"})


@dataclass(frozen=True, slots=True)
class Encoding:
    """How to read the file: ``name`` (a Python codec), ``bom`` (bytes to skip at the start) and
    ``why`` (how it was told: "bom", "utf-8", "detected" or "fallback")."""

    name: str
    bom: int = 0
    why: str = "utf-8"

    @property
    def line_safe(self) -> bool:
        """The file can be split at newline bytes and each line decoded alone (UTF-8, GB18030)."""
        return self.name in _LINE_SAFE

    @property
    def label(self) -> str:
        """The name users know: GB18030 (GBK), UTF-16 …"""
        return {"gb18030": "GB18030 (GBK)", "utf-8": "UTF-8"}.get(self.name, self.name.upper())


def _strict_utf8(sample: bytes, complete: bool) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(sample, final=complete)  # an incomplete character at a cut sample's end is fine
    except UnicodeDecodeError:
        return False
    return True


def gb_or_same(name: str) -> str:
    """The codec to decode a detected encoding with: GBK, GB2312, CP936 … as GB18030."""
    normal = codecs.lookup(name).name.replace("_", "-")
    return "gb18030" if normal.replace("-", "_") in _GB_FAMILY or normal in _GB_FAMILY else normal


def detect_encoding(sample: bytes, *, complete: bool = True) -> Encoding:
    """The encoding of a file that starts with ``sample`` (``complete``: the sample is the whole
    file). A BOM decides; then UTF-8 if the sample is valid UTF-8 (plain ASCII included); then
    charset-normalizer's best guess, GBK/GB2312 read as GB18030; GB18030 when it has none."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return Encoding(name, len(bom), "bom")
    if _strict_utf8(sample, complete) or _mostly_utf8(sample):
        return Encoding("utf-8", 0, "utf-8")
    from charset_normalizer import from_bytes  # only a file that is not UTF-8 needs it

    results = list(from_bytes(sample))
    if not results:
        return Encoding("gb18030", 0, "fallback")
    best = results[0]
    # A few Chinese characters decode as well in Big5, CP949 or Shift-JIS, and the detector may
    # rank one of them first: the register is a mainland office's, so GB18030 wins a near tie.
    gb = next((r for r in results if gb_or_same(r.encoding) == "gb18030"), None)
    if gb is not None and gb.chaos <= best.chaos + _NEAR_TIE:
        best = gb
    return Encoding(gb_or_same(best.encoding), 0, "detected")


_NEAR_TIE = 0.1  # charset-normalizer's chaos, 0 (clean) to 1


def _mostly_utf8(sample: bytes) -> bool:
    """Most lines with non-ASCII bytes are UTF-8: a UTF-8 file with a line pasted from elsewhere.
    (Chinese text in GBK is practically never valid UTF-8, so a GBK file does not pass.)"""
    lines = [line for line in sample.split(b"\n") if not line.isascii()]
    good = 0
    for line in lines[:-1] if len(lines) > 1 else lines:  # the sample's last line may be cut
        try:
            line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            pass
    return good > 0 and good * 2 >= len(lines)


def delimiter_of(header: str) -> str:
    """The header line's delimiter: a tab for Excel's "Unicode Text" (tab-separated), a
    semicolon where a comma is a decimal separator, a comma otherwise."""
    counts = {d: header.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","
