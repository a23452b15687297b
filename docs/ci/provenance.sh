#!/bin/sh
# Check a branch's provenance in CI: fetch every clone's jitos history from
# the remote, verify it, and require that each commit in the range landed
# through a collapse whose gate passed on exactly its tree.
#
#   docs/ci/provenance.sh [RANGE] [REMOTE]
#
# RANGE defaults to "origin/main..HEAD" (a pull request's commits); REMOTE to
# "origin". Writes jitos-verify.xml and jitos-audit.xml (JUnit) into
# $JITOS_REPORTS (default: the current folder) for the CI system to show.
# Exit: 0 all gated and verified; 1 history does not verify; 4 a commit in
# the range has no green gate on its tree. Needs git and `jitos` on PATH
# (`pip install jitos`); set JITOS to run another command instead.
set -eu

range="${1:-origin/main..HEAD}"
remote="${2:-origin}"
reports="${JITOS_REPORTS:-.}"
jitos="${JITOS:-jitos}"

mkdir -p "$reports"
$jitos fetch "$remote"
status=0
$jitos verify --junit "$reports/jitos-verify.xml" || status=$?
$jitos audit "$range" --require-gated --junit "$reports/jitos-audit.xml" || {
    code=$?
    if [ "$status" -eq 0 ]; then status=$code; fi
}
exit "$status"
