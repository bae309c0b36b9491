#!/usr/bin/env bash
# Regenerates the vendored GraphiQL files in this folder from pinned npm packages, so that
# /graphiql serves everything from the binary (src/http/graphiql.rs embeds them). Run it after
# changing a version below, then commit the files it wrote and the versions in README.md.
# GraphiQL 3.x is the last line with a UMD build (4.x and later are ES modules only).
set -euo pipefail
cd "$(dirname "$0")"

GRAPHIQL=3.9.0
REACT=18.3.1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for pkg in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
  mkdir -p "$work/$pkg"
  tar -xzf "$work/$pkg.tgz" -C "$work/$pkg"
done

# The source-map comments are dropped: the maps are not vendored, and a browser with its
# developer tools open would otherwise ask the server for them.
strip_map() { sed -e '/^\/\/# sourceMappingURL=/d' -e '/^\/\*# sourceMappingURL=.*\*\/$/d' "$1"; }
strip_map "$work/graphiql-$GRAPHIQL/package/graphiql.min.js" > graphiql.min.js
strip_map "$work/graphiql-$GRAPHIQL/package/graphiql.min.css" > graphiql.min.css
strip_map "$work/react-$REACT/package/umd/react.production.min.js" > react.production.min.js
strip_map "$work/react-dom-$REACT/package/umd/react-dom.production.min.js" > react-dom.production.min.js
cp "$work/graphiql-$GRAPHIQL/package/LICENSE" LICENSE.graphiql
cp "$work/react-$REACT/package/LICENSE" LICENSE.react

# Nothing vendored may load from elsewhere: fonts are inlined as data: URLs, no @import.
if grep -o 'url([^)]*' graphiql.min.css | grep -v '^url(data:' | grep -q .; then
  echo "graphiql.min.css refers to a URL that is not data:" >&2
  exit 1
fi
if grep -q '@import' graphiql.min.css; then
  echo "graphiql.min.css imports another stylesheet" >&2
  exit 1
fi
echo "graphiql $GRAPHIQL, react $REACT, react-dom $REACT"
