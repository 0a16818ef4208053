#!/usr/bin/env bash
# Fetches the official FHIR example packages from the npm registry, pinned by version AND
# by the sha512 integrity hash the registry published for them, into a cache folder;
# skips a package already there. Usage: fetch-fhir-examples.sh CACHE_DIR SPEC=INTEGRITY...
# (`make fhir-examples` passes the pins.)
set -euo pipefail
cache=$1
shift
mkdir -p "$cache"
for pin in "$@"; do
    spec=${pin%%=*}
    want=${pin#*=}
    dest="$cache/${spec/@/-}"
    if [[ -f "$dest/package/package.json" ]]; then
        continue
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack "$spec" --silent >/dev/null)
    tarball=$(ls "$tmp"/*.tgz)
    got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    if [[ "$got" != "$want" ]]; then
        echo "fetch-fhir-examples: $spec: integrity $got, expected $want: refused" >&2
        exit 1
    fi
    mkdir -p "$dest.partial"
    tar -xzf "$tarball" -C "$dest.partial"
    rm -rf "$dest"
    mv "$dest.partial" "$dest"
    rm -rf "$tmp"
    trap - EXIT
    echo "fetch-fhir-examples: $spec verified ($want) into $dest"
done
