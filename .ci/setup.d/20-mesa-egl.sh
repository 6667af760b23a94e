#!/usr/bin/env bash
# Headless software OpenGL for MuJoCo offscreen rendering (MUJOCO_GL=egl): Mesa's EGL + llvmpipe.
# Used by the tabletop and LIBERO env tests. Idempotent: does nothing when installed. Never prompts.
set -euo pipefail
pkgs="libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libglx-mesa0"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "mesa-egl: already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq -o Dpkg::Use-Pty=0 $missing >/dev/null
echo "mesa-egl: installed$missing"
