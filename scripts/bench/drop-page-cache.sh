#!/usr/bin/env bash
# Drops FILE's pages from the page cache (posix_fadvise DONTNEED; pages a
# running process maps stay), so the next process started from it reads the
# file afresh and its file-backed RSS does not depend on an earlier run or copy.
#   bash scripts/bench/drop-page-cache.sh FILE
set -euo pipefail
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"
