#!/usr/bin/env bash
# Builds the stock amazon and ansible plugins from their module sources on the
# Go module proxy into $BAKERY_CACHE/stock/bin (cached: a binary already built
# for the pinned version is kept). `go install MOD@VER` refuses modules whose
# go.mod carries replace directives, so: download, copy the folder, go build.
set -euo pipefail
cache=${BAKERY_CACHE:-$(cd "$(dirname "$0")/../.." && pwd)/.cache}
out=$cache/stock
mkdir -p "$out/bin" "$out/src"

build() { # module version binary-name
	local mod=$1 ver=$2 name=$3
	local bin=$out/bin/$name-$ver
	if [[ -x $bin ]]; then echo "stock: $name $ver cached"; return; fi
	echo "stock: downloading $mod@$ver"
	local dir
	dir=$(cd "$out/src" && GOFLAGS=-mod=mod GONOSUMDB=$mod GONOSUMCHECK=1 \
		go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d $dir ]] || { echo "stock: no source folder for $mod@$ver" >&2; exit 1; }
	rm -rf "$out/src/$name-$ver"
	cp -r "$dir" "$out/src/$name-$ver"
	chmod -R u+w "$out/src/$name-$ver"
	echo "stock: building $name $ver (first build takes minutes)"
	(cd "$out/src/$name-$ver" && GONOSUMDB=$mod GOFLAGS=-mod=mod go build -o "$bin.tmp" .)
	mv "$bin.tmp" "$bin"
}

build github.com/hashicorp/packer-plugin-amazon v1.8.2 packer-plugin-amazon
build github.com/hashicorp/packer-plugin-ansible v1.1.2 packer-plugin-ansible
