#!/usr/bin/env bash
# Builds a small busybox container image from the distro's busybox-static, with no network.
#
#   hack/build-busybox-image.sh OUT.tar [REFERENCE]
#
# OUT.tar is a docker-save archive (manifest.json + config + one layer), tagged REFERENCE
# (default busybox:latest). Import it with `tinykube-runtime import OUT.tar` (or `docker load`).
# The output is reproducible: same busybox binary, same archive, same image id.
set -euo pipefail

out=${1:?usage: build-busybox-image.sh OUT.tar [REFERENCE]}
ref=${2:-busybox:latest}
busybox=${BUSYBOX:-/bin/busybox}
[[ -x $busybox ]] || { echo "build-busybox-image: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,var,home}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$busybox" "$root/bin/busybox"
# One symlink per applet, where busybox would install it (bin/ls, usr/bin/wc, sbin/ip, ...).
while read -r applet; do
    [[ -z $applet || $applet == bin/busybox ]] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
daemon:x:1:
nogroup:x:65534:
G

tar_opts=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)
layer=$work/layer.tar
tar "${tar_opts[@]}" -C "$root" -cf "$layer" .
layer_hex=$(sha256sum "$layer" | cut -d' ' -f1)

config=$work/config.json
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"hack/build-busybox-image.sh"}]}' "$layer_hex" > "$config"
config_hex=$(sha256sum "$config" | cut -d' ' -f1)

pkg=$work/pkg
mkdir -p "$pkg/$layer_hex"
mv "$layer" "$pkg/$layer_hex/layer.tar"
mv "$config" "$pkg/$config_hex.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$config_hex" "$ref" "$layer_hex" > "$pkg/manifest.json"
tar "${tar_opts[@]}" -C "$pkg" -cf "$out" .
echo "built $out ($ref, image id sha256:$config_hex)"
