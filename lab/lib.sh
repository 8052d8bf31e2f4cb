# shellcheck shell=bash disable=SC2034
# (SC2034: the variables below are used by the scripts that source this file)
# Shared by the lab scripts: paths, cache, locks, messages. Sourced, never run.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_DIR/.." && pwd)
LAB_CACHE=${LUO_LAB_CACHE:-$HOME/.cache/luo-liveupdate-lab}
case $LAB_CACHE in /*) ;; *) LAB_CACHE=$PWD/$LAB_CACHE ;; esac
# The releases every lab disk carries. GRUB boots the first one; the live update goes to the second.
LAB_OLD_RELEASE=7.2.13
LAB_NEW_RELEASE=7.3.4
LAB_RELEASES=("$LAB_OLD_RELEASE" "$LAB_NEW_RELEASE")
# Every lab VM's kernel command line besides root= (why no_timer_check: lab/rootfs, configure_tree).
LAB_KERNEL_PARAMS="console=ttyS0 no_timer_check"
LAB_MIRROR=${LUO_LAB_MIRROR:-http://deb.debian.org/debian}
LAB_KEYRING=${LUO_LAB_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
LAB_QEMU=${LUO_LAB_QEMU:-qemu-system-x86_64}
# UEFI firmware of the efi-* variants (Debian's ovmf): code read-only, a copy of the variables per VM.
LAB_OVMF_CODE=${LUO_LAB_OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
LAB_OVMF_VARS=${LUO_LAB_OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}

lab_prog=$(basename "$0")

log() { printf '%s: %s\n' "$lab_prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$lab_prog" "$*" >&2; exit 1; }

# The comment block under a script's shebang: its usage text.
print_header() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$1" >&2; }

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and mkfs need it): re-run with sudo"
}

need_cmds() {
  local cmd missing=()
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing commands: ${missing[*]}: run lab/install-deps first"
}

# sha256 of stdin, hex only.
sha256_stdin() { sha256sum | cut -d' ' -f1; }

# sha256 of files (their content and names), hex only.
sha256_files() {
  local f
  for f in "$@"; do
    printf '%s %s\n' "$(basename "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)"
  done | sha256_stdin
}

# Hold an exclusive lock on $LAB_CACHE/locks/NAME.lock until lab_unlock NAME or the end of the script.
declare -A LAB_LOCKS=()
lab_lock() {
  local name=$1 wait=${2:-3600} fd
  mkdir -p "$LAB_CACHE/locks"
  exec {fd}>"$LAB_CACHE/locks/$name.lock"
  if ! flock -n "$fd"; then
    log "waiting for another run holding $LAB_CACHE/locks/$name.lock"
    flock -w "$wait" "$fd" || die "gave up after ${wait}s waiting for $LAB_CACHE/locks/$name.lock"
  fi
  LAB_LOCKS[$name]=$fd
}

# Hold one of COUNT locks $LAB_CACHE/locks/NAME-1.lock .. NAME-COUNT.lock (a counting semaphore:
# at most COUNT holders at once) until lab_unlock NAME or the end of the script; wait for a free one.
lab_slot() {
  local name=$1 count=$2 wait=${3:-3600} fd i end told=0
  end=$((SECONDS + wait))
  mkdir -p "$LAB_CACHE/locks"
  while :; do
    for ((i = 1; i <= count; i++)); do
      exec {fd}>"$LAB_CACHE/locks/$name-$i.lock"
      if flock -n "$fd"; then
        LAB_LOCKS[$name]=$fd
        return 0
      fi
      exec {fd}>&-
    done
    [ "$told" -eq 1 ] || { log "waiting for one of the $count $name slots in $LAB_CACHE/locks"; told=1; }
    [ "$SECONDS" -lt "$end" ] || die "gave up after ${wait}s waiting for one of the $count $name slots in $LAB_CACHE/locks"
    sleep 1
  done
}

lab_unlock() {
  local fd=${LAB_LOCKS[$1]:-}
  [ -n "$fd" ] || return 0
  exec {fd}>&-
  unset "LAB_LOCKS[$1]"
}

# Close every lock descriptor (in a subshell that is about to exec a long-lived process).
close_locks() {
  local fd
  for fd in "${LAB_LOCKS[@]}"; do
    exec {fd}>&-
  done
}

# Build (when needed) the disk of VARIANT and print its path: lab/disk, or lab/demo-disk for demo (derived from luo).
lab_build_disk() {
  if [ "$1" = demo ]; then "$LAB_DIR/demo-disk"; else "$LAB_DIR/disk" "$1"; fi
}

# A scratch directory inside the cache (same filesystem, so a finished build is renamed into place).
lab_tmpdir() {
  mkdir -p "$LAB_CACHE/tmp"
  mktemp -d "$LAB_CACHE/tmp/$1.XXXXXX"
}

# Remove siblings of a cache entry built by an older recipe: DIR/PREFIX* except KEEP.
prune_stale() {
  local dir=$1 prefix=$2 keep=$3 entry
  for entry in "$dir/$prefix"*; do
    [ -e "$entry" ] || continue
    [ "$(basename "$entry")" = "$keep" ] && continue
    log "removing stale cache entry $entry"
    rm -rf --one-file-system "$entry"
  done
}

# The lab's ssh key pair (generated once per cache). Prints the private key path.
lab_ssh_key() {
  local key="$LAB_CACHE/ssh/id_ed25519"
  if [ ! -f "$key" ] || [ ! -f "$key.pub" ]; then
    lab_lock ssh-key
    if [ ! -f "$key" ] || [ ! -f "$key.pub" ]; then
      mkdir -p "$LAB_CACHE/ssh"
      chmod 700 "$LAB_CACHE/ssh"
      rm -f "$key" "$key.pub"
      ssh-keygen -q -t ed25519 -N '' -C luo-liveupdate-lab -f "$key" >/dev/null
    fi
    lab_unlock ssh-key
  fi
  printf '%s\n' "$key"
}
