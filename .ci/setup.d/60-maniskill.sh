#!/usr/bin/env bash
# ManiSkill3 (envs/maniskill): a Vulkan driver SAPIEN 3 can render with, and the Python packages.
#
# SAPIEN 3.0.3 renders through Vulkan. Without a GPU that is Mesa's software driver lavapipe,
# and SAPIEN finds no device on Debian bookworm's lavapipe (Mesa 22.3.6; "failed to find a
# rendering device") but does on Mesa >= 24 ("mesa-vulkan-drivers" from bookworm-backports,
# 25.0.7). On bookworm this script therefore takes that one package (and the libdrm it needs)
# from bookworm-backports; the OpenGL / EGL stack that MuJoCo renders with stays at bookworm's
# Mesa. Then it installs mani_skill (pinned in pyproject.toml) into .venv if it is missing.
# Idempotent: does nothing when everything is there. Never prompts. Root or sudo.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
MIN_MESA="24.0"

installed_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

mesa_ok() {
  local v
  v="$(installed_version mesa-vulkan-drivers)"
  [ -n "$v" ] && have_pkg mesa-vulkan-drivers && have_pkg libvulkan1 && dpkg --compare-versions "$v" ge "$MIN_MESA"
}

if mesa_ok; then
  echo "maniskill: lavapipe $(installed_version mesa-vulkan-drivers) already installed"
else
  export DEBIAN_FRONTEND=noninteractive
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  $SUDO apt-get update -qq
  candidate="$(apt-cache policy mesa-vulkan-drivers | awk '/Candidate:/ {print $2}')"
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && dpkg --compare-versions "$candidate" ge "$MIN_MESA"; then
    $SUDO apt-get install -y -qq -o Dpkg::Use-Pty=0 libvulkan1 mesa-vulkan-drivers >/dev/null
  elif [ "$codename" = "bookworm" ]; then
    list=/etc/apt/sources.list.d/bookworm-backports.list
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$list" >/dev/null
      $SUDO apt-get update -qq
    fi
    # only these packages from backports (backports have priority 100: nothing else moves)
    $SUDO apt-get install -y -qq -o Dpkg::Use-Pty=0 libvulkan1 mesa-vulkan-drivers/bookworm-backports \
      libdrm2/bookworm-backports libdrm-common/bookworm-backports libdrm-amdgpu1/bookworm-backports >/dev/null
  else
    echo "maniskill: no mesa-vulkan-drivers >= $MIN_MESA for '$codename'; ManiSkill envs will not render" >&2
    exit 1
  fi
  mesa_ok || { echo "maniskill: mesa-vulkan-drivers >= $MIN_MESA did not install" >&2; exit 1; }
  echo "maniskill: installed lavapipe $(installed_version mesa-vulkan-drivers)"
fi

# Python side: mani_skill is a dependency in pyproject.toml; install it here when .venv predates that.
if [ -x .venv/bin/python ]; then
  if .venv/bin/python -c "import importlib.metadata as m; assert m.version('mani_skill') == '3.0.1'" 2>/dev/null; then
    echo "maniskill: mani_skill 3.0.1 already in .venv"
  else
    # constrain to what .venv has, so nothing installed there moves (opencv-python is already
    # there beside opencv-python-headless at the same version, via robosuite / LIBERO)
    cons="$(mktemp)"
    .venv/bin/pip freeze --exclude-editable | grep -v " @ " > "$cons" || true
    .venv/bin/pip install -q -c "$cons" "mani_skill==3.0.1"
    rm -f "$cons"
    echo "maniskill: installed mani_skill 3.0.1 into .venv"
  fi
fi
