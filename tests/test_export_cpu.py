"""The CPU named in export reports: whether it has integer dot products decides whether int8
can beat float32, so reports from different machines must say which kind timed them."""

from __future__ import annotations

from pathlib import Path

import pytest

from export.litert import cpu_description

X86_VNNI = "processor\t: 0\nmodel name\t: AMD EPYC 9654\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni\n\n" \
           "processor\t: 1\nmodel name\t: AMD EPYC 9654\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni\n"
X86_PLAIN = "processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx2 fma\n"
ARM_DOTPROD = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 asimddp\nHardware\t: BCM2712\n"


@pytest.mark.parametrize(
    ("cpuinfo", "name", "dot"),
    [
        (X86_VNNI, "AMD EPYC 9654", "integer dot products: avx512_vnni"),
        (X86_PLAIN, "AMD EPYC 7B12", "integer dot products: none"),
        (ARM_DOTPROD, "BCM2712", "integer dot products: asimddp"),
    ],
)
def test_names_the_cpu_and_its_dot_products(tmp_path: Path, cpuinfo: str, name: str, dot: str) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    described = cpu_description(path)
    assert described.startswith(name + ", ")
    assert described.endswith(dot)


def test_without_cpuinfo_it_names_only_what_python_knows(tmp_path: Path) -> None:
    described = cpu_description(tmp_path / "missing")
    assert "cores" in described and "dot products" not in described
