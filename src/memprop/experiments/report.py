"""report.md: each claim of the paper beside the figure we measured.

Studies return :class:`Claim` objects; :func:`write_report` renders them, with the plots, into
``DIR/report.md``. A claim that did not hold is reported as not holding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .._atomic import atomic_write_bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class Claim:
    """One claim of the paper and what we measured."""

    study: str
    claim: str
    """The paper's claim, in words (with its figure or table)."""
    measured: str
    """Our figure, with seeds and sample sizes."""
    holds: bool | None
    """True / False, or None where the comparison is not decidable from this run."""
    command: str
    """The command that measured it."""
    plots: tuple[str, ...] = ()
    """File names (relative to the report) of the plots to show."""
    notes: str = ""


@dataclass(kw_only=True, slots=True)
class Section:
    """A study's section of the report: its claims and free text."""

    study: str
    title: str
    claims: list[Claim] = field(default_factory=list)
    text: str = ""


def render(sections: list[Section], *, header: str = "") -> str:
    """The markdown text of the report."""
    verdict = {True: "holds", False: "does not hold", None: "not decided"}
    lines = ["# memprop reproduction report", ""]
    if header:
        lines += [header, ""]
    for sec in sections:
        lines += [f"## {sec.title}", ""]
        if sec.text:
            lines += [sec.text, ""]
        if sec.claims:
            lines += ["| claim (paper) | measured (memprop) | verdict |", "|---|---|---|"]
            for c in sec.claims:
                cell = c.measured.replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {c.claim} | {cell} | **{verdict[c.holds]}** |")
            lines.append("")
            for c in sec.claims:
                if c.notes:
                    lines += [f"- {c.notes}"]
            lines += [""]
            shown: list[str] = []
            for c in sec.claims:
                for p in c.plots:
                    if p not in shown:
                        shown.append(p)
                        lines += [f"![{p}]({p})", ""]
            cmds = sorted({c.command for c in sec.claims})
            lines += ["Measured by: " + "; ".join(f"`{c}`" for c in cmds), ""]
    return "\n".join(lines)


def write_report(out: str | Path, sections: list[Section], *, header: str = "") -> Path:
    """Atomically write ``out/report.md``."""
    return atomic_write_bytes(Path(out) / "report.md", render(sections, header=header).encode())
