#!/usr/bin/env bash
# Builds dist/swarmlet, the one-file zipapp (shiv), runnable on CPython 3.11, 3.12 and 3.13 on
# x86_64 glibc Linux: it carries the native wheels of every one of those interpreters.
#
# Two builds from the same tree are byte-identical: pinned wheels only (no source builds),
# file modes normalised, no .pyc, fixed zip timestamps (SOURCE_DATE_EPOCH, default: the last
# commit's time), entries in sorted order.
#
# Downloaded wheels are kept in $SWARMLET_WHEEL_CACHE (default ~/.cache/swarmlet/wheels), one
# folder per Python version; a build whose wheels are all there needs no network.
#
# Environment: PYTHON (the interpreter that runs pip and shiv; default .venv/bin/python),
# SWARMLET_WHEEL_CACHE, SOURCE_DATE_EPOCH.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-.venv/bin/python}
PY_VERSIONS=(3.11 3.12 3.13)
# pip takes older manylinux tags as well when given the newest; the lowest glibc we accept is
# 2.28 (cbor2 6 needs it).
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
CACHE=${SWARMLET_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/swarmlet/wheels}
STAGE=build/zipapp
OUT=dist/swarmlet

if ! "$PY" -c 'import shiv, pip' 2>/dev/null; then
  echo "build.sh: $PY cannot run pip and shiv; set PYTHON to the project's venv python (with the dev extras)" >&2
  exit 1
fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 315532800)
fi
export SOURCE_DATE_EPOCH

mapfile -t REQUIREMENTS < <("$PY" -c '
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))')

rm -rf "$STAGE"
mkdir -p "$STAGE/merged" dist

for v in "${PY_VERSIONS[@]}"; do
  wheels="$CACHE/cp${v/./}"
  target=(--python-version "$v" --implementation cp "${PLATFORMS[@]}" --only-binary=:all:)
  pip=("$PY" -m pip --disable-pip-version-check)
  # Offline first, from the cache; download what is missing only when that fails.
  if ! "${pip[@]}" install -q --no-compile --no-index --find-links "$wheels" --target "$STAGE/$v" \
      "${target[@]}" -c constraints.txt "${REQUIREMENTS[@]}" >/dev/null 2>&1; then
    echo "== downloading wheels for CPython $v into $wheels" >&2
    mkdir -p "$wheels"
    "${pip[@]}" download -q -d "$wheels" "${target[@]}" -c constraints.txt "${REQUIREMENTS[@]}"
    rm -rf "$STAGE/$v"
    "${pip[@]}" install -q --no-compile --no-index --find-links "$wheels" --target "$STAGE/$v" \
      "${target[@]}" -c constraints.txt "${REQUIREMENTS[@]}"
  fi
  # Pure-Python files are the same for every version; native modules carry the version in
  # their names, so the trees merge without conflicts that matter at run time.
  cp -a "$STAGE/$v/." "$STAGE/merged/"
done

# swarmlet itself is pure Python: copy the package, not a built wheel (no build-time metadata).
cp -a swarmlet "$STAGE/merged/"
"$PY" -c '
import datetime, json, subprocess, sys
try:
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = ""
built = datetime.datetime.fromtimestamp(int(sys.argv[1]), datetime.UTC).isoformat().replace("+00:00", "Z")
print(json.dumps({"GitCommit": commit, "BuildTime": built}, sort_keys=True))' "$SOURCE_DATE_EPOCH" \
  >"$STAGE/merged/swarmlet/build_info.json"
rm -rf "$STAGE/merged/bin"
find "$STAGE/merged" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +
find "$STAGE/merged" -type d -exec chmod 755 {} +
find "$STAGE/merged" -type f -perm /111 -exec chmod 755 {} +
find "$STAGE/merged" -type f ! -perm /111 -exec chmod 644 {} +

"$PY" -m shiv --site-packages "$STAGE/merged" -e swarmlet.__main__:main -o "$STAGE/swarmlet.shiv" \
  --python '/usr/bin/env python3' --reproducible --compressed >/dev/null

# The archive's own __main__.py becomes swarmlet/__main__.py with the build id filled in: it runs
# before shiv's bootstrap, so an old Python gets one line, an unwritable home folder a usable
# SHIV_ROOT, and a run whose libraries are unpacked already skips the bootstrap (see that file).
"$PY" - "$STAGE/swarmlet.shiv" swarmlet/__main__.py "$OUT.tmp" <<'EOF'
import json
import sys
import zipfile

source, main_py, target = sys.argv[1:]
with open(source, "rb") as f:
    shebang = f.readline()
with zipfile.ZipFile(source) as zin, open(target, "wb") as out:
    build_id = json.loads(zin.read("environment.json"))["build_id"]
    with open(main_py, "rb") as f:
        main_code = f.read()
    placeholder = b"\nSHIV_BUILD_ID = None\n"
    if main_code.count(placeholder) != 1:
        sys.exit("build.sh: no SHIV_BUILD_ID placeholder in " + main_py)
    main_code = main_code.replace(placeholder, b'\nSHIV_BUILD_ID = "%s"\n' % build_id.encode())
    out.write(shebang)
    with zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = main_code if info.filename == "__main__.py" else zin.read(info)
            zout.writestr(info, data)
EOF
chmod 755 "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$OUT ($(stat -c %s "$OUT") bytes, sha256 $(sha256sum "$OUT" | cut -c1-16))"
