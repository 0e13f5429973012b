#!/usr/bin/env bash
# Builds `dashcheck`, the Grafana dashboard schema check of the test suite
# (crates/dashboards/tests/schema.rs): Grafana's Apache-2.0
# grafana-foundation-sdk (Go, v0.0.22) strict-unmarshals each dashboard JSON
# given on the command line (unknown or mistyped fields anywhere, including
# each panel's options/fieldConfig by panel type and each Prometheus query,
# fail with their path) and runs its Validate(). It prints `ok FILE` or
# `FAIL FILE: reason` per file and exits 1 when any failed. Grafana's server
# (AGPL) is not used.
#
# The Go source lives here; the throwaway module is built under
# $WARD_TOOLS_DIR/dashcheck-<version>, never in the repository. Idempotent:
# skipped when the stamp matches this script's source.
set -euo pipefail

WARD_TOOLS_DIR="${WARD_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ward/tools}"
SDK_VERSION="${WARD_GRAFANA_SDK_VERSION:-v0.0.22}"
dir="$WARD_TOOLS_DIR/dashcheck-$SDK_VERSION"
bin="$WARD_TOOLS_DIR/bin/dashcheck"

main_go='package main

// dashcheck: strict check of Grafana dashboard JSON files against the
// grafana-foundation-sdk types (the published dashboard schema).

import (
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// failed is err unless it is an empty cog.BuildErrors: UnmarshalJSONStrict
// returns a nil BuildErrors inside a non-nil error when all is well.
func failed(err error) error {
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		return nil
	}
	return err
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dashcheck DASHBOARD.json...")
		os.Exit(2)
	}
	// Every core panel type'"'"'s options/fieldConfig and every datasource'"'"'s query type.
	plugins.RegisterDefaultPlugins()
	bad := 0
	for _, f := range os.Args[1:] {
		raw, err := os.ReadFile(f)
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", f, err)
			bad++
			continue
		}
		var d dashboard.Dashboard
		if err := failed(d.UnmarshalJSONStrict(raw)); err != nil {
			fmt.Printf("FAIL %s: %v\n", f, err)
			bad++
			continue
		}
		if err := failed(d.Validate()); err != nil {
			fmt.Printf("FAIL %s: %v\n", f, err)
			bad++
			continue
		}
		fmt.Printf("ok %s\n", f)
	}
	if bad > 0 {
		os.Exit(1)
	}
}
'
stamp="$SDK_VERSION $(printf '%s' "$main_go" | sha256sum | cut -d' ' -f1)"
if [ -x "$bin" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

GO="$(command -v go || echo /usr/local/go/bin/go)"
mkdir -p "$dir" "$WARD_TOOLS_DIR/bin"
cd "$dir"
printf 'module local/dashcheck\n\ngo 1.26\n' > go.mod
printf '%s' "$main_go" > main.go
echo "deps.d/dashcheck: building against github.com/grafana/grafana-foundation-sdk/go@$SDK_VERSION in $dir" >&2
export GOTOOLCHAIN=local CGO_ENABLED=0
"$GO" get "github.com/grafana/grafana-foundation-sdk/go@$SDK_VERSION"
nice -n 15 "$GO" build -p 1 -trimpath -ldflags "-s -w" -o "$bin" .
printf '%s\n' "$stamp" > .stamp
