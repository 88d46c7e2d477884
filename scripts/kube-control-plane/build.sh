#!/usr/bin/env bash
# Builds, once per machine, the Kubernetes control plane the integration tests start: etcd,
# kube-apiserver and kube-controller-manager 1.20, all from Debian 12 (bookworm) packages.
# Nothing is installed on the system: the packages are downloaded with a private apt state,
# unpacked with dpkg -x, and only the three programs are kept, in
#   $SERIN_TEST_CACHE/kube-control-plane/bin   (SERIN_TEST_CACHE defaults to /var/cache/serin-tests)
# A second run finds them and returns at once. The build takes 6 to 14 minutes on two cores
# (the longer while they also compile other things) and 2.5 GB of scratch space under the cache, removed at the end (SERIN_KEEP_BUILD=1 keeps it;
# after a failure it is kept too, with the logs, and a retry reuses its Go build cache).
set -Eeuo pipefail
umask 022
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR
. "$here/common.sh"

if plane_built; then
  say "cached: $("$plane_bin/kube-apiserver" --version) in $plane_bin"
  exit 0
fi

if ! mkdir -p "$plane_cache" 2>/dev/null || [[ ! -w $plane_cache ]]; then
  fail "cannot write to $plane_cache; set SERIN_TEST_CACHE to a directory you can write to"
fi
# Two test runs starting at once build once: the second waits for the first.
exec {lock}>"$plane_cache/build.lock"
if ! flock --nonblock "$lock"; then
  say "another build is running; waiting for it"
  flock "$lock"
  if plane_built; then exit 0; fi
fi

for tool in apt-get dpkg dpkg-deb tar xz make awk sed; do
  command -v "$tool" >/dev/null || fail "'$tool' is needed to build the control plane and is not on PATH"
done

started=$SECONDS
work=$plane_cache/build
logs=$work/logs
# Keep the Go build cache and apt's lists from an earlier, failed attempt; start the rest anew.
rm -rf "$work/unpacked" "$work/debs" "$work/source" "$work/tree" "$work/gopath" "$work/out" "$work/tmp" "$logs"
mkdir -p "$work"/{unpacked,debs,source,tree,gopath,out,tmp,go-cache} "$logs"

# step NAME COMMAND...: runs a step with its output in logs/NAME.log; on failure shows the log's
# end and stops, naming the step and the log.
step() {
  local name=$1
  shift
  if ! "$@" >"$logs/$name.log" 2>&1; then
    tail -n 30 "$logs/$name.log" >&2
    fail "step '$name' failed; its log is $logs/$name.log (the build directory $work is kept)"
  fi
}

# --- apt, privately -------------------------------------------------------------------------
# The repositories are this machine's own Debian ones (read from /etc/apt), those of its
# release and its -updates and -security suites, with source indexes added and the release
# named bookworm, whose packages hold Kubernetes 1.20 and Go 1.19. apt's lists and downloads
# stay under $work; the system's apt state is only read.
apt_dir=$work/apt
mkdir -p "$apt_dir"/{lists/partial,archives/partial,sources.list.d}
# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[[ -n $codename ]] || fail "/etc/os-release names no VERSION_CODENAME; this build needs a Debian release"
rm -f "$apt_dir"/sources.list.d/*
# One-line format: "deb [options] URI SUITE COMPONENT..."
for list in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [[ -f $list ]] || continue
  awk -v release="$codename" '
    $1 == "deb" {
      n = 2; if ($2 ~ /^\[/) { while ($n !~ /\]$/) n++; n++ }  # skip [options]
      suite = $(n + 1); main = 0
      for (i = n + 2; i <= NF; i++) if ($i == "main") main = 1
      if (!main || (suite != release && index(suite, release "-") != 1)) next
      sub("^" release, "bookworm", suite); $(n + 1) = suite
      print; $1 = "deb-src"; print
    }' "$list" >"$apt_dir/sources.list.d/from-$(basename "$list")"
done
# deb822 format, one paragraph per entry
for sources in /etc/apt/sources.list.d/*.sources; do
  [[ -f $sources ]] || continue
  awk -v release="$codename" 'BEGIN { RS = ""; FS = "\n" }
    {
      keep = ""; main = 0; out = ""
      for (i = 1; i <= NF; i++) {
        line = $i
        if (line ~ /^Suites:/) {
          n = split(substr(line, 8), suites, " ")
          for (j = 1; j <= n; j++)
            if (suites[j] == release || index(suites[j], release "-") == 1) {
              sub("^" release, "bookworm", suites[j]); keep = keep " " suites[j]
            }
          line = "Suites:" keep
        } else if (line ~ /^Components:/) {
          if (line ~ /[: ]main( |$)/) main = 1
        } else if (line ~ /^Types:/) {
          line = "Types: deb deb-src"
        }
        out = out line "\n"
      }
      if (keep != "" && main) print out
    }' "$sources" >"$apt_dir/sources.list.d/$(basename "$sources")"
done
grep -qs . "$apt_dir"/sources.list.d/* ||
  fail "no Debian repository of '$codename' with the main component is configured in /etc/apt; the build needs one"
apt_options=(
  -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "Acquire::Languages=none"
)
# As root, apt downloads as the unprivileged user _apt, which must be able to write there.
if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then
  chown _apt "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$work/debs" "$work/source"
fi

say "building into $plane_cache (6 to 14 minutes on two cores; logs in $logs)"
say "reading the package indexes"
# A repository that cannot be read is reported, not fatal: the downloads below say what is missing.
apt-get "${apt_options[@]}" update >"$logs/apt-update.log" 2>&1 || say "apt-get update failed in part:"
grep -E '^(W|E):' "$logs/apt-update.log" >&2 || true

# Kubernetes' source (Debian builds no server binaries from it in bookworm), the Go 1.19
# toolchain, etcd's binary, reflect2 1.0.2's source (see below) and rsync, which
# `make gen_openapi` calls, with the library it needs.
say "downloading the kubernetes source package"
step apt-source bash -c 'cd "$1" && shift && apt-get "$@" source --download-only kubernetes' _ "$work/source" "${apt_options[@]}"
debs=(golang-1.19-go golang-1.19-src etcd-server golang-github-modern-go-reflect2-dev rsync libpopt0)
say "downloading ${debs[*]}"
step apt-download bash -c 'cd "$1" && shift && apt-get "$@"' _ "$work/debs" "${apt_options[@]}" download "${debs[@]}"
for deb in "$work"/debs/*.deb; do
  dpkg-deb --extract "$deb" "$work/unpacked" || fail "cannot unpack $deb"
done
unpacked=$work/unpacked

# --- the source tree --------------------------------------------------------------------------
tarball=$(find "$work/source" -maxdepth 1 -name 'kubernetes_*.orig.tar.*' | head -n 1)
[[ -n $tarball ]] || fail "the kubernetes source package has no .orig tarball (see $logs/apt-source.log)"
step extract tar -xf "$tarball" -C "$work/tree"
top=$(find "$work/tree" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)
version=${top##*/kubernetes-}
[[ $version == 1.20.* && -d $top/vendor ]] ||
  fail "expected a kubernetes-1.20.x tree with vendor/ in $tarball, found '${top##*/}'"
say "kubernetes $version"

# The vendored github.com/modern-go/reflect2 is v1.0.1, whose programs crash at start under
# Go 1.18 and later; Debian's 1.0.2 source is a drop-in replacement.
vendored=$top/vendor/github.com/modern-go/reflect2
fixed=$unpacked/usr/share/gocode/src/github.com/modern-go/reflect2
[[ -f $fixed/go_above_118.go ]] || fail "reflect2 1.0.2 is not where expected: $fixed"
rm -f "$vendored"/*.go "$vendored"/*.s
cp "$fixed"/*.go "$fixed"/*.s "$vendored"/

# rsync runs from where it was unpacked, finding its libpopt there.
mkdir -p "$work/tmp/bin"
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' \
  "$(dirname "$(find "$unpacked" -name 'libpopt.so.0' | head -n 1)")" "$unpacked/usr/bin/rsync" >"$work/tmp/bin/rsync"
chmod +x "$work/tmp/bin/rsync"
"$work/tmp/bin/rsync" --version >/dev/null || fail "the unpacked rsync does not run"

# --- compiling ----------------------------------------------------------------------------------
export GOROOT=$unpacked/usr/lib/go-1.19
[[ -x $GOROOT/bin/go ]] || fail "no Go toolchain at $GOROOT"
export PATH=$work/tmp/bin:$GOROOT/bin:$PATH
# Offline (everything is vendored), no cgo, every cache under $work.
export GOCACHE=$work/go-cache GOMODCACHE=$work/tmp/gomod TMPDIR=$work/tmp GOENV=off GOFLAGS='' \
  GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local CGO_ENABLED=0

# The tarball lacks the generated OpenAPI definitions the API server compiles in.
say "generating the OpenAPI definitions"
step gen-openapi env -u GOPATH make -C "$top" gen_openapi

# Compiled in GOPATH mode, as the 1.20 tree expects, with the version stamped in (clients read it).
mkdir -p "$work/gopath/src/k8s.io"
ln -sfn "$top" "$work/gopath/src/k8s.io/kubernetes"
ldflags="-s -w"
for package in component-base/version client-go/pkg/version; do
  for pair in gitVersion=v$version gitMajor=1 gitMinor=20 gitTreeState=clean; do
    ldflags+=" -X k8s.io/kubernetes/vendor/k8s.io/$package.$pair"
  done
done
for program in kube-apiserver kube-controller-manager; do
  say "compiling $program"
  step "go-build-$program" bash -c 'cd "$1/src/k8s.io/kubernetes" && GOPATH=$1 GO111MODULE=off go build -o "$2" -ldflags "$3" "k8s.io/kubernetes/cmd/$4"' \
    _ "$work/gopath" "$work/out/$program" "$ldflags" "$program"
done
cp "$unpacked/usr/bin/etcd" "$work/out/etcd"

# --- checking, then moving into place -------------------------------------------------------
[[ $("$work/out/kube-apiserver" --version) == "Kubernetes v$version" ]] || fail "the new kube-apiserver does not report v$version"
"$work/out/kube-controller-manager" --version >/dev/null || fail "the new kube-controller-manager does not run"
"$work/out/etcd" --version >/dev/null || fail "etcd does not run"
mkdir -p "$plane_bin"
# kube-apiserver last: plane_built() looks at it, so a half-copied cache is never taken as built.
for program in etcd kube-controller-manager kube-apiserver; do
  cp "$work/out/$program" "$plane_bin/.$program.new"
  mv -f "$plane_bin/.$program.new" "$plane_bin/$program"
done
{
  echo "kubernetes $version, from Debian's source package $(basename "$tarball")"
  "$plane_bin/etcd" --version | head -n 1
  go version
} >"$plane_bin/VERSIONS"
if [[ ${SERIN_KEEP_BUILD:-} == 1 ]]; then
  say "SERIN_KEEP_BUILD=1: keeping $work"
else
  rm -rf "$work"
fi
say "built in $((SECONDS - started)) s: $(du -sh "$plane_bin" | cut -f1) in $plane_bin"
