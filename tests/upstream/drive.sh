# Sourced-test driver for tests/upstream/run (not run by hand): sources
# upstream's assertion helpers, then each tests/wsgi/NAME.sh as
# run-tests.sh does, and appends "NAME PASSED FAILED" per file to $COUNTS.
# Environment: PROJECT_DIR SERVER_ROOT HELPERS COUNTS NAMES PORT HTTPS_PORT.
cd "$PROJECT_DIR" || exit 1
SERVER_NAME=localhost
BASE_URL="http://$SERVER_NAME:$PORT"
HTTPS_BASE_URL="https://$SERVER_NAME:$HTTPS_PORT"
PASS=0 FAIL=0 ERRORS=""
# shellcheck disable=SC1090
source "$HELPERS"
for name in $NAMES; do
    [ -f "tests/wsgi/$name.sh" ] && [ -f "tests/wsgi/$name.py" ] || continue
    echo "== $name =="
    p0=$PASS f0=$FAIL
    # shellcheck disable=SC1090
    source "tests/wsgi/$name.sh"
    echo "$name $((PASS - p0)) $((FAIL - f0))" >>"$COUNTS"
    echo ""
done
