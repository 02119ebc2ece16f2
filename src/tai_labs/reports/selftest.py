"""Selftest results as JUnit XML: one test case per lab variant, failed phases as failure."""

from __future__ import annotations

from tai_labs.lab.selftest import SelftestResult
from tai_labs.reports import junit


def _case(result: SelftestResult) -> junit.Case:
    name = result.scenario + "".join(f"[{k}={v}]" for k, v in result.variant.items())
    failed = [p for p in result.phases if not p.ok]
    outcome = None
    if failed:
        outcome = junit.Outcome(
            "failure",
            ", ".join(p.name for p in failed),
            text="\n".join(f"{p.name}: {p.detail}" for p in failed),
        )
    return junit.Case(
        classname="selftest", name=name, time=f"{result.seconds:.1f}", outcome=outcome
    )


def selftest_junit(results: list[SelftestResult]) -> str:
    return junit.to_xml(
        junit.Suite(
            name="tai-labs selftest",
            cases=[_case(r) for r in results],
            # A variant with no phase at all failed too, without a failed phase to show.
            failures=sum(1 for r in results if not r.ok),
            time=f"{sum(r.seconds for r in results):.1f}",
        )
    )
