#!/usr/bin/env bash
# Builds serin's container image without a container engine: these machines (and many CI
# runners) have a docker client but no daemon, so the image is written here file by file, as
# the OCI image-layout specification describes it, with tar, gzip and sha256sum.
#
#   scripts/image.sh [--binary FILE] [--out DIR] [--name NAME]
#
# --binary  the serin executable to ship (default: `cargo build --release --locked -p serin`,
#           then ${CARGO_TARGET_DIR:-target}/release/serin)
# --out     where to write (default: ${CARGO_TARGET_DIR:-target}/image)
# --name    the image's name in the archive (default: serin); its tag is the binary's version
#
# It writes, in --out:
#   oci/                    an OCI image layout, the image tagged with its version (skopeo's
#                           `oci:DIR:TAG`, `umoci unpack --image DIR:TAG`)
#   serin-VERSION.tar       the same image as one archive that `docker load -i`, `kind load
#                           image-archive` and `ctr images import` read (Docker's manifest.json
#                           beside the OCI layout, as `docker save` writes since Docker 25)
#   digest                  the image manifest's digest, to pin the image by (NAME@sha256:...)
#
# The image holds one layer: the binary with its debug information removed, the shared
# libraries `ldd` says it loads (copied from this machine) and their loader, the CA
# certificates (/etc/ssl/certs/ca-certificates.crt), /etc/passwd and /etc/group naming the
# user it runs as (serin, uid and gid 65532, not root), /etc/nsswitch.conf and an empty /tmp.
# No shell and no other program: `serin controller` starts none (it reads git through libgit2,
# linked in, only on the local platform). Its entrypoint is `serin controller`, so a Pod's
# `args` add flags. Its labels say the version, the git commit and the source repository.
#
# The same binary and commit give the same bytes, hence the same digest: every timestamp in
# the image is the commit's time ($SOURCE_DATE_EPOCH overrides it) and the layer is packed in
# name order with numeric owners. The labels come from:
#   org.opencontainers.image.version   `serin version` of the binary
#   org.opencontainers.image.revision  `git rev-parse HEAD` ($SERIN_IMAGE_REVISION overrides)
#   org.opencontainers.image.source    $SERIN_IMAGE_SOURCE, else the URL of the git remote
#                                      `origin`
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

fail() {
  echo "scripts/image.sh: error: $*" >&2
  exit 1
}
say() { echo "scripts/image.sh: $*" >&2; }
usage() {
  sed -n '/^#   scripts\/image.sh/,/^# --name/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

binary=
out=
name=serin
while [ $# -gt 0 ]; do
  case $1 in
    --binary | --out | --name)
      [ $# -ge 2 ] && [ -n "$2" ] || fail "$1 needs a value"
      case $1 in
        --binary) binary=$2 ;;
        --out) out=$2 ;;
        --name) name=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) usage ;;
    *) echo "scripts/image.sh: error: unknown argument '$1'" >&2 && usage ;;
  esac
done
# An image name as Docker's references spell it: lower case path components, no tag.
[[ $name =~ ^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$ ]] ||
  fail "--name '$name' is not an image name (lower case, like serin or registry.example:5000/team/serin, without a tag)"

for tool in tar gzip sha256sum ldd objcopy git stat; do
  command -v "$tool" >/dev/null || fail "'$tool' is needed and is not on PATH"
done
tar --version 2>/dev/null | grep -q 'GNU tar' || fail "GNU tar is needed (it packs the layer in name order)"

target_dir=${CARGO_TARGET_DIR:-$repo/target}
if [ -z "$binary" ]; then
  say "building the release binary (cargo build --release --locked -p serin)"
  (cd "$repo" && cargo build --release --locked -p serin) || fail "cargo build failed (above)"
  binary=$target_dir/release/serin
fi
[ -f "$binary" ] && [ -x "$binary" ] || fail "no executable at $binary"
out=${out:-$target_dir/image}

# --- what the image says about itself --------------------------------------------------------
version_line=$("$binary" version) || fail "$binary version failed"
version=${version_line#serin }
[[ $version_line == "serin "* && $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] ||
  fail "'$binary version' printed '$version_line', not 'serin VERSION'"
tag=${version//+/_} # a tag may not hold '+'

revision=${SERIN_IMAGE_REVISION:-$(git -C "$repo" rev-parse HEAD 2>/dev/null)} ||
  fail "cannot read the git commit of $repo; set SERIN_IMAGE_REVISION"
if [ -z "${SERIN_IMAGE_REVISION:-}" ] && [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  say "warning: the work tree has uncommitted changes; the revision label names $revision"
fi
source_url=${SERIN_IMAGE_SOURCE:-$(git -C "$repo" remote get-url origin 2>/dev/null || true)}
[ -n "$source_url" ] ||
  fail "no source repository for the org.opencontainers.image.source label: set SERIN_IMAGE_SOURCE (the repository's URL) or add a git remote named origin"
# A remote's credentials (https://user:token@host/...) stay out of the image.
source_url=$(sed -E 's#^([a-z+]+://)[^/@]*@#\1#' <<<"$source_url")

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null) || SOURCE_DATE_EPOCH=0
fi
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || fail "SOURCE_DATE_EPOCH must be seconds since 1970, not '$SOURCE_DATE_EPOCH'"
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

case $(uname -m) in
  x86_64) architecture=amd64 ;;
  aarch64) architecture=arm64 ;;
  *) fail "no OCI architecture name known for $(uname -m)" ;;
esac

# Every value below goes into JSON between quotes: none may need escaping.
for value in "$version" "$revision" "$source_url" "$name"; do
  [[ $value != *[\"\\]* && $value =~ ^[[:print:]]+$ ]] || fail "'$value' cannot be a label (quotes, backslashes or control characters)"
done

# --- the root filesystem ---------------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
objcopy --strip-debug "$binary" "$root/usr/local/bin/serin" || fail "objcopy could not copy $binary"
chmod 0755 "$root/usr/local/bin/serin"

# The libraries the dynamic loader finds for the binary, as the image's loader will look for
# them (no LD_LIBRARY_PATH), and the loader itself; each at the path ldd names.
libraries=$(env -u LD_LIBRARY_PATH ldd "$binary") || fail "ldd $binary failed: $libraries"
if grep -q 'not found' <<<"$libraries"; then
  fail "the binary needs libraries this machine lacks:
$(grep 'not found' <<<"$libraries")"
fi
while read -r path; do
  [ -n "$path" ] || continue
  mkdir -p "$root$(dirname "$path")"
  cp -L --preserve=mode "$path" "$root$path" || fail "cannot copy $path"
done < <(sed -nE 's#^\s*(\S+ => )?(/\S+) \(0x[0-9a-f]+\)$#\2#p' <<<"$libraries")

certificates=/etc/ssl/certs/ca-certificates.crt
[ -s "$certificates" ] || fail "$certificates is missing: apt-get install -y --no-install-recommends ca-certificates"
cp "$certificates" "$root$certificates"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
serin:x:65532:65532:serin:/nonexistent:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
serin:x:65532:
EOF
# Names are looked up in /etc/hosts, then DNS (the cluster's, from the resolv.conf the
# runtime mounts).
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod 0644 "$root"/etc/passwd "$root"/etc/group "$root"/etc/nsswitch.conf "$root$certificates"

# --- the OCI layout ----------------------------------------------------------------------------
layout=$work/oci
blobs=$layout/blobs/sha256
mkdir -p "$blobs"
# pack DIR ARCHIVE PATH...: a tar that depends only on the files' names, contents and modes.
pack() {
  local dir=$1 archive=$2
  shift 2
  tar --create --file="$archive" --directory="$dir" --format=gnu --sort=name --numeric-owner \
    --owner=0 --group=0 --mtime="@$SOURCE_DATE_EPOCH" "$@"
}
# blob FILE: moves FILE into the layout under its digest; prints "DIGEST SIZE".
blob() {
  local sum size
  sum=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$blobs/$sum"
  echo "sha256:$sum $size"
}

say "packing the layer"
pack "$root" "$work/layer.tar" .
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
unpacked_size=$(stat -c %s "$work/layer.tar")
gzip -n "$work/layer.tar"
read -r layer_digest layer_size < <(blob "$work/layer.tar.gz")

labels="\"org.opencontainers.image.title\":\"serin\",\
\"org.opencontainers.image.description\":\"serin's canary controller (Argo Rollouts compatible)\",\
\"org.opencontainers.image.licenses\":\"Apache-2.0\",\
\"org.opencontainers.image.version\":\"$version\",\
\"org.opencontainers.image.revision\":\"$revision\",\
\"org.opencontainers.image.source\":\"$source_url\",\
\"org.opencontainers.image.created\":\"$created\""

printf '%s' "{\"created\":\"$created\",\"architecture\":\"$architecture\",\"os\":\"linux\",\
\"config\":{\"User\":\"65532:65532\",\"Entrypoint\":[\"/usr/local/bin/serin\",\"controller\"],\
\"Env\":[\"PATH=/usr/local/bin:/usr/bin:/bin\"],\"WorkingDir\":\"/\",\
\"ExposedPorts\":{\"8090/tcp\":{}},\"Labels\":{$labels}},\
\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"$diff_id\"]},\
\"history\":[{\"created\":\"$created\",\"created_by\":\"scripts/image.sh\",\"comment\":\"serin $version\"}]}" >"$work/config.json"
read -r config_digest config_size < <(blob "$work/config.json")

printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$config_digest\",\"size\":$config_size},\
\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$layer_digest\",\"size\":$layer_size}],\
\"annotations\":{$labels}}" >"$work/manifest.json"
read -r manifest_digest manifest_size < <(blob "$work/manifest.json")

printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
# index NAME_ANNOTATIONS: the layout's index.json, the manifest tagged with the version.
index() {
  printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\
\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$manifest_digest\",\
\"size\":$manifest_size,\"annotations\":{$1\"org.opencontainers.image.ref.name\":\"$tag\"}}]}"
}
index "" >"$layout/index.json"

# --- the archive for docker load -------------------------------------------------------------
# Docker's manifest.json names the config and layer files and the tag; containerd reads the
# same file, or the index, whose io.containerd.image.name is the fully qualified name.
full_name=$name
first=${name%%/*}
if [[ $name != */* ]]; then
  full_name=docker.io/library/$name
elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
  full_name=docker.io/$name
fi
archive_dir=$work/archive
cp -r "$layout" "$archive_dir"
index "\"io.containerd.image.name\":\"$full_name:$tag\"," >"$archive_dir/index.json"
printf '%s' "[{\"Config\":\"blobs/sha256/${config_digest#sha256:}\",\"RepoTags\":[\"$name:$tag\"],\
\"Layers\":[\"blobs/sha256/${layer_digest#sha256:}\"]}]" >"$archive_dir/manifest.json"
archive_name=serin-$tag.tar
pack "$archive_dir" "$work/$archive_name" oci-layout index.json manifest.json blobs

# --- into place --------------------------------------------------------------------------------
mkdir -p "$out"
rm -rf "$out/oci" "$out/$archive_name"
mv "$layout" "$out/oci"
mv "$work/$archive_name" "$out/$archive_name"
echo "$manifest_digest" >"$out/digest"
say "built $name:$tag ($(((layer_size + 524288) / 1048576)) MB compressed, $(((unpacked_size + 524288) / 1048576)) MB unpacked), revision $revision"
say "  $out/oci                 OCI layout (tag $tag)"
say "  $out/$archive_name   docker load -i / kind load image-archive / ctr images import"
say "  digest $manifest_digest  (pin with $name@$manifest_digest)"
echo "$name:$tag@$manifest_digest"
